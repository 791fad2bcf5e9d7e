"""Host-wide cmdlets: VMHost settings, migration networks, switches, supported versions."""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Callable

from lab.world import objects
from lab.world.binding import CmdletSpec, Kind, Param
from lab.world.cmdlet import Cmdlet, Invocation, has_wildcards, hyperv_fqid
from lab.world.model import AuthType, MigrationNetwork, Performance

COMPUTER = Param("ComputerName", Kind.STRINGS)
CREDENTIAL = Param("Credential", Kind.OBJECT)
PASSTHRU = Param("Passthru", Kind.SWITCH)


def _spec(name: str, *params: Param, should_process: bool = False) -> CmdletSpec:
    return CmdletSpec(
        name=name,
        fqid_suffix=hyperv_fqid(name.replace("-", "")),
        params=(COMPUTER, CREDENTIAL, *params),
        should_process=should_process,
    )


def get_vm_host(inv: Invocation) -> None:
    """Get-VMHost."""
    with inv.world.lock:
        inv.output(objects.vm_host(inv.host))


def set_vm_host(inv: Invocation) -> None:
    """Set-VMHost: the migration settings of architecture §5 (and the default paths)."""
    if inv.bound.what_if:
        return
    b = inv.bound
    host = inv.host
    with inv.world.lock:
        if (n := b.integer("MaximumVirtualMachineMigrations")) is not None:
            host.max_vm_migrations = n
        if (n := b.integer("MaximumStorageMigrations")) is not None:
            host.max_storage_migrations = n
        if (auth := b.member("VirtualMachineMigrationAuthenticationType")) is not None:
            host.auth_type = AuthType[auth]
        if (perf := b.member("VirtualMachineMigrationPerformanceOption")) is not None:
            host.performance = Performance[perf]
        if isinstance(flag := b.get("UseAnyNetworkForMigration"), bool):
            host.use_any_network = flag
        if (path := b.text("VirtualMachinePath")) is not None:
            host.virtual_machine_path = path
        if (path := b.text("VirtualHardDiskPath")) is not None:
            host.virtual_hard_disk_path = path
        result = objects.vm_host(host)
    if b.flag("Passthru"):
        inv.output(result)


def _set_migration(enabled: bool) -> Callable[[Invocation], None]:
    def handler(inv: Invocation) -> None:
        if inv.bound.what_if:
            return
        with inv.world.lock:
            inv.host.migration_enabled = enabled
            result = objects.vm_host(inv.host)
        if inv.bound.flag("Passthru"):
            inv.output(result)

    return handler


def _network_error(inv: Invocation, message: str, subnet: str) -> None:
    inv.error(
        inv.hyperv_error(
            message, reason="InvalidParameter", category="InvalidArgument", target=subnet
        )
    )


def get_migration_network(inv: Invocation) -> None:
    """Get-VMMigrationNetwork [[-Subnet] <String>] (wildcards), by priority."""
    pattern = (inv.bound.text("Subnet") or "*").lower()
    with inv.world.lock:
        found = [
            objects.migration_network(inv.host, n)
            for n in sorted(inv.host.networks, key=lambda n: n.priority)
            if fnmatch.fnmatchcase(n.subnet.lower(), pattern)
        ]
    for obj in found:
        inv.output(obj)


def add_migration_network(inv: Invocation) -> None:
    """Add-VMMigrationNetwork [-Subnet] <String> [[-Priority] <UInt32>]."""
    subnet = inv.bound.text("Subnet") or ""
    try:
        canonical = str(ipaddress.ip_network(subnet, strict=False))
    except ValueError:
        _network_error(inv, f"The subnet '{subnet}' is not a valid IP subnet.", subnet)
        return
    priority = inv.bound.integer("Priority")
    with inv.world.lock:
        if any(n.subnet == canonical for n in inv.host.networks):
            _network_error(inv, f"The migration network '{canonical}' already exists.", subnet)
            return
        if priority is None:
            priority = max((n.priority for n in inv.host.networks), default=0) + 1
        network = MigrationNetwork(canonical, priority)
        if not inv.bound.what_if:
            inv.host.networks.append(network)
        result = objects.migration_network(inv.host, network)
    if inv.bound.flag("Passthru"):
        inv.output(result)


