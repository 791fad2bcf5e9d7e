"""Can this VM move there? The checks Compare-VM reports and Move-VM fails on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lab.pipeline import LabObject
from lab.world import objects, winpath
from lab.world.faults import FaultKind
from lab.world.model import GIB, AuthType, Host, VirtualMachine, VMState

if TYPE_CHECKING:
    from lab.world.world import World

EVENT_FAILED = 21502
EVENT_CONFIG_FAILED = 21125
EVENT_NO_CREDENTIALS = 20306
E_NO_CREDENTIALS = 0x8009030E
E_CREDENTIALS_NOT_RECOGNIZED = 0x8009030D
E_TIMED_OUT = 0x8007274C
E_REFUSED = 0x8007274D
E_NO_SUCH_HOST = 0x80072AF9
E_OUT_OF_MEMORY = 0x8007000E
E_PATH_NOT_FOUND = 0x80070003
E_FILE_NOT_FOUND = 0x80070002
E_DISK_FULL = 0x80070070
E_CANCELLED = 0x800704C7
# Compare-VM message ids: 33012 is documented; the others are guesses.
MSG_SWITCH = 33012
MSG_CPU = 24004
MSG_VERSION = 24016
MSG_MEMORY = 3050
MSG_ISO = 40010
MSG_STORAGE = 40012


def hex_code(code: int) -> str:
    """`0x8009030E` as Windows prints HRESULTs."""
    return f"0x{code:08X}"


@dataclass(frozen=True)
class Problem:
    """One reason a move cannot work: message, Compare-VM id, source object, event, HRESULT."""

    message: str
    message_id: int
    source: LabObject | None
    event_id: int = EVENT_FAILED
    hresult: int | None = None
    at_destination: bool = False


@dataclass
class StorageTargets:
    """Where a move puts the VM's files: new config folder, and new path of each moved disk."""

    config: str | None
    disks: dict[str, str] = field(default_factory=dict)

    def new_path(self, old: str) -> str | None:
        """The new path of disk `old`, or None if it stays."""
        return self.disks.get(winpath.normalize(old))


def single_destination(vm: VirtualMachine, folder: str | None) -> StorageTargets:
    """-IncludeStorage [-DestinationStoragePath]: everything into one folder, or same paths."""
    if folder is None:
        # Disks already on a share stay where they are; local ones keep their paths.
        local = [d for d in vm.disks if not winpath.is_unc(d.path)]
        return StorageTargets(vm.path, {winpath.normalize(d.path): d.path for d in local})
    return StorageTargets(
        folder,
        {
            winpath.normalize(d.path): winpath.join(folder, winpath.basename(d.path))
            for d in vm.disks
        },
    )


def multiple_destinations(
    vm: VirtualMachine, config: str | None, vhds: list[Mapping[str, object]]
) -> StorageTargets | str:
    """-VirtualMachinePath/-Vhds: the targets, or an error message for a bad -Vhds entry."""
    targets = StorageTargets(config)
    attached = {winpath.normalize(d.path) for d in vm.disks}
    for entry in vhds:
        keys = {str(k).lower(): v for k, v in entry.items()}
        src, dst = keys.get("sourcefilepath"), keys.get("destinationfilepath")
        if not isinstance(src, str) or not isinstance(dst, str):
            return (
                "Each hashtable of the Vhds parameter needs the keys SourceFilePath and "
                "DestinationFilePath."
            )
        if winpath.normalize(src) not in attached:
            return f"The virtual hard disk '{src}' is not attached to virtual machine '{vm.name}'."
        if winpath.basename(src).lower() != winpath.basename(dst).lower():
            return (
                f"The virtual hard disk name must be identical in SourceFilePath '{src}' and "
                f"DestinationFilePath '{dst}'."
            )
        targets.disks[winpath.normalize(src)] = dst
    return targets


