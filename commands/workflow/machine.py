"""The request state machine (architecture §3): every change of state is one named, guarded step.

```
requested → checking → awaiting_approval → approved → running → succeeded | failed
                                                                | outcome_unknown
```
plus `rejected`, `expired` and `cancelled` from the open states. Decisions the design left open:

- `outcome_unknown` is final: a move (or a setting change) whose hosts' evidence disagrees or
  is gone (`commands.outcome`), or a setting change interrupted after its send. It is never
  guessed into `succeeded` or `failed`; people are told the evidence and what to check.

- `running` can be cancelled, but not by a state change: the workflow asks the host to stop
  the job (`MigrationHandle.cancel`) and the final state comes from the host's answer —
  `cancelled` if the job stopped, `succeeded` if it was too late, `failed` otherwise. The ask
  itself (`ASK_CANCEL`, event `cancel_requested`) is a versioned step, so of several people
  (or processes) asking at once exactly one records it; any process may make it, and the
  process following the move sees it at its next poll.
- An approval made void by the pre-start preflight (the VM moved, the invocation would differ,
  a finding now blocks) ends the request in `failed` with an `approval_void` event naming what
  changed. Not `cancelled`: nobody asked for it to stop. Not back to `awaiting_approval`: the
  approvers agreed to an exact invocation; a different one deserves a fresh request and card.
- The record that an invocation is about to be sent (`SEND`, event `invocation_sent`) is a
  versioned step that keeps the state `approved`: of two processes about to send the same
  request, exactly one records it, and only that one sends.
- Approved requests do not expire while they wait in a host's queue: approval is consent to run
  as soon as a slot frees, and the pre-start preflight guards against a changed world. It runs
  while the request waits (next in line) and is at most `PREFLIGHT_FRESH_SECONDS` old when the
  request is sent, else it runs again (commands.workflow.execution).

The store applies each step as one conditional update; this module says which steps exist,
from which states, and how to tell a person that a step is not possible any more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from commands.errors import Refusal
from commands.workflow.records import (
    OPEN_STATES,
    SYSTEM,
    Actor,
    AuditEvent,
    RequestRecord,
    State,
)


class WorkflowError(Refusal):
    """A refusal with a one-line message that is safe to show the person who asked; `winner`
    is who got there first when a race was lost."""

    def __init__(self, message: str, *, fix: str = "", winner: Actor | None = None) -> None:
        super().__init__(message, fix)
        self.winner = winner


class Step(StrEnum):
    """The steps a request can take; the value is the audit event kind they record."""

    CHECK = "check_started"
    CHECKED = "checked"
    CHECK_FAILED = "check_failed"
    APPROVE = "approved"
    REJECT = "rejected"
    EXPIRE = "expired"
    CANCEL = "cancelled"
    VOID = "approval_void"
    SEND = "invocation_sent"
    START = "started"
    START_FAILED = "start_failed"
    SUCCEED = "succeeded"
    FAIL = "failed"
    STOPPED = "stopped_on_host"
    ASK_CANCEL = "cancel_requested"
    UNKNOWN = "outcome_unknown"
    ANNOTATE = "annotated"


@dataclass(frozen=True)
class Rule:
    """A step's guard: the states it may leave and the state it reaches.

    `target=None` means the step keeps the current state (it only changes fields, such as an
    approval that is not yet the last one needed, or where the card was posted).
    """

    sources: frozenset[State]
    target: State | None
    verb: str


_PENDING = frozenset({State.REQUESTED, State.CHECKING, State.AWAITING_APPROVAL, State.APPROVED})

RULES: Mapping[Step, Rule] = {
    Step.CHECK: Rule(frozenset({State.REQUESTED, State.CHECKING}), State.CHECKING, "checked"),
    Step.CHECKED: Rule(frozenset({State.CHECKING}), State.AWAITING_APPROVAL, "checked"),
    Step.CHECK_FAILED: Rule(frozenset({State.REQUESTED, State.CHECKING}), State.FAILED, "checked"),
    Step.APPROVE: Rule(frozenset({State.AWAITING_APPROVAL}), None, "approved"),
    Step.REJECT: Rule(frozenset({State.AWAITING_APPROVAL}), State.REJECTED, "rejected"),
    Step.EXPIRE: Rule(frozenset({State.AWAITING_APPROVAL}), State.EXPIRED, "expired"),
    Step.CANCEL: Rule(_PENDING, State.CANCELLED, "cancelled"),
    Step.VOID: Rule(frozenset({State.APPROVED}), State.FAILED, "started"),
    Step.SEND: Rule(frozenset({State.APPROVED}), None, "started"),
    Step.START: Rule(frozenset({State.APPROVED}), State.RUNNING, "started"),
    Step.START_FAILED: Rule(frozenset({State.APPROVED}), State.FAILED, "started"),
    Step.SUCCEED: Rule(frozenset({State.RUNNING}), State.SUCCEEDED, "finished"),
    Step.FAIL: Rule(frozenset({State.RUNNING}), State.FAILED, "finished"),
    Step.STOPPED: Rule(frozenset({State.RUNNING}), State.CANCELLED, "finished"),
    Step.ASK_CANCEL: Rule(frozenset({State.APPROVED, State.RUNNING}), None, "cancelled"),
    Step.UNKNOWN: Rule(
        frozenset({State.APPROVED, State.RUNNING}), State.OUTCOME_UNKNOWN, "finished"
    ),
    Step.ANNOTATE: Rule(OPEN_STATES, None, "updated"),
}
"""The whole transition table. The final approval is `APPROVE` with target `approved`."""


def _allowed() -> Mapping[State, frozenset[State]]:
    table: dict[State, set[State]] = {state: set() for state in State}
    for rule in RULES.values():
        for source in rule.sources:
            table[source].add(rule.target or source)
    table[State.AWAITING_APPROVAL].add(State.APPROVED)
    return {state: frozenset(targets) for state, targets in table.items()}


ALLOWED: Mapping[State, frozenset[State]] = _allowed()
"""Every state and the states one step can reach from it (a state may reach itself)."""


def target_of(step: Step, record: RequestRecord, *, final_approval: bool = False) -> State:
    """The state `step` leads `record` to; refuses with a reason when the step is not allowed."""
    rule = RULES[step]
    if record.state not in rule.sources:
        raise WorkflowError(_refusal(record, rule))
    if step is Step.APPROVE and final_approval:
        return State.APPROVED
    return rule.target or record.state


def who(actor: Actor) -> str:
    """How to name an actor in a message: a Slack mention, or the bot itself."""
    if actor == SYSTEM or actor.slack_user_id == SYSTEM.slack_user_id:
        return "hvbot"
    return f"<@{actor.slack_user_id}>"


_STATE_WORDS: Mapping[State, str] = {
    State.REQUESTED: "just requested",
    State.CHECKING: "being checked",
    State.AWAITING_APPROVAL: "waiting for approval",
    State.APPROVED: "already approved",
    State.RUNNING: "already running",
    State.SUCCEEDED: "already finished (succeeded)",
    State.FAILED: "already finished (failed)",
    State.REJECTED: "already rejected",
    State.EXPIRED: "expired",
    State.CANCELLED: "already cancelled",
    State.OUTCOME_UNKNOWN: "already finished (outcome unknown)",
}


def _refusal(record: RequestRecord, rule: Rule) -> str:
    return f"Request #{record.id} is {_STATE_WORDS[record.state]}; it cannot be {rule.verb} now."


def decisive_event(events: Sequence[AuditEvent]) -> AuditEvent | None:
    """The last state change a person made (approve, reject, cancel...), skipping the bot's own
    steps: who "won" a request that has since moved on to running or finished."""
    return next(
        (
            e
            for e in reversed(events)
            if e.state_to is not None and e.state_to != e.state_from and who(e.actor) != "hvbot"
        ),
        None,
    )


def lost_race_message(record: RequestRecord, events: Sequence[AuditEvent]) -> str:
    """What to tell a caller who found `record` moved on: its state and who moved it."""
    state = _STATE_WORDS[record.state]
    event = decisive_event(events)
    if event is None:
        return f"Request #{record.id} is {state}."
    if event.state_to == record.state:
        return f"Request #{record.id} is {state} (by {who(event.actor)})."
    return f"Request #{record.id} is {state} ({event.kind} by {who(event.actor)})."
