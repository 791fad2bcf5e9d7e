"""Crashes at every interesting point, then a new process on the same store and hosts."""

from __future__ import annotations

import pytest

from commands.hyperv import ErrorKind
from commands.requests import HostSetRequest, HostSetting
from commands.workflow.records import SYSTEM, EventDraft, State
from commands.workflow.recovery import Action
from support.workflow import (
    ALICE,
    PLACE,
    REQUESTER,
    Crash,
    ManualExecutor,
    RaceStore,
    Rig,
    host,
    kinds,
    make_rig,
    move,
)


def approved(rig: Rig, vm: str = "SRV-APP01") -> int:
    request_id = rig.workflow.submit(move(vm), REQUESTER, PLACE).id
    rig.run()
    rig.workflow.approve(request_id, ALICE)
    return request_id


@pytest.mark.parametrize("moment", ["before", "after"])
def test_a_crash_around_the_send_is_reattached_never_resent(moment: str) -> None:
    rig = make_rig()
    request_id = approved(rig)
    rig.world.crash_on_start = moment
    with pytest.raises(Crash):
        rig.run()
    assert rig.workflow.get(request_id).state is State.APPROVED
    assert kinds(rig, request_id)[-1] == "invocation_sent"

    rig.world.crash_on_start = None
    decisions = rig.restart().recover()
    assert [d.action for d in decisions] == [Action.REATTACH]
    rig.run(5)
    if moment == "after":
        assert rig.workflow.get(request_id).state is State.RUNNING
        rig.world.migrations[0].finish()
    rig.run()

    record = rig.workflow.get(request_id)
    expected = State.SUCCEEDED if moment == "after" else State.FAILED
    assert record.state is expected
    assert len(rig.world.starts) == (1 if moment == "after" else 0)
    assert kinds(rig, request_id).count("invocation_sent") == 1
    assert "reattached" in kinds(rig, request_id)


def test_a_sent_move_is_not_cancelled_as_pending_before_recovery_follows_it() -> None:
    rig = make_rig()
    request_id = approved(rig)
    rig.world.crash_on_start = "after"
    with pytest.raises(Crash):
        rig.run()
    rig.world.crash_on_start = None

    workflow = rig.restart()
    # Nobody follows it: the cancel reaches the host's job from here; the state stays until
    # recovery follows the move and reads how it ended.
    workflow.cancel(request_id, REQUESTER)
    rig.run()
    assert workflow.get(request_id).state is State.APPROVED
    assert kinds(rig, request_id).count("cancel_sent") == 1

    workflow.recover()
    rig.run()
    assert workflow.get(request_id).state is State.CANCELLED
    assert kinds(rig, request_id).count("cancel_requested") == 1
    assert kinds(rig, request_id).count("cancel_sent") == 1
    assert len(rig.world.starts) == 1


def test_a_running_move_is_followed_again_and_reported_in_the_same_place() -> None:
    rig = make_rig()
    rig.notifier.refs = True
    request_id = approved(rig)
    rig.run(5)
    assert rig.workflow.get(request_id).progress_ts == f"progress-{request_id}"
    old_process = rig.workflow

    workflow = rig.restart()
    old_process.shutdown()
    workflow.recover()
    rig.run(5)
    rig.world.migrations[0].finish()
    rig.run()

    record = workflow.get(request_id)
    assert record.state is State.SUCCEEDED
    assert (record.place, record.progress_ts) == (PLACE, f"progress-{request_id}")
    assert any("again after a restart" in m for m in rig.notifier.texts(request_id))
    assert rig.notifier.finals == [(request_id, "succeeded")]
    assert len(rig.world.starts) == 1


def test_approved_requests_not_yet_started_are_rechecked_and_started_once() -> None:
    rig = make_rig()
    rig.world.limits["HV-SRV01"] = 1
    first = approved(rig, "SRV-APP01")
    second = approved(rig, "SRV-APP02")
    rig.run(10)
    assert rig.workflow.get(second).state is State.APPROVED

    rig.restart().recover()
    rig.run(10)
    assert rig.workflow.get(second).state is State.APPROVED
    assert rig.workflow.queue_position(second) == 1
    rig.world.migrations[0].finish()
    rig.run(20)
    assert rig.workflow.get(first).state is State.SUCCEEDED
    assert rig.workflow.get(second).state is State.RUNNING
    assert [vm for vm, _ in rig.world.starts] == ["id-srv-app01", "id-srv-app02"]


