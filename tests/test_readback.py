"""A setting change is in force only when the host reports the value asked for."""

from __future__ import annotations

from typing import Any

import pytest

from commands.hyperv import HostSettings, MigrationNetwork, VmInfo
from commands.inventory import Host
from commands.readback import SettingChange, asked, in_force, observed, setting
from commands.requests import (
    AuthType,
    HostNetworkAddRequest,
    HostNetworkRemoveRequest,
    HostSetRequest,
    HostSetting,
    HostToggleRequest,
    PerformanceOption,
    VmCompatibilityRequest,
)

HOST = Host("HV-SRV02", "hv-srv02.lab.local")
SETTINGS = HostSettings(
    host="HV-SRV02",
    migration_enabled=True,
    max_vm_migrations=2,
    max_storage_migrations=2,
    authentication="CredSSP",
    performance="Compression",
    use_any_network=False,
    networks=(MigrationNetwork("10.10.10.0/24", 1),),
)
VM = VmInfo("id", "SRV-TEST01", "HV-SRV01", "Off", 1, False, "10.0", "D:\\VMs")

CASES: list[tuple[SettingChange, str, Any, bool]] = [
    (HostToggleRequest(HOST, False), "VirtualMachineMigrationEnabled", True, False),
    (HostToggleRequest(HOST, True), "VirtualMachineMigrationEnabled", True, True),
    (
        HostSetRequest(HOST, HostSetting.MAX_MIGRATIONS, 3),
        "MaximumVirtualMachineMigrations",
        2,
        False,
    ),
    (
        HostSetRequest(HOST, HostSetting.MAX_STORAGE_MIGRATIONS, 2),
        "MaximumStorageMigrations",
        2,
        True,
    ),
    (
        HostSetRequest(HOST, HostSetting.AUTH, AuthType.KERBEROS),
        "VirtualMachineMigrationAuthenticationType",
        "CredSSP",
        False,
    ),
    (
        HostSetRequest(HOST, HostSetting.PERFORMANCE, PerformanceOption.COMPRESSION),
        "VirtualMachineMigrationPerformanceOption",
        "Compression",
        True,
    ),
    (
        HostSetRequest(HOST, HostSetting.ANY_NETWORK, False),
        "UseAnyNetworkForMigration",
        False,
        True,
    ),
    (
        HostNetworkAddRequest(HOST, "10.10.10.0/24", 1),
        "VMMigrationNetwork 10.10.10.0/24",
        {"subnet": "10.10.10.0/24", "priority": 1},
        True,
    ),
    (
        HostNetworkAddRequest(HOST, "10.10.10.0/24", 5),
        "VMMigrationNetwork 10.10.10.0/24",
        {"subnet": "10.10.10.0/24", "priority": 1},
        False,
    ),
    (HostNetworkAddRequest(HOST, "10.20.0.0/16"), "VMMigrationNetwork 10.20.0.0/16", None, False),
    (HostNetworkRemoveRequest(HOST, "10.20.0.0/16"), "VMMigrationNetwork 10.20.0.0/16", None, True),
    (
        HostNetworkRemoveRequest(HOST, "10.10.10.0/24"),
        "VMMigrationNetwork 10.10.10.0/24",
        {"subnet": "10.10.10.0/24", "priority": 1},
        False,
    ),
    (
        VmCompatibilityRequest("SRV-TEST01", True),
        "SRV-TEST01 CompatibilityForMigrationEnabled",
        False,
        False,
    ),
]


@pytest.mark.parametrize(("request_", "name", "value", "done"), CASES, ids=lambda c: str(c)[:40])
def test_the_value_read_back_decides(
    request_: SettingChange, name: str, value: Any, done: bool
) -> None:
    assert setting(request_) == name
    assert observed(request_, SETTINGS, VM) == value
    assert in_force(request_, value) is done


def test_a_number_is_not_taken_for_a_flag() -> None:
    change = HostSetRequest(HOST, HostSetting.MAX_MIGRATIONS, 1)
    assert asked(change) == 1
    assert not in_force(change, True)


def test_auth_and_performance_compare_as_windows_spells_them() -> None:
    change = HostSetRequest(HOST, HostSetting.AUTH, AuthType.KERBEROS)
    assert asked(change) == "Kerberos"
    assert in_force(change, "kerberos")