def connection_problems(
    world: World,
    source: Host,
    destination: Host | None,
    name: str,
    vm: VirtualMachine,
    *,
    storage: bool,
) -> list[Problem]:
    """Reaching and authenticating to the destination's migration service (`name`, as
    Move-VM was given it; `storage`: the move takes storage too)."""

    def fail(text: str, code: int, event: int = EVENT_FAILED) -> list[Problem]:
        return [
            Problem(
                "The Virtual Machine Management Service failed to establish a connection for a "
                f"Virtual Machine migration with host '{name}': {text} ({hex_code(code)}).",
                0,
                None,
                event,
                code,
            )
        ]

    if destination is None:
        return fail("No such host is known.", E_NO_SUCH_HOST)
    if not world.is_reachable(destination.name):
        return fail(
            "A connection attempt failed because the connected party did not properly "
            "respond after a period of time, or established connection failed because "
            "connected host has failed to respond.",
            E_TIMED_OUT,
        )
    if world.fault(FaultKind.LISTENER_DOWN, destination.name, vm.name):
        return fail(
            "No connection could be made because the target machine actively refused it.", E_REFUSED
        )
    if not source.migration_enabled or not destination.migration_enabled:
        off = source if not source.migration_enabled else destination
        return [
            Problem(
                f"Virtual machine migration is not enabled on host '{off.name}'. Use "
                "Enable-VMMigration to allow incoming and outgoing live migrations.",
                0,
                None,
                EVENT_FAILED,
                None,
                off is destination,
            )
        ]
    if not _network_path(source, destination):
        return fail(
            "no migration network is accepted by both hosts (see Get-VMMigrationNetwork and "
            "UseAnyNetworkForMigration): No connection could be made because the target "
            "machine actively refused it",
            E_REFUSED,
        )
    if world.delegation is not None:
        delegated = world.delegation.allows(source.name, name, storage)
    else:
        delegated = destination.name.lower() in {p.lower() for p in source.delegation_to}
    missing = world.fault(
        FaultKind.KERBEROS_DELEGATION_MISSING, source.name, vm.name
    ) or world.fault(FaultKind.KERBEROS_DELEGATION_MISSING, destination.name, vm.name)
    if source.auth_type is AuthType.CredSSP or not delegated or missing:
        return fail(
            "No credentials are available in the security package",
            E_NO_CREDENTIALS,
            EVENT_NO_CREDENTIALS,
        )
    if destination.auth_type is not source.auth_type:
        return fail(
            "The credentials supplied to the package were not recognized",
            E_CREDENTIALS_NOT_RECOGNIZED,
        )
    return []


def _network_path(source: Host, destination: Host) -> bool:
    """True if the hosts' migration network settings leave a network both accept."""
    if not (source.use_any_network or source.networks):
        return False
    if not (destination.use_any_network or destination.networks):
        return False
    if source.use_any_network or destination.use_any_network:
        return True
    return bool({n.subnet for n in source.networks} & {n.subnet for n in destination.networks})


def compatibility_problems(
    world: World,
    source: Host,
    destination: Host,
    vm: VirtualMachine,
    targets: StorageTargets | None,
) -> list[Problem]:
    """Everything Compare-VM reports for moving `vm` to `destination`."""
    problems: list[Problem] = []
    vm_obj = objects.vm(source, vm)
    if vm.version not in destination.supported_versions or world.fault(
        FaultKind.VERSION_UNSUPPORTED, destination.name, vm.name
    ):
        problems.append(
            Problem(
                f"The virtual machine '{vm.name}' cannot be moved because its configuration "
                f"version {vm.version} is not supported by the destination host "
                f"'{destination.name}' "
                f"(supported: {', '.join(destination.supported_versions)}).",
                MSG_VERSION,
                vm_obj,
                EVENT_CONFIG_FAILED,
                None,
                True,
            )
        )
    problems += _cpu(world, source, destination, vm, vm_obj)
    for nic in vm.adapters:
        fault = world.fault(FaultKind.SWITCH_MISSING, destination.name, vm.name)
        faulted = fault is not None and fault.name.lower() in ("", nic.switch_name.lower())
        if nic.switch_name and (destination.switch(nic.switch_name) is None or faulted):
            problems.append(
                Problem(
                    f"Could not find Ethernet switch '{nic.switch_name}'.",
                    MSG_SWITCH,
                    objects.network_adapter(source, vm, nic),
                )
            )
    needed = vm.memory_assigned
    if needed and (
        needed > destination.memory_free - world.incoming_memory(destination)
        or world.fault(FaultKind.NOT_ENOUGH_MEMORY, destination.name, vm.name)
    ):
        problems.append(
            Problem(
                "Not enough memory in the system to start the virtual machine "
                f"'{vm.name}' with ram size {needed // 1024**2} megabytes: Ran out of memory "
                f"({hex_code(E_OUT_OF_MEMORY)}).",
                MSG_MEMORY,
                vm_obj,
                EVENT_FAILED,
                E_OUT_OF_MEMORY,
                True,
            )
        )
    for dvd in vm.dvds:
        fault = world.fault(FaultKind.ISO_LOCAL, destination.name, vm.name)
        local = dvd.path and not winpath.is_unc(dvd.path)
        if local and (not destination.has_file(dvd.path) or fault is not None):
            problems.append(
                Problem(
                    f"The virtual DVD drive of '{vm.name}' uses '{dvd.path}', which the "
                    "destination host cannot open: The system cannot find the file specified "
                    f"({hex_code(E_FILE_NOT_FOUND)}). Eject the media or use a shared path.",
                    MSG_ISO,
                    objects.dvd_drive(source, vm, dvd),
                    EVENT_FAILED,
                    E_FILE_NOT_FOUND,
                )
            )
    problems += storage_problems(world, destination, vm, targets, source is destination)
    return problems


