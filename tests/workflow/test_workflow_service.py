"""The workflow service driven step by step (manual executor, fake hosts, fake clock)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from commands.inventory import Host
from commands.invocation import Invocation
from commands.requests import HostSetRequest, HostSetting, StorageRequest
from commands.workflow.machine import WorkflowError
from commands.workflow.records import State
from support.workflow import (
    ALICE,
    BOB,
    CAROL,
    MALLORY,
    PLACE,
    REQUESTER,
    RaceStore,
    Rig,
    host,
    kinds,
    make_rig,
    move,
)


def submitted(rig: Rig, vm: str = "SRV-APP01", destination: str = "HV-SRV02") -> int:
    record = rig.workflow.submit(move(vm, destination), REQUESTER, PLACE)
    rig.run()
    return record.id


def test_a_move_goes_from_request_to_success() -> None:
    rig = make_rig()
    request_id = submitted(rig)
    record = rig.workflow.get(request_id)
    assert record.state is State.AWAITING_APPROVAL
    assert record.invocation is not None
    assert record.invocation["rendered"] == [
        "Move-VM -Name 'SRV-APP01' -DestinationHost 'hv-srv02.lab.local'"
    ]
    assert record.source_host == "HV-SRV01"
    assert record.vm_id == "id-srv-app01"

    rig.workflow.approve(request_id, ALICE)
    rig.run(5)
    assert rig.workflow.get(request_id).state is State.RUNNING
    assert rig.notifier.progress_readings, "a running move reports progress"

    rig.world.migrations[0].finish()
    rig.run()
    record = rig.workflow.get(request_id)
    assert record.state is State.SUCCEEDED
    assert record.outcome is not None and record.outcome["blackout_seconds"] == 0.3
    assert rig.world.vms["SRV-APP01"].host == "HV-SRV02"
    assert rig.notifier.finals == [(request_id, "succeeded")]
    assert kinds(rig, request_id) == [
        "submitted",
        "check_started",
        "checked",
        "approved",
        "invocation_sent",
        "started",
        "slots_freed",
        "succeeded",
    ]


def test_the_invocation_is_recorded_before_it_is_sent() -> None:
    rig = make_rig()
    request_id = submitted(rig)
    seen_at_send: list[list[str]] = []
    rig.world.on_start = lambda _vm: seen_at_send.append(kinds(rig, request_id))
    rig.workflow.approve(request_id, ALICE)
    rig.run(5)
    assert seen_at_send == [
        ["submitted", "check_started", "checked", "approved", "invocation_sent"]
    ]
    (sent,) = [e for e in rig.store.events(request_id) if e.kind == "invocation_sent"]
    assert sent.data["rendered"] == [rig.world.starts[0][1]]


def test_a_second_request_for_a_vm_with_an_open_one_is_refused_naming_it() -> None:
    rig = make_rig()
    first = submitted(rig)
    with pytest.raises(WorkflowError, match=rf"SRV-APP01 already has open request #{first}"):
        rig.workflow.submit(move("srv-app01", "HV-SRV03"), BOB, PLACE)
    rig.workflow.reject(first, ALICE)
    assert rig.workflow.submit(move("SRV-APP01", "HV-SRV03"), BOB, PLACE).id == first + 1


def test_nobody_approves_their_own_request_unless_configured() -> None:
    rig = make_rig()
    request_id = submitted(rig)
    with pytest.raises(WorkflowError, match="your own request"):
        rig.workflow.approve(request_id, REQUESTER)
    assert rig.workflow.get(request_id).approvals == ()

    relaxed = make_rig(allow_self_approval=True)
    own = submitted(relaxed)
    assert relaxed.workflow.approve(own, REQUESTER).state is State.APPROVED


def test_only_approvers_approve_whatever_source_makes_them_one() -> None:
    rig = make_rig()
    ids = [submitted(rig, vm) for vm in ("SRV-APP01", "SRV-APP02", "SRV-DB01")]
    with pytest.raises(WorkflowError, match="not an approver"):
        rig.workflow.approve(ids[0], MALLORY)
    for request_id, approver in zip(ids, (ALICE, BOB, CAROL), strict=True):
        assert rig.workflow.approve(request_id, approver).state is State.APPROVED


def test_a_critical_host_needs_two_distinct_approvers_and_a_double_click_counts_once() -> None:
    rig = make_rig()
    request_id = submitted(rig, destination="HV-CRIT")
    assert rig.workflow.get(request_id).required_approvals == 2
    assert rig.workflow.approve(request_id, ALICE).state is State.AWAITING_APPROVAL
    with pytest.raises(WorkflowError, match=r"already approved request #\d+ \(1 of 2\)"):
        rig.workflow.approve(request_id, ALICE)
    record = rig.workflow.approve(request_id, BOB)
    assert record.state is State.APPROVED
    assert record.approvals == ("UALICE", "UBOB")


def test_approvals_expire_after_the_ttl() -> None:
    rig = make_rig(ttl_minutes=30)
    stale = submitted(rig)
    rig.clock.advance(minutes=20)
    fresh = submitted(rig, "SRV-APP02")
    rig.clock.advance(minutes=11)
    assert [r.id for r in rig.workflow.expire_stale()] == [stale]
    assert rig.workflow.get(stale).state is State.EXPIRED
    assert rig.workflow.get(fresh).state is State.AWAITING_APPROVAL
    rig.clock.advance(minutes=20)
    with pytest.raises(WorkflowError, match="expired"):
        rig.workflow.approve(fresh, ALICE)
    assert rig.workflow.get(fresh).state is State.EXPIRED
    assert rig.world.starts == []


def test_requests_past_the_host_limit_queue_and_start_when_a_slot_frees() -> None:
    rig = make_rig()
    rig.world.limits["HV-SRV01"] = 1
    first, second, third = (submitted(rig, vm) for vm in ("SRV-APP01", "SRV-APP02", "SRV-DB01"))
    for request_id in (first, second, third):
        rig.workflow.approve(request_id, ALICE)
    rig.run(20)
    assert [r.state for r in map(rig.workflow.get, (first, second, third))] == [
        State.RUNNING,
        State.APPROVED,
        State.APPROVED,
    ]
    assert rig.workflow.queue_position(second) == 1
    assert rig.workflow.queue_position(third) == 2
    assert any("queued (position 1)" in m for m in rig.notifier.texts(second))
    assert "queued" in kinds(rig, second)

    rig.world.migrations[0].finish()
    rig.run(20)
    assert rig.workflow.get(first).state is State.SUCCEEDED
    assert rig.workflow.get(second).state is State.RUNNING
    assert rig.workflow.get(third).state is State.APPROVED
    assert rig.world.active("HV-SRV01") == 1


def test_a_storage_move_counts_against_the_storage_limit_only() -> None:
    rig = make_rig()
    rig.world.limits["HV-SRV01"] = 1
    live = submitted(rig)
    storage = rig.workflow.submit(
        StorageRequest(vm="SRV-APP02", storage_path="E:\\VMs"), REQUESTER, PLACE
    ).id
    rig.run()
    rig.workflow.approve(live, ALICE)
    rig.workflow.approve(storage, ALICE)
    rig.run(20)
    assert rig.workflow.get(live).state is State.RUNNING
    assert rig.workflow.get(storage).state is State.RUNNING


def test_an_approval_is_void_when_the_world_changed_before_the_start() -> None:
    rig = make_rig()
    request_id = submitted(rig)
    rig.workflow.approve(request_id, ALICE)
    rig.world.place_vm("SRV-APP01", "HV-SRV03")
    rig.run()
    record = rig.workflow.get(request_id)
    assert record.state is State.FAILED
    void = rig.store.events(request_id)[-1]
    assert void.kind == "approval_void"
    assert "it is now on HV-SRV03, not HV-SRV01" in void.data["changes"]
    assert any(
        "Approval of request" in m and "HV-SRV03" in m for m in rig.notifier.texts(request_id)
    )
    assert rig.world.starts == []


def test_a_finding_that_now_blocks_voids_the_approval() -> None:
    rig = make_rig()
    request_id = submitted(rig)
    rig.workflow.approve(request_id, ALICE)
    rig.preflight.blocking["SRV-APP01"] = "Could not find Ethernet switch 'LAN' on HV-SRV02."
    rig.run()
    assert rig.workflow.get(request_id).state is State.FAILED
    assert rig.store.events(request_id)[-1].data["changes"] == [
        "now blocked: Could not find Ethernet switch 'LAN' on HV-SRV02."
    ]
    assert rig.world.starts == []


def test_a_blocked_preflight_fails_the_request_before_any_approval() -> None:
    rig = make_rig()
    request_id = submitted(rig, destination="HV-SRV01")
    assert rig.workflow.get(request_id).state is State.FAILED
    assert any("already there" in m for m in rig.notifier.texts(request_id))


def test_rejection_may_carry_a_reason_and_only_approvers_reject() -> None:
    rig = make_rig()
    request_id = submitted(rig)
    with pytest.raises(WorkflowError, match="not an approver"):
        rig.workflow.reject(request_id, MALLORY)
    record = rig.workflow.reject(request_id, BOB, "change freeze")
    assert record.state is State.REJECTED
    assert rig.store.events(request_id)[-1].data == {"reason": "change freeze"}
    assert rig.notifier.texts(request_id)[-1].endswith("rejected by <@UBOB>: change freeze")
    with pytest.raises(WorkflowError, match=r"already rejected \(by <@UBOB>\)"):
        rig.workflow.approve(request_id, ALICE)


def test_cancel_by_the_requester_or_an_approver_only() -> None:
    rig = make_rig()
    mine, theirs = submitted(rig), submitted(rig, "SRV-APP02")
    with pytest.raises(WorkflowError, match="Only the requester or an approver"):
        rig.workflow.cancel(mine, MALLORY)
    assert rig.workflow.cancel(mine, REQUESTER).state is State.CANCELLED
    rig.workflow.approve(theirs, ALICE)
    assert rig.workflow.cancel(theirs, CAROL).state is State.CANCELLED
    rig.run()
    assert rig.world.starts == []


def test_cancelling_a_running_move_asks_the_host_and_takes_its_answer() -> None:
    rig = make_rig()
    request_id = submitted(rig)
    rig.workflow.approve(request_id, ALICE)
    rig.run(5)
    assert rig.workflow.get(request_id).state is State.RUNNING
    rig.workflow.cancel(request_id, REQUESTER)
    with pytest.raises(WorkflowError, match="already asked by <@UREQ>"):
        rig.workflow.cancel(request_id, ALICE)
    rig.run()
    assert rig.workflow.get(request_id).state is State.CANCELLED
    assert "cancel_requested" in kinds(rig, request_id)
    assert "cancel_sent" in kinds(rig, request_id)
    assert rig.world.vms["SRV-APP01"].host == "HV-SRV01"


def test_a_cancel_that_comes_too_late_leaves_the_true_outcome() -> None:
    rig = make_rig()
    request_id = submitted(rig)
    rig.workflow.approve(request_id, ALICE)
    rig.run(5)
    rig.world.migrations[0].finish()
    rig.workflow.cancel(request_id, REQUESTER)
    rig.run()
    assert rig.workflow.get(request_id).state is State.SUCCEEDED


def test_a_card_button_that_saw_an_older_state_is_told_who_moved_it() -> None:
    rig = make_rig()
    request_id = submitted(rig)
    rig.workflow.approve(request_id, ALICE)
    with pytest.raises(WorkflowError, match=r"already approved \(by <@UALICE>\)"):
        rig.workflow.cancel(request_id, REQUESTER, seen=State.AWAITING_APPROVAL)


def test_host_setting_changes_use_the_same_workflow() -> None:
    rig = make_rig()
    request = HostSetRequest(host=host("HV-SRV03"), setting=HostSetting.MAX_MIGRATIONS, value=4)
    request_id = rig.workflow.submit(request, REQUESTER, PLACE).id
    rig.run()
    with pytest.raises(WorkflowError, match=rf"HV-SRV03 already has open request #{request_id}"):
        rig.workflow.submit(request, BOB, PLACE)
    rig.workflow.approve(request_id, ALICE)
    rig.run()
    assert rig.workflow.get(request_id).state is State.SUCCEEDED
    assert rig.world.runs == [("HV-SRV03", ("Set-VMHost -MaximumVirtualMachineMigrations 4",))]
    assert "invocation_sent" in kinds(rig, request_id)
    # The host was read before and after: the final event says what changed.
    final = rig.store.events(request_id)[-1]
    assert (final.kind, dict(final.data)) == (
        "succeeded",
        {
            "setting": "MaximumVirtualMachineMigrations",
            "asked": 4,
            "before": 2,
            "after": 4,
        },
    )


def test_a_setting_change_the_host_does_not_keep_fails_with_both_values() -> None:
    rig = make_rig()
    rig.world.ignores_changes = True
    request = HostSetRequest(host=host("HV-SRV03"), setting=HostSetting.MAX_MIGRATIONS, value=4)
    request_id = rig.workflow.submit(request, REQUESTER, PLACE).id
    rig.run()
    rig.workflow.approve(request_id, ALICE)
    rig.run()
    record = rig.workflow.get(request_id)
    assert record.state is State.FAILED
    assert record.outcome is not None
    assert (record.outcome["before"], record.outcome["after"]) == (2, 2)
    assert record.outcome["error"]["kind"] == "not_in_force"
    assert (
        "HV-SRV03 reports MaximumVirtualMachineMigrations = 2" in record.outcome["error"]["summary"]
    )


def test_a_setting_change_whose_read_back_fails_ends_with_an_unknown_outcome() -> None:
    rig = make_rig()
    request = HostSetRequest(host=host("HV-SRV03"), setting=HostSetting.MAX_MIGRATIONS, value=4)
    request_id = rig.workflow.submit(request, REQUESTER, PLACE).id
    rig.run()
    rig.workflow.approve(request_id, ALICE)
    real_run = rig.world.run

    def run_then_vanish(target: Host, invocations: Sequence[Invocation]) -> None:
        real_run(target, invocations)
        rig.world.unreachable.add(target.name)

    rig.world.run = run_then_vanish  # type: ignore[method-assign,assignment]
    rig.run()
    record = rig.workflow.get(request_id)
    assert record.state is State.OUTCOME_UNKNOWN
    assert record.outcome is not None and record.outcome["before"] == 2
    assert "whether it is in force is unknown" in record.outcome["error"]["summary"]


def test_a_failed_migration_records_the_classified_error() -> None:
    rig = make_rig()
    request_id = submitted(rig)
    rig.workflow.approve(request_id, ALICE)
    rig.run(5)
    rig.world.migrations[0].finish(succeeded=False)
    rig.run()
    record = rig.workflow.get(request_id)
    assert record.state is State.FAILED
    assert record.outcome is not None
    assert record.outcome["error"]["kind"] == "switch_missing"


def test_where_messages_were_posted_is_remembered() -> None:
    rig = make_rig()
    rig.notifier.refs = True
    request_id = submitted(rig)
    record = rig.workflow.get(request_id)
    assert (record.state, record.card_ts, record.progress_ts) == (
        State.AWAITING_APPROVAL,
        f"card-{request_id}",
        None,
    )
    rig.workflow.approve(request_id, ALICE)
    rig.run(5)
    assert rig.workflow.get(request_id).progress_ts == f"progress-{request_id}"
    rig.world.migrations[0].finish()
    rig.run()
    record = rig.workflow.get(request_id)
    assert (record.state, record.card_ts) == (State.SUCCEEDED, f"card-{request_id}")
    # Each reference is recorded once, however many readings were shown.
    assert kinds(rig, request_id).count("annotated") == 2


def test_unknown_requests_are_refused_with_their_id() -> None:
    rig = make_rig()
    with pytest.raises(WorkflowError, match="no request #99"):
        rig.workflow.approve(99, ALICE)


def test_following_survives_a_host_that_stops_answering_for_a_while() -> None:
    rig = make_rig()
    request_id = submitted(rig)
    rig.workflow.approve(request_id, ALICE)
    rig.world.poll_failures = 3
    rig.run(20)
    assert rig.workflow.get(request_id).state is State.RUNNING
    assert kinds(rig, request_id).count("contact_lost") == 1
    rig.world.migrations[0].finish()
    rig.run()
    assert rig.workflow.get(request_id).state is State.SUCCEEDED


def test_status_answers_for_an_id_a_vm_or_everything_open() -> None:
    rig = make_rig()
    first = submitted(rig)
    second = submitted(rig, "SRV-APP02")
    rig.workflow.reject(second, ALICE)
    assert [r.id for r in rig.workflow.status()] == [first]
    assert [r.id for r in rig.workflow.status(vm="srv-app02")] == [second]
    assert [r.id for r in rig.workflow.status(request_id=second)] == [second]
    assert rig.workflow.status(vm="SRV-NONE") == []


def test_an_approval_that_beats_a_cancel_still_starts() -> None:
    rig = make_rig(store=RaceStore)
    request_id = submitted(rig)
    store = rig.store
    assert isinstance(store, RaceStore)

    def approve_and_work() -> None:
        rig.workflow.approve(request_id, ALICE)
        rig.run(3)

    store.before_writing["cancelled"] = approve_and_work
    with pytest.raises(WorkflowError, match=r"already approved \(by <@UALICE>\)"):
        rig.workflow.cancel(request_id, REQUESTER)
    rig.run(5)
    assert rig.workflow.get(request_id).state is State.RUNNING
    assert len(rig.world.starts) == 1
