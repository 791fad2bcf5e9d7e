"""The four migration forms end to end over WinRM, progress, and cancel."""

from __future__ import annotations

import time

import pytest

from commands.hyperv import CancelMethod, ErrorKind, JobState, MigrationOutcome
from commands.plans import Plan, plan_move, plan_storage
from commands.requests import Move, StorageRequest, VhdMove
from support.winrm_lab import Lab

SOURCE = "HV-SRV01"


def _move_plan(lab: Lab, move: Move) -> Plan:
    vm = lab.port.find_vm(move.vm)
    return plan_move(move, vm, lab.host(vm.host))


def _run(lab: Lab, plan: Plan, vm_name: str) -> tuple[list[int], MigrationOutcome]:
    vm = lab.port.find_vm(vm_name)
    handle = lab.port.start_migration(plan.host, plan.invocations[0], vm.id)
    percents: list[int] = []
    outcome = None
    deadline = time.monotonic() + 30
    while outcome is None and time.monotonic() < deadline:
        percents.append(handle.poll().percent)
        outcome = handle.wait(0.05)
    assert outcome is not None, "migration did not finish in 30 s"
    return percents, outcome


def _succeeded(outcome: MigrationOutcome) -> None:
    assert outcome.succeeded, outcome.error and (outcome.error.summary, outcome.error.detail)


def test_live_migration_of_a_vm_on_shared_storage(lab: Lab) -> None:
    destination = lab.host("HV-SRV02")
    plan = _move_plan(lab, Move("SRV-SHARED01", destination))
    assert plan.render() == f"Move-VM -Name 'SRV-SHARED01' -DestinationHost '{destination.fqdn}'"
    _, outcome = _run(lab, plan, "SRV-SHARED01")
    _succeeded(outcome)
    assert outcome.blackout_seconds is not None and outcome.blackout_seconds > 0
    assert lab.port.find_vm("SRV-SHARED01").host == "HV-SRV02"
    # The move ran on the source host, once.
    assert [c.host for c in lab.world.calls("Move-VM")] == [SOURCE]


def test_shared_nothing_migration_reports_rising_progress(lab: Lab) -> None:
    move = Move("SRV-APP01", lab.host("HV-SRV02"), storage_path="E:\\Hyper-V\\SRV-APP01")
    percents, outcome = _run(lab, _move_plan(lab, move), "SRV-APP01")
    _succeeded(outcome)
    assert outcome.duration_seconds > 0
    assert {e.event_id for e in outcome.events} >= {20413, 20415}
    rising = [p for p in percents if 0 < p < 100]
    assert len(set(rising)) >= 3, percents
    assert rising == sorted(rising)
    moved = lab.port.find_vm("SRV-APP01")
    assert moved.host == "HV-SRV02"
    assert all(d.path.startswith("E:\\Hyper-V\\SRV-APP01\\") for d in moved.disks)


def test_configuration_here_disks_there(lab: Lab) -> None:
    move = Move(
        "SRV-APP01",
        lab.host("HV-SRV02"),
        include_storage=True,
        vm_path="D:\\Hyper-V\\Virtual Machines\\SRV-APP01",
        storage_path="E:\\Disks",
    )
    plan = _move_plan(lab, move)
    assert plan.invocations[0].has("Vhds") and not plan.invocations[0].has("DestinationStoragePath")
    _, outcome = _run(lab, plan, "SRV-APP01")
    _succeeded(outcome)
    moved = lab.port.find_vm("SRV-APP01")
    assert moved.host == "HV-SRV02"
    assert moved.path == "D:\\Hyper-V\\Virtual Machines\\SRV-APP01"
    assert sorted(d.path for d in moved.disks) == [
        "E:\\Disks\\SRV-APP01-Data.vhdx",
        "E:\\Disks\\SRV-APP01-OS.vhdx",
    ]


def test_storage_only_whole_and_per_disk(lab: Lab) -> None:
    vm = lab.port.find_vm("SRV-APP01")
    host = lab.host(vm.host)
    whole = plan_storage(StorageRequest("SRV-APP01", storage_path="E:\\Moved"), vm, host)
    _, outcome = _run(lab, whole, "SRV-APP01")
    _succeeded(outcome)
    after = lab.port.find_vm("SRV-APP01")
    assert after.host == SOURCE
    assert all(d.path.startswith("E:\\Moved\\") for d in after.disks)

    os_disk = after.disks[0].path
    back = "D:\\Back\\SRV-APP01-OS.vhdx"
    request = StorageRequest("SRV-APP01", vhds=(VhdMove(os_disk, back),))
    _, outcome = _run(lab, plan_storage(request, after, host), "SRV-APP01")
    _succeeded(outcome)
    paths = {d.path for d in lab.port.find_vm("SRV-APP01").disks}
    assert back in paths and os_disk not in paths


