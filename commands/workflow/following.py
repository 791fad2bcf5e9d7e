"""Following a started request: its host job polled in short rounds, people told when contact
with the host is lost and back, a stop asked of the host, and re-attaching after a restart.
`Follower` also keeps which requests this process handles (its flights).

Following a migration is a chain of short executor tasks (wait up to `poll_seconds`, report,
resubmit) rather than one task per migration holding a worker for an hour, so checks,
approvals' follow-ups and other migrations interleave fairly on the bot's own pool.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from commands.errors import sentence
from commands.hyperv import ErrorKind, HyperVError, MigrationOutcome, MigrationProgress
from commands.ports import MigrationHandle
from commands.transfer import TransferSettings, slow_transfer
from commands.workflow.codec import invocations_from_record
from commands.workflow.context import Deps, InternalError, RaceLost, error_data, error_text
from commands.workflow.machine import Step, WorkflowError, who
from commands.workflow.records import (
    SYSTEM,
    Actor,
    AuditEvent,
    EventDraft,
    RequestRecord,
    State,
)
from commands.workflow.scheduler import SLOTS_FREED

logger = logging.getLogger(__name__)

_MAX_POLL_BACKOFF = 8
SLOW_TRANSFER = "slow_transfer"
"""Audit event: the move was found far slower than its hosts' settings should allow."""
# While a host stays silent people hear again this often, not at every retry.
_REMINDER = dt.timedelta(minutes=5)
# Failures of the way to a host, not of the move: re-attaching later may work.
_TRANSPORT_KINDS = frozenset(
    {
        ErrorKind.HOST_UNREACHABLE,
        ErrorKind.DNS,
        ErrorKind.TLS,
        ErrorKind.PROTOCOL_MISMATCH,
        ErrorKind.AUTHENTICATION,
        ErrorKind.TIMEOUT,
        ErrorKind.WSMAN_FAULT,
    }
)


@dataclass
class _Flight:
    """A request this process is starting or following. Guarded by the follower's lock."""

    request_id: int
    handle: MigrationHandle | None = None
    cancel_by: Actor | None = None
    failures: int = 0
    lost_since: dt.datetime | None = None
    last_told: dt.datetime | None = None
    slots_freed: bool = False
    speed_judged: bool = False

    def in_contact(self) -> None:
        """Forgets a loss of contact, so the next one is told afresh."""
        self.failures, self.lost_since, self.last_told = 0, None, None