def test_stale_approvals_expire_and_unchecked_requests_are_checked_on_start() -> None:
    rig = make_rig(ttl_minutes=10)
    stale = rig.workflow.submit(move("SRV-APP01"), REQUESTER, PLACE).id
    rig.run()
    unchecked = rig.workflow.submit(move("SRV-APP02"), REQUESTER, PLACE).id
    rig.clock.advance(minutes=11)

    decisions = {d.record.id: d.action for d in rig.restart().recover()}
    assert decisions == {stale: Action.EXPIRE, unchecked: Action.RECHECK}
    rig.run()
    assert rig.workflow.get(stale).state is State.EXPIRED
    assert rig.workflow.get(unchecked).state is State.AWAITING_APPROVAL


def test_a_setting_change_cut_short_ends_with_an_unknown_outcome() -> None:
    rig = make_rig()
    request = HostSetRequest(host=host("HV-SRV02"), setting=HostSetting.MAX_MIGRATIONS, value=3)
    request_id = rig.workflow.submit(request, REQUESTER, PLACE).id
    rig.run()
    rig.workflow.approve(request_id, ALICE)
    rig.store.append(request_id, EventDraft("invocation_sent", SYSTEM, {"rendered": ["..."]}))

    rig.restart().recover()
    rig.run()
    record = rig.workflow.get(request_id)
    assert record.state is State.OUTCOME_UNKNOWN
    assert rig.world.runs == []
    assert any("result is unknown" in m for m in rig.notifier.texts(request_id))


@pytest.mark.parametrize(
    "kind", [ErrorKind.HOST_UNREACHABLE, ErrorKind.TLS, ErrorKind.PROTOCOL_MISMATCH]
)
def test_an_unreachable_host_leaves_the_move_open_and_followed_again_when_it_answers(
    kind: ErrorKind,
) -> None:
    rig = make_rig()
    request_id = approved(rig)
    rig.run(5)
    rig.world.unreachable.add("HV-SRV01")
    rig.world.unreachable_kind = kind

    workflow = rig.restart()
    workflow.recover()
    assert rig.run(20) == 20, "re-attaching keeps retrying while the host is away"
    assert workflow.get(request_id).state is State.RUNNING
    assert kinds(rig, request_id).count("reattach_failed") == 1

    rig.world.unreachable.clear()
    workflow.recover()
    rig.run(5)
    rig.world.migrations[0].finish()
    rig.run()
    assert workflow.get(request_id).state is State.SUCCEEDED
    assert kinds(rig, request_id).count("reattached") == 1
    assert len(rig.world.starts) == 1


def test_a_move_whose_host_left_the_inventory_ends_unknown_and_is_never_resent() -> None:
    rig = make_rig()
    request_id = approved(rig)
    rig.run(5)
    rig.store.transition(
        request_id,
        [State.RUNNING],
        State.RUNNING,
        EventDraft("annotated", SYSTEM),
        changes={"source_host": "HV-GONE"},
    )

    rig.restart().recover()
    rig.run()
    assert rig.workflow.get(request_id).state is State.OUTCOME_UNKNOWN
    assert any("result is unknown" in m for m in rig.notifier.texts(request_id))
    assert len(rig.world.starts) == 1


def test_two_processes_about_to_send_one_request_send_it_once() -> None:
    rig = make_rig(store=RaceStore)
    request_id = approved(rig)
    other_executor = ManualExecutor()
    rig.other_process(other_executor).recover()
    store = rig.store
    assert isinstance(store, RaceStore)
    # The first process has read the log and found no send; the second one sends meanwhile.
    store.after_reading_log = other_executor.run_all
    rig.run()

    assert len(rig.world.starts) == 1
    assert kinds(rig, request_id).count("invocation_sent") == 1
    assert rig.workflow.get(request_id).state is State.RUNNING
