"""The audit store port: current request state plus an append-only, hash-chained event log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol

from commands.workflow.records import (
    AuditEvent,
    EventDraft,
    NewRequest,
    RequestRecord,
    State,
    TransitionResult,
)


class AuditStore(Protocol):
    """Durable store of requests and events. Each write is one transaction.

    `transition` is the only way a state changes: one conditional update (on the expected
    states and, when given, the expected version) plus its event, atomically. Events are
    never updated or deleted.
    """

    def create(self, new: NewRequest, event: EventDraft) -> RequestRecord:
        """Record a new request in state `requested`, with its first event."""
        ...

    def transition(
        self,
        request_id: int,
        expected: Collection[State],
        new_state: State,
        event: EventDraft,
        *,
        expected_version: int | None = None,
        changes: Mapping[str, Any] | None = None,
    ) -> TransitionResult:
        """Move to `new_state` (which may equal the current one, to change fields only) if the
        request is in one of `expected` (and at `expected_version`); apply `changes` to the
        record's fields; append `event`. Exactly one of racing callers wins."""
        ...

    def append(self, request_id: int | None, event: EventDraft) -> AuditEvent:
        """Append an event that changes no state (invocation sent, progress, notice)."""
        ...

    def get(self, request_id: int) -> RequestRecord | None:
        """The request with this id, or None."""
        ...

    def open_requests(self) -> Sequence[RequestRecord]:
        """Every request not in a terminal state, oldest first."""
        ...

    def events(self, request_id: int) -> Sequence[AuditEvent]:
        """The request's events in the order they happened."""
        ...

    def search(
        self,
        *,
        vm: str | None = None,
        host: str | None = None,
        since: dt.datetime | None = None,
        state: State | None = None,
        limit: int = 50,
    ) -> Sequence[RequestRecord]:
        """Requests matching every given filter, newest first."""
        ...
