"""What pypsrp sees of the runner's output: typed objects, errors, warnings, progress."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pypsrp.complex_objects import PSInvocationState
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool

from lab.pipeline import CommandCall
from lab.running import RunningLab
from support.lab_winrm import STATE_TYPE, VM_TYPE, FakeWorld, Recorder, invoke, wsman


@pytest.fixture
def pool(lab: RunningLab) -> Iterator[RunspacePool]:
    """An open runspace pool on HV-A."""
    with RunspacePool(wsman(lab)) as opened:
        yield opened


def test_objects_keep_their_net_type_and_adapted_properties(pool: RunspacePool) -> None:
    ps = invoke(pool, "Get-VM", Name="SRV-APP01")
    [vm] = ps.output
    assert vm.types == [VM_TYPE, "System.Object"]
    assert str(vm) == "VirtualMachine (Name = 'SRV-APP01')"
    assert vm.adapted_properties["Name"] == "SRV-APP01"
    assert vm.adapted_properties["MemoryAssigned"] == 4 * 2**30
    assert vm.adapted_properties["ComputerName"] == "HV-A"
    assert vm.extended_properties == {}


def test_an_enum_below_the_top_level_arrives_as_its_text(pool: RunspacePool) -> None:
    # Remoting serializes at depth 1: an output object's properties are at depth 0, where an
    # enum is written as <S> holding its ToString.
    state = invoke(pool, "Get-VM").output[0].adapted_properties["State"]
    assert state == "Running"


def test_an_enum_as_output_carries_value_type_and_name(pool: RunspacePool) -> None:
    [state] = invoke(pool, "Get-VMState").output
    assert state.types[:2] == [STATE_TYPE, "System.Enum"]
    assert str(state) == "Running"
    assert state.property_sets == [2]


def test_parameters_arrive_as_plain_values(pool: RunspacePool, world: FakeWorld) -> None:
    vhds = [{"SourceFilePath": "C:\\a.vhdx", "DestinationFilePath": "D:\\a.vhdx"}]
    ps = PowerShell(pool)
    ps.add_cmdlet("Get-Echo").add_argument("positional").add_parameter("Force")
    ps.add_parameters({"Names": ["a", "b"], "Vhds": vhds, "N": 3, "On": False})
    ps.invoke()
    host, user, call = world.calls[-1]
    assert (host, user) == ("HV-A", "LAB\\tester")
    assert call == CommandCall(
        "Get-Echo",
        [
            (None, "positional"),
            ("Force", None),
            ("Names", ["a", "b"]),
            ("Vhds", vhds),
            ("N", 3),
            ("On", False),
        ],
    )


def test_a_pipeline_of_several_commands_reaches_the_runner(
    pool: RunspacePool, world: FakeWorld
) -> None:
    ps = PowerShell(pool)
    ps.add_cmdlet("Get-VM").add_cmdlet("Get-Echo").add_parameter("Name", "x")
    ps.invoke()
    assert [call.name for _, _, call in world.calls[-2:]] == ["Get-VM", "Get-Echo"]


def test_non_terminating_errors_go_to_the_error_stream(pool: RunspacePool) -> None:
    ps = invoke(pool, "Write-Mixed")
    assert ps.had_errors is False
    assert ps.output == ["before", "after"]
    [error] = ps.streams.error
    assert error.fq_error == "InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVM"
    assert error.category == 5  # InvalidArgument
    assert (error.target_name, error.target_type, error.activity) == ("NOPE", "String", "Get-VM")
    assert (error.command_name, error.invocation_name) == ("Get-VM", "Get-VM")
    exception = error.exception
    assert exception is not None
    assert exception.types[0] == "Microsoft.HyperV.PowerShell.VirtualizationException"
    assert exception.adapted_properties["Message"].startswith("Hyper-V was unable")
    assert [w.message for w in ps.streams.warning] == ["careful"]
    assert [v.message for v in ps.streams.verbose] == ["chatty"]


def test_terminating_errors_fail_the_pipeline(pool: RunspacePool) -> None:
    ps = invoke(pool, "Fail-Now")
    assert ps.had_errors is True
    assert ps.state == PSInvocationState.FAILED
    assert ps.output == ["partial"]
    [error] = ps.streams.error
    assert error.fq_error == "OperationFailed,Microsoft.HyperV.PowerShell.Commands.MoveVM"
    assert str(error) == "The operation failed."


def test_a_crashing_runner_fails_the_pipeline_not_the_server(pool: RunspacePool) -> None:
    ps = invoke(pool, "Crash-Runner")
    assert ps.had_errors is True
    assert invoke(pool, "Get-VM").output


def test_script_text_reaches_the_runner_which_refuses_it(
    pool: RunspacePool, world: FakeWorld
) -> None:
    ps = PowerShell(pool)
    ps.add_script("Get-Process")
    ps.invoke()
    assert ps.had_errors is True
    assert world.calls[-1][2] == CommandCall("Get-Process", [], is_script=True)


def test_progress_streams_while_the_command_runs(pool: RunspacePool, world: FakeWorld) -> None:
    world.step_seconds = 0.1
    ps = PowerShell(pool)
    ps.add_cmdlet("Move-Slowly").add_parameter("Steps", 6)
    ps.begin_invoke()
    receives = 0
    while not ps.streams.progress:
        ps.poll_invoke(timeout=1)
        receives += 1
    assert ps.state == PSInvocationState.RUNNING
    assert not world.finished.is_set()
    while ps.state == PSInvocationState.RUNNING:
        ps.poll_invoke(timeout=1)
        receives += 1
    assert receives >= 3
    assert ps.output == ["moved"]
    progress = ps.streams.progress
    assert progress[0].activity == "Moving SRV-APP01"
    assert [p.percent_complete for p in progress] == [16, 33, 50, 66, 83, 100]
    assert progress[-1].seconds_remaining == 0


def test_large_output_is_split_over_replies_under_max_envelope_size(lab: RunningLab) -> None:
    client = wsman(lab, max_envelope_size=51200)
    recorder = Recorder(client)
    with RunspacePool(client) as small_pool:
        ps = invoke(small_pool, "Get-Echo", Blob="x" * 200_000)
    assert ps.output[0]["params"]["Blob"] == "x" * 200_000
    receives = [len(reply) for request, reply in recorder.replies if "/Receive<" in request]
    assert len(receives) >= 4
    assert max(receives) <= 51200


def test_a_payload_the_server_cannot_read_gets_a_fault(pool: RunspacePool) -> None:
    ps = PowerShell(pool)
    # pypsrp writes every int as <I32>, which cannot hold 2**40.
    ps.add_cmdlet("Get-Echo").add_parameter("Big", 2**40)
    with pytest.raises(WSManFaultError):
        ps.invoke()
    assert invoke(pool, "Get-VM").output
