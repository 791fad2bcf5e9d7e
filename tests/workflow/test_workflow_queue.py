"""A queued move's time in its hosts' slots is the move itself: its pre-start preflight runs
while it waits, and its slots go to the next move as soon as it is over on its hosts."""

from __future__ import annotations

import pytest

from commands.workflow import execution
from commands.workflow.records import State
from commands.workflow.scheduler import SLOTS_FREED, Pool, SlotKey
from support.workflow import ALICE, PLACE, REQUESTER, Rig, kinds, make_rig, move

SOURCE = SlotKey("HV-SRV01", Pool.VM)


def _queued_behind_one(rig: Rig, vms: tuple[str, ...]) -> list[int]:
    """Approves a move of each VM off HV-SRV01, which runs one migration at a time."""
    rig.world.limits["HV-SRV01"] = 1
    ids = []
    for vm in vms:
        ids.append(rig.workflow.submit(move(vm), REQUESTER, PLACE).id)
        rig.run()
    for request_id in ids:
        rig.workflow.approve(request_id, ALICE)
    rig.run()
    return ids


def _sent(rig: Rig, request_id: int) -> dict[str, object]:
    return dict(next(e.data for e in rig.store.events(request_id) if e.kind == "invocation_sent"))


def test_the_next_queued_move_is_checked_while_it_waits_and_sent_on_that_check() -> None:
    rig = make_rig()
    first, second, third = _queued_behind_one(rig, ("SRV-APP01", "SRV-APP02", "SRV-DB01"))
    assert [rig.workflow.get(i).state for i in (first, second, third)] == [
        State.RUNNING,
        State.APPROVED,
        State.APPROVED,
    ]
    # Three checks before approval, the first move's in its slot, the second's while it waits;
    # the third is not next in line yet.
    assert rig.preflight.calls == 5

    rig.world.migrations[0].finish()
    rig.run()
    assert rig.workflow.get(second).state is State.RUNNING
    # The second went out on its queued check; the third, next in line now, was checked.
    assert rig.preflight.calls == 6
    assert _sent(rig, second)["preflight_age_seconds"] == pytest.approx(0.0, abs=5.0)
    assert _sent(rig, first)["preflight_age_seconds"] == 0.0


def test_a_stale_queued_check_is_run_again_in_the_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(execution, "PREFLIGHT_FRESH_SECONDS", -1.0)
    rig = make_rig()
    _, second = _queued_behind_one(rig, ("SRV-APP01", "SRV-APP02"))
    calls = rig.preflight.calls
    rig.world.migrations[0].finish()
    rig.run()
    assert rig.workflow.get(second).state is State.RUNNING
    assert rig.preflight.calls == calls + 1
    assert _sent(rig, second)["preflight_age_seconds"] == 0.0


def test_a_queued_move_whose_world_changed_is_void_before_a_slot_frees() -> None:
    rig = make_rig()
    rig.world.limits["HV-SRV01"] = 1
    first = rig.workflow.submit(move("SRV-APP01"), REQUESTER, PLACE).id
    second = rig.workflow.submit(move("SRV-APP02"), REQUESTER, PLACE).id
    rig.run()
    rig.workflow.approve(first, ALICE)
    rig.run()
    rig.world.place_vm("SRV-APP02", "HV-SRV03")
    rig.workflow.approve(second, ALICE)
    rig.run()
    assert rig.workflow.get(first).state is State.RUNNING
    assert rig.workflow.get(second).state is State.FAILED
    assert kinds(rig, second)[-1] == "approval_void"
    assert rig.workflow.queue_position(second) is None
    assert len(rig.world.starts) == 1


def test_a_move_gives_its_slots_back_once_over_on_its_hosts_before_its_outcome() -> None:
    rig = make_rig()
    first, second = _queued_behind_one(rig, ("SRV-APP01", "SRV-APP02"))
    over = rig.world.migrations[0]
    over.finish()
    # The move returned on its host, but its outcome (jobs, events, location) is not decided.
    deciding = over.wait
    over.wait = lambda timeout: None  # type: ignore[method-assign]
    rig.run(30)
    assert rig.workflow.get(first).state is State.RUNNING
    assert rig.workflow.get(second).state is State.RUNNING
    assert rig.store.slot_holders()[SOURCE] == (second,)
    assert SLOTS_FREED in kinds(rig, first)

    over.wait = deciding  # type: ignore[method-assign]
    rig.run(30)
    assert rig.workflow.get(first).state is State.SUCCEEDED
    assert kinds(rig, first)[-2:] == [SLOTS_FREED, "succeeded"]


def test_a_failed_move_keeps_its_slots_until_its_outcome() -> None:
    rig = make_rig()
    first, second = _queued_behind_one(rig, ("SRV-APP01", "SRV-APP02"))
    rig.world.migrations[0].finish(succeeded=False)
    rig.run()
    assert rig.workflow.get(first).state is State.FAILED
    assert SLOTS_FREED not in kinds(rig, first)
    assert rig.workflow.get(second).state is State.RUNNING
