"""What a WinRM session on a host sees as Windows would: events in their own channel, shares
out of reach (the double hop)."""

from __future__ import annotations

from lab.pipeline import LabObject
from lab.world import Fault, FaultKind, World
from support.lab_world import Runner, move

VMMS = "Microsoft-Windows-Hyper-V-VMMS-Admin"
HA = "Microsoft-Windows-Hyper-V-High-Availability-Admin"


def _events(run: Runner, *logs: str) -> list[tuple[int, str]]:
    sink = run("HV-SRV01", "Get-WinEvent", ("LogName", list(logs)))
    return [
        (int(str(e.properties["Id"])), str(e.properties["LogName"]))
        for e in sink.output
        if isinstance(e, LabObject)
    ]


def test_a_failed_live_migration_is_written_to_high_availability_admin(
    world: World, run: Runner
) -> None:
    world.inject(Fault(FaultKind.FAIL_AT_PERCENT, host="HV-SRV02", percent=40))
    move(run)
    assert (21502, HA) in _events(run, VMMS, HA)
    assert 21502 not in {i for i, _ in _events(run, VMMS)}
    assert {log for _, log in _events(run, HA)} == {HA}


def test_a_success_stays_in_vmms_admin(run: Runner) -> None:
    move(run)
    assert (20415, VMMS) in _events(run, VMMS, HA)


def test_a_log_the_host_lacks_is_an_error_and_the_others_are_still_read(run: Runner) -> None:
    move(run)
    sink = run("HV-SRV01", "Get-WinEvent", ("LogName", [VMMS, "No-Such-Log"]))
    assert [e.fully_qualified_error_id.split(",")[0] for e in sink.errors] == [
        "NoMatchingLogsFound"
    ]
    assert sink.output


def test_a_share_is_out_of_reach_of_a_remote_session(run: Runner) -> None:
    db_disk = "\\\\FS01.lab.local\\VMs\\SRV-DB01\\SRV-DB01.vhdx"
    assert run("HV-SRV01", "Test-Path", ("LiteralPath", db_disk)).output == [False]
    sink = run("HV-SRV01", "Get-VHD", ("Path", db_disk))
    assert sink.output == []
    [error] = sink.errors
    assert error.fully_qualified_error_id.startswith("AccessDenied,")
    assert "Access is denied" in error.message
