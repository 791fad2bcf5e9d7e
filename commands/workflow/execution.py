"""Running an approved request: the repeated preflight, the send, the start of the run.

Invariant: one request, at most one send. Before a Move-VM (or any changing invocation) is
sent, an `invocation_sent` event with the exact rendered invocation is recorded by a versioned
conditional step on the `approved` record, so of two senders (threads or processes) exactly one
wins; nothing is sent for a request whose log already holds one (recovery re-attaches instead).
Once a migration has started, `commands.workflow.following` follows it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from commands import readback
from commands.findings import DIRECTORY_KEY, PreflightResult
from commands.hyperv import ErrorKind, HyperVError
from commands.inventory import Host
from commands.invocation import Invocation
from commands.requests import (
    HostNetworkAddRequest,
    HostNetworkRemoveRequest,
    HostSetRequest,
    HostToggleRequest,
    VmCompatibilityRequest,
)
from commands.workflow.codec import decode_request, invocations_from_record
from commands.workflow.context import Deps, InternalError, RaceLost, error_data, error_text
from commands.workflow.directory_change import DirectoryChanges, approved_changes, change_lines
from commands.workflow.following import Follower
from commands.workflow.machine import Step, WorkflowError, who
from commands.workflow.records import SYSTEM, RequestKind, RequestRecord, State

logger = logging.getLogger(__name__)

INVOCATION_SENT = Step.SEND.value
PREFLIGHT_FRESH_SECONDS = 20.0
"""How old a queued move's pre-start preflight (run while it waited, off its hosts' slots) may
be when a slot frees and the move is sent on its word; an older one is run again in the slot.
The `invocation_sent` event records the age it had."""
SETTING_CHANGES = (
    HostToggleRequest,
    HostSetRequest,
    HostNetworkAddRequest,
    HostNetworkRemoveRequest,
    VmCompatibilityRequest,
)


class Runner(Follower):
    """Starts requests, then follows them; `on_done(request_id)` frees the request's slots."""

    def __init__(
        self,
        deps: Deps,
        on_done: Callable[[int], None],
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(deps, on_done)
        self._monotonic = monotonic
        self._checks_lock = threading.Lock()
        self._checked: dict[int, float] = {}
        self._checking: set[int] = set()
        self._directory = DirectoryChanges(deps, self._end, self._done)

    def reserve_precheck(self, request_id: int) -> bool:
        """Whether a queued request's preflight should run (again) while it waits — none yet,
        or one past half its freshness, so it is still fresh when a slot frees soon — and if
        so, reserves it for one `precheck` task."""
        if self.in_flight(request_id):
            return False
        with self._checks_lock:
            at = self._checked.get(request_id)
            due = at is None or self._monotonic() - at > PREFLIGHT_FRESH_SECONDS / 2
            if request_id in self._checking or not due:
                return False
            self._checking.add(request_id)
            return True

    def precheck(self, request_id: int) -> None:
        """Executor task (after `reserve_precheck`): the pre-start preflight of a queued move,
        run before it holds any slot, so its hosts' slots go to moves rather than to reads. A
        changed world voids the approval now; a fresh pass lets `start` send without reading
        the hosts again."""
        try:
            record = self._deps.record(request_id)
            if record.state is not State.APPROVED or self._deps.was_sent(request_id):
                return
            checked_at = self._monotonic()
            # Versioned: a send recorded meanwhile (by a slot freed here or in another process)
            # makes the void lose; that send's own preflight stands.
            if self._recheck(record, versioned=True).state is State.APPROVED:
                with self._checks_lock:
                    self._checked[request_id] = checked_at
        except (WorkflowError, HyperVError) as exc:
            # The preflight runs again in the slot, where a failure is told.
            logger.info(
                "queued preflight not done", extra={"request_id": request_id, "error": str(exc)}
            )
        finally:
            with self._checks_lock:
                self._checking.discard(request_id)

    def forget_precheck(self, request_id: int) -> None:
        """Drops a queued request's preflight (it left the queue)."""
        with self._checks_lock:
            self._checked.pop(request_id, None)

    def _fresh_precheck(self, request_id: int) -> float | None:
        """The age of the request's queued preflight when still fresh, else None (used once)."""
        with self._checks_lock:
            at = self._checked.pop(request_id, None)
        age = None if at is None else self._monotonic() - at
        return age if age is not None and age <= PREFLIGHT_FRESH_SECONDS else None

    def start(self, request_id: int) -> None:
        """Executor task: repeat the preflight (unless a fresh one ran while it was queued),
        send, and follow (or run a setting change)."""
        deps = self._deps
        record = deps.record(request_id)
        if record.state is not State.APPROVED:
            self._done(request_id)
            return
        age = self._fresh_precheck(request_id)
        try:
            if age is None:
                age = 0.0
                record = self._recheck(record)
        except (WorkflowError, HyperVError) as exc:
            self._could_not_start(record, exc)
            return
        except Exception:
            internal = InternalError.logged(logger, "start failed", request_id=request_id)
            text = internal.text(f"starting request #{record.id}") + " Nothing was run."
            self._end(record, Step.START_FAILED, internal.data, text)
            return
        if record.state is State.APPROVED:
            self._send(record, age)

    def _recheck(self, record: RequestRecord, *, versioned: bool = False) -> RequestRecord:
        """Voids the approval (state `failed`, people told why) if the world changed."""
        deps = self._deps
        fresh = deps.preflight.preflight(decode_request(record.request, deps.inventory))
        changes = material_changes(record, fresh)
        if not changes:
            return record
        record = deps.step(
            record,
            Step.VOID,
            SYSTEM,
            {"changes": changes},
            {"finished_at": deps.clock()},
            versioned=versioned,
        )
        deps.tell(
            record,
            f"Approval of request #{record.id} is void: "
            + "; ".join(changes)
            + ". Nothing was run; submit it again if still wanted.",
        )
        self._done(record.id)
        return record

    def _send(self, record: RequestRecord, preflight_age: float) -> None:
        deps = self._deps
        with self._lock:
            cancel_by = self._flight(record.id).cancel_by
        if cancel_by is not None:
            record = deps.step(record, Step.CANCEL, cancel_by, versioned=False)
            deps.tell(
                record, f"Request #{record.id} cancelled by {who(cancel_by)} before it started."
            )
            self._done(record.id)
            return
        invocations = invocations_from_record(record.invocation)
        host = deps.host(record.source_host)
        if record.kind == RequestKind.DIRECTORY_CHANGE:
            changes = approved_changes(record)
            sent = self._record_send(
                record,
                {
                    "host": host.name,
                    "rendered": change_lines(changes),
                    DIRECTORY_KEY: [c.to_json() for c in changes],
                    "preflight_age_seconds": round(preflight_age, 1),
                },
            )
            if sent is not None:
                self._directory.run(sent)
            return
        sent = self._record_send(
            record,
            {
                "host": host.name,
                "rendered": [inv.render() for inv in invocations],
                "invocations": [inv.to_json() for inv in invocations],
                "preflight_age_seconds": round(preflight_age, 1),
            },
        )
        if sent is None:
            return
        if record.kind.followed:
            self._start_migration(sent, host, invocations[0], sent.updated_at)
        else:
            self._run_change(sent, host, invocations)

    def recover_change(self, record: RequestRecord) -> None:
        """Executor task: ends a directory change an earlier process sent, from a read-back
        (never written again)."""
        self._directory.recover(record, self._deps.store.events(record.id))

    def _record_send(self, record: RequestRecord, data: dict[str, Any]) -> RequestRecord | None:
        """Records `invocation_sent` (with `data`: what is sent, and where) on exactly this
        version of the approved record; None when it was sent already (by another thread or
        process) or has left `approved`."""
        deps = self._deps
        while True:
            if deps.was_sent(record.id):
                logger.error(
                    "invocation already sent; not sending again", extra={"request_id": record.id}
                )
                # The slots stay taken: a move may be running on the hosts.
                self._forget(record.id)
                return None
            try:
                return deps.step(record, Step.SEND, SYSTEM, data)
            except RaceLost as lost:
                if lost.record.state is not State.APPROVED:
                    self._done(record.id)
                    return None
                # Only fields changed (where the card was posted): look again.
                record = lost.record

    def _start_migration(
        self, record: RequestRecord, host: Host, invocation: Invocation, sent_at: dt.datetime
    ) -> None:
        deps = self._deps
        try:
            handle = deps.hyperv.start_migration(host, invocation, record.vm_id or "")
        except HyperVError as exc:
            self._could_not_start(record, exc)
            return
        except Exception:
            # Unclassified: the move may or may not have started. Ask the host, never resend.
            logger.exception("start uncertain; re-attaching", extra={"request_id": record.id})
            self.reattach(record, sent_at)
            return
        record = deps.step(
            record,
            Step.START,
            SYSTEM,
            {},
            {"started_at": handle.started_at, "vm_id": handle.vm_id},
            versioned=False,
        )
        deps.tell(record, f"Request #{record.id} started on {host.name}.")
        self._following(record, handle)

    def _run_change(
        self, record: RequestRecord, host: Host, invocations: tuple[Invocation, ...]
    ) -> None:
        """Runs a setting change; it succeeds only when the host, read back, reports the value
        asked for. The final event holds the setting, the value asked, before and after."""
        deps = self._deps
        request = decode_request(record.request, deps.inventory)
        if not isinstance(request, SETTING_CHANGES):
            raise WorkflowError(f"Request #{record.id} is not a setting change.")
        try:
            before = self._observe(request, host)
        except (HyperVError, WorkflowError) as exc:
            self._could_not_start(record, exc)
            return
        values = {"setting": readback.setting(request), "asked": readback.asked(request)}
        record = deps.step(
            record,
            Step.START,
            SYSTEM,
            {**values, "before": before},
            {"started_at": deps.clock()},
            versioned=False,
        )
        failure: dict[str, Any] | None = None
        try:
            deps.hyperv.run(host, invocations)
        except HyperVError as exc:
            failure = error_data(exc)
        step, data = self._read_back(request, host, values, failure)
        data = {**values, "before": before, **data}
        outcome = {"succeeded": step is Step.SUCCEED, **data}
        record = deps.step(
            record,
            step,
            SYSTEM,
            data,
            {"finished_at": deps.clock(), "outcome": outcome},
            versioned=False,
        )
        deps.tell_finished(record, None)
        self._done(record.id)

    def _observe(self, request: readback.SettingChange, host: Host) -> Any:
        """The setting's value on the host now."""
        hyperv = self._deps.hyperv
        if isinstance(request, VmCompatibilityRequest):
            return readback.observed(request, None, hyperv.get_vm(host, request.vm))
        return readback.observed(request, hyperv.host_settings(host), None)

    def _read_back(
        self,
        request: readback.SettingChange,
        host: Host,
        values: dict[str, Any],
        failure: dict[str, Any] | None,
    ) -> tuple[Step, dict[str, Any]]:
        """The final step from the value in force after the change (and the run's failure)."""
        try:
            after = self._observe(request, host)
        except (HyperVError, WorkflowError) as exc:
            if failure is not None:
                return Step.FAIL, failure
            summary = (
                f"{host.name} took the change, but reading {values['setting']} back failed "
                f"({error_text(exc)}): whether it is in force is unknown."
            )
            return Step.UNKNOWN, {
                "error": {"kind": ErrorKind.OUTCOME_UNKNOWN.value, "summary": summary}
            }
        if readback.in_force(request, after):
            return Step.SUCCEED, {"after": after}
        if failure is not None:
            return Step.FAIL, {"after": after, **failure}
        summary = (
            f"{host.name} reports {values['setting']} = {after!r} after the change, "
            f"not {values['asked']!r}."
        )
        return Step.FAIL, {"after": after, "error": {"kind": "not_in_force", "summary": summary}}

    def _could_not_start(self, record: RequestRecord, error: HyperVError | WorkflowError) -> None:
        """Ends a request that did not run (`start_failed`), telling people why."""
        text = f"Request #{record.id} could not start: {error_text(error)}"
        self._end(record, Step.START_FAILED, error_data(error), text)


def material_changes(approved: RequestRecord, fresh: PreflightResult) -> list[str]:
    """Why an approval no longer covers what would run now; empty when nothing material changed.

    Material: a finding that now blocks, the VM on another host or re-created (new id), or any
    difference in the exact invocations. Warnings and info findings are not material.
    """
    changes = [f"now blocked: {f.message}" for f in fresh.blocking]
    fresh_host = fresh.host.name if fresh.host else None
    if (
        approved.source_host
        and fresh_host
        and fresh_host.casefold() != approved.source_host.casefold()
    ):
        changes.append(f"it is now on {fresh_host}, not {approved.source_host}")
    if approved.vm_id and fresh.vm_id and approved.vm_id.casefold() != fresh.vm_id.casefold():
        changes.append("the VM has a different id (was it re-created?)")
    was = [inv.render() for inv in invocations_from_record(approved.invocation)]
    now = [inv.render() for inv in fresh.invocations]
    if was != now:
        changes.append("the command would now be: " + "; ".join(now or ["(nothing)"]))
    approved_changes = (approved.invocation or {}).get(DIRECTORY_KEY, [])
    if approved_changes != [change.to_json() for change in fresh.changes]:
        now = [line for change in fresh.changes for line in change.lines()]
        changes.append("the directory changes would now be: " + "; ".join(now or ["(none)"]))
    return changes
