"""From approval to start: approved requests wait for their hosts' slots in order, start when
they fit the hosts' own limits, and people are told when a request has to wait. The requests
next in line run their pre-start preflight while they wait, so a freed slot goes straight to
a send (`Runner.precheck`).

The `Dispatcher` owns the `Runner` (which starts and follows requests) and frees a request's
slots when the runner is done with it.
"""

from __future__ import annotations

import logging
import threading
import time

from commands.hyperv import HostSettings, HyperVError
from commands.workflow.context import Deps
from commands.workflow.execution import Runner
from commands.workflow.machine import WorkflowError
from commands.workflow.records import SYSTEM, EventDraft, RequestKind, RequestRecord
from commands.workflow.scheduler import HostSlots, Pool, SlotKey
from commands.workflow.ticker import Ticker

logger = logging.getLogger(__name__)

_MIN_RETRY_SECONDS = 0.5
# Every freed slot pumps the queue: a drain of 40 VMs would read each host's settings (three
# calls) dozens of times. Limits change rarely, and a host refuses a move over its own limit.
_SETTINGS_SECONDS = 10.0


class Dispatcher:
    """Host slots, the queue past the hosts' limits, and the runner. Thread-safe."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self.slots = HostSlots(deps.store.claim_slots)
        self.runner = Runner(deps, self.released)
        self._announce_lock = threading.Lock()
        self._announced: set[int] = set()
        self._settings_lock = threading.Lock()
        self._settings: dict[str, tuple[float, HostSettings]] = {}
        # Slots another process holds are seen free by looking again: nothing signals here.
        self._retry = Ticker(
            max(deps.poll_seconds, _MIN_RETRY_SECONDS),
            self._pump_if_waiting,
            deps.run_task,
            "hvbot-queue",
        )

    def enqueue(self, record: RequestRecord) -> None:
        """Queues an approved migration for its hosts' slots; starts a setting change at once."""
        if record.kind.followed:
            self.queue(record)
            self._deps.run_task(self.pump)
        elif self.runner.claim(record.id):
            self._deps.run_task(self.runner.start, record.id)

    def queue(self, record: RequestRecord) -> None:
        """Queues an approved migration for its hosts' slots, without starting anything yet."""
        self.slots.enqueue(record.id, slot_keys(record))

    def stop(self) -> None:
        """Stops looking for freed slots."""
        self._retry.stop()

    def _pump_if_waiting(self) -> None:
        if self.slots.queued():
            self.pump()

    def released(self, request_id: int) -> None:
        """A request left the host slots (finished, failed, void, cancelled): fill the slots."""
        self.slots.release(request_id)
        self.runner.forget_precheck(request_id)
        with self._announce_lock:
            self._announced.discard(request_id)
        self._deps.run_task(self.pump)

    def pump(self) -> None:
        """Executor task: start every queued request that fits its hosts' limits, in order."""
        limits = {key: self._limit(key) for key in self.slots.waiting_keys()}
        for request_id in self.slots.take(limits):
            if self.runner.claim(request_id):
                self._deps.run_task(self.runner.start, request_id)
            else:
                # Held by a cancel in progress, which ends it; the slot is not needed.
                self.slots.release(request_id)
        for request_id in self.slots.next_up(limits):
            if self.runner.reserve_precheck(request_id):
                self._deps.run_task(self.runner.precheck, request_id)
        self._watch_foreign_holders()
        self._announce_queue()

    def _watch_foreign_holders(self) -> None:
        """Starts looking again periodically once a queued request waits for a slot held by a
        request this process does not run (its end will not call `released` here)."""
        waiting = self.slots.waiting_keys()
        holders = self._deps.store.slot_holders()
        if any(
            not self.runner.in_flight(request_id)
            for key in waiting
            for request_id in holders.get(key, ())
        ):
            self._retry.start()

    def _announce_queue(self) -> None:
        with self._announce_lock:
            fresh = [r for r in self.slots.queued() if r not in self._announced]
            self._announced.update(fresh)
        for request_id in fresh:
            position = self.slots.position(request_id)
            record = self._deps.record(request_id)
            self._deps.store.append(
                request_id, EventDraft("queued", SYSTEM, {"position": position})
            )
            self._deps.tell(
                record,
                f"Request #{request_id} is approved and queued (position {position}): its hosts "
                "are at their migration limit. It starts by itself when a slot frees.",
            )

    def _limit(self, key: SlotKey) -> int:
        """The host's own limit (Get-VMHost); 1 when the host cannot be asked right now."""
        with self._settings_lock:
            known = self._settings.get(key.host)
        if known is not None and time.monotonic() - known[0] < _SETTINGS_SECONDS:
            settings = known[1]
        else:
            try:
                settings = self._deps.hyperv.host_settings(self._deps.host(key.host))
            except (HyperVError, WorkflowError) as exc:
                logger.warning(
                    "host limit unknown; assuming 1", extra={"host": key.host, "error": str(exc)}
                )
                return 1
            with self._settings_lock:
                self._settings[key.host] = (time.monotonic(), settings)
        limit = (
            settings.max_storage_migrations
            if key.pool is Pool.STORAGE
            else settings.max_vm_migrations
        )
        return max(1, limit)


def slot_keys(record: RequestRecord) -> tuple[SlotKey, ...]:
    """The slots a request occupies: a storage slot on its host, or a VM slot on both ends."""
    if record.kind == RequestKind.STORAGE_MIGRATION:
        return (SlotKey(record.source_host or "", Pool.STORAGE),)
    hosts = [h for h in (record.source_host, record.destination_host) if h]
    return tuple(SlotKey(h, Pool.VM) for h in hosts)
