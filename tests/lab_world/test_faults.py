"""Every fault fails the way architecture §5 says Windows fails: message, HRESULT, event."""

from __future__ import annotations

import threading

import pytest

from lab.pipeline import CommandCall, InvocationContext, LabObject
from lab.world import Fault, FaultKind, World
from support.lab_world import LIVE, RecordingSink, Runner, event_ids, host_of, move


def only_error(sink: RecordingSink) -> str:
    (error,) = sink.errors
    assert error.fully_qualified_error_id.endswith(",Microsoft.HyperV.PowerShell.Commands.MoveVM")
    return error.message


def incompatibilities(run: Runner, vm: str, dest: str, *extra: object) -> list[tuple[int, str]]:
    sink = run("HV-SRV01", "Compare-VM", ("Name", vm), ("DestinationHost", dest), *extra)
    assert sink.errors == []
    (report,) = sink.output
    assert isinstance(report, LabObject)
    items = report.properties["Incompatibilities"]
    assert isinstance(items, list)
    return [(int(i.properties["MessageId"]), str(i.properties["Message"])) for i in items]


def test_unreachable_host(world: World, run: Runner) -> None:
    world.inject(Fault(FaultKind.UNREACHABLE, host="HV-SRV02"))
    assert not world.is_reachable("hv-srv02.lab.local") and world.is_reachable("HV-SRV01")
    assert "0x8007274C" in only_error(move(run))
    assert event_ids(world, "HV-SRV01") == [21502]
    world.clear_faults(FaultKind.UNREACHABLE)
    assert world.is_reachable("HV-SRV02")


def test_unknown_destination(run: Runner, world: World) -> None:
    assert "No such host is known. (0x80072AF9)" in only_error(move(run, LIVE, "HV-NOPE"))


def test_wrong_credentials(world: World) -> None:
    assert world.authenticate("HV-SRV01", "LAB\\hvadmin", "Lab-Passw0rd!")
    assert world.authenticate("hv-srv01.lab.local", "hvadmin@lab.local", "Lab-Passw0rd!")
    assert not world.authenticate("HV-SRV01", "LAB\\hvadmin", "wrong")
    assert not world.authenticate("HV-SRV01", "LAB\\intruder", "Lab-Passw0rd!")
    world.inject(Fault(FaultKind.BAD_CREDENTIALS, host="HV-SRV01"))
    assert not world.authenticate("HV-SRV01", "LAB\\hvadmin", "Lab-Passw0rd!")
    assert world.authenticate("HV-SRV02", "LAB\\hvadmin", "Lab-Passw0rd!")


@pytest.mark.parametrize("how", ["fault", "no-delegation", "credssp"])
def test_no_credentials_for_the_migration(world: World, run: Runner, how: str) -> None:
    src = world.host("HV-SRV01")
    assert src is not None
    if how == "fault":
        world.inject(Fault(FaultKind.KERBEROS_DELEGATION_MISSING, host="HV-SRV01"))
    elif how == "no-delegation":
        src.delegation_to.clear()
    else:
        run("HV-SRV01", "Set-VMHost", ("VirtualMachineMigrationAuthenticationType", "CredSSP"))
    message = only_error(move(run))
    assert "No credentials are available in the security package (0x8009030E)" in message
    assert move(run).errors[0].hresult == 0x8009030E
    assert event_ids(world, "HV-SRV01")[:2] == [20306, 21502]
    assert world.jobs == {}


def test_auth_type_mismatch(world: World, run: Runner) -> None:
    run("HV-SRV02", "Set-VMHost", ("VirtualMachineMigrationAuthenticationType", "CredSSP"))
    assert "0x8009030D" in only_error(move(run))


def test_migration_disabled_on_destination(world: World, run: Runner) -> None:
    run("HV-SRV02", "Disable-VMMigration")
    assert "not enabled on host 'HV-SRV02'" in only_error(move(run))


def test_cpu_incompatible_without_compatibility_mode(world: World, run: Runner) -> None:
    message = only_error(move(run, "SRV-APP01", "HV-SRV03", ("IncludeStorage", None)))
    assert "hardware on the destination computer is not compatible" in message
    assert event_ids(world, "HV-SRV01") == [21502]
    assert any(i == 24004 for i, _ in incompatibilities(run, "SRV-APP01", "HV-SRV03"))


def test_cpu_fault_is_cured_by_compatibility_mode(world: World, run: Runner) -> None:
    world.inject(Fault(FaultKind.CPU_INCOMPATIBLE, host="HV-SRV02"))
    assert "not compatible" in only_error(
        move(run, "SRV-APP01", "HV-SRV02", ("IncludeStorage", None))
    )
    assert move(run, LIVE).errors == []  # SRV-DB01 has compatibility mode on


def test_switch_missing_on_destination(world: World, run: Runner) -> None:
    found = incompatibilities(run, LIVE, "HV-SRV03")
    assert (33012, "Could not find Ethernet switch 'vSwitch-Backup'.") in found
    assert "Could not find Ethernet switch 'vSwitch-Backup'." in only_error(
        move(run, LIVE, "HV-SRV03")
    )
    assert event_ids(world, "HV-SRV01") == [21502]


def test_injected_switch_fault(world: World, run: Runner) -> None:
    world.inject(Fault(FaultKind.SWITCH_MISSING, host="HV-SRV02", name="vSwitch-Prod"))
    found = incompatibilities(run, LIVE, "HV-SRV02")
    assert found == [(33012, "Could not find Ethernet switch 'vSwitch-Prod'.")]


