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
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from commands.workflow.codec import FOLLOWED_KINDS
from commands.workflow.execution import INVOCATION_SENT
from commands.workflow.records import AuditEvent, RequestRecord, State


class Action(StrEnum):
    """What recovery does with one open request."""

    RECHECK = "recheck"
    KEEP_WAITING = "keep_waiting"
    EXPIRE = "expire"
    REQUEUE = "requeue"
    REATTACH = "reattach"
    OUTCOME_UNKNOWN = "outcome_unknown"


@dataclass(frozen=True)
class Decision:
    """One open request and what recovery does with it."""

    record: RequestRecord
    action: Action
    started_at: dt.datetime | None = None


def decide(record: RequestRecord, events: Sequence[AuditEvent], now: dt.datetime) -> Decision:
    """The recovery action for an open `record` given its audit `events`."""
    sent = next((e for e in reversed(events) if e.kind == INVOCATION_SENT), None)
    match record.state:
        case State.REQUESTED | State.CHECKING:
            return Decision(record, Action.RECHECK)
        case State.AWAITING_APPROVAL:
            expired = record.expires_at is not None and record.expires_at <= now
            return Decision(record, Action.EXPIRE if expired else Action.KEEP_WAITING)
        case State.APPROVED if sent is None:
            return Decision(record, Action.REQUEUE)
    if record.kind not in FOLLOWED_KINDS:
        return Decision(record, Action.OUTCOME_UNKNOWN)
    # The event is written just before the send, so the job cannot have started earlier.
    started_at = record.started_at or (sent.at if sent else record.updated_at)
    return Decision(record, Action.REATTACH, started_at)


def requeue_order(decisions: Sequence[Decision]) -> list[Decision]:
    """Requests to queue again, in the order they were approved."""
    waiting = [d for d in decisions if d.action is Action.REQUEUE]
    return sorted(waiting, key=lambda d: (d.record.updated_at, d.record.id))
