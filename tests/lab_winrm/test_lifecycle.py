"""Shells and commands over their life: open, run, time out, stop, abandon, close, concurrency."""

from __future__ import annotations

import threading
import uuid

import pytest
import requests
from pypsrp.complex_objects import PSInvocationState
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.shell import WinRS

from lab.running import RunningLab, start_lab
from support.lab_winrm import FakeWorld, invoke, wsman

OPERATION_TIMEOUT = 0x80338029
INVALID_SELECTORS = 0x8033805B


def test_open_run_close(lab: RunningLab, world: FakeWorld) -> None:
    pool = RunspacePool(wsman(lab, "HV-B"))
    pool.open()
    assert pool.is_alive()
    assert invoke(pool, "Get-VM").output[0].adapted_properties["ComputerName"] == "HV-B"
    pool.close()
    with pytest.raises(WSManFaultError) as fault:
        pool.shell._get_shell()
    assert fault.value.code == INVALID_SELECTORS


def test_idle_receive_times_out_with_the_wsman_fault(lab: RunningLab) -> None:
    with RunspacePool(wsman(lab)) as pool, pytest.raises(WSManFaultError) as fault:
        pool.shell.receive("stdout", timeout=1)
    assert fault.value.code == OPERATION_TIMEOUT
    assert "OperationTimeout" in (fault.value.reason or "")


def test_a_receive_never_waits_longer_than_the_lab_allows(world: FakeWorld) -> None:
    with (
        start_lab(world, max_operation_timeout=0.2) as short,
        RunspacePool(wsman(short, operation_timeout=30, read_timeout=3)) as pool,
        pytest.raises(WSManFaultError) as fault,
    ):
        pool.shell.receive("stdout")
    assert fault.value.code == OPERATION_TIMEOUT


def test_receive_for_an_unknown_command_is_refused(lab: RunningLab) -> None:
    with RunspacePool(wsman(lab)) as pool, pytest.raises(WSManFaultError) as fault:
        pool.shell.receive("stdout", command_id=str(uuid.uuid4()).upper(), timeout=1)
    assert fault.value.code == INVALID_SELECTORS


def test_ctrl_c_stops_a_running_command(lab: RunningLab, world: FakeWorld) -> None:
    with RunspacePool(wsman(lab)) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Move-Slowly").add_parameter("Steps", 1000)
        ps.begin_invoke()
        ps.poll_invoke(timeout=1)
        ps.stop()
        assert ps.state == PSInvocationState.STOPPED
        assert world.stopped.wait(2)
        assert not world.finished.is_set()
        assert invoke(pool, "Get-VM").output


def test_a_command_keeps_running_when_its_client_vanishes(
    lab: RunningLab, world: FakeWorld
) -> None:
    client = wsman(lab)
    pool = RunspacePool(client)
    pool.open()
    ps = PowerShell(pool)
    ps.add_cmdlet("Move-Slowly").add_parameter("Steps", 5)
    ps.begin_invoke()
    client.close()  # the connection goes away; no Signal, no Delete
    assert world.finished.wait(5)
    assert not world.stopped.is_set()


def test_deleting_the_shell_asks_running_commands_to_stop(
    lab: RunningLab, world: FakeWorld
) -> None:
    with RunspacePool(wsman(lab)) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Move-Slowly").add_parameter("Steps", 1000)
        ps.begin_invoke()
    assert world.stopped.wait(2)


def test_several_clients_at_once(lab: RunningLab, world: FakeWorld) -> None:
    world.step_seconds = 0.02
    errors: list[BaseException] = []
    outputs: list[object] = []

    def client(host: str) -> None:
        try:
            with RunspacePool(wsman(lab, host)) as pool:
                outputs.append(invoke(pool, "Move-Slowly", Steps=5).output)
                outputs.append(invoke(pool, "Get-VM").output[0].adapted_properties["ComputerName"])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(h,)) for h in ["HV-A", "HV-B"] * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == []
    assert outputs.count(["moved"]) == 6
    assert sorted(o for o in outputs if isinstance(o, str)) == ["HV-A"] * 3 + ["HV-B"] * 3


def test_two_commands_of_one_pool_stream_independently(lab: RunningLab, world: FakeWorld) -> None:
    with RunspacePool(wsman(lab), max_runspaces=2) as pool:
        slow = PowerShell(pool)
        slow.add_cmdlet("Move-Slowly").add_parameter("Steps", 5)
        slow.begin_invoke()
        assert invoke(pool, "Get-VM").output
        slow.end_invoke()
        assert slow.output == ["moved"]


def test_winrs_cmd_shells_are_not_offered(lab: RunningLab) -> None:
    with pytest.raises(WSManFaultError), WinRS(wsman(lab)):
        pass


def test_unreachable_hosts_drop_connections(lab: RunningLab, world: FakeWorld) -> None:
    world.unreachable.add("HV-A")
    with pytest.raises(requests.exceptions.ConnectionError):
        RunspacePool(wsman(lab)).open()
    world.unreachable.clear()
    with RunspacePool(wsman(lab)) as pool:
        assert invoke(pool, "Get-VM").output


def test_disconnect_then_reconnect_from_the_same_client(lab: RunningLab) -> None:
    pool = RunspacePool(wsman(lab))
    pool.open()
    pool.disconnect()
    assert pool.shell._get_shell()["State"] == "Disconnected"
    pool.connect()
    assert pool.shell._get_shell()["State"] == "Connected"
    assert invoke(pool, "Get-VM").output
    pool.close()


def test_a_new_client_takes_over_a_disconnected_command(lab: RunningLab, world: FakeWorld) -> None:
    first = RunspacePool(wsman(lab))
    first.open()
    assert invoke(first, "Get-VM").output  # finished and fully received: not offered again
    ps = PowerShell(first)
    ps.add_cmdlet("Move-Slowly").add_parameter("Steps", 8)
    ps.begin_invoke()
    first.disconnect()

    [pool] = RunspacePool.get_runspace_pools(wsman(lab))
    assert pool.id.upper() == str(first.id).upper()
    pool.connect()
    [command] = pool.create_disconnected_power_shells()
    assert command.connect() == ["moved"]  # type: ignore[no-untyped-call]
    assert command.state == PSInvocationState.COMPLETED
    assert [p.percent_complete for p in command.streams.progress][-1] == 100
    assert invoke(pool, "Get-VM").output
    pool.close()


def test_connect_needs_a_disconnected_pool(lab: RunningLab) -> None:
    with RunspacePool(wsman(lab)) as pool:
        [same] = RunspacePool.get_runspace_pools(wsman(lab))
        assert same.id.upper() == str(pool.id).upper()
        with pytest.raises(WSManFaultError):
            same.connect()


def test_the_pool_reports_windows_powershell_5_1(lab: RunningLab) -> None:
    with RunspacePool(wsman(lab)) as pool:
        private_data = pool.application_private_data
    assert private_data is not None
    table = private_data.data["PSVersionTable"]
    assert table["PSVersion"].startswith("5.1.20348.")
    assert table["PSEdition"] == "Desktop"
    assert table["PSRemotingProtocolVersion"] == "2.3"
