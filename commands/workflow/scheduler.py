"""Host slots: how many migrations run on each host, and the approved requests waiting in order.

A live migration occupies a slot on its source *and* its destination host (Hyper-V enforces
MaximumVirtualMachineMigrations on both ends; event 21501); a storage migration occupies a
storage slot on its host. Slots are claimed in the audit store, in the same database every
hvbot process uses, so two processes never run more moves on a host than its limit. A request
waiting for a host blocks later requests for that host, so each host's queue is first come,
first served and nobody starves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

SLOTS_FREED = "slots_freed"
"""Audit event: a move ended on its hosts (its Move-VM returned) and gave its slots back before
its outcome was decided; a request that has it needs no slot any more."""


class Pool(StrEnum):
    """Which of a host's limits a request counts against."""

    VM = "vm"
    STORAGE = "storage"


@dataclass(frozen=True)
class SlotKey:
    """One host's pool of slots, by the host's inventory name."""

    host: str
    pool: Pool


@dataclass(frozen=True)
class _Waiting:
    request_id: int
    keys: tuple[SlotKey, ...]


Claim = Callable[[int, tuple[SlotKey, ...], Mapping[SlotKey, int] | None], bool]
"""Takes the request's slots under the given limits (None: no limit, it runs already); False
when a pool is full. The audit store's `claim_slots`: one transaction in the database, so
every process sharing it counts the same slots."""


class HostSlots:
    """The queue of approved requests waiting for their hosts, in order; thread-safe. The slots
    themselves are claims in the audit store (freed by the request's final transition, or as
    soon as its move is over on its hosts: `AuditStore.free_slots`), so
    the hosts' limits hold across processes; this queue only keeps this process's order."""

    def __init__(self, claim: Claim) -> None:
        self._claim = claim
        self._lock = threading.Lock()
        self._queue: list[_Waiting] = []

    def enqueue(self, request_id: int, keys: tuple[SlotKey, ...]) -> None:
        """Adds an approved request at the end of the queue (again: no effect)."""
        with self._lock:
            if any(w.request_id == request_id for w in self._queue):
                return
            self._queue.append(_Waiting(request_id, keys))

    def occupy(self, request_id: int, keys: tuple[SlotKey, ...]) -> None:
        """Counts a request as running without queueing it (re-attached after a restart):
        it holds its slots whatever the limits, since it may be moving on its hosts."""
        with self._lock:
            self._queue = [w for w in self._queue if w.request_id != request_id]
        self._claim(request_id, keys, None)

    def release(self, request_id: int) -> None:
        """Removes the request from the queue (its slots go with its final transition or
        `free_slots`)."""
        with self._lock:
            self._queue = [w for w in self._queue if w.request_id != request_id]

    def waiting_keys(self) -> set[SlotKey]:
        """The slot pools that queued requests need (whose limits `take` will want)."""
        with self._lock:
            return {key for w in self._queue for key in w.keys}

    def queued(self) -> list[int]:
        """The waiting requests, in queue order."""
        with self._lock:
            return [w.request_id for w in self._queue]

    def position(self, request_id: int) -> int | None:
        """1-based place in the queue, None when not queued."""
        with self._lock:
            for index, waiting in enumerate(self._queue, start=1):
                if waiting.request_id == request_id:
                    return index
        return None

    def next_up(self, limits: Mapping[SlotKey, int]) -> list[int]:
        """The queued requests among the first `limit` waiting for each of their pools: those
        the next freed slots go to (a pool missing from `limits` counts as a limit of 1)."""
        ahead: dict[SlotKey, int] = {}
        chosen: list[int] = []
        with self._lock:
            for waiting in self._queue:
                if all(ahead.get(key, 0) < limits.get(key, 1) for key in waiting.keys):
                    chosen.append(waiting.request_id)
                for key in waiting.keys:
                    ahead[key] = ahead.get(key, 0) + 1
        return chosen

    def take(self, limits: Mapping[SlotKey, int]) -> list[int]:
        """Claims slots for every queued request that fits, in queue order, and returns them.

        A request waiting for a pool blocks later requests for that pool (first come, first
        served). A pool missing from `limits` counts as a limit of 1.
        """
        started: list[int] = []
        with self._lock:
            blocked: set[SlotKey] = set()
            still: list[_Waiting] = []
            for waiting in self._queue:
                fits = not blocked.intersection(waiting.keys) and self._claim(
                    waiting.request_id, waiting.keys, limits
                )
                if fits:
                    started.append(waiting.request_id)
                else:
                    blocked.update(waiting.keys)
                    still.append(waiting)
            self._queue = still
        return started


def has_room(
    held: Mapping[SlotKey, int], keys: tuple[SlotKey, ...], limits: Mapping[SlotKey, int] | None
) -> bool:
    """Whether every pool in `keys` holds fewer than its limit (1 when missing) of `held`."""
    return limits is None or all(held.get(key, 0) < limits.get(key, 1) for key in keys)
