"""Every Slack write the bot makes on its own goes through one pacer, so that the whole workspace
stays under Slack's limits (architecture §4) however many migrations run:

- edits (`chat.update`) at most `workspace` per `window` for the workspace (Tier 3 is about
  50/min; 40 leaves room for the people's own clicks), spread evenly (bursts of `edit_burst`,
  then one every window/workspace seconds: a budget spent in one burst would leave every bar
  frozen for the rest of the window), and `per_job` per window for one job;
- posts (`chat.postMessage`) to one channel at about one per `post_spacing` seconds, with a
  burst of `post_burst` (Slack: "1 per second per channel, short bursts allowed"), so a busy
  channel's queue waits its turn without holding up edits or other channels;
- progress edits of one job at least `spacing` seconds apart, and coalesced: a newer value
  replaces the one still waiting in the same slot (latest wins, and keeps its place in line);
- news (posts, decisions on a card) before progress, except that progress not shown for
  `overdue` seconds goes first: a burst of a hundred card edits cannot freeze every bar;
- a 429 pauses the writes of its kind (edits, or posts to that channel) for its
  `Retry-After`, then the same call is tried again, so no write is lost and the writes of one
  job are made in the order they were asked for.

`PaceState` decides (pure, with the time passed in); `Pacer` is its thread.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

DEFAULT_RETRY_AFTER = 1.0


@dataclass
class Call:
    """One Slack write. `slot` names what a newer call may replace while this one waits (e.g.
    "progress"); `edit` counts it against the edit budgets; `paced` marks progress (spaced
    from the job's previous edit, ranked by how stale it is); `channel` marks a post to that
    channel (spaced by the channel's posting limit). `result` receives what `send` returned,
    or its error."""

    send: Callable[[], Any]
    slot: str | None = None
    edit: bool = False
    paced: bool = False
    channel: str | None = None
    result: Future[Any] = field(default_factory=Future)
    seq: int = 0


@dataclass(frozen=True)
class Limits:
    """Slack's limits as the pacer applies them."""

    workspace: int = 40
    per_job: int = 12
    window: float = 60.0
    spacing: float = 5.0
    post_spacing: float = 1.0
    post_burst: int = 3
    overdue: float = 8.0
    edit_burst: int = 3


@dataclass
class _Bucket:
    """A token bucket: posts to one channel, or the workspace's edits."""

    tokens: float
    stamp: float

    def level(self, now: float, spacing: float, burst: int) -> float:
        """Tokens available at `now`, one more every `spacing` seconds, at most `burst`."""
        refill = (now - self.stamp) / spacing if spacing > 0 else math.inf
        return min(float(burst), self.tokens + refill)

    def take(self, now: float, spacing: float, burst: int) -> None:
        """Spends one token at `now`."""
        self.tokens, self.stamp = self.level(now, spacing, burst) - 1, now

    def ready_at(self, now: float, spacing: float, burst: int) -> float:
        """When one token is there."""
        missing = 1.0 - self.level(now, spacing, burst)
        return now + missing * spacing if missing > 0 else now


@dataclass
class _Job:
    pending: deque[Call] = field(default_factory=deque)
    edits: deque[float] = field(default_factory=deque)
    last_edit: float = -math.inf


class PaceState:
    """The pacer's decisions: which call goes next and when. Not thread-safe (the pacer locks)."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._jobs: dict[Hashable, _Job] = {}
        self._edits: deque[float] = deque()
        self._edit_tokens = _Bucket(float(self.limits.edit_burst), -math.inf)
        self._posts: dict[str, _Bucket] = {}
        self._paused: dict[str, float] = {}
        self._seq = itertools.count(1)

    def put(self, job: Hashable, call: Call) -> Call | None:
        """Queues `call`; returns the waiting call it replaced (same job and slot), if any."""
        pending = self._jobs.setdefault(job, _Job()).pending
        for i, waiting in enumerate(pending):
            if call.slot is not None and waiting.slot == call.slot:
                call.seq = waiting.seq
                pending[i] = call
                return waiting
        call.seq = next(self._seq)
        pending.append(call)
        return None

    def take(self, now: float) -> tuple[Hashable, Call] | float:
        """The next call to make now (removed from its queue), or how long to wait for one
        (`math.inf` when nothing waits). Among the calls that may go: progress not shown for
        `overdue` seconds first; then news (posts, decisions on a card), in the order they
        were asked for; then the other progress. Progress goes stalest first, so that a busy
        workspace shares its budget evenly among the jobs."""
        self._expire(now)
        best: tuple[tuple[int, float, int], Hashable, Call] | None = None
        wait = math.inf
        for key, job in self._jobs.items():
            if not job.pending:
                continue
            head = job.pending[0]
            ready_at = self._ready_at(job, head, now)
            if ready_at > now:
                wait = min(wait, ready_at - now)
                continue
            if head.paced:
                overdue = now - job.last_edit >= self.limits.overdue
                rank = (0 if overdue else 2, job.last_edit, head.seq)
            else:
                rank = (1, 0.0, head.seq)
            if best is None or rank < best[0]:
                best = (rank, key, head)
        if best is None:
            return wait
        _, key, call = best
        self._jobs[key].pending.popleft()
        return key, call

    def sent(self, job: Hashable, call: Call, now: float) -> None:
        """Counts a call Slack accepted (or refused for another reason than its rate)."""
        if call.channel is not None:
            bucket = self._posts.setdefault(
                call.channel, _Bucket(float(self.limits.post_burst), now)
            )
            bucket.take(now, self.limits.post_spacing, self.limits.post_burst)
        state = self._jobs.get(job)
        if call.edit and state is not None:
            state.edits.append(now)
            state.last_edit = now
            self._edits.append(now)
            self._edit_tokens.take(now, *self._edit_rate())
        if state is not None and not state.pending and not state.edits:
            del self._jobs[job]

    def rate_limited(self, job: Hashable, call: Call, now: float, retry_after: float) -> None:
        """Slack answered 429: the writes of its kind pause (Slack limits per method, and posts
        per channel), and `call` goes back to the head of its job's line, unless a newer call
        for its slot arrived meanwhile."""
        lane = _lane(call)
        self._paused[lane] = max(self._paused.get(lane, -math.inf), now + retry_after)
        pending = self._jobs.setdefault(job, _Job()).pending
        if call.slot is None or all(waiting.slot != call.slot for waiting in pending):
            pending.appendleft(call)
        else:
            call.result.cancel()

    def waiting(self) -> int:
        """How many calls wait."""
        return sum(len(job.pending) for job in self._jobs.values())

    def _ready_at(self, job: _Job, call: Call, now: float) -> float:
        ready = self._paused.get(_lane(call), -math.inf)
        bucket = self._posts.get(call.channel) if call.channel is not None else None
        if bucket is not None:
            limits = self.limits
            ready = max(ready, bucket.ready_at(now, limits.post_spacing, limits.post_burst))
        if call.edit:
            limits = self.limits
            if len(self._edits) >= limits.workspace:
                ready = max(ready, self._edits[0] + limits.window)
            ready = max(ready, self._edit_tokens.ready_at(now, *self._edit_rate()))
            if len(job.edits) >= limits.per_job:
                ready = max(ready, job.edits[0] + limits.window)
            if call.paced:
                ready = max(ready, job.last_edit + limits.spacing)
        return ready

    def _edit_rate(self) -> tuple[float, int]:
        return self.limits.window / self.limits.workspace, self.limits.edit_burst

    def _expire(self, now: float) -> None:
        horizon = now - self.limits.window
        while self._edits and self._edits[0] <= horizon:
            self._edits.popleft()
        for key in list(self._jobs):
            job = self._jobs[key]
            while job.edits and job.edits[0] <= horizon:
                job.edits.popleft()
            if not job.pending and not job.edits and job.last_edit <= horizon:
                del self._jobs[key]


def _lane(call: Call) -> str:
    """What a 429 on `call` pauses: edits, posts to its channel, or other calls."""
    if call.edit:
        return "edit"
    return f"post:{call.channel}" if call.channel is not None else "other"


def retry_after(error: SlackApiError) -> float | None:
    """The seconds Slack asked to wait, when `error` is a rate limit (HTTP 429)."""
    response = error.response
    if response.status_code != 429:
        return None
    headers: Mapping[str, Any] = response.headers or {}
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value[0] if isinstance(value, list) else value))
            except (TypeError, ValueError):
                break
    return DEFAULT_RETRY_AFTER


class Pacer:
    """Makes the queued calls from one thread, as `PaceState` allows."""

    def __init__(
        self, limits: Limits | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._state = PaceState(limits)
        self._clock = clock
        self._cond = threading.Condition()
        self._stopping = False
        self._busy = False
        self._thread = threading.Thread(target=self._run, name="hvbot-slack-pacer", daemon=True)
        self._thread.start()

    def submit(self, job: Hashable, call: Call) -> Future[Any]:
        """Queues `call` for `job` (e.g. a request id); its future resolves once it is made."""
        with self._cond:
            replaced = self._state.put(job, call)
            self._cond.notify()
        if replaced is not None:
            replaced.result.cancel()
        return call.result

    def idle(self, timeout: float) -> bool:
        """Waits until nothing is queued or being sent; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._state.waiting() or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def stop(self) -> None:
        """Stops the thread; calls still queued are dropped (their futures cancelled)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                picked = self._state.take(self._clock())
                if isinstance(picked, float):
                    self._cond.wait(None if math.isinf(picked) else picked)
                    continue
                self._busy = True
            job, call = picked
            self._make(job, call)
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _make(self, job: Hashable, call: Call) -> None:
        try:
            value = call.send()
        except SlackApiError as error:
            wait = retry_after(error)
            with self._cond:
                if wait is not None:
                    log.warning("slack rate limit", extra={"retry_after": wait})
                    self._state.rate_limited(job, call, self._clock(), wait)
                    return
                self._state.sent(job, call, self._clock())
            call.result.set_exception(error)
            return
        except Exception as error:
            with self._cond:
                self._state.sent(job, call, self._clock())
            call.result.set_exception(error)
            return
        with self._cond:
            self._state.sent(job, call, self._clock())
        call.result.set_result(value)