def remove_migration_network(inv: Invocation) -> None:
    """Remove-VMMigrationNetwork [-Subnet] <String> (wildcards)."""
    pattern = inv.bound.text("Subnet") or ""
    with inv.world.lock:
        doomed = [
            n for n in inv.host.networks if fnmatch.fnmatchcase(n.subnet.lower(), pattern.lower())
        ]
        if not inv.bound.what_if:
            inv.host.networks = [n for n in inv.host.networks if n not in doomed]
    if not doomed and not has_wildcards(pattern):
        _network_error(inv, f"No migration network was found for subnet '{pattern}'.", pattern)


def get_switch(inv: Invocation) -> None:
    """Get-VMSwitch [[-Name] <String[]>] [-SwitchType]."""
    names = inv.bound.texts("Name") or ["*"]
    kind = inv.bound.member("SwitchType")
    with inv.world.lock:
        switches = list(inv.host.switches)
    for name in names:
        hits = [s for s in switches if fnmatch.fnmatchcase(s.name.lower(), name.lower())]
        if kind is not None:
            hits = [s for s in hits if s.switch_type.name == kind]
        if not hits and not has_wildcards(name):
            inv.error(
                inv.hyperv_error(
                    f'Hyper-V was unable to find a virtual switch with name "{name}".',
                    reason="InvalidParameter",
                    category="InvalidArgument",
                    target=name,
                )
            )
        for sw in sorted(hits, key=lambda s: s.name.lower()):
            inv.output(objects.switch(inv.host, sw))


def get_supported_version(inv: Invocation) -> None:
    """Get-VMHostSupportedVersion [-Default]."""
    with inv.world.lock:
        versions = list(inv.host.supported_versions)
    for version in versions:
        if not inv.bound.flag("Default") or version == inv.host.default_version:
            inv.output(objects.supported_version(inv.host, version))


COMMANDS = (
    Cmdlet(_spec("Get-VMHost"), get_vm_host),
    Cmdlet(
        _spec(
            "Set-VMHost",
            Param("MaximumVirtualMachineMigrations", Kind.UINT, minimum=1),
            Param("MaximumStorageMigrations", Kind.UINT, minimum=1),
            Param(
                "VirtualMachineMigrationAuthenticationType", Kind.ENUM, enum_type=objects.AUTH_TYPE
            ),
            Param(
                "VirtualMachineMigrationPerformanceOption", Kind.ENUM, enum_type=objects.PERFORMANCE
            ),
            Param("UseAnyNetworkForMigration", Kind.BOOL),
            Param("VirtualMachinePath", Kind.STRING),
            Param("VirtualHardDiskPath", Kind.STRING),
            Param("NumaSpanningEnabled", Kind.BOOL),
            Param("EnableEnhancedSessionMode", Kind.BOOL),
            PASSTHRU,
            should_process=True,
        ),
        set_vm_host,
    ),
    Cmdlet(_spec("Enable-VMMigration", PASSTHRU, should_process=True), _set_migration(True)),
    Cmdlet(_spec("Disable-VMMigration", PASSTHRU, should_process=True), _set_migration(False)),
    Cmdlet(
        _spec("Get-VMMigrationNetwork", Param("Subnet", Kind.STRING, position=0)),
        get_migration_network,
    ),
    Cmdlet(
        _spec(
            "Add-VMMigrationNetwork",
            Param("Subnet", Kind.STRING, mandatory=("__AllParameterSets",), position=0),
            Param("Priority", Kind.UINT, position=1),
            PASSTHRU,
            should_process=True,
        ),
        add_migration_network,
    ),
    Cmdlet(
        _spec(
            "Remove-VMMigrationNetwork",
            Param("Subnet", Kind.STRING, mandatory=("__AllParameterSets",), position=0),
            should_process=True,
        ),
        remove_migration_network,
    ),
    Cmdlet(
        _spec(
            "Get-VMSwitch",
            Param("Name", Kind.STRINGS, position=0, aliases=("SwitchName",)),
            Param("SwitchType", Kind.ENUM, enum_type=objects.SWITCH_TYPE),
        ),
        get_switch,
    ),
    Cmdlet(
        _spec("Get-VMHostSupportedVersion", Param("Default", Kind.SWITCH)), get_supported_version
    ),
)
