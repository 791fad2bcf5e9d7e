"""Plans: every form of the seed becomes one valid invocation, never the invalid mix."""

from __future__ import annotations

import re

import pytest

from commands.hyperv import HardDisk, VmInfo
from commands.plans import (
    PlanError,
    PlanKind,
    compare_invocation,
    file_name,
    join_path,
    plan_host_change,
    plan_move,
    plan_storage,
    plan_vm_compatibility,
)
from commands.requests import (
    AuthType,
    HostNetworkAddRequest,
    HostNetworkRemoveRequest,
    HostSetRequest,
    HostSetting,
    HostToggleRequest,
    Move,
    PerformanceOption,
    StorageRequest,
    VhdMove,
    VmCompatibilityRequest,
)
from support.hosts import inventory

SRV01, SRV02 = inventory("HV-SRV01", "HV-SRV02")
VM = VmInfo(
    id="5c1f0b5e-0000-4000-8000-000000000001",
    name="SRV-APP01",
    host="HV-SRV01",
    state="Running",
    memory_bytes=4 << 30,
    processor_compatibility=False,
    configuration_version="10.0",
    path="D:\\Hyper-V\\SRV-APP01",
    disks=(
        HardDisk("D:\\VMs\\SRV-APP01-OS.vhdx", 40 << 30),
        HardDisk("D:\\VMs\\Data\\SRV-APP01-Data.vhdx", 100 << 30),
    ),
)


def test_live_migration_names_the_destination_by_fqdn() -> None:
    plan = plan_move(Move("SRV-APP01", SRV02), VM, SRV01)
    assert plan.kind is PlanKind.LIVE
    assert plan.host == SRV01
    assert plan.render() == "Move-VM -Name 'SRV-APP01' -DestinationHost 'hv-srv02.lab.local'"


def test_shared_nothing_uses_include_storage_and_destination_path() -> None:
    move = Move("SRV-APP01", SRV02, include_storage=True, storage_path="D:\\Hyper-V\\VMs")
    plan = plan_move(move, VM, SRV01)
    assert plan.kind is PlanKind.SHARED_NOTHING
    assert plan.render() == (
        "Move-VM -Name 'SRV-APP01' -DestinationHost 'hv-srv02.lab.local' -IncludeStorage "
        "-DestinationStoragePath 'D:\\Hyper-V\\VMs'"
    )


def test_storage_path_alone_implies_include_storage() -> None:
    plan = plan_move(Move("SRV-APP01", SRV02, storage_path="E:\\VMs"), VM, SRV01)
    assert plan.invocations[0].has("IncludeStorage")
    assert plan.invocations[0].parameter("DestinationStoragePath") == "E:\\VMs"


def test_include_storage_without_path_keeps_every_file_path() -> None:
    plan = plan_move(Move("SRV-APP01", SRV02, include_storage=True), VM, SRV01)
    assert plan.render() == (
        "Move-VM -Name 'SRV-APP01' -DestinationHost 'hv-srv02.lab.local' -IncludeStorage"
    )


def test_config_here_disks_there_is_vm_path_plus_one_vhd_entry_per_disk() -> None:
    move = Move(
        "SRV-APP01",
        SRV02,
        include_storage=True,
        vm_path="D:\\Hyper-V\\Virtual Machines",
        storage_path="D:\\Hyper-V\\Virtual Hard Disks\\",
    )
    invocation = plan_move(move, VM, SRV01).invocations[0]
    names = [p.name for p in invocation.parameters]
    assert names == ["Name", "DestinationHost", "VirtualMachinePath", "Vhds"]
    # The seed's invalid mix never appears.
    assert not invocation.has("DestinationStoragePath")
    assert not invocation.has("IncludeStorage")
    assert invocation.parameter("Vhds") == (
        {
            "SourceFilePath": "D:\\VMs\\SRV-APP01-OS.vhdx",
            "DestinationFilePath": "D:\\Hyper-V\\Virtual Hard Disks\\SRV-APP01-OS.vhdx",
        },
        {
            "SourceFilePath": "D:\\VMs\\Data\\SRV-APP01-Data.vhdx",
            "DestinationFilePath": "D:\\Hyper-V\\Virtual Hard Disks\\SRV-APP01-Data.vhdx",
        },
    )


