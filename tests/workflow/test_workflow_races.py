"""Real threads: racing clicks, concurrent approvals, and work on the workflow's own executor."""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from commands.workflow.machine import WorkflowError, who
from commands.workflow.records import Actor, State
from support.workflow import ALICE, BOB, CAROL, PLACE, REQUESTER, Rig, SlowReadStore, make_rig, move

THREADS = 50


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.002)


def in_state(rig: Rig, request_id: int, state: State) -> Callable[[], bool]:
    return lambda: rig.workflow.get(request_id).state is state


def checked(rig: Rig, vm: str = "SRV-APP01", destination: str = "HV-SRV02") -> int:
    request_id = rig.workflow.submit(move(vm, destination), REQUESTER, PLACE).id
    wait_for(in_state(rig, request_id, State.AWAITING_APPROVAL))
    return request_id


@pytest.fixture
def rig() -> Iterator[Rig]:
    executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="hvbot-workflow")
    rig = make_rig(executor=executor, poll_seconds=0.005, store=SlowReadStore)
    yield rig
    rig.workflow.shutdown()
    for migration in rig.world.migrations:
        migration.finish()
    executor.shutdown(wait=True)


@pytest.mark.parametrize("round_", range(5))
def test_fifty_racing_clicks_have_exactly_one_winner_and_the_rest_learn_who(
    rig: Rig, round_: int
) -> None:
    request_id = checked(rig)
    barrier = threading.Barrier(THREADS)
    wins: list[tuple[str, Actor]] = []
    refusals: list[str] = []
    lock = threading.Lock()

    def click(index: int) -> None:
        action = ("approve", "reject", "cancel")[(index + round_) % 3]
        actor = (ALICE, BOB, CAROL)[(index // 3) % 3]
        barrier.wait()
        try:
            if action == "approve":
                rig.workflow.approve(request_id, actor)
            elif action == "reject":
                rig.workflow.reject(request_id, actor, "race")
            else:
                actor = REQUESTER
                rig.workflow.cancel(request_id, actor, seen=State.AWAITING_APPROVAL)
        except WorkflowError as exc:
            with lock:
                refusals.append(exc.message)
        else:
            with lock:
                wins.append((action, actor))

    threads = [threading.Thread(target=click, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(wins) == 1, wins
    action, winner = wins[0]
    assert len(refusals) == THREADS - 1
    assert all(f"by {who(winner)}" in message for message in refusals), refusals
    final = {"approve": State.APPROVED, "reject": State.REJECTED, "cancel": State.CANCELLED}
    expected = final[action]
    if expected is State.APPROVED:
        wait_for(lambda: rig.workflow.get(request_id).state is State.RUNNING)
        rig.world.migrations[0].finish()
        wait_for(lambda: rig.workflow.get(request_id).state is State.SUCCEEDED)
        assert len(rig.world.starts) == 1
    else:
        assert rig.workflow.get(request_id).state is expected
        assert rig.world.starts == []


def run_together(*calls: Callable[[], object]) -> list[str]:
    """Runs the calls on threads released at once; returns the refusals' messages."""
    barrier = threading.Barrier(len(calls))
    refusals: list[str] = []

    def run(call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            call()
        except WorkflowError as exc:
            refusals.append(exc.message)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return refusals


def test_two_approvers_at_once_both_count(rig: Rig) -> None:
    for round_ in range(20):
        vm = f"SRV-RACE{round_}"
        rig.world.add_vm(vm, "HV-SRV01")
        request_id = checked(rig, vm, "HV-CRIT")
        refusals = run_together(
            *(functools.partial(rig.workflow.approve, request_id, a) for a in (ALICE, BOB, ALICE))
        )
        record = rig.workflow.get(request_id)
        assert sorted(record.approvals) == ["UALICE", "UBOB"]
        assert record.state in (State.APPROVED, State.RUNNING)
        # The duplicate click lands before the start (approved) or after it (running).
        assert len(refusals) == 1, refusals
        assert re.search(r"already (approved|running)", refusals[0]), refusals


def test_moves_run_on_the_workflow_executor_and_queue_past_the_host_limit(rig: Rig) -> None:
    rig.world.limits["HV-SRV01"] = 1
    started_on: list[str] = []
    rig.world.on_start = lambda _vm: started_on.append(threading.current_thread().name)
    ids = [checked(rig, vm) for vm in ("SRV-APP01", "SRV-APP02", "SRV-DB01")]
    for request_id in ids:
        rig.workflow.approve(request_id, ALICE)
    for index, request_id in enumerate(ids):
        wait_for(in_state(rig, request_id, State.RUNNING))
        assert rig.world.active("HV-SRV01") == 1
        assert [rig.workflow.get(r).state for r in ids[index + 1 :]] == [State.APPROVED] * (
            len(ids) - index - 1
        )
        rig.world.migrations[index].finish()
        wait_for(in_state(rig, request_id, State.SUCCEEDED))
    assert len(started_on) == 3
    assert all(name.startswith("hvbot-workflow") for name in started_on)


def test_an_approval_past_its_ttl_expires_without_anyone_asking() -> None:
    executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="hvbot-workflow")
    rig = make_rig(executor=executor, expiry_seconds=0.005)
    try:
        request_id = checked(rig)
        time.sleep(0.05)
        assert rig.workflow.get(request_id).state is State.AWAITING_APPROVAL
        rig.clock.advance(minutes=61)
        wait_for(in_state(rig, request_id, State.EXPIRED))
        assert any("expired" in m for m in rig.notifier.texts(request_id))
    finally:
        rig.workflow.shutdown()
        executor.shutdown(wait=True)