def _cpu(
    world: World, source: Host, destination: Host, vm: VirtualMachine, vm_obj: LabObject
) -> list[Problem]:
    if vm.state is VMState.Off:
        return []
    other_vendor = source.cpu_vendor.lower() != destination.cpu_vendor.lower()
    older = (
        destination.cpu_feature_level < source.cpu_feature_level
        or world.fault(FaultKind.CPU_INCOMPATIBLE, destination.name, vm.name) is not None
    )
    if not other_vendor and (vm.compatibility_for_migration or not older):
        return []
    return [
        Problem(
            "The virtual machine cannot be moved to the destination computer. The hardware on the "
            "destination computer is not compatible with the hardware requirements of this virtual "
            f"machine. The virtual machine '{vm.name}' is using processor-specific features not "
            f"supported on physical computer '{destination.name}'.",
            MSG_CPU,
            vm_obj,
        )
    ]


def storage_problems(
    world: World,
    destination: Host,
    vm: VirtualMachine,
    targets: StorageTargets | None,
    same_host: bool,
) -> list[Problem]:
    """Destination folders exist, disks fit, disks that stay behind are reachable."""
    problems: list[Problem] = []
    fault = world.fault(FaultKind.DESTINATION_PATH_MISSING, destination.name, vm.name)
    folders = ([targets.config] if targets and targets.config else []) + [
        winpath.parent(p) for p in (targets.disks.values() if targets else [])
    ]
    for folder in dict.fromkeys(folders):
        faulted = fault is not None and winpath.normalize(folder).startswith(
            winpath.normalize(fault.name or folder)
        )
        # VMMS creates missing folders itself; what it cannot do is reach a missing volume.
        reachable = winpath.is_unc(folder) or winpath.drive(folder) in destination.volumes
        if not reachable or faulted:
            problems.append(
                Problem(
                    f"The destination folder '{folder}' is not reachable on host "
                    f"'{destination.name}': "
                    f"The system cannot find the path specified ({hex_code(E_PATH_NOT_FOUND)}).",
                    MSG_STORAGE,
                    None,
                    EVENT_FAILED,
                    E_PATH_NOT_FOUND,
                    True,
                )
            )
    needed: dict[str, int] = {}
    for disk in vm.disks:
        new = targets.new_path(disk.path) if targets else None
        if new is None:
            if (
                not same_host
                and not winpath.is_unc(disk.path)
                and not destination.has_file(disk.path)
            ):
                problems.append(
                    Problem(
                        f"The virtual hard disk '{disk.path}' is not accessible from host "
                        f"'{destination.name}': The system cannot find the file specified "
                        f"({hex_code(E_FILE_NOT_FOUND)}). Move the storage too (IncludeStorage).",
                        MSG_STORAGE,
                        None,
                        EVENT_FAILED,
                        E_FILE_NOT_FOUND,
                        True,
                    )
                )
            continue
        if same_host and winpath.drive(new) == winpath.drive(disk.path):
            continue
        letter = winpath.drive(new)
        needed[letter] = needed.get(letter, 0) + disk.size
    for letter, size in needed.items():
        volume = destination.volumes.get(letter)
        short = world.fault(FaultKind.NOT_ENOUGH_DISK, destination.name, vm.name)
        if volume is not None and (size > volume.free or short):
            problems.append(
                Problem(
                    f"There is not enough space on the disk {letter}: of host '{destination.name}' "
                    f"to copy {size / GIB:.1f} GB of virtual hard disks "
                    f"({hex_code(E_DISK_FULL)}).",
                    MSG_STORAGE,
                    None,
                    EVENT_FAILED,
                    E_DISK_FULL,
                    True,
                )
            )
    return problems
