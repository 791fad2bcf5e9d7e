"""An in-memory `AuditStore`: the port's semantics without a database, for tests and dry runs.

One lock makes every write atomic, as one SQLite transaction would: the conditional check,
the record update and the event append happen together or not at all.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from commands.clock import utc_now
from commands.workflow.records import (
    OPEN_STATES,
    AuditEvent,
    EventDraft,
    NewRequest,
    RequestRecord,
    State,
    TransitionResult,
)
from commands.workflow.scheduler import SLOTS_FREED, SlotKey, has_room
from commands.workflow.store import SubjectBusy, clashes

_FIXED_FIELDS = frozenset({"id", "kind", "state", "version", "requester", "place", "created_at"})


class MemoryAuditStore:
    """Requests and append-only events in dictionaries, guarded by one lock."""

    def __init__(self, clock: Callable[[], dt.datetime] = utc_now) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[int, RequestRecord] = {}
        self._events: list[AuditEvent] = []
        self._slots: dict[int, tuple[SlotKey, ...]] = {}

    def create(self, new: NewRequest, event: EventDraft) -> RequestRecord:
        """Records `new` in state `requested` with its first event."""
        with self._lock:
            holder = next(
                (r for r in self._records.values() if r.state in OPEN_STATES and clashes(new, r)),
                None,
            )
            if holder is not None:
                raise SubjectBusy(holder)
            now = self._clock()
            record = RequestRecord(
                id=len(self._records) + 1,
                kind=new.kind,
                state=State.REQUESTED,
                version=1,
                requester=new.requester,
                place=new.place,
                request=dict(new.request),
                created_at=now,
                updated_at=now,
                vm=new.vm,
                source_host=new.source_host,
                destination_host=new.destination_host,
                reason=new.reason,
            )
            self._records[record.id] = record
            self._append(record.id, event, None, State.REQUESTED, now)
            return record

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
        """Applies the change only if the record is in `expected` (and at `expected_version`)."""
        fields = dict(changes or {})
        refused = _FIXED_FIELDS.intersection(fields)
        if refused:
            raise ValueError(f"fields that a transition cannot change: {sorted(refused)}")
        with self._lock:
            record = self._records.get(request_id)
            if record is None:
                raise KeyError(request_id)
            if record.state not in expected or (
                expected_version is not None and record.version != expected_version
            ):
                return TransitionResult(False, record, self._last_change(request_id))
            now = self._clock()
            updated = dataclasses.replace(
                record, state=new_state, version=record.version + 1, updated_at=now, **fields
            )
            self._records[request_id] = updated
            if new_state.terminal:
                self._slots.pop(request_id, None)
            self._append(request_id, event, record.state, new_state, now)
            return TransitionResult(True, updated, None)

    def claim_slots(
        self,
        request_id: int,
        keys: tuple[SlotKey, ...],
        limits: Mapping[SlotKey, int] | None,
    ) -> bool:
        """Claims the request's slots if every pool has room (see `AuditStore.claim_slots`)."""
        with self._lock:
            record = self._records.get(request_id)
            if record is None:
                raise KeyError(request_id)
            freed = any(e.request_id == request_id and e.kind == SLOTS_FREED for e in self._events)
            if record.state.terminal or request_id in self._slots or freed:
                return True
            held = Counter(key for taken in self._slots.values() for key in taken)
            if not has_room(held, keys, limits):
                return False
            self._slots[request_id] = keys
            return True

    def free_slots(self, request_id: int, event: EventDraft) -> bool:
        """Gives the slots back before the final transition (see `AuditStore.free_slots`)."""
        with self._lock:
            if self._slots.pop(request_id, None) is None:
                return False
            self._append(request_id, event, None, None, self._clock())
            return True

    def slot_holders(self) -> Mapping[SlotKey, tuple[int, ...]]:
        """Which requests hold each pool's slots (tests check the limits with it)."""
        with self._lock:
            holders: dict[SlotKey, list[int]] = {}
            for request_id, keys in self._slots.items():
                for key in keys:
                    holders.setdefault(key, []).append(request_id)
        return {key: tuple(sorted(ids)) for key, ids in holders.items()}

    def append(self, request_id: int | None, event: EventDraft) -> AuditEvent:
        """Appends an event that changes no state."""
        with self._lock:
            if request_id is not None and request_id not in self._records:
                raise KeyError(request_id)
            return self._append(request_id, event, None, None, self._clock())

    def get(self, request_id: int) -> RequestRecord | None:
        """The record, or None."""
        with self._lock:
            return self._records.get(request_id)

    def open_requests(self) -> Sequence[RequestRecord]:
        """Every open record, oldest first."""
        with self._lock:
            return [r for r in self._records.values() if r.state in OPEN_STATES]

    def events(self, request_id: int) -> Sequence[AuditEvent]:
        """The request's events, in order."""
        with self._lock:
            return [e for e in self._events if e.request_id == request_id]

    def all_events(self) -> Sequence[AuditEvent]:
        """Every event, in order (tests check invariants over the whole log)."""
        with self._lock:
            return list(self._events)

    def search(
        self,
        *,
        vm: str | None = None,
        host: str | None = None,
        since: dt.datetime | None = None,
        state: State | None = None,
        limit: int = 50,
    ) -> Sequence[RequestRecord]:
        """Records matching every filter (names case-insensitively), newest first."""

        def matches(r: RequestRecord) -> bool:
            hosts = {h.casefold() for h in (r.source_host, r.destination_host) if h}
            return (
                (vm is None or (r.vm or "").casefold() == vm.casefold())
                and (host is None or host.casefold() in hosts)
                and (since is None or r.created_at >= since)
                and (state is None or r.state == state)
            )

        with self._lock:
            found = [r for r in reversed(self._records.values()) if matches(r)]
        return found[:limit]

    def _append(
        self,
        request_id: int | None,
        draft: EventDraft,
        state_from: State | None,
        state_to: State | None,
        at: dt.datetime,
    ) -> AuditEvent:
        event = AuditEvent(
            seq=len(self._events) + 1,
            request_id=request_id,
            kind=draft.kind,
            actor=draft.actor,
            at=at,
            data=dict(draft.data),
            state_from=state_from,
            state_to=state_to,
        )
        self._events.append(event)
        return event

    def _last_change(self, request_id: int) -> AuditEvent | None:
        return next(
            (
                e
                for e in reversed(self._events)
                if e.request_id == request_id and e.state_to is not None
            ),
            None,
        )