def test_destination_path_missing(world: World, run: Runner) -> None:
    sink = move(
        run,
        "SRV-APP01",
        "HV-SRV02",
        ("IncludeStorage", None),
        ("DestinationStoragePath", "F:\\Nowhere"),
    )
    assert "(0x80070003)" in only_error(sink)
    world.inject(Fault(FaultKind.DESTINATION_PATH_MISSING, host="HV-SRV02", name="D:\\Hyper-V"))
    assert "(0x80070003)" in only_error(
        move(run, "SRV-APP01", "HV-SRV02", ("IncludeStorage", None))
    )


def test_not_enough_memory(world: World, run: Runner) -> None:
    dest = world.host("HV-SRV02")
    assert dest is not None
    dest.memory_total = 20 * 1024**3
    assert "(0x8007000E)" in only_error(move(run))
    dest.memory_total = 256 * 1024**3
    world.inject(Fault(FaultKind.NOT_ENOUGH_MEMORY, host="HV-SRV02"))
    assert move(run).errors[0].hresult == 0x8007000E


def test_not_enough_disk(world: World, run: Runner) -> None:
    world.inject(Fault(FaultKind.NOT_ENOUGH_DISK, host="HV-SRV02"))
    message = only_error(move(run, "SRV-APP01", "HV-SRV02", ("IncludeStorage", None)))
    assert "not enough space on the disk D:" in message and "(0x80070070)" in message


def test_configuration_version_not_supported(world: World, run: Runner) -> None:
    sink = move(run, "SRV-TEST01", "HV-SRV03", ("IncludeStorage", None))
    assert "configuration version 10.0 is not supported" in only_error(sink)
    assert event_ids(world, "HV-SRV03") == [21125]
    assert event_ids(world, "HV-SRV01") == [21502]


def test_iso_attached_from_a_local_path(world: World, run: Runner) -> None:
    sink = run(
        "HV-SRV02",
        "Move-VM",
        ("Name", "SRV-WEB01"),
        ("DestinationHost", "HV-SRV01"),
        ("IncludeStorage", None),
    )
    assert "D:\\ISO\\WindowsServer2022.iso" in sink.errors[0].message
    assert "(0x80070002)" in sink.errors[0].message


def test_local_disks_without_include_storage(run: Runner) -> None:
    assert "is not accessible from host 'HV-SRV02'" in only_error(move(run, "SRV-APP01"))


def test_migration_limit_fault(world: World, run: Runner) -> None:
    world.inject(Fault(FaultKind.MIGRATION_LIMIT, host="HV-SRV02"))
    sink = move(run)
    assert "simultaneous migration limit has been reached" in only_error(sink)
    assert sink.errors[0].category == "LimitsExceeded"
    assert event_ids(world, "HV-SRV01") == [21501]


def test_listener_down(world: World, run: Runner) -> None:
    world.inject(Fault(FaultKind.LISTENER_DOWN, host="HV-SRV02"))
    assert "(0x8007274D)" in only_error(move(run))


def test_slow_link_gives_a_long_blackout(world: World, run: Runner) -> None:
    world.time_scale = 0.00001
    world.inject(Fault(FaultKind.SLOW_LINK, host="HV-SRV02", mbps=10))
    assert move(run).errors == []
    src = world.host("HV-SRV01")
    assert src is not None and src.events[-1].event_id == 20417
    assert "unexpectedly long blackout time" in src.events[-1].message


def test_fault_limited_to_one_vm(world: World, run: Runner) -> None:
    world.inject(Fault(FaultKind.NOT_ENOUGH_MEMORY, host="HV-SRV02", vm="SRV-APP01"))
    assert move(run).errors == []


def test_fail_at_percent(world: World, run: Runner) -> None:
    world.inject(Fault(FaultKind.FAIL_AT_PERCENT, host="HV-SRV02", percent=60))
    sink = move(run)
    assert "(0x8007274C)" in only_error(sink)
    assert event_ids(world, "HV-SRV01") == [20413, 21502]
    assert host_of(world, "HV-SRV01").find_vm(LIVE) is not None


def test_no_common_migration_network(world: World, run: Runner) -> None:
    run("HV-SRV02", "Remove-VMMigrationNetwork", ("Subnet", "10.10.10.0/24"))
    message = only_error(move(run))
    assert "no migration network is accepted by both hosts" in message
    assert "(0x8007274D)" in message
    run("HV-SRV02", "Add-VMMigrationNetwork", ("Subnet", "10.99.0.0/24"))
    assert "(0x8007274D)" in only_error(move(run))
    run("HV-SRV02", "Set-VMHost", ("UseAnyNetworkForMigration", True))
    assert move(run).errors == []


def test_memory_promised_to_a_running_migration_counts(world: World) -> None:
    world.time_scale = 0.01
    dest = world.host("HV-SRV02")
    assert dest is not None
    dest.memory_total = dest.memory_reserved + 20 * 1024**3 + 4 * 1024**3  # WEB01 uses 4
    first = RecordingSink()
    context = InvocationContext("HV-SRV01", "u")
    params = (("Name", LIVE), ("DestinationHost", "HV-SRV02"))  # 16 GB
    thread = threading.Thread(
        target=world.run_pipeline, args=(context, [CommandCall("Move-VM", params)], first)
    )
    thread.start()
    while not world.jobs:
        thread.join(0.002)
    second = RecordingSink()
    world.run_pipeline(
        InvocationContext("HV-SRV01", "u"),
        [
            CommandCall(
                "Move-VM",
                (("Name", "SRV-APP01"), ("DestinationHost", "HV-SRV02"), ("IncludeStorage", None)),
            )
        ],
        second,
    )
    context.stop_requested.set()
    thread.join(5)
    assert "(0x8007000E)" in only_error(second)
