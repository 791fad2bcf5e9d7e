"""The audit store port: current request state plus an append-only, hash-chained event log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol

from commands.workflow.records import (
    AuditEvent,
    EventDraft,
    NewRequest,
    RequestKind,
    RequestRecord,
    State,
    TransitionResult,
)
from commands.workflow.scheduler import SlotKey


class SubjectBusy(Exception):
    """`create` refused: the VM (or the host's settings) already has an open request, held
    by `holder`. Raised by the store inside the creating transaction, so it holds across
    processes sharing one database."""

    def __init__(self, holder: RequestRecord) -> None:
        super().__init__(f"request #{holder.id} is open for the same subject")
        self.holder = holder


def clashes(new: NewRequest, record: RequestRecord) -> bool:
    """Whether the open `record` holds what `new` would need: its VM, or (for a host settings
    change, or a drain) its host's settings (or the host's VMs). Names compare
    case-insensitively."""
    if new.vm and record.vm and record.vm.casefold() == new.vm.casefold():
        return True
    return (
        new.kind in (RequestKind.HOST_CHANGE, RequestKind.DRAIN)
        and record.kind == new.kind
        and bool(new.source_host)
        and (record.source_host or "").casefold() == (new.source_host or "").casefold()
    )


class AuditStore(Protocol):
    """Durable store of requests and events. Each write is one transaction.

    `transition` is the only way a state changes: one conditional update (on the expected
    states and, when given, the expected version) plus its event, atomically. Events are
    never updated or deleted.
    """

    def create(self, new: NewRequest, event: EventDraft) -> RequestRecord:
        """Record a new request in state `requested`, with its first event; `SubjectBusy`
        when an open request already holds its VM (or its host's settings)."""
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

    def claim_slots(
        self,
        request_id: int,
        keys: tuple[SlotKey, ...],
        limits: Mapping[SlotKey, int] | None,
    ) -> bool:
        """Takes one slot in each pool of `keys` for the request, in one transaction, if each
        holds fewer than its limit (1 when missing; `limits=None`: no limit, the request may be
        moving already). True when the request holds them already, or has ended or freed them
        (it needs none); False, taking nothing, when a pool is full. A final transition frees
        them."""
        ...

    def free_slots(self, request_id: int, event: EventDraft) -> bool:
        """Gives the request's slots back before its final transition (its move ended on the
        hosts), appending `event` (kind `SLOTS_FREED`) in the same transaction; from then on
        it needs no slot, whatever `claim_slots` is asked. False (nothing written) when it
        held none."""
        ...

    def slot_holders(self) -> Mapping[SlotKey, tuple[int, ...]]:
        """Which requests hold each pool's slots now."""
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
