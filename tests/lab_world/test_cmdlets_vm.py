"""Get-VM and the per-VM device cmdlets."""

from __future__ import annotations

from collections.abc import Sequence

from lab.pipeline import LabEnum, LabObject, LabValue
from lab.world import World
from support.lab_world import Runner, run_on


def objs(values: Sequence[LabValue]) -> list[LabObject]:
    assert all(isinstance(v, LabObject) for v in values)
    return [v for v in values if isinstance(v, LabObject)]


def test_get_vm_returns_typed_objects(run: Runner) -> None:
    vm = objs(run("HV-SRV01", "Get-VM", ("Name", "srv-app01")).output)[0]
    assert vm.type_names[:2] == (
        "Microsoft.HyperV.PowerShell.VirtualMachine",
        "Microsoft.HyperV.PowerShell.VirtualMachineBase",
    )
    assert vm.type_names[-1] == "System.Object"
    assert vm.properties["Name"] == "SRV-APP01"
    assert str(vm.properties["Id"]) == "6f1c2a9e-3b7d-4c55-9a0e-1d2f3a4b5c61"
    state = vm.properties["State"]
    assert isinstance(state, LabEnum) and (state.value, state.name) == (2, "Running")
    assert state.type_names[0] == "Microsoft.HyperV.PowerShell.VMState"
    assert vm.properties["MemoryAssigned"] == 8 * 1024**3
    assert vm.properties["ComputerName"] == "HV-SRV01"
    assert vm.properties["Version"] == "9.0"


def test_get_vm_without_name_lists_all_sorted(run: Runner) -> None:
    names = [o.properties["Name"] for o in objs(run("HV-SRV01", "Get-VM").output)]
    assert names == ["SRV-APP01", "SRV-DB01", "SRV-TEST01"]


def test_get_vm_wildcards_match_like_windows(run: Runner) -> None:
    assert len(run("HV-SRV01", "Get-VM", ("Name", "*")).output) == 3
    assert len(run("HV-SRV01", "Get-VM", ("Name", "SRV-?B01")).output) == 1
    nothing = run("HV-SRV01", "Get-VM", ("Name", "ZZ*"))
    assert nothing.output == [] and nothing.errors == []


def test_get_vm_unknown_name_is_a_non_terminating_error(run: Runner) -> None:
    sink = run("HV-SRV01", "Get-VM", ("Name", ["SRV-NOPE", "SRV-APP01"]))
    assert len(sink.output) == 1
    (error,) = sink.errors
    assert error.message == 'Hyper-V was unable to find a virtual machine with name "SRV-NOPE".'
    assert error.fully_qualified_error_id == (
        "InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVM"
    )
    assert error.category == "InvalidArgument"
    assert error.target_name == "SRV-NOPE"


def test_get_vm_by_id(run: Runner) -> None:
    found = run("HV-SRV01", "Get-VM", ("Id", "6F1C2A9E-3B7D-4C55-9A0E-1D2F3A4B5C61"))
    assert objs(found.output)[0].properties["Name"] == "SRV-APP01"
    missing = run("HV-SRV01", "Get-VM", ("Id", "00000000-0000-0000-0000-000000000000"))
    assert missing.output == [] and len(missing.errors) == 1


def test_network_adapters_and_their_switch(run: Runner) -> None:
    adapters = objs(run("HV-SRV01", "Get-VMNetworkAdapter", ("VMName", "SRV-DB01")).output)
    assert [(a.properties["Name"], a.properties["SwitchName"]) for a in adapters] == [
        ("Network Adapter", "vSwitch-Prod"),
        ("Backup Adapter", "vSwitch-Backup"),
    ]
    everything = run("HV-SRV01", "Get-VMNetworkAdapter", ("All", None)).output
    assert len(everything) == 4


def test_hard_disks_of_srv_app01(run: Runner) -> None:
    disks = objs(run("HV-SRV01", "Get-VMHardDiskDrive", ("VMName", "SRV-APP01")).output)
    assert [d.properties["Path"] for d in disks] == [
        "D:\\Hyper-V\\Virtual Hard Disks\\SRV-APP01-OS.vhdx",
        "D:\\Hyper-V\\Virtual Hard Disks\\SRV-APP01-Data.vhdx",
    ]
    assert disks[0].type_names[0] == "Microsoft.HyperV.PowerShell.HardDiskDrive"


def test_piping_get_vm_into_device_cmdlets(world: World) -> None:
    sink = run_on(
        world, "HV-SRV01", ("Get-VM", [("Name", "SRV-APP01")]), ("Get-VMHardDiskDrive", [])
    )
    assert len(sink.output) == 2
    cpu = run_on(world, "HV-SRV01", ("Get-VM", [("Name", "SRV-DB01")]), ("Get-VMProcessor", []))
    assert objs(cpu.output)[0].properties["CompatibilityForMigrationEnabled"] is True


def test_dvd_drive_shows_the_iso(run: Runner) -> None:
    (dvd,) = objs(run("HV-SRV02", "Get-VMDvdDrive", ("VMName", "SRV-WEB01")).output)
    assert dvd.properties["Path"] == "D:\\ISO\\WindowsServer2022.iso"
    media = dvd.properties["DvdMediaType"]
    assert isinstance(media, LabEnum) and media.name == "ISO"


def test_get_vhd_sizes(run: Runner) -> None:
    (vhd,) = objs(
        run(
            "HV-SRV01", "Get-VHD", ("Path", "D:\\Hyper-V\\Virtual Hard Disks\\SRV-APP01-Data.vhdx")
        ).output
    )
    assert vhd.properties["FileSize"] == 36 * 1024**3
    assert vhd.properties["Size"] == 200 * 1024**3
    assert run("HV-SRV01", "Get-VHD", ("Path", "D:\\nope.vhdx")).errors


def test_set_vm_processor_needs_the_vm_off(run: Runner) -> None:
    refused = run(
        "HV-SRV01",
        "Set-VMProcessor",
        ("VMName", "SRV-APP01"),
        ("CompatibilityForMigrationEnabled", True),
    )
    (error,) = refused.errors
    assert error.message == (
        "The operation cannot be performed while the virtual machine is in its current state."
    )
    assert error.fully_qualified_error_id == (
        "InvalidState,Microsoft.HyperV.PowerShell.Commands.SetVMProcessor"
    )
    cpu = objs(run("HV-SRV01", "Get-VMProcessor", ("VMName", "SRV-APP01")).output)[0]
    assert cpu.properties["CompatibilityForMigrationEnabled"] is False


def test_set_vm_processor_on_an_off_vm(run: Runner) -> None:
    sink = run(
        "HV-SRV01",
        "Set-VMProcessor",
        ("VMName", "SRV-TEST01"),
        ("CompatibilityForMigrationEnabled", True),
        ("Passthru", None),
    )
    assert sink.errors == []
    assert objs(sink.output)[0].properties["CompatibilityForMigrationEnabled"] is True