def test_vm_path_alone_moves_only_the_configuration() -> None:
    invocation = plan_move(Move("SRV-APP01", SRV02, vm_path="E:\\Cfg"), VM, SRV01).invocations[0]
    assert [p.name for p in invocation.parameters] == [
        "Name",
        "DestinationHost",
        "VirtualMachinePath",
    ]


def test_split_refuses_two_disks_that_would_collide() -> None:
    twins = VmInfo(
        **{
            **VM.__dict__,
            "disks": (HardDisk("D:\\a\\disk.vhdx", 1), HardDisk("D:\\b\\DISK.vhdx", 1)),
        }
    )
    with pytest.raises(PlanError, match="would both become"):
        plan_move(Move("SRV-APP01", SRV02, vm_path="E:\\c", storage_path="E:\\d"), twins, SRV01)


def test_split_without_disks_is_refused_with_a_reason() -> None:
    diskless = VmInfo(**{**VM.__dict__, "disks": ()})
    with pytest.raises(PlanError, match="no virtual hard disk"):
        plan_move(Move("SRV-APP01", SRV02, vm_path="E:\\c", storage_path="E:\\d"), diskless, SRV01)


def test_moving_to_the_host_it_runs_on_is_refused() -> None:
    with pytest.raises(PlanError, match="already runs on HV-SRV01"):
        plan_move(Move("SRV-APP01", SRV01), VM, SRV01)


def test_storage_only_whole_vm() -> None:
    plan = plan_storage(StorageRequest("SRV-APP01", storage_path="E:\\Hyper-V\\VHDs"), VM, SRV01)
    assert plan.kind is PlanKind.STORAGE_ONLY
    assert plan.render() == (
        "Move-VMStorage -VMName 'SRV-APP01' -DestinationStoragePath 'E:\\Hyper-V\\VHDs'"
    )


def test_storage_only_per_disk_keeps_the_requested_destinations() -> None:
    request = StorageRequest(
        "SRV-APP01",
        vhds=(
            VhdMove("D:\\VMs\\SRV-APP01-OS.vhdx", "E:\\VMs\\SRV-APP01-OS.vhdx"),
            VhdMove("d:\\vms\\data\\srv-app01-data.vhdx", "F:\\VMs\\SRV-APP01-Data.vhdx"),
        ),
    )
    plan = plan_storage(request, VM, SRV01)
    assert plan.render() == (
        "Move-VMStorage -VMName 'SRV-APP01' -Vhds @(@{SourceFilePath = "
        "'D:\\VMs\\SRV-APP01-OS.vhdx'; DestinationFilePath = 'E:\\VMs\\SRV-APP01-OS.vhdx'}, "
        "@{SourceFilePath = 'd:\\vms\\data\\srv-app01-data.vhdx'; DestinationFilePath = "
        "'F:\\VMs\\SRV-APP01-Data.vhdx'})"
    )


def test_storage_only_refuses_a_disk_the_vm_does_not_have() -> None:
    request = StorageRequest("SRV-APP01", vhds=(VhdMove("D:\\other.vhdx", "E:\\other.vhdx"),))
    with pytest.raises(PlanError, match=re.escape("has no disk D:\\other.vhdx")):
        plan_storage(request, VM, SRV01)


def test_storage_only_config_and_disks_apart() -> None:
    request = StorageRequest("SRV-APP01", storage_path="F:\\Disks", vm_path="E:\\Config")
    invocation = plan_storage(request, VM, SRV01).invocations[0]
    assert [p.name for p in invocation.parameters] == ["VMName", "VirtualMachinePath", "Vhds"]
    assert not invocation.has("DestinationStoragePath")


def test_compare_vm_takes_the_move_parameters() -> None:
    move_vm = plan_move(Move("SRV-APP01", SRV02, storage_path="E:\\VMs"), VM, SRV01).invocations[0]
    compare = compare_invocation(move_vm)
    assert compare.cmdlet == "Compare-VM"
    assert compare.parameters == move_vm.parameters


