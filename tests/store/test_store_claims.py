"""One open request per VM and the hosts' migration slots, held by the store itself: the same
contract for the SQLite store and the in-memory one, and across processes on one file."""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections.abc import Iterator
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

import pytest

from bot.store import SqliteAuditStore
from commands.workflow.memory_store import MemoryAuditStore
from commands.workflow.records import RequestKind, State
from commands.workflow.scheduler import SLOTS_FREED, Pool, SlotKey
from commands.workflow.store import AuditStore, SubjectBusy
from support.clock import FakeClock
from support.store import ALICE, BOB, draft, new_request

A = SlotKey("HV-SRV01", Pool.VM)
B = SlotKey("HV-SRV02", Pool.VM)


@pytest.fixture(params=["sqlite", "memory"])
def any_store(
    request: pytest.FixtureRequest, db_path: Path, clock: FakeClock
) -> Iterator[AuditStore]:
    if request.param == "memory":
        yield MemoryAuditStore(clock)
        return
    with SqliteAuditStore(db_path, clock=clock) as store:
        yield store


def _end(store: AuditStore, request_id: int, state: State = State.CANCELLED) -> None:
    store.transition(request_id, [State.REQUESTED, State.APPROVED], state, draft(state.value))


def test_a_second_open_request_for_a_vm_is_refused_naming_the_holder(any_store: AuditStore) -> None:
    first = any_store.create(new_request("SRV-APP01"), draft("submitted"))
    with pytest.raises(SubjectBusy) as busy:
        any_store.create(new_request("srv-app01", requester=BOB), draft("submitted"))
    assert busy.value.holder.id == first.id
    assert busy.value.holder.requester == ALICE
    assert [r.id for r in any_store.open_requests()] == [first.id]
    other = any_store.create(new_request("SRV-DB01"), draft("submitted"))
    assert other.id != first.id


def test_a_vm_is_free_again_once_its_request_ends(any_store: AuditStore) -> None:
    for final in (State.CANCELLED, State.OUTCOME_UNKNOWN, State.SUCCEEDED):
        record = any_store.create(new_request(), draft("submitted"))
        any_store.transition(record.id, [State.REQUESTED], final, draft(final.value))
    assert len(any_store.search(vm="SRV-APP01")) == 3


def test_one_open_settings_change_per_host(any_store: AuditStore) -> None:
    change = dataclasses.replace(
        new_request(), kind=RequestKind.HOST_CHANGE, vm=None, destination_host=None
    )
    first = any_store.create(change, draft("submitted"))
    with pytest.raises(SubjectBusy) as busy:
        any_store.create(dataclasses.replace(change, source_host="hv-srv01"), draft("submitted"))
    assert busy.value.holder.id == first.id
    any_store.create(dataclasses.replace(change, source_host="HV-SRV02"), draft("submitted"))


def test_slots_are_claimed_under_the_limits_and_freed_by_the_final_transition(
    any_store: AuditStore,
) -> None:
    ids = [any_store.create(new_request(f"VM{n}"), draft("submitted")).id for n in range(4)]
    limits = {A: 2, B: 1}
    assert any_store.claim_slots(ids[0], (A,), limits)
    assert any_store.claim_slots(ids[1], (A, B), limits)
    assert any_store.claim_slots(ids[1], (A, B), limits), "a holder claiming again keeps them"
    assert not any_store.claim_slots(ids[2], (A,), limits), "A is full"
    assert not any_store.claim_slots(ids[3], (B,), limits), "B is full"
    assert any_store.slot_holders() == {A: (ids[0], ids[1]), B: (ids[1],)}
    _end(any_store, ids[1], State.FAILED)
    assert any_store.slot_holders() == {A: (ids[0],)}
    assert any_store.claim_slots(ids[3], (B,), limits)
    # Re-attached after a restart: it may be moving already, so it holds whatever the limits.
    assert any_store.claim_slots(ids[2], (A, B), None)
    assert sorted(any_store.slot_holders()[B]) == [ids[2], ids[3]]


def test_slots_freed_before_the_end_are_logged_and_never_taken_again(
    any_store: AuditStore,
) -> None:
    first, second = (
        any_store.create(new_request(f"VM{n}"), draft("submitted")).id for n in range(2)
    )
    assert any_store.claim_slots(first, (A, B), {A: 1, B: 1})
    assert not any_store.claim_slots(second, (A,), {A: 1})
    assert any_store.free_slots(first, draft(SLOTS_FREED))
    assert any_store.slot_holders() == {}
    assert [e.kind for e in any_store.events(first)] == ["submitted", SLOTS_FREED]
    assert not any_store.free_slots(first, draft(SLOTS_FREED)), "nothing held: nothing logged"
    assert [e.kind for e in any_store.events(first)] == ["submitted", SLOTS_FREED]
    # Re-attached after a restart, a move that gave its slots back needs none.
    assert any_store.claim_slots(first, (A, B), None)
    assert any_store.slot_holders() == {}
    assert any_store.claim_slots(second, (A,), {A: 1})
    assert any_store.slot_holders() == {A: (second,)}


def test_a_request_that_ended_needs_no_slot(any_store: AuditStore) -> None:
    rid = any_store.create(new_request(), draft("submitted")).id
    _end(any_store, rid)
    assert any_store.claim_slots(rid, (A,), {A: 1})
    assert any_store.slot_holders() == {}


def _create(path: str, start: Event, out: Queue[str]) -> None:
    with SqliteAuditStore(path) as store:
        start.wait(30)
        try:
            record = store.create(new_request("SRV-APP01"), draft("submitted"))
        except SubjectBusy as busy:
            out.put(f"busy:{busy.holder.id}")
        else:
            out.put(f"created:{record.id}")


def _claim(path: str, request_id: int, start: Event, out: Queue[str]) -> None:
    with SqliteAuditStore(path) as store:
        start.wait(30)
        out.put(f"{request_id}:{store.claim_slots(request_id, (A, B), {A: 1, B: 1})}")


def _in_processes(count: int, target: object, args: list[tuple[object, ...]]) -> list[str]:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    out: Queue[str] = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*a, start, out)) for a in args]  # type: ignore[arg-type]
    for proc in procs:
        proc.start()
    start.set()
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    return [out.get(timeout=5) for _ in range(count)]


def test_processes_creating_requests_for_one_vm_make_exactly_one(db_path: Path) -> None:
    SqliteAuditStore(db_path).close()
    results = _in_processes(8, _create, [(str(db_path),)] * 8)
    created = [r for r in results if r.startswith("created:")]
    assert len(created) == 1
    holder = created[0].split(":")[1]
    assert sorted(results) == sorted(created + [f"busy:{holder}"] * 7)


def test_processes_claiming_one_slot_leave_it_to_exactly_one(db_path: Path) -> None:
    with SqliteAuditStore(db_path) as store:
        ids = [store.create(new_request(f"VM{n}"), draft("submitted")).id for n in range(8)]
    results = _in_processes(8, _claim, [(str(db_path), rid) for rid in ids])
    assert sum(r.endswith(":True") for r in results) == 1
    with SqliteAuditStore(db_path) as store:
        holders = store.slot_holders()
    assert len(holders[A]) == len(holders[B]) == 1