class Follower:
    """Follows started requests; `on_done(request_id)` frees the request's slots (called once
    the move is over on its hosts, and again when the request ends)."""

    def __init__(self, deps: Deps, on_done: Callable[[int], None]) -> None:
        self._deps = deps
        self._on_done = on_done
        self._lock = threading.Lock()
        self._flights: dict[int, _Flight] = {}
        self._stopping = threading.Event()

    def claim(self, request_id: int, *, cancel_by: Actor | None = None) -> bool:
        """Marks a request as handled by this process; False if it already is. A cancel claims
        with `cancel_by`, so a second cancel meanwhile learns who asked first."""
        with self._lock:
            if request_id in self._flights:
                return False
            self._flights[request_id] = _Flight(request_id, cancel_by=cancel_by)
            return True

    def in_flight(self, request_id: int) -> bool:
        """Whether this process is starting or following the request."""
        with self._lock:
            return request_id in self._flights

    def release(self, request_id: int) -> None:
        """Undoes a `claim` whose holder did not start the request."""
        self._forget(request_id)

    def stop(self) -> None:
        """Stops following (the requests stay `running`; recovery picks them up next start)."""
        self._stopping.set()

    def request_cancel(self, request_id: int, actor: Actor) -> bool:
        """Asks to stop a request in flight: before the send it is cancelled, after the send the
        host is asked. False when this process is not handling the request."""
        with self._lock:
            flight = self._flights.get(request_id)
            if flight is None:
                return False
            if flight.cancel_by is not None:
                raise _already_asked(request_id, flight.cancel_by)
            flight.cancel_by = actor
            handle = flight.handle
        record = self._deps.record(request_id)
        if record.state in (State.APPROVED, State.RUNNING):
            self._ask_cancel(record, actor)
        if handle is not None:
            self._deps.run_task(self._stop_on_host, request_id, handle)
        return True

    def cancel_elsewhere(self, record: RequestRecord, actor: Actor) -> RequestRecord:
        """Cancels a started request that this process does not follow: the ask is recorded
        once (the process following it stops it at its next poll), and the host's job is asked
        to stop from here too, on the executor, since nobody may be following it."""
        record = self._ask_cancel(record, actor)
        host = record.source_host or "its host"
        asked = f"{who(actor)} asked to cancel request #{record.id}"
        self._deps.tell(record, f"{asked}; asking {host} to stop it.")
        self._deps.run_task(self._cancel_on_host, record)
        return record

    def _ask_cancel(self, record: RequestRecord, actor: Actor) -> RequestRecord:
        """Records `cancel_requested` exactly once, whoever asks first in whichever process."""
        while True:
            asked = cancel_asked(self._deps.store.events(record.id))
            if asked is not None:
                raise _already_asked(record.id, asked[0])
            try:
                return self._deps.step(record, Step.ASK_CANCEL, actor)
            except RaceLost as lost:
                if lost.record.state not in (State.APPROVED, State.RUNNING):
                    raise
                record = lost.record

    def _cancel_on_host(self, record: RequestRecord) -> None:
        """Executor task: find the move's job on its host and ask it to stop."""
        deps = self._deps
        try:
            handle = self._find_job(record, sent_at(record, deps.store.events(record.id)))
        except (HyperVError, WorkflowError) as exc:
            deps.store.append(record.id, EventDraft("cancel_failed", SYSTEM, error_data(exc)))
            deps.tell(record, f"Could not ask the host to stop: {error_text(exc)}")
            return
        self._stop_on_host(record.id, handle)

    def _find_job(self, record: RequestRecord, started_at: dt.datetime) -> MigrationHandle:
        """The move's job on its source host, found again from its recorded invocation."""
        invocations = invocations_from_record(record.invocation)
        if not invocations:
            raise WorkflowError("no invocation was recorded for it")
        return self._deps.hyperv.reattach_migration(
            self._deps.host(record.source_host), record.vm_id or "", started_at, invocations[0]
        )

    def reattach(self, record: RequestRecord, started_at: dt.datetime) -> None:
        """Executor task: follow a migration that may have been started by an earlier process."""
        deps = self._deps
        try:
            handle = self._find_job(record, started_at)
        except HyperVError as exc:
            if exc.kind in _TRANSPORT_KINDS:
                self._retry_reattach(record, started_at, exc)
            else:
                self._end_unfollowable(record, exc)
            return
        except WorkflowError as exc:
            self._end_unfollowable(record, exc)
            return
        deps.store.append(
            record.id, EventDraft("reattached", SYSTEM, {"started_at": started_at.isoformat()})
        )
        if record.state is State.APPROVED:
            try:
                record = deps.step(
                    record,
                    Step.START,
                    SYSTEM,
                    {"reattached": True},
                    {"started_at": started_at},
                    versioned=False,
                )
            except RaceLost:
                # Another process recorded the start (and follows it), or it ended meanwhile.
                self._done(record.id)
                return
        self._following(record, handle)
        deps.tell(record, f"Following request #{record.id} again after a restart.")

    def _retry_reattach(
        self, record: RequestRecord, started_at: dt.datetime, error: HyperVError
    ) -> None:
        """The host cannot be asked yet: try again, slower each time, until the bot stops."""
        deps = self._deps
        with self._lock:
            flight = self._flight(record.id)
            flight.failures += 1
            failures = flight.failures
        if failures == 1:
            deps.store.append(record.id, EventDraft("reattach_failed", SYSTEM, error_data(error)))
        host = record.source_host or "its host"
        self._remind(
            flight,
            record,
            f"Cannot follow request #{record.id} after a restart yet: {sentence(error.summary)} "
            f"The bot {self._retrying(f'until {host} answers')}",
        )
        self._back_off(failures, self.reattach, record, started_at)

    def _end_unfollowable(self, record: RequestRecord, error: HyperVError | WorkflowError) -> None:
        """Nothing can follow the request (its host left the inventory, its invocation is
        missing): its outcome is unknown, it is never re-sent, and people are told to check
        the host."""
        host = record.source_host or "the host"
        self._end(
            record,
            Step.UNKNOWN,
            error_data(error),
            f"Request #{record.id} cannot be followed after a restart: {error_text(error)} "
            f"Its result is unknown; check with `/migrate host {host}`.",
        )

    def _following(self, record: RequestRecord, handle: MigrationHandle) -> None:
        with self._lock:
            flight = self._flight(record.id)
            flight.handle = handle
            # Reaching the host to attach is contact: "following again" says so already.
            flight.in_contact()
            cancel_by = flight.cancel_by
        if cancel_by is not None:
            self._deps.run_task(self._stop_on_host, record.id, handle)
        self._deps.run_task(self._follow, record.id)

    def _follow(self, request_id: int) -> None:
        """One polling round; resubmits itself until the migration ends or the bot stops."""
        deps = self._deps
        with self._lock:
            flight = self._flights.get(request_id)
        if flight is None or flight.handle is None or self._stopping.is_set():
            return
        if flight.cancel_by is None:
            self._notice_cancel(flight, flight.handle)
        try:
            wait = deps.poll_seconds
            if not flight.slots_freed:
                began = time.monotonic()
                if flight.handle.ended_on_hosts(wait):
                    self._free_slots(flight)
                wait = max(0.0, wait - (time.monotonic() - began))
            outcome = flight.handle.wait(wait)
            progress = None if outcome else flight.handle.poll()
        except Exception as exc:
            # The move goes on whether or not this poll worked: keep following, slower.
            self._lost_contact(flight, exc)
            return
        if flight.failures:
            self._contact_back(flight)
        if outcome is not None:
            self._finish(request_id, outcome)
            return
        if progress is not None:
            record = deps.record(request_id)
            deps.tell_progress(record, progress)
            if not flight.speed_judged:
                flight.speed_judged = self._judge_speed(record, progress)
        deps.run_task(self._follow, request_id)

    def _free_slots(self, flight: _Flight) -> None:
        """The move is over on its hosts: its slots go to the next move now, while its outcome
        (jobs, events, where the VM is: several reads) is still being decided."""
        flight.slots_freed = True
        if self._deps.store.free_slots(flight.request_id, EventDraft(SLOTS_FREED, SYSTEM)):
            self._on_done(flight.request_id)

    def _judge_speed(self, record: RequestRecord, progress: MigrationProgress) -> bool:
        """Says once per move (across processes: the audit log remembers) when it is far
        slower than its hosts' settings should allow, with the likely causes. True once there
        is nothing more to judge: said, or no settings recorded to judge by."""
        details = (record.invocation or {}).get("details") or {}
        settings = TransferSettings.from_json(details.get("transfer") or {})
        if settings is None:
            return True
        slow = slow_transfer(progress, settings)
        if slow is None:
            return False
        deps = self._deps
        if any(e.kind == SLOW_TRANSFER for e in deps.store.events(record.id)):
            return True
        data = {
            "observed_bytes_per_second": round(slow.observed),
            "expected_bytes_per_second": round(slow.expected),
            "causes": [cause for cause, _ in slow.causes],
        }
        deps.store.append(record.id, EventDraft(SLOW_TRANSFER, SYSTEM, data))
        deps.tell(record, slow.text(record.id))
        return True

    def _notice_cancel(self, flight: _Flight, handle: MigrationHandle) -> None:
        """A cancel asked in another process: stop the move here too (this process holds the
        pipeline), unless the asker already reached the host's job."""
        asked = cancel_asked(self._deps.store.events(flight.request_id))
        if asked is None:
            return
        with self._lock:
            flight.cancel_by = asked[0]
        if not asked[1]:
            self._stop_on_host(flight.request_id, handle)

    def _lost_contact(self, flight: _Flight, exc: Exception) -> None:
        deps = self._deps
        flight.failures += 1
        record = deps.record(flight.request_id)
        host = record.source_host or "the host"
        first = ""
        if flight.failures == 1:
            if isinstance(exc, HyperVError):
                data, summary = error_data(exc), exc.summary
            else:
                internal = InternalError.logged(
                    logger, "polling failed", request_id=flight.request_id
                )
                data, summary = internal.data, internal.text(f"asking {host}")
            deps.store.append(flight.request_id, EventDraft("contact_lost", SYSTEM, data))
            # The job runs in the host's migration service, not in this bot's session.
            first = (
                f"Lost contact with {host} while following request #{record.id}: "
                f"{sentence(summary)} The move itself continues on {host} (a lost connection "
                f"does not stop it); the bot {self._retrying('until contact is back')}"
            )
        self._remind(flight, record, first)
        self._back_off(flight.failures, self._follow, flight.request_id)

    def _back_off(self, failures: int, task: Callable[..., None], *args: Any) -> None:
        """Waits longer after each failure (up to a cap), then runs `task` unless stopping."""
        if not self._stopping.wait(min(failures, _MAX_POLL_BACKOFF) * self._deps.poll_seconds):
            self._deps.run_task(task, *args)

    def _retrying(self, until: str) -> str:
        # The slowest retry: the longest backoff plus one poll's wait (the failed call's own
        # time comes on top, hence "about").
        every = max(1, round((_MAX_POLL_BACKOFF + 1) * self._deps.poll_seconds))
        minutes = int(_REMINDER.total_seconds() // 60)
        return f"retries about every {every} s and reports here every {minutes} min {until}."

    def _remind(self, flight: _Flight, record: RequestRecord, first: str) -> None:
        """Tells `first` when contact with the host is lost, then again every `_REMINDER`
        while it stays lost (silence for an hour reads as a hung bot)."""
        now = self._deps.clock()
        if flight.lost_since is None or flight.last_told is None:
            flight.lost_since = flight.last_told = now
            self._deps.tell(record, first)
            return
        if now - flight.last_told < _REMINDER:
            return
        flight.last_told = now
        host = record.source_host or "the host"
        self._deps.tell(
            record,
            f"Still no contact with {host} for request #{record.id} after "
            f"{_minutes(now - flight.lost_since)} min; the bot keeps retrying.",
        )

    def _contact_back(self, flight: _Flight) -> None:
        deps = self._deps
        lost_for = deps.clock() - (flight.lost_since or deps.clock())
        flight.in_contact()
        record = deps.record(flight.request_id)
        deps.store.append(
            record.id,
            EventDraft("contact_restored", SYSTEM, {"lost_seconds": lost_for.total_seconds()}),
        )
        host = record.source_host or "the host"
        deps.tell(
            record,
            f"Contact with {host} is back after {_minutes(lost_for)} min; "
            f"following request #{record.id} again.",
        )

    def _finish(self, request_id: int, outcome: MigrationOutcome) -> None:
        deps = self._deps
        record = deps.record(request_id)
        if outcome.succeeded:
            step = Step.SUCCEED
        elif outcome.error is not None and outcome.error.kind is ErrorKind.CANCELLED:
            step = Step.STOPPED
        elif outcome.error is not None and outcome.error.kind is ErrorKind.OUTCOME_UNKNOWN:
            step = Step.UNKNOWN
        else:
            step = Step.FAIL
        summary = outcome_data(outcome)
        record = deps.step(
            record,
            step,
            SYSTEM,
            summary,
            {"finished_at": deps.clock(), "outcome": summary},
            versioned=False,
        )
        deps.tell_finished(record, outcome)
        self._done(request_id)

    def _stop_on_host(self, request_id: int, handle: MigrationHandle) -> None:
        deps = self._deps
        try:
            method = handle.cancel()
        except HyperVError as exc:
            deps.store.append(request_id, EventDraft("cancel_failed", SYSTEM, error_data(exc)))
            deps.tell(deps.record(request_id), f"Could not ask the host to stop: {error_text(exc)}")
            return
        deps.store.append(request_id, EventDraft("cancel_sent", SYSTEM, {"method": method.value}))
        deps.tell(
            deps.record(request_id),
            f"Asked the host to stop request #{request_id} ({method.value}).",
        )

    def _end(self, record: RequestRecord, step: Step, data: dict[str, Any], text: str) -> None:
        """Ends a request that did not run to its end here and tells people `text`; whoever
        ended it first meanwhile (another process, a cancel) has told them already."""
        try:
            record = self._deps.step(
                record, step, SYSTEM, data, {"finished_at": self._deps.clock()}, versioned=False
            )
        except RaceLost:
            pass
        else:
            self._deps.tell(record, text)
        self._done(record.id)

    def _flight(self, request_id: int) -> _Flight:
        """The request's flight, made if missing. Call with the lock held."""
        return self._flights.setdefault(request_id, _Flight(request_id))

    def _done(self, request_id: int) -> None:
        self._forget(request_id)
        self._on_done(request_id)

    def _forget(self, request_id: int) -> None:
        with self._lock:
            self._flights.pop(request_id, None)


def cancel_asked(events: Sequence[AuditEvent]) -> tuple[Actor, bool] | None:
    """Who asked to cancel the request, and whether the host's job was asked to stop since
    (a `cancel_sent` that reached the job); None when nobody asked."""
    asked: Actor | None = None
    reached = False
    for event in events:
        if event.kind == Step.ASK_CANCEL.value:
            asked = event.actor
        elif event.kind == "cancel_sent" and event.data.get("method") != "too_late":
            reached = True
    return None if asked is None else (asked, reached)


def _already_asked(request_id: int, actor: Actor) -> WorkflowError:
    return WorkflowError(f"Cancelling request #{request_id} was already asked by {who(actor)}.")


def sent_at(record: RequestRecord, events: Sequence[AuditEvent]) -> dt.datetime:
    """When the move was sent (the `invocation_sent` record precedes the send)."""
    sent = next((e.at for e in reversed(events) if e.kind == Step.SEND.value), None)
    return record.started_at or sent or record.updated_at


def outcome_data(outcome: MigrationOutcome) -> dict[str, Any]:
    """The audit form of an outcome: durations, blackout, classified error, host event ids."""
    data: dict[str, Any] = {
        "succeeded": outcome.succeeded,
        "duration_seconds": outcome.duration_seconds,
        "blackout_seconds": outcome.blackout_seconds,
        "host_events": [
            {"event_id": e.event_id, "at": e.time_created.isoformat(), "level": e.level}
            for e in outcome.events
        ],
        "evidence": list(outcome.evidence),
    }
    if outcome.error is not None:
        data.update(error_data(outcome.error))
    return data


def _minutes(span: dt.timedelta) -> int:
    return max(1, round(span.total_seconds() / 60))
