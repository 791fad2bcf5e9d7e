"""Running an approved change to Active Directory (`/migrate delegation A B fix`).

The same guarantees as a host setting change: the exact changes approvers saw are the ones
written (the pre-start preflight voids the approval if the plan changed); `invocation_sent` is
recorded before anything is written, so a request is written at most once, whichever process
runs or recovers it; and the outcome comes only from reading the objects back — `succeeded`
when Active Directory holds every value asked for, `failed` when it does not, `outcome_unknown`
when it cannot be read back. The audit events hold the objects' delegation attributes before
and after.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from commands.delegation import (
    NEW_TICKETS,
    ComputerObject,
    DelegationDirectory,
    ObjectChange,
    snapshot,
)
from commands.findings import DIRECTORY_KEY
from commands.workflow.approvals import DirectoryError
from commands.workflow.context import Deps
from commands.workflow.machine import Step, WorkflowError
from commands.workflow.records import SYSTEM, AuditEvent, RequestRecord, State

logger = logging.getLogger(__name__)

Ender = Callable[[RequestRecord, Step, dict[str, Any], str], None]


def approved_changes(record: RequestRecord) -> tuple[ObjectChange, ...]:
    """The exact directory changes stored on the record when it was checked."""
    stored = (record.invocation or {}).get(DIRECTORY_KEY) or ()
    return tuple(ObjectChange.from_json(item) for item in stored)


def change_lines(changes: Sequence[ObjectChange]) -> list[str]:
    """The changes in words, one line each (what the card showed)."""
    return [line for change in changes for line in change.lines()]


class DirectoryChanges:
    """Writes, reads back and recovers directory changes for the runner. `end` ends a request
    that did not run (telling people); `done` frees it."""

    def __init__(self, deps: Deps, end: Ender, done: Callable[[int], None]) -> None:
        self._deps = deps
        self._end = end
        self._done = done

    def run(self, sent: RequestRecord) -> None:
        """After `invocation_sent`: read the objects, write the changes, read them back."""
        deps = self._deps
        changes = approved_changes(sent)
        try:
            directory = self._writer()
            before = _snapshots(self._read(sent))
        except (DirectoryError, WorkflowError) as exc:
            summary = f"{_text(exc)} Nothing was changed in the directory."
            text = f"Request #{sent.id} could not start: {summary}"
            self._end(sent, Step.START_FAILED, _error("directory", summary), text)
            return
        record = deps.step(
            sent,
            Step.START,
            SYSTEM,
            {"asked": [c.audit() for c in changes], "before": before},
            {"started_at": deps.clock()},
            versioned=False,
        )
        failure: dict[str, Any] | None = None
        written: list[str] = []
        for change in changes:
            try:
                directory.apply(change)
            except DirectoryError as exc:
                # The rest would build on a change that did not happen: stop here.
                kept = f" ({', '.join(written)} written before it)" if written else ""
                failure = _error("directory", f"writing {change.host} failed: {exc}{kept}.")
                break
            written.append(change.host)
        self._finish(record, changes, before, failure)

    def recover(self, record: RequestRecord, events: Sequence[AuditEvent]) -> None:
        """A change whose process stopped after `invocation_sent`: it is never written again;
        the objects read back now decide how it ended."""
        changes = approved_changes(record)
        before = _recorded_before(events)
        if record.state is State.APPROVED:
            record = self._deps.step(
                record,
                Step.START,
                SYSTEM,
                {"recovered": True},
                {"started_at": self._deps.clock()},
                versioned=False,
            )
        self._finish(record, changes, before, None)

    def _writer(self) -> DelegationDirectory:
        directory = self._deps.directory
        if directory is None:
            raise WorkflowError("No directory is configured ([directory] in hvbot.toml).")
        refusal = directory.write_refusal()
        if refusal is not None:
            raise DirectoryError(refusal[0].upper() + refusal[1:] + ".")
        return directory

    def _read(self, record: RequestRecord) -> dict[str, ComputerObject | None]:
        """Both hosts' computer objects now."""
        directory = self._deps.directory
        if directory is None:
            raise WorkflowError("No directory is configured ([directory] in hvbot.toml).")
        hosts = [self._deps.host(name) for name in (record.source_host, record.destination_host)]
        return {host.name: directory.computer(host) for host in hosts}

    def _finish(
        self,
        record: RequestRecord,
        changes: Sequence[ObjectChange],
        before: Mapping[str, Any] | None,
        failure: dict[str, Any] | None,
    ) -> None:
        step, data = self._read_back(record, changes, failure)
        data = {"asked": [c.audit() for c in changes], "before": before, **data}
        lines = _outcome_lines(record, changes, step, data)
        outcome = {"succeeded": step is Step.SUCCEED, **data, "lines": lines}
        record = self._deps.step(
            record,
            step,
            SYSTEM,
            data,
            {"finished_at": self._deps.clock(), "outcome": outcome},
            versioned=False,
        )
        self._deps.tell_finished(record, None)
        self._done(record.id)

    def _read_back(
        self,
        record: RequestRecord,
        changes: Sequence[ObjectChange],
        failure: dict[str, Any] | None,
    ) -> tuple[Step, dict[str, Any]]:
        try:
            after = self._read(record)
        except (DirectoryError, WorkflowError) as exc:
            if failure is not None:
                return Step.FAIL, failure
            summary = (
                f"reading the computer objects back failed ({_text(exc)}): whether the "
                "changes are in force is unknown."
            )
            return Step.UNKNOWN, _error("outcome_unknown", summary)
        missing = [line for change in changes for line in change.missing(after.get(change.host))]
        seen = {"after": _snapshots(after)}
        if not missing:
            return Step.SUCCEED, seen
        if failure is not None:
            return Step.FAIL, {**seen, **failure, "missing": missing}
        summary = "the directory does not hold what was asked: " + "; ".join(missing) + "."
        return Step.FAIL, {**seen, **_error("not_in_force", summary), "missing": missing}


def _outcome_lines(
    record: RequestRecord, changes: Sequence[ObjectChange], step: Step, data: Mapping[str, Any]
) -> list[str]:
    """What people read at the end: what changed and when hosts see it, or why not."""
    pair = f"{record.source_host} ↔ {record.destination_host}"
    if step is Step.SUCCEED:
        return [
            f"Kerberos delegation {pair}: read back from the directory, every change is in force:",
            *change_lines(changes),
            NEW_TICKETS,
        ]
    check = f"Check with `/migrate delegation {record.source_host} {record.destination_host}`."
    summary = str(data.get("error", {}).get("summary", ""))
    if step is Step.UNKNOWN:
        return [f"Kerberos delegation {pair}: outcome unknown: {summary}", check]
    return [f"Kerberos delegation {pair}: not done: {summary}", check]


def _snapshots(objects: Mapping[str, ComputerObject | None]) -> dict[str, Any]:
    return {name: snapshot(obj) for name, obj in objects.items()}


def _recorded_before(events: Sequence[AuditEvent]) -> Mapping[str, Any] | None:
    started = next((e for e in events if e.kind == Step.START.value), None)
    before = started.data.get("before") if started is not None else None
    return before if isinstance(before, Mapping) else None


def _error(kind: str, summary: str) -> dict[str, Any]:
    return {"error": {"kind": kind, "summary": summary}}


def _text(error: DirectoryError | WorkflowError) -> str:
    return error.line() if isinstance(error, WorkflowError) else str(error)
