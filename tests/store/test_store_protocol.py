"""SqliteAuditStore honours the AuditStore port: records, conditional transitions, events."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from bot.store import CHANGEABLE_FIELDS, RequestNotFound, SqliteAuditStore
from commands.workflow.records import RequestRecord, State
from commands.workflow.store import AuditStore
from support.clock import FakeClock
from support.store import ALICE, BOB, draft, new_request


def test_is_an_audit_store(store: SqliteAuditStore) -> None:
    port: AuditStore = store
    assert port.get(1) is None


def test_create_records_the_request_and_its_first_event(store: SqliteAuditStore) -> None:
    record = store.create(new_request(), draft("requested", text="/migrate SRV-APP01 to HV-SRV02"))

    assert record.state is State.REQUESTED
    assert record.version == 1
    assert record.requester == ALICE
    assert record.place.thread_ts == "1732560000.000100"
    assert record.request == {"vm": "SRV-APP01", "to": "HV-SRV02", "include_storage": False}
    assert record.created_at.tzinfo is not None
    assert store.get(record.id) == record
    [event] = store.events(record.id)
    assert (event.kind, event.state_from, event.state_to) == ("requested", None, State.REQUESTED)
    assert event.data == {"text": "/migrate SRV-APP01 to HV-SRV02"}
    assert event.actor == ALICE


def test_transition_applies_changes_and_appends_the_event(store: SqliteAuditStore) -> None:
    rid = store.create(new_request(), draft("requested")).id
    expires = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)

    result = store.transition(
        rid,
        [State.REQUESTED],
        State.AWAITING_APPROVAL,
        draft("card_posted", card="1.2"),
        changes={
            "expires_at": expires,
            "card_ts": "1.2",
            "invocation": {"cmdlet": "Move-VM", "parameters": {"Name": "SRV-APP01"}},
            "required_approvals": 2,
        },
    )

    assert result.applied and result.winner is None
    record = result.record
    assert (record.state, record.version) == (State.AWAITING_APPROVAL, 2)
    assert record.expires_at == expires
    assert record.card_ts == "1.2"
    assert record.required_approvals == 2
    assert record.invocation == {"cmdlet": "Move-VM", "parameters": {"Name": "SRV-APP01"}}
    assert store.get(rid) == record
    last = store.events(rid)[-1]
    assert (last.state_from, last.state_to, last.data) == (
        State.REQUESTED,
        State.AWAITING_APPROVAL,
        {"card": "1.2"},
    )


def test_transition_refused_in_an_unexpected_state_names_the_winner(
    store: SqliteAuditStore,
) -> None:
    rid = store.create(new_request(), draft("requested")).id
    store.transition(rid, [State.REQUESTED], State.CANCELLED, draft("cancelled", BOB))

    lost = store.transition(rid, [State.REQUESTED], State.CHECKING, draft("checking"))

    assert not lost.applied
    assert lost.record.state is State.CANCELLED
    assert lost.winner is not None
    assert (lost.winner.kind, lost.winner.actor) == ("cancelled", BOB)
    assert [e.kind for e in store.events(rid)] == ["requested", "cancelled"]


def test_transition_conditional_on_version(store: SqliteAuditStore) -> None:
    rid = store.create(new_request(), draft("requested")).id
    first = store.transition(
        rid,
        [State.REQUESTED],
        State.REQUESTED,
        draft("approval", BOB),
        expected_version=1,
        changes={"approvals": ("U0BOB",)},
    )
    stale = store.transition(
        rid,
        [State.REQUESTED],
        State.REQUESTED,
        draft("approval", ALICE),
        expected_version=1,
        changes={"approvals": ("U0ALICE",)},
    )

    assert first.applied and first.record.approvals == ("U0BOB",)
    assert not stale.applied
    assert stale.record.approvals == ("U0BOB",)
    assert stale.winner is not None and stale.winner.actor == BOB


def test_transition_refuses_unknown_fields_and_requests(store: SqliteAuditStore) -> None:
    rid = store.create(new_request(), draft("requested")).id
    with pytest.raises(ValueError, match="state"):
        store.transition(rid, [State.REQUESTED], State.CHECKING, draft("x"), changes={"state": 1})
    with pytest.raises(KeyError, match="no request with id 2"):
        store.transition(rid + 1, [State.REQUESTED], State.CHECKING, draft("x"))
    with pytest.raises(RequestNotFound):
        store.append(rid + 1, draft("x"))
    record = store.get(rid)
    assert record is not None and record.version == 1
    assert len(store.events(rid)) == 1


def test_append_adds_events_without_changing_state(store: SqliteAuditStore) -> None:
    rid = store.create(new_request(), draft("requested")).id
    sent = store.append(rid, draft("invocation_sent", cmdlet="Move-VM"))
    notice = store.append(None, draft("bot_started"))

    assert sent.seq < notice.seq
    assert (sent.state_from, sent.state_to, notice.request_id) == (None, None, None)
    record = store.get(rid)
    assert record is not None and (record.state, record.version) == (State.REQUESTED, 1)
    assert [e.kind for e in store.events(rid)] == ["requested", "invocation_sent"]


def test_open_requests_oldest_first_without_terminal_ones(store: SqliteAuditStore) -> None:
    ids = [store.create(new_request(vm=f"VM{i}"), draft("requested")).id for i in range(4)]
    store.transition(ids[1], [State.REQUESTED], State.REJECTED, draft("rejected", BOB))
    store.transition(ids[2], [State.REQUESTED], State.CHECKING, draft("checking"))

    assert [r.id for r in store.open_requests()] == [ids[0], ids[2], ids[3]]


def test_search_filters_combine_and_sort_newest_first(db_path: Path, clock: FakeClock) -> None:
    with SqliteAuditStore(db_path, clock=clock) as store:
        a = store.create(new_request("SRV-APP01", "HV-SRV01", "HV-SRV02"), draft("r")).id
        b = store.create(new_request("SRV-DB01", "HV-SRV02", "HV-SRV03"), draft("r")).id
        store.transition(a, [State.REQUESTED], State.REJECTED, draft("rejected"))
        clock.now += dt.timedelta(days=2)
        c = store.create(new_request("srv-app01", "HV-SRV03", "HV-SRV01"), draft("r")).id
        store.transition(c, [State.REQUESTED], State.CHECKING, draft("checking"))

        def ids(
            vm: str | None = None,
            host: str | None = None,
            since: dt.datetime | None = None,
            state: State | None = None,
            limit: int = 50,
        ) -> list[int]:
            found = store.search(vm=vm, host=host, since=since, state=state, limit=limit)
            return [r.id for r in found]

        assert ids() == [c, b, a]
        assert ids(vm="SRV-APP01") == [c, a]
        assert ids(host="hv-srv02") == [b, a]
        assert ids(host="HV-SRV01", state=State.CHECKING) == [c]
        assert ids(state=State.REJECTED) == [a]
        assert ids(since=clock.now - dt.timedelta(days=1)) == [c]
        assert ids(vm="SRV-DB01", since=clock.now - dt.timedelta(days=1)) == []
        assert ids(limit=1) == [c]


def test_store_reopens_with_everything_it_wrote(db_path: Path) -> None:
    with SqliteAuditStore(db_path) as store:
        record = store.create(new_request(), draft("requested"))
        store.append(record.id, draft("note"))
    with SqliteAuditStore(db_path) as again:
        assert again.get(record.id) == record
        assert [e.kind for e in again.events(record.id)] == ["requested", "note"]
        assert again.verify().ok


def test_data_keeps_readable_json_types(store: SqliteAuditStore) -> None:
    rid = store.create(new_request(), draft("requested")).id
    moment = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    event = store.append(
        rid,
        draft("finished", state=State.SUCCEEDED, at=moment, took=dt.timedelta(seconds=90)),
    )
    assert event.data == {
        "state": "succeeded",
        "at": "2026-11-25T11:00:00.000000+00:00",
        "took": 90.0,
    }
    assert store.events(rid)[-1].data == event.data


def test_every_record_field_is_stored_or_changeable() -> None:
    fixed = {"id", "kind", "state", "version", "requester", "place", "created_at", "updated_at"}
    fields = {f.name for f in dataclasses.fields(RequestRecord)}
    assert fields - fixed == CHANGEABLE_FIELDS


def test_all_events_lists_the_whole_log_in_order(store: SqliteAuditStore) -> None:
    rid = store.create(new_request(), draft("requested")).id
    store.append(None, draft("bot_started"))
    store.append(rid, draft("note"))
    assert [(e.seq, e.kind) for e in store.all_events()] == [
        (1, "requested"),
        (2, "bot_started"),
        (3, "note"),
    ]
