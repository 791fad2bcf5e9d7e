"""Rate limits as Slack applies them, and faults a test can inject.

Slack's tiers are per method per workspace (Tier 1 ≈ 1/min … Tier 4 ≈ 100/min, "with bursts
tolerated"); `chat.postMessage` is about one per second per channel with short bursts
(architecture §4). Each limit is a token bucket: `burst` calls at once, refilled at `per_minute`.
The burst sizes are a guess (unverified: Slack does not publish them).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from lab.slack.workspace import Clock

TIER_PER_MINUTE = {1: 1, 2: 20, 3: 50, 4: 100}

METHOD_TIERS = {
    "apps.connections.open": 1,
    "usergroups.users.list": 2,
    "chat.update": 3,
    "conversations.history": 3,
    "conversations.replies": 3,
    "auth.test": 4,
    "chat.postEphemeral": 4,
    "chat.getPermalink": 4,
    "users.info": 4,
}

# Methods limited per channel as well as per workspace.
PER_CHANNEL_METHODS = frozenset({"chat.postMessage"})


@dataclass(frozen=True)
class Limit:
    """A token bucket: `burst` calls at once, refilled at `per_minute`."""

    per_minute: float
    burst: int

    @classmethod
    def tier(cls, tier: int) -> Limit:
        """Slack's tier `tier`, with a burst of a few calls tolerated."""
        per_minute = TIER_PER_MINUTE[tier]
        return cls(per_minute=per_minute, burst=max(per_minute, 3))


DEFAULT_CHANNEL_POST = Limit(per_minute=60, burst=10)
# chat.postMessage has its own "special" tier across the workspace; generous, per channel matters.
DEFAULT_POST_MESSAGE = Limit(per_minute=600, burst=100)


class RateLimits:
    """Every bucket of one workspace; `check` answers None or the Retry-After seconds."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._limits: dict[str, Limit] = {m: Limit.tier(t) for m, t in METHOD_TIERS.items()}
        self._limits["chat.postMessage"] = DEFAULT_POST_MESSAGE
        self._channel_limit = DEFAULT_CHANNEL_POST
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self.enabled = True

    def set_method(self, method: str, limit: Limit) -> None:
        """Change one method's workspace limit (tests tighten it); resets its bucket."""
        with self._lock:
            self._limits[method] = limit
            self._buckets.pop((method, ""), None)

    def set_channel(self, limit: Limit) -> None:
        """Change the per-channel limit of posting; resets those buckets."""
        with self._lock:
            self._channel_limit = limit
            self._buckets = {k: v for k, v in self._buckets.items() if not k[1]}

    def check(self, method: str, channel: str | None) -> int | None:
        """Take a token for this call; None if allowed, else seconds to wait (≥ 1)."""
        if not self.enabled:
            return None
        with self._lock:
            now = self._clock.now()
            keys: list[tuple[tuple[str, str], Limit]] = []
            if method in self._limits:
                keys.append(((method, ""), self._limits[method]))
            if channel and method in PER_CHANNEL_METHODS:
                keys.append(((method, channel), self._channel_limit))
            waits = [self._wait(key, limit, now) for key, limit in keys]
            worst = max((w for w in waits if w > 0), default=0.0)
            if worst > 0:
                return max(1, math.ceil(worst))
            for key, _ in keys:
                tokens, stamp = self._buckets[key]
                self._buckets[key] = (tokens - 1, stamp)
            return None

    def _wait(self, key: tuple[str, str], limit: Limit, now: float) -> float:
        rate = limit.per_minute / 60.0
        tokens, stamp = self._buckets.get(key, (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + (now - stamp) * rate)
        self._buckets[key] = (tokens, now)
        if tokens >= 1:
            return 0.0
        return (1 - tokens) / rate if rate > 0 else 60.0


@dataclass
class Fault:
    """The next `times` calls of `method` fail with `error` (or are only slowed down)."""

    method: str
    error: str | None
    times: int
    status: int = 200
    retry_after: int = 1
    delay: float = 0.0


class Faults:
    """Faults waiting to happen, consumed in the order they were added."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Fault] = []

    def fail(
        self, method: str, error: str = "ratelimited", times: int = 1, retry_after: int = 1
    ) -> None:
        """The next `times` calls of `method` answer `error` (`ratelimited` is a 429)."""
        status = 429 if error == "ratelimited" else 200
        self._add(Fault(method, error, times, status=status, retry_after=retry_after))

    def fail_http(self, method: str, status: int = 500, times: int = 1) -> None:
        """The next `times` calls of `method` answer this HTTP status (Slack having trouble)."""
        self._add(Fault(method, "internal_error", times, status=status))

    def delay(self, method: str, seconds: float, times: int = 1) -> None:
        """The next `times` calls of `method` answer normally, `seconds` late."""
        self._add(Fault(method, None, times, delay=seconds))

    def clear(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._pending.clear()

    def take(self, method: str) -> Fault | None:
        """The fault for this call of `method`, if one is pending (and count it used)."""
        with self._lock:
            for fault in self._pending:
                if fault.method == method and fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._pending.remove(fault)
                    return fault
            return None

    def _add(self, fault: Fault) -> None:
        if fault.times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._pending.append(fault)
