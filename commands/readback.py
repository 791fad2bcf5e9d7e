"""Whether a setting change is in force: the value the host reports, read back after the
change, against the value asked for. A change is done when the host says so, not when the
cmdlet returns (a host may accept a value and keep another, or a later change may win).

Pure: the workflow reads the host before and after the change and asks these functions what
to record (`setting`, `asked`, `observed`) and whether the request succeeded (`in_force`).
"""

from __future__ import annotations

from typing import Any

from commands.hyperv import HostSettings, VmInfo
from commands.plans import SET_VMHOST_PARAMETER
from commands.requests import (
    HostChange,
    HostNetworkAddRequest,
    HostNetworkRemoveRequest,
    HostSetRequest,
    HostSetting,
    HostToggleRequest,
    VmCompatibilityRequest,
)

SettingChange = HostChange | VmCompatibilityRequest
_TEXT_SETTINGS = frozenset({HostSetting.AUTH, HostSetting.PERFORMANCE})


def setting(request: SettingChange) -> str:
    """The setting's name as Windows reports it (Get-VMHost, Get-VMMigrationNetwork,
    Get-VMProcessor)."""
    if isinstance(request, HostToggleRequest):
        return "VirtualMachineMigrationEnabled"
    if isinstance(request, HostSetRequest):
        return SET_VMHOST_PARAMETER[request.setting]
    if isinstance(request, VmCompatibilityRequest):
        return f"{request.vm} CompatibilityForMigrationEnabled"
    return f"VMMigrationNetwork {request.subnet}"


def asked(request: SettingChange) -> Any:
    """The value asked for, as `observed` would show it once in force (a network: present
    with its priority, or absent: None)."""
    if isinstance(request, HostToggleRequest | VmCompatibilityRequest):
        return request.enabled
    if isinstance(request, HostSetRequest):
        value = request.value
        return value if isinstance(value, bool | int) else str(value)
    if isinstance(request, HostNetworkAddRequest):
        return {"subnet": request.subnet, "priority": request.priority}
    return None


def observed(request: SettingChange, host: HostSettings | None, vm: VmInfo | None) -> Any:
    """The setting's value in a reading of the host (`host`) or of the VM (`vm`)."""
    if isinstance(request, VmCompatibilityRequest):
        if vm is None:
            raise ValueError("a processor compatibility change needs the VM's reading")
        return vm.processor_compatibility
    if host is None:
        raise ValueError("a host setting change needs the host's reading")
    if isinstance(request, HostToggleRequest):
        return host.migration_enabled
    if isinstance(request, HostSetRequest):
        return {
            HostSetting.MAX_MIGRATIONS: host.max_vm_migrations,
            HostSetting.MAX_STORAGE_MIGRATIONS: host.max_storage_migrations,
            HostSetting.AUTH: host.authentication,
            HostSetting.PERFORMANCE: host.performance,
            HostSetting.ANY_NETWORK: host.use_any_network,
        }[request.setting]
    wanted = request.subnet.casefold()
    return next(
        (
            {"subnet": n.subnet, "priority": n.priority}
            for n in host.networks
            if n.subnet.casefold() == wanted
        ),
        None,
    )


def in_force(request: SettingChange, value: Any) -> bool:
    """Whether `value` (from `observed`) is the one asked for."""
    if isinstance(request, HostSetRequest) and request.setting in _TEXT_SETTINGS:
        return str(value).casefold() == str(request.value).casefold()
    if isinstance(request, HostNetworkAddRequest):
        return value is not None and request.priority in (None, value["priority"])
    if isinstance(request, HostNetworkRemoveRequest):
        return value is None
    wanted = asked(request)
    return type(value) is type(wanted) and value == wanted
