"""Request records and audit events as the workflow and the audit store exchange them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class RequestKind(StrEnum):
    """What a recorded request changes (`RequestRecord.kind`)."""

    MIGRATION = "migration"
    STORAGE_MIGRATION = "storage_migration"
    HOST_CHANGE = "host_change"
    VM_CHANGE = "vm_change"
    DRAIN = "drain"
    """A drain: its own record, whose moves are child migration records (see `drain_of`)."""
    DIRECTORY_CHANGE = "directory_change"
    """Active Directory objects changed (`/migrate delegation A B fix`), no host command."""

    @property
    def followed(self) -> bool:
        """Whether it runs as a long Move-VM/Move-VMStorage job, followed and limited per host."""
        return self in (RequestKind.MIGRATION, RequestKind.STORAGE_MIGRATION)


class State(StrEnum):
    """Request states (architecture §3)."""

    REQUESTED = "requested"
    CHECKING = "checking"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    # The move (or change) may or may not have happened: what the hosts said disagrees or is
    # gone. Final: nobody will learn more by waiting; people are told what to check.
    OUTCOME_UNKNOWN = "outcome_unknown"

    @property
    def terminal(self) -> bool:
        """Whether no transition leaves this state."""
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {
        State.SUCCEEDED,
        State.FAILED,
        State.REJECTED,
        State.EXPIRED,
        State.CANCELLED,
        State.OUTCOME_UNKNOWN,
    }
)
OPEN_STATES = frozenset(State) - TERMINAL_STATES


@dataclass(frozen=True)
class Actor:
    """Who did something: the Slack user id (trusted) and the directory account, if resolved."""

    slack_user_id: str
    directory_account: str | None = None
    display_name: str | None = None


SYSTEM = Actor(slack_user_id="hvbot")


@dataclass(frozen=True)
class Place:
    """Where a request was made and is reported: channel and thread."""

    channel: str
    thread_ts: str | None = None


@dataclass(frozen=True)
class NewRequest:
    """A request about to be recorded (state `requested`)."""

    kind: RequestKind
    requester: Actor
    place: Place
    request: Mapping[str, Any]
    vm: str | None = None
    source_host: str | None = None
    destination_host: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class RequestRecord:
    """The current state of one request, as stored. `version` grows with every change."""

    id: int
    kind: RequestKind
    state: State
    version: int
    requester: Actor
    place: Place
    request: Mapping[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    vm: str | None = None
    source_host: str | None = None
    destination_host: str | None = None
    reason: str | None = None
    invocation: Mapping[str, Any] | None = None
    approvals: tuple[str, ...] = ()
    required_approvals: int = 1
    expires_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    vm_id: str | None = None
    card_ts: str | None = None
    progress_ts: str | None = None
    outcome: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class EventDraft:
    """An audit event to append: what happened, who did it, and the details (never secrets)."""

    kind: str
    actor: Actor
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditEvent:
    """An appended audit event, hash-chained to the previous one."""

    seq: int
    request_id: int | None
    kind: str
    actor: Actor
    at: dt.datetime
    data: Mapping[str, Any]
    state_from: State | None = None
    state_to: State | None = None


@dataclass(frozen=True)
class TransitionResult:
    """The outcome of a conditional change: `applied`, and the record as it now stands.

    When not applied, `record` shows the state someone else reached, and `winner` the event
    that put it there, so the loser can say who won.
    """

    applied: bool
    record: RequestRecord
    winner: AuditEvent | None = None
