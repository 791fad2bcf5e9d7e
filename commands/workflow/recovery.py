"""What to do, after a (re)start, with each request left open by an earlier process.

The decision is pure (`decide`): the record and its events in, an action out. `Workflow.recover`
carries the actions out. The policies, and why:

- `requested` / `checking`: run the preflight again. It changes nothing, so repeating it is safe.
- `awaiting_approval`: expire it if its TTL has passed, else keep waiting (the card still works).
- `approved`, no `invocation_sent` event: queue it again in approval order. Its pre-start
  preflight runs as always and voids the approval if anything material changed, so asking the
  approvers again would add noise without adding safety.
- `approved` *with* an `invocation_sent` event: the process died between writing that event and
  recording `running`; the move may have started. Re-attach (the host tells how it ended);
  never send it again.
- `running` migration: re-attach and finish it, reporting in the same thread.
- `approved` + sent or `running` *setting change* (Set-VMHost, ...): there is no job to re-attach
  to and re-running it would be a second send, so it ends `failed` with "outcome unknown" and
  people are told to look at the host's settings.
- `approved` + sent or `running` *directory change* (a delegation fix): never written again;
  the objects are read back and decide (`succeeded` if the directory holds every value asked
  for, `failed` if not, `outcome_unknown` if it cannot be read).
- an approved or running drain, and a drain's move not yet approved (the process died while
  the drain was recording its moves): the drain picks them up (`commands.workflow.drains`); its
  approved and running moves are requeued and re-attached like any migration.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from commands.workflow.codec import drain_of
from commands.workflow.execution import INVOCATION_SENT
from commands.workflow.following import sent_at
from commands.workflow.records import AuditEvent, RequestKind, RequestRecord, State

_BEFORE_APPROVAL = frozenset({State.REQUESTED, State.CHECKING, State.AWAITING_APPROVAL})


class Action(StrEnum):
    """What recovery does with one open request."""

    RECHECK = "recheck"
    KEEP_WAITING = "keep_waiting"
    EXPIRE = "expire"
    REQUEUE = "requeue"
    REATTACH = "reattach"
    OUTCOME_UNKNOWN = "outcome_unknown"
    READ_BACK = "read_back"
    RESUME_DRAIN = "resume_drain"


@dataclass(frozen=True)
class Decision:
    """One open request and what recovery does with it."""

    record: RequestRecord
    action: Action
    started_at: dt.datetime | None = None


def decide(record: RequestRecord, events: Sequence[AuditEvent], now: dt.datetime) -> Decision:
    """The recovery action for an open `record` given its audit `events`."""
    sent = next((e for e in reversed(events) if e.kind == INVOCATION_SENT), None)
    if record.kind == RequestKind.DRAIN and record.state in (State.APPROVED, State.RUNNING):
        return Decision(record, Action.RESUME_DRAIN)
    if drain_of(record) is not None and record.state in _BEFORE_APPROVAL:
        return Decision(record, Action.RESUME_DRAIN)
    match record.state:
        case State.REQUESTED | State.CHECKING:
            return Decision(record, Action.RECHECK)
        case State.AWAITING_APPROVAL:
            expired = record.expires_at is not None and record.expires_at <= now
            return Decision(record, Action.EXPIRE if expired else Action.KEEP_WAITING)
        case State.APPROVED if sent is None:
            return Decision(record, Action.REQUEUE)
    if record.kind == RequestKind.DIRECTORY_CHANGE:
        return Decision(record, Action.READ_BACK)
    if not record.kind.followed:
        return Decision(record, Action.OUTCOME_UNKNOWN)
    # The event is written just before the send, so the job cannot have started earlier.
    return Decision(record, Action.REATTACH, sent_at(record, events))


def requeue_order(decisions: Sequence[Decision]) -> list[Decision]:
    """Requests to queue again, in the order they were approved."""
    waiting = [d for d in decisions if d.action is Action.REQUEUE]
    return sorted(waiting, key=lambda d: (d.record.updated_at, d.record.id))
