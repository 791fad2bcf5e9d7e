"""What every part of the workflow shares: its ports, its executor, its clock, and the one way
to take a step (a conditional store transition guarded by the state machine)."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from commands.delegation import DelegationDirectory
from commands.findings import Preflight
from commands.hyperv import HyperVError, MigrationOutcome, MigrationProgress
from commands.inventory import Host, Inventory
from commands.ports import HyperVPort
from commands.workflow.approvals import Approvers
from commands.workflow.cards import ApprovalCard
from commands.workflow.machine import (
    RULES,
    Step,
    WorkflowError,
    decisive_event,
    lost_race_message,
    target_of,
)
from commands.workflow.notify import MessageRef, Notifier, ProgressCadence
from commands.workflow.records import SYSTEM, Actor, AuditEvent, EventDraft, RequestRecord
from commands.workflow.store import AuditStore

logger = logging.getLogger(__name__)


class RaceLost(WorkflowError):
    """A conditional step found the record changed by someone else; `record` is how it stands."""

    def __init__(self, record: RequestRecord, events: Sequence[AuditEvent]) -> None:
        winner = decisive_event(events)
        super().__init__(lost_race_message(record, events), winner=winner.actor if winner else None)
        self.record = record


@dataclass(frozen=True)
class Deps:
    """The workflow's collaborators. `executor` is the bot's own pool, never a chat listener's;
    `directory` writes approved directory changes (None: the bot has no directory)."""

    store: AuditStore
    hyperv: HyperVPort
    preflight: Preflight
    approvers: Approvers
    notifier: Notifier
    inventory: Inventory
    executor: Executor
    clock: Callable[[], dt.datetime]
    poll_seconds: float = 2.0
    cadence: ProgressCadence = field(default_factory=ProgressCadence)
    directory: DelegationDirectory | None = None

    def step(
        self,
        record: RequestRecord,
        step: Step,
        actor: Actor,
        data: Mapping[str, Any] | None = None,
        changes: Mapping[str, Any] | None = None,
        *,
        versioned: bool = True,
        final_approval: bool = False,
    ) -> RequestRecord:
        """Takes `step` from `record` as one conditional store transition and returns the new
        record. Versioned steps apply only to the exact record read (people's clicks); the
        others to any state the step may leave (the workflow's own moves). Raises `RaceLost`."""
        target = target_of(step, record, final_approval=final_approval)
        result = self.store.transition(
            record.id,
            {record.state} if versioned else RULES[step].sources,
            target,
            EventDraft(step.value, actor, dict(data or {})),
            expected_version=record.version if versioned else None,
            changes=changes,
        )
        if not result.applied:
            raise RaceLost(result.record, self.store.events(record.id))
        return result.record

    def record(self, request_id: int) -> RequestRecord:
        """The record, or a WorkflowError naming the unknown id."""
        record = self.store.get(request_id)
        if record is None:
            raise WorkflowError(f"There is no request #{request_id}.")
        return record

    def host(self, name: str | None) -> Host:
        """The inventory host called `name`; refuses names the inventory no longer holds."""
        host = self.inventory.find(name) if name else None
        if host is None:
            raise WorkflowError(f"Host {name or '(none)'} is not in the inventory.")
        return host

    def run_task(self, task: Callable[..., None], *args: Any) -> bool:
        """Runs `task(*args)` on the workflow's executor; False once the executor is shut down."""
        try:
            self.executor.submit(_logged, task, *args)
        except RuntimeError:
            logger.warning("executor shut down; task not run", extra={"task": task.__name__})
            return False
        return True

    def was_sent(self, request_id: int) -> bool:
        """Whether the request's log holds its `invocation_sent`: a move may be on its host."""
        return any(e.kind == Step.SEND.value for e in self.store.events(request_id))

    def tell(self, record: RequestRecord, message: str) -> None:
        """Tells people about `record`; a chat failure never stops the workflow."""
        _notify(self.notifier.request_updated, record, message)

    def tell_approval_needed(self, record: RequestRecord, card: ApprovalCard) -> None:
        """Shows the approval card and remembers where it was posted."""
        ref = _notify(self.notifier.approval_needed, record, card)
        if ref is not None:
            self.remember(record.id, {"card_ts": ref})

    def tell_progress(self, record: RequestRecord, progress: MigrationProgress) -> None:
        """Reports a reading when the cadence says people should see it; remembers where the
        first one was posted. A chat failure never stops the migration."""
        if not self.cadence.due(record.id, progress, self.clock()):
            return
        ref = _notify(self.notifier.progress, record, progress)
        if ref is not None and record.progress_ts is None:
            self.remember(record.id, {"progress_ts": ref})

    def tell_finished(self, record: RequestRecord, outcome: MigrationOutcome | None) -> None:
        """Reports the end of a run; a chat failure never changes the recorded outcome."""
        self.cadence.forget(record.id)
        _notify(self.notifier.finished, record, outcome)

    def tell_summary(self, record: RequestRecord, text: str) -> MessageRef | None:
        """Replaces a drain's summary message and remembers where a new one was posted (so a
        process taking over edits the same message); a chat failure never stops the drain."""
        ref = _notify(self.notifier.summary, record, text)
        if ref is None or record.progress_ts is not None:
            return None
        self.remember(record.id, {"progress_ts": ref})
        return ref

    def remember(self, request_id: int, refs: Mapping[str, MessageRef]) -> RequestRecord:
        """Records where messages about the request were posted (`card_ts`, `progress_ts`), so
        reports after a restart update the same messages. Finished requests keep what they had."""
        while True:
            record = self.record(request_id)
            if record.state.terminal or not refs:
                return record
            try:
                return self.step(record, Step.ANNOTATE, SYSTEM, refs, refs)
            except RaceLost:
                continue


def _notify(
    send: Callable[..., MessageRef | None], record: RequestRecord, *args: Any
) -> MessageRef | None:
    try:
        return send(record, *args)
    except Exception:
        logger.exception("notifier failed", extra={"request_id": record.id})
        return None


def error_data(error: HyperVError | WorkflowError) -> dict[str, Any]:
    """The safe part of an error for the audit log and people (never `detail`)."""
    if isinstance(error, WorkflowError):
        return {"error": {"kind": "workflow", "summary": error.message}}
    return {
        "error": {
            "kind": error.kind.value,
            "summary": error.summary,
            "cause": error.cause,
            "fix": error.fix,
            "host": error.host,
        }
    }


def error_text(error: HyperVError | WorkflowError) -> str:
    """One line for people: summary, then cause and fix when known."""
    return error.line() if isinstance(error, WorkflowError) else error.sentence()


@dataclass(frozen=True)
class InternalError:
    """An unexpected exception, logged under `reference`: what people and the audit log get."""

    reference: str

    @classmethod
    def logged(cls, log: logging.Logger, message: str, **fields: Any) -> InternalError:
        """Logs the exception being handled with a fresh short reference (and `fields`)."""
        reference = secrets.token_hex(3)
        log.exception(message, extra={"reference": reference, **fields})
        return cls(reference)

    @property
    def data(self) -> dict[str, Any]:
        """The audit form: the kind and the reference, never the exception's text."""
        return {"error": {"kind": "internal", "reference": self.reference}}

    def text(self, doing: str) -> str:
        """One sentence for people, e.g. `doing` = "checking request #3"."""
        return (
            f"Internal error while {doing} (reference {self.reference}); "
            "the bot's log has the detail."
        )


def _logged(task: Callable[..., None], *args: Any) -> None:
    # Executor futures swallow exceptions; a task's failure must reach the log at least.
    try:
        task(*args)
    except RaceLost as exc:
        logger.info("step lost a race", extra={"task": task.__name__, "reason": exc.message})
    except Exception:
        InternalError.logged(logger, "workflow task failed", task=task.__name__)
