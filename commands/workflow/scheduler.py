"""Host slots: how many migrations run on each host, and the approved requests waiting in order.

A live migration occupies a slot on its source *and* its destination host (Hyper-V enforces
MaximumVirtualMachineMigrations on both ends; event 21501); a storage migration occupies a
storage slot on its host. A request waiting for a host blocks later requests for that host,
so each host's queue is first come, first served and nobody starves.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


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


class HostSlots:
    """Thread-safe queue and slot accounting; it never talks to hosts (limits are passed in)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Waiting] = []
        self._running: dict[int, tuple[SlotKey, ...]] = {}

    def enqueue(self, request_id: int, keys: tuple[SlotKey, ...]) -> None:
        """Adds an approved request at the end of the queue (again: no effect)."""
        with self._lock:
            if request_id in self._running or any(w.request_id == request_id for w in self._queue):
                return
            self._queue.append(_Waiting(request_id, keys))

    def occupy(self, request_id: int, keys: tuple[SlotKey, ...]) -> None:
        """Counts a request as running without queueing it (re-attached after a restart)."""
        with self._lock:
            self._queue = [w for w in self._queue if w.request_id != request_id]
            self._running[request_id] = keys

    def release(self, request_id: int) -> None:
        """Frees the request's slots or removes it from the queue."""
        with self._lock:
            self._running.pop(request_id, None)
            self._queue = [w for w in self._queue if w.request_id != request_id]

    def waiting_keys(self) -> set[SlotKey]:
        """The slot pools that queued requests need (whose limits `take` will want)."""
        with self._lock:
            return {key for w in self._queue for key in w.keys}

    def running(self, key: SlotKey) -> int:
        """How many requests occupy `key`."""
        with self._lock:
            return self._count(key)

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

    def take(self, limits: Mapping[SlotKey, int]) -> list[int]:
        """Moves every queued request that fits into running, in queue order, and returns them.

        A pool missing from `limits` counts as a limit of 1.
        """
        started: list[int] = []
        with self._lock:
            blocked: set[SlotKey] = set()
            still: list[_Waiting] = []
            for waiting in self._queue:
                fits = all(
                    key not in blocked and self._count(key) < limits.get(key, 1)
                    for key in waiting.keys
                )
                if fits:
                    self._running[waiting.request_id] = waiting.keys
                    started.append(waiting.request_id)
                else:
                    blocked.update(waiting.keys)
                    still.append(waiting)
            self._queue = still
        return started

    def _count(self, key: SlotKey) -> int:
        return sum(key in keys for keys in self._running.values())