def _slow(lab: Lab) -> None:
    lab.world.time_scale = 0.05


def test_cancel_through_the_job(lab: Lab) -> None:
    _slow(lab)
    plan = _move_plan(lab, Move("SRV-APP01", lab.host("HV-SRV02"), include_storage=True))
    vm = lab.port.find_vm("SRV-APP01")
    handle = lab.port.start_migration(plan.host, plan.invocations[0], vm.id)
    deadline = time.monotonic() + 10
    while handle.poll().state is not JobState.RUNNING and time.monotonic() < deadline:
        time.sleep(0.02)
    assert handle.cancel() is CancelMethod.JOB_STATE_CHANGE
    outcome = handle.wait(10)
    assert outcome is not None and not outcome.succeeded
    assert outcome.error is not None and outcome.error.kind is ErrorKind.CANCELLED
    assert lab.port.find_vm("SRV-APP01").host == SOURCE
    assert len(lab.world.calls("Invoke-CimMethod")) == 1
    # Too late once it ended.
    assert handle.cancel() is CancelMethod.TOO_LATE


def test_cancel_by_stopping_the_pipeline_when_no_job_is_cancellable(lab: Lab) -> None:
    _slow(lab)
    plan = _move_plan(lab, Move("SRV-APP01", lab.host("HV-SRV02"), include_storage=True))
    vm = lab.port.find_vm("SRV-APP01")
    handle = lab.port.start_migration(plan.host, plan.invocations[0], vm.id)
    time.sleep(0.2)
    with lab.world.lock:
        for job in lab.world.jobs.values():
            job.cancellable = False
    assert handle.cancel() is CancelMethod.PIPELINE_STOP
    outcome = handle.wait(10)
    assert outcome is not None and outcome.error is not None
    assert outcome.error.kind is ErrorKind.CANCELLED
    assert lab.world.calls("Invoke-CimMethod") == []


@pytest.mark.parametrize("storage", [False, True])
def test_start_refuses_what_is_not_a_migration(lab: Lab, storage: bool) -> None:
    from commands.hyperv import HyperVError
    from commands.invocation import Invocation

    with pytest.raises(HyperVError):
        lab.port.start_migration(
            lab.host(SOURCE), Invocation("Set-VMHost" if storage else "Stop-VM"), "x"
        )
    assert lab.world.calls("Set-VMHost") == [] and lab.world.calls("Stop-VM") == []


def test_back_to_back_moves_each_report_only_their_own_events(lab: Lab) -> None:
    there = _move_plan(lab, Move("SRV-APP01", lab.host("HV-SRV02"), include_storage=True))
    _, first = _run(lab, there, "SRV-APP01")
    _succeeded(first)
    back = _move_plan(lab, Move("SRV-APP01", lab.host(SOURCE), include_storage=True))
    _, second = _run(lab, back, "SRV-APP01")
    _succeeded(second)
    for outcome, destination in ((first, "HV-SRV02"), (second, SOURCE)):
        started = [e for e in outcome.events if e.event_id == 20413]
        assert len(started) == 1, outcome.events
        assert f"to host '{destination}'" in started[0].message
        assert [e.event_id for e in outcome.events].count(20415) == 1
    assert second.events[0].time_created > first.events[-1].time_created


def test_duration_is_the_host_jobs_elapsed_time_whoever_follows_it(lab: Lab) -> None:
    # The finished job must still be listed when the second handle reads it, however slow
    # this machine is (on Windows it lingers about 5 minutes).
    lab.world.linger_seconds = 1e9
    plan = _move_plan(lab, Move("SRV-APP01", lab.host("HV-SRV02"), include_storage=True))
    vm = lab.port.find_vm("SRV-APP01")
    handle = lab.port.start_migration(plan.host, plan.invocations[0], vm.id)
    followed = handle.wait(30)
    assert followed is not None
    _succeeded(followed)
    with lab.world.lock:
        (job,) = [j for j in lab.world.jobs.values() if j.vm_id.casefold() == vm.id]
        elapsed = float(round(job.elapsed))
    # The lab's clock runs 250x faster than the bot's: the two cannot agree by chance.
    assert elapsed > 5
    assert followed.duration_seconds == elapsed
    reattached = lab.port.reattach_migration(
        plan.host, vm.id, handle.started_at, plan.invocations[0]
    )
    again = reattached.wait(5)
    assert again is not None and again.duration_seconds == elapsed
