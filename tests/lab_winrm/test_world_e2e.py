"""End to end: pypsrp over real HTTP against the default scenario's simulated hosts."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest
from pypsrp.complex_objects import PSInvocationState
from pypsrp.powershell import PowerShell, RunspacePool

from lab.pipeline import CollectingSink, CommandCall, InvocationContext
from lab.running import RunningLab, start_lab
from lab.world import World, load_scenario
from support.lab_winrm import duration, wsman

VHD_PATH = "D:\\Hyper-V\\Virtual Hard Disks"


@pytest.fixture
def scenario() -> World:
    """The default scenario, fast."""
    return load_scenario(time_scale=0.003)


@pytest.fixture
def lab(scenario: World) -> Iterator[RunningLab]:
    """The default lab over HTTP/Basic."""
    with start_lab(scenario, max_operation_timeout=5) as running:
        yield running


def _vm_names(lab: RunningLab, host: str) -> list[str]:
    with RunspacePool(wsman(lab, host)) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-VM")
        return [vm.adapted_properties["Name"] for vm in ps.invoke()]


def _move(pool: RunspacePool) -> PowerShell:
    ps = PowerShell(pool)
    ps.add_cmdlet("Move-VM").add_parameter("Name", "SRV-APP01")
    ps.add_parameter("DestinationHost", "HV-SRV02").add_parameter("IncludeStorage")
    ps.add_parameter("DestinationStoragePath", VHD_PATH)
    return ps


def test_get_vm_returns_typed_virtual_machines(lab: RunningLab) -> None:
    with RunspacePool(wsman(lab, "HV-SRV01")) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-VM").add_parameter("Name", "SRV-APP01")
        [vm] = ps.invoke()
    assert vm.types[0] == "Microsoft.HyperV.PowerShell.VirtualMachine"
    assert vm.adapted_properties["Name"] == "SRV-APP01"
    assert str(vm.adapted_properties["State"]) == "Running"


def test_an_unknown_vm_is_a_non_terminating_error(lab: RunningLab) -> None:
    with RunspacePool(wsman(lab, "HV-SRV01")) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-VM").add_parameter("Name", "NO-SUCH-VM")
        assert ps.invoke() == []
    assert ps.had_errors is False
    [error] = ps.streams.error
    assert str(error.fq_error).endswith("Microsoft.HyperV.PowerShell.Commands.GetVM")


def test_move_vm_streams_progress_then_moves_the_vm(lab: RunningLab) -> None:
    with RunspacePool(wsman(lab, "HV-SRV01")) as pool:
        ps = _move(pool)
        ps.begin_invoke()
        receives = 0
        while ps.state == PSInvocationState.RUNNING:
            ps.poll_invoke(timeout=1)
            receives += 1
    assert ps.had_errors is False, [str(e) for e in ps.streams.error]
    assert receives >= 3
    percents = [p.percent_complete for p in ps.streams.progress]
    assert len(percents) >= 3 and percents == sorted(percents)
    assert "SRV-APP01" in _vm_names(lab, "HV-SRV02")
    assert "SRV-APP01" not in _vm_names(lab, "HV-SRV01")


def test_a_migration_continues_when_the_client_disconnects(
    lab: RunningLab, scenario: World
) -> None:
    client = wsman(lab, "HV-SRV01")
    pool = RunspacePool(client)
    pool.open()
    ps = _move(pool)
    ps.begin_invoke()
    while not ps.streams.progress:
        ps.poll_invoke(timeout=1)
    client.close()  # the bot process dies: no Signal, no Delete
    deadline = time.monotonic() + 15
    while "SRV-APP01" not in _vm_names(lab, "HV-SRV02"):
        assert time.monotonic() < deadline, "the migration did not finish"
        time.sleep(0.1)
    assert "SRV-APP01" not in _vm_names(lab, "HV-SRV01")


@pytest.mark.parametrize(
    ("seconds", "text"), [(10, "PT10S"), (220, "PT3M40S"), (3600, "PT1H"), (3605, "PT1H5S")]
)
def test_a_job_elapsed_time_reaches_pypsrp_whole(
    lab: RunningLab, scenario: World, seconds: int, text: str
) -> None:
    sink = CollectingSink()
    move = CommandCall("Move-VM", (("Name", "SRV-DB01"), ("DestinationHost", "HV-SRV02")))
    scenario.run_pipeline(InvocationContext("HV-SRV01", "LAB\\hvadmin"), [move], sink)
    assert sink.errors == []
    with scenario.lock:
        (job,) = scenario.jobs.values()
        job.elapsed = seconds
    with RunspacePool(wsman(lab, "HV-SRV02")) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-CimInstance").add_parameter("ClassName", "Msvm_MigrationJob")
        ps.add_parameter("Namespace", "root\\virtualization\\v2")
        (found,) = ps.invoke()
    assert found.adapted_properties["ElapsedTime"] == text


def test_a_poller_never_sees_elapsed_time_or_percentage_go_back(lab: RunningLab) -> None:
    readings: list[tuple[float, int]] = []
    with (
        RunspacePool(wsman(lab, "HV-SRV01")) as moving,
        RunspacePool(wsman(lab, "HV-SRV01")) as polling,
    ):
        move = _move(moving)
        move.begin_invoke()
        while move.state == PSInvocationState.RUNNING:
            ps = PowerShell(polling)
            ps.add_cmdlet("Get-CimInstance").add_parameter("ClassName", "Msvm_MigrationJob")
            ps.add_parameter("Namespace", "root\\virtualization\\v2")
            for job in ps.invoke():
                props = job.adapted_properties
                if props["JobState"] == 4:  # Running
                    elapsed = duration(props["ElapsedTime"]).total_seconds()
                    readings.append((elapsed, props["PercentComplete"]))
            move.poll_invoke(timeout=0)
        move.end_invoke()
    assert move.had_errors is False
    assert len(readings) > 10
    for before, after in itertools.pairwise(readings):
        assert after[0] >= before[0] and after[1] >= before[1], (before, after)