@pytest.mark.parametrize(
    ("request_", "rendered"),
    [
        (HostToggleRequest(SRV01, True), "Enable-VMMigration"),
        (HostToggleRequest(SRV01, False), "Disable-VMMigration"),
        (
            HostSetRequest(SRV01, HostSetting.MAX_MIGRATIONS, 4),
            "Set-VMHost -MaximumVirtualMachineMigrations 4",
        ),
        (
            HostSetRequest(SRV01, HostSetting.MAX_STORAGE_MIGRATIONS, 3),
            "Set-VMHost -MaximumStorageMigrations 3",
        ),
        (
            HostSetRequest(SRV01, HostSetting.AUTH, AuthType.KERBEROS),
            "Set-VMHost -VirtualMachineMigrationAuthenticationType 'Kerberos'",
        ),
        (
            HostSetRequest(SRV01, HostSetting.PERFORMANCE, PerformanceOption.SMB),
            "Set-VMHost -VirtualMachineMigrationPerformanceOption 'SMB'",
        ),
        (
            HostSetRequest(SRV01, HostSetting.ANY_NETWORK, False),
            "Set-VMHost -UseAnyNetworkForMigration $false",
        ),
        (
            HostNetworkAddRequest(SRV01, "10.10.10.0/24", 1),
            "Add-VMMigrationNetwork -Subnet '10.10.10.0/24' -Priority 1",
        ),
        (
            HostNetworkAddRequest(SRV01, "10.10.20.0/24"),
            "Add-VMMigrationNetwork -Subnet '10.10.20.0/24'",
        ),
        (
            HostNetworkRemoveRequest(SRV01, "10.10.10.0/24"),
            "Remove-VMMigrationNetwork -Subnet '10.10.10.0/24'",
        ),
    ],
)
def test_host_setting_changes_of_the_seed(request_: object, rendered: str) -> None:
    plan = plan_host_change(request_)  # type: ignore[arg-type]
    assert plan.kind is PlanKind.HOST_SETTING
    assert plan.host == SRV01
    assert plan.render() == rendered


def test_auth_value_is_sent_as_plain_text() -> None:
    plan = plan_host_change(HostSetRequest(SRV01, HostSetting.AUTH, AuthType.CREDSSP))
    value = plan.invocations[0].parameter("VirtualMachineMigrationAuthenticationType")
    assert type(value) is str and value == "CredSSP"


def test_processor_compatibility_needs_the_vm_off() -> None:
    with pytest.raises(PlanError, match="turned off"):
        plan_vm_compatibility(VmCompatibilityRequest("SRV-APP01", True), VM, SRV01)
    off = VmInfo(**{**VM.__dict__, "state": "Off"})
    plan = plan_vm_compatibility(VmCompatibilityRequest("SRV-APP01", True), off, SRV01)
    assert plan.render() == (
        "Set-VMProcessor -VMName 'SRV-APP01' -CompatibilityForMigrationEnabled $true"
    )


def test_plan_json_round_trips_the_vhd_tables() -> None:
    move = Move("SRV-APP01", SRV02, vm_path="E:\\c", storage_path="E:\\d")
    data = plan_move(move, VM, SRV01).to_json()
    assert data["kind"] == "split_storage"
    assert data["host"] == "HV-SRV01"
    invocation = data["invocations"][0]  # type: ignore[index]
    assert (
        invocation["parameters"][3]["value"][0]["DestinationFilePath"] == "E:\\d\\SRV-APP01-OS.vhdx"
    )


@pytest.mark.parametrize(
    ("path", "name"),
    [("D:\\a\\b.vhdx", "b.vhdx"), ("\\\\srv\\share\\x.vhd", "x.vhd"), ("D:/a/c.vhdx", "c.vhdx")],
)
def test_file_name(path: str, name: str) -> None:
    assert file_name(path) == name


def test_join_path_adds_exactly_one_separator() -> None:
    assert join_path("E:\\x\\", "a.vhdx") == join_path("E:\\x", "a.vhdx") == "E:\\x\\a.vhdx"
