"""Host settings, migration networks, switches and supported versions."""

from __future__ import annotations

from collections.abc import Sequence

from lab.pipeline import LabEnum, LabObject, LabValue
from support.lab_world import Runner, enum_name


def one(values: Sequence[LabValue]) -> LabObject:
    (value,) = values
    assert isinstance(value, LabObject)
    return value


def test_get_vm_host_reports_migration_settings(run: Runner) -> None:
    host = one(run("HV-SRV01", "Get-VMHost").output)
    assert host.type_names[0] == "Microsoft.HyperV.PowerShell.VMHost"
    p = host.properties
    assert p["VirtualMachineMigrationEnabled"] is True
    assert p["MaximumVirtualMachineMigrations"] == 2
    auth = p["VirtualMachineMigrationAuthenticationType"]
    perf = p["VirtualMachineMigrationPerformanceOption"]
    assert isinstance(auth, LabEnum) and (auth.name, auth.value) == ("Kerberos", 1)
    assert auth.type_names[0] == "Microsoft.HyperV.PowerShell.MigrationAuthenticationType"
    assert isinstance(perf, LabEnum) and (perf.name, perf.value) == ("Compression", 1)
    assert perf.type_names[0] == "Microsoft.HyperV.PowerShell.VMMigrationPerformance"
    assert p["FullyQualifiedDomainName"] == "HV-SRV01.lab.local"


def test_set_vm_host_changes_every_setting(run: Runner) -> None:
    sink = run(
        "HV-SRV02",
        "Set-VMHost",
        ("MaximumVirtualMachineMigrations", 4),
        ("MaximumStorageMigrations", 3),
        ("VirtualMachineMigrationAuthenticationType", "credssp"),
        ("VirtualMachineMigrationPerformanceOption", 2),
        ("UseAnyNetworkForMigration", True),
        ("Passthru", None),
    )
    p = one(sink.output).properties
    assert p["MaximumVirtualMachineMigrations"] == 4
    assert p["MaximumStorageMigrations"] == 3
    assert enum_name(p["VirtualMachineMigrationAuthenticationType"]) == "CredSSP"
    assert enum_name(p["VirtualMachineMigrationPerformanceOption"]) == "SMB"
    assert p["UseAnyNetworkForMigration"] is True


def test_set_vm_host_whatif_changes_nothing(run: Runner) -> None:
    run("HV-SRV02", "Set-VMHost", ("MaximumVirtualMachineMigrations", 9), ("WhatIf", None))
    assert (
        one(run("HV-SRV02", "Get-VMHost").output).properties["MaximumVirtualMachineMigrations"] == 2
    )


def test_disable_and_enable_migration(run: Runner) -> None:
    assert run("HV-SRV03", "Disable-VMMigration").output == []
    assert (
        one(run("HV-SRV03", "Get-VMHost").output).properties["VirtualMachineMigrationEnabled"]
        is False
    )
    host = one(run("HV-SRV03", "Enable-VMMigration", ("Passthru", None)).output)
    assert host.properties["VirtualMachineMigrationEnabled"] is True


def test_migration_networks_add_get_remove(run: Runner) -> None:
    added = one(
        run(
            "HV-SRV01",
            "Add-VMMigrationNetwork",
            ("Subnet", "10.20.0.0/16"),
            ("Priority", 5),
            ("Passthru", None),
        ).output
    )
    assert added.properties["Subnet"] == "10.20.0.0/16"
    listed = run("HV-SRV01", "Get-VMMigrationNetwork").objects
    assert [o.properties["Subnet"] for o in listed] == ["10.10.10.0/24", "10.20.0.0/16"]
    assert run("HV-SRV01", "Add-VMMigrationNetwork", ("Subnet", "10.20.0.0/16")).errors
    assert run("HV-SRV01", "Add-VMMigrationNetwork", ("Subnet", "not-a-subnet")).errors
    assert run("HV-SRV01", "Remove-VMMigrationNetwork", ("Subnet", "10.20.0.0/16")).errors == []
    assert len(run("HV-SRV01", "Get-VMMigrationNetwork").output) == 1
    assert run("HV-SRV01", "Remove-VMMigrationNetwork", ("Subnet", "10.99.0.0/16")).errors


def test_switches_differ_between_hosts(run: Runner) -> None:
    names = [o.properties["Name"] for o in run("HV-SRV01", "Get-VMSwitch").objects]
    assert names == ["vSwitch-Backup", "vSwitch-Prod"]
    missing = run("HV-SRV03", "Get-VMSwitch", ("Name", "vSwitch-Backup"))
    assert missing.output == []
    assert missing.errors[0].message == (
        'Hyper-V was unable to find a virtual switch with name "vSwitch-Backup".'
    )
    sw = one(run("HV-SRV03", "Get-VMSwitch", ("Name", "vswitch-prod")).output)
    assert enum_name(sw.properties["SwitchType"]) == "External"


def test_supported_versions(run: Runner) -> None:
    versions = [
        o.properties["Version"] for o in run("HV-SRV03", "Get-VMHostSupportedVersion").objects
    ]
    assert versions == ["8.0", "9.0"]
    default = one(run("HV-SRV01", "Get-VMHostSupportedVersion", ("Default", None)).output)
    assert default.properties["Version"] == "10.0" and default.properties["IsDefault"] is True
