"""Every cmdlet of the lab, called with pypsrp over real HTTP, answers like Hyper-V: typed
objects and no error record; changes are visible to the next read."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pypsrp.powershell import PowerShell, RunspacePool

from lab.running import RunningLab, start_lab
from lab.world import load_scenario
from support.lab_winrm import wsman

HV = "Microsoft.HyperV.PowerShell."
Params = tuple[tuple[str, Any], ...]

READS: list[tuple[str, Params, str]] = [
    ("Get-VM", (("Name", "SRV-APP01"),), HV + "VirtualMachine"),
    ("Get-VMHost", (), HV + "VMHost"),
    ("Get-VMMigrationNetwork", (), HV + "VMMigrationNetwork"),
    ("Get-VMSwitch", (), HV + "VMSwitch"),
    ("Get-VMNetworkAdapter", (("VMName", "SRV-APP01"),), HV + "VMNetworkAdapter"),
    ("Get-VMHardDiskDrive", (("VMName", "SRV-APP01"),), HV + "HardDiskDrive"),
    ("Get-VMProcessor", (("VMName", "SRV-APP01"),), HV + "VMProcessor"),
    ("Get-VMHostSupportedVersion", (), HV + "VMHostSupportedVersion"),
    (
        "Compare-VM",
        (("Name", "SRV-DB01"), ("DestinationHost", "HV-SRV03.lab.local")),
        HV + "VMCompatibilityReport",
    ),
    ("Get-Volume", (), "Microsoft.Management.Infrastructure.CimInstance#ROOT/Microsoft/"),
]


@pytest.fixture
def lab() -> Iterator[RunningLab]:
    with start_lab(load_scenario(time_scale=0.002), max_operation_timeout=5) as running:
        yield running


def run(pool: RunspacePool, cmdlet: str, params: Params = ()) -> list[Any]:
    ps = PowerShell(pool)
    ps.add_cmdlet(cmdlet)
    for name, value in params:
        ps.add_parameter(name, value)
    output = ps.invoke()
    assert not ps.had_errors and not ps.streams.error, [str(e) for e in ps.streams.error]
    return list(output)


def prop(obj: Any, name: str) -> Any:
    return obj.adapted_properties.get(name, obj.extended_properties.get(name))


@pytest.mark.parametrize(("cmdlet", "params", "type_name"), READS, ids=[r[0] for r in READS])
def test_reads_return_typed_objects(
    lab: RunningLab, cmdlet: str, params: Params, type_name: str
) -> None:
    with RunspacePool(wsman(lab, "HV-SRV01")) as pool:
        output = run(pool, cmdlet, params)
    assert output
    assert all(o.types[0].startswith(type_name) for o in output)


def test_dvd_drives_events_jobs_and_paths(lab: RunningLab) -> None:
    with RunspacePool(wsman(lab, "HV-SRV02")) as pool:
        (dvd,) = run(pool, "Get-VMDvdDrive", (("VMName", "SRV-WEB01"),))
        assert dvd.types[0] == HV + "DvdDrive" and prop(dvd, "Path")
        assert run(pool, "Test-Path", (("Path", "D:\\Hyper-V"),)) == [True]
        assert run(pool, "Test-Path", (("Path", "Q:\\Nowhere"),)) == [False]
        run(
            pool,
            "Move-VM",
            (
                ("Name", "SRV-FILE01"),
                ("DestinationHost", "HV-SRV01.lab.local"),
                ("IncludeStorage", None),
            ),
        )
        events = run(pool, "Get-WinEvent", (("LogName", "Microsoft-Windows-Hyper-V-VMMS-Admin"),))
        assert {20413, 20415} <= {prop(e, "Id") for e in events}
        jobs = run(
            pool,
            "Get-CimInstance",
            (("Namespace", "root\\virtualization\\v2"), ("ClassName", "Msvm_MigrationJob")),
        )
        assert [prop(j, "JobState") for j in jobs] == [7]


def test_host_setting_changes_show_in_the_next_read(lab: RunningLab) -> None:
    with RunspacePool(wsman(lab, "HV-SRV01")) as pool:
        run(pool, "Set-VMHost", (("MaximumVirtualMachineMigrations", 5),))
        run(pool, "Disable-VMMigration")
        (host,) = run(pool, "Get-VMHost")
        assert prop(host, "MaximumVirtualMachineMigrations") == 5
        assert prop(host, "VirtualMachineMigrationEnabled") is False
        run(pool, "Enable-VMMigration")
        run(pool, "Add-VMMigrationNetwork", (("Subnet", "10.20.0.0/24"), ("Priority", 2)))
        run(pool, "Remove-VMMigrationNetwork", (("Subnet", "10.10.10.0/24"),))
        (host,) = run(pool, "Get-VMHost")
        assert prop(host, "VirtualMachineMigrationEnabled") is True
        networks = run(pool, "Get-VMMigrationNetwork")
        assert [prop(n, "Subnet") for n in networks] == ["10.20.0.0/24"]


def test_vm_changes_and_moves_show_in_the_next_read(lab: RunningLab) -> None:
    with RunspacePool(wsman(lab, "HV-SRV02")) as pool:
        run(
            pool,
            "Set-VMProcessor",
            (("VMName", "SRV-FILE01"), ("CompatibilityForMigrationEnabled", True)),
        )
        (cpu,) = run(pool, "Get-VMProcessor", (("VMName", "SRV-FILE01"),))
        assert prop(cpu, "CompatibilityForMigrationEnabled") is True
    with RunspacePool(wsman(lab, "HV-SRV01")) as pool:
        run(
            pool, "Move-VMStorage", (("VMName", "SRV-APP01"), ("DestinationStoragePath", "E:\\VMs"))
        )
        disks = run(pool, "Get-VMHardDiskDrive", (("VMName", "SRV-APP01"),))
        assert all(prop(d, "Path").startswith("E:\\VMs\\") for d in disks)
        run(pool, "Move-VM", (("Name", "SRV-DB01"), ("DestinationHost", "HV-SRV02.lab.local")))
        assert [prop(v, "Name") for v in run(pool, "Get-VM")].count("SRV-DB01") == 0


def test_a_pypsrp_client_reads_get_vm_as_windows_sends_it(lab: RunningLab) -> None:
    # Depth 1: the Guid keeps its <G> tag (pypsrp makes a uuid.UUID of it), the VMState enum
    # one level down is its ToString text.
    with RunspacePool(wsman(lab, "HV-SRV01")) as pool:
        [vm] = run(pool, "Get-VM", (("Name", "SRV-APP01"),))
    assert isinstance(prop(vm, "Id"), uuid.UUID)
    assert prop(vm, "State") == "Running"
    assert prop(vm, "MemoryAssigned") == 8 * 2**30
