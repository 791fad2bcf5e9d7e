"""Plans: a typed request turned into the exact cmdlet invocation(s) that will run, and where.

A plan is what approvers read and what the WinRM adapter sends, so it is built once, from
data, and never from text. Moves need the VM as read from its host (`VmInfo`): its source
host, and its disks when the configuration and the disks go to different places.

Move-VM has two parameter sets that do not mix (architecture §5): `-IncludeStorage
-DestinationStoragePath`, or `-VirtualMachinePath [-Vhds]`. "Configuration here, disks
there" therefore becomes `-VirtualMachinePath` plus one `-Vhds` entry per disk of the VM,
never the seed's `-VirtualMachinePath ... -DestinationStoragePath ... -IncludeStorage`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from commands.errors import Refusal
from commands.findings import FindingCode
from commands.hyperv import VmInfo
from commands.inventory import Host
from commands.invocation import Hashtable, Invocation, Parameter
from commands.requests import (
    HostChange,
    HostNetworkAddRequest,
    HostSetRequest,
    HostSetting,
    HostToggleRequest,
    Move,
    StorageRequest,
    VhdMove,
    VmCompatibilityRequest,
)


class PlanError(Refusal):
    """The request cannot become a valid invocation; the message is safe to show.

    `code` names the reason for the audit log and tests; `fix` says what would work.
    """

    def __init__(
        self, message: str, *, code: FindingCode = FindingCode.PLAN, fix: str = ""
    ) -> None:
        super().__init__(message, fix)
        self.code = code


class PlanKind(StrEnum):
    """What a plan does, in the words of the seed."""

    LIVE = "live"
    SHARED_NOTHING = "shared_nothing"
    SPLIT_STORAGE = "split_storage"
    STORAGE_ONLY = "storage_only"
    HOST_SETTING = "host_setting"
    VM_SETTING = "vm_setting"


PLAN_TITLES: dict[PlanKind, str] = {
    PlanKind.LIVE: "Live migration (storage stays where it is)",
    PlanKind.SHARED_NOTHING: "Shared-nothing migration (memory and storage move)",
    PlanKind.SPLIT_STORAGE: "Shared-nothing migration, configuration and disks to different paths",
    PlanKind.STORAGE_ONLY: "Storage migration on the same host",
    PlanKind.HOST_SETTING: "Host migration setting change",
    PlanKind.VM_SETTING: "VM setting change",
}


@dataclass(frozen=True)
class Plan:
    """The invocation(s) to run on `host`, in order."""

    kind: PlanKind
    host: Host
    invocations: tuple[Invocation, ...]

    @property
    def title(self) -> str:
        """A one-line description for people."""
        return PLAN_TITLES[self.kind]

    def render(self) -> str:
        """Readable PowerShell, one line per invocation, as it will run on `host`."""
        return "\n".join(i.render() for i in self.invocations)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form for the audit log and `--json` output."""
        return {
            "kind": self.kind.value,
            "host": self.host.name,
            "invocations": [i.to_json() for i in self.invocations],
        }


def move_kind(move: Move) -> PlanKind:
    """Which form of Move-VM a move needs (`storage-path` alone implies include-storage)."""
    if move.vm_path is not None:
        return PlanKind.SPLIT_STORAGE
    if move.include_storage or move.storage_path is not None:
        return PlanKind.SHARED_NOTHING
    return PlanKind.LIVE


def plan_move(move: Move, vm: VmInfo, source: Host) -> Plan:
    """The Move-VM for `move` of `vm`, to run on `source` (the host that runs the VM now)."""
    if source.name.casefold() == move.destination.name.casefold():
        raise PlanError(f"{move.vm} already runs on {source.name}.")
    kind = move_kind(move)
    params = [Parameter("Name", move.vm), Parameter("DestinationHost", move.destination.fqdn)]
    if kind is PlanKind.SHARED_NOTHING:
        # Without a path every file keeps its own path on the destination.
        params.append(Parameter("IncludeStorage"))
        if move.storage_path is not None:
            params.append(Parameter("DestinationStoragePath", move.storage_path))
    elif kind is PlanKind.SPLIT_STORAGE:
        assert move.vm_path is not None
        params.append(Parameter("VirtualMachinePath", move.vm_path))
        if move.storage_path is not None or move.include_storage:
            disk_folder = move.storage_path or move.vm_path
            params.append(Parameter("Vhds", _disk_entries(vm, disk_folder)))
    return Plan(kind, source, (Invocation("Move-VM", tuple(params)),))


def plan_storage(request: StorageRequest, vm: VmInfo, host: Host) -> Plan:
    """The Move-VMStorage for `request`, whole VM or per disk, on `host` (the VM's host)."""
    params = [Parameter("VMName", request.vm)]
    if request.vhds:
        known = {d.path.casefold() for d in vm.disks}
        unknown = [v.source for v in request.vhds if v.source.casefold() not in known]
        if unknown:
            raise PlanError(f"{request.vm} has no disk {', '.join(unknown)}.")
        _refuse_collisions(request.vhds)
        if request.vm_path is not None:
            params.append(Parameter("VirtualMachinePath", request.vm_path))
        params.append(Parameter("Vhds", _vhd_tables(request.vhds)))
    elif request.vm_path is not None:
        params.append(Parameter("VirtualMachinePath", request.vm_path))
        if request.storage_path is not None:
            params.append(Parameter("Vhds", _disk_entries(vm, request.storage_path)))
    elif request.storage_path is not None:
        params.append(Parameter("DestinationStoragePath", request.storage_path))
    else:
        raise PlanError("A storage move needs a destination path or vhd moves.")
    return Plan(PlanKind.STORAGE_ONLY, host, (Invocation("Move-VMStorage", tuple(params)),))


def compare_invocation(move_vm: Invocation) -> Invocation:
    """Compare-VM with the same parameters as a Move-VM (same parameter sets)."""
    if move_vm.cmdlet != "Move-VM":
        raise PlanError(f"Compare-VM checks a Move-VM, not {move_vm.cmdlet}.")
    return Invocation("Compare-VM", move_vm.parameters)


SET_VMHOST_PARAMETER: dict[HostSetting, str] = {
    # Set-VMHost's parameter for each setting; Get-VMHost reports it under the same name.
    HostSetting.MAX_MIGRATIONS: "MaximumVirtualMachineMigrations",
    HostSetting.MAX_STORAGE_MIGRATIONS: "MaximumStorageMigrations",
    HostSetting.AUTH: "VirtualMachineMigrationAuthenticationType",
    HostSetting.PERFORMANCE: "VirtualMachineMigrationPerformanceOption",
    HostSetting.ANY_NETWORK: "UseAnyNetworkForMigration",
}


def plan_host_change(
    request: HostChange,
) -> Plan:
    """The host-setting change of the seed, run on the host itself."""
    if isinstance(request, HostToggleRequest):
        cmdlet = "Enable-VMMigration" if request.enabled else "Disable-VMMigration"
        invocation = Invocation(cmdlet)
    elif isinstance(request, HostSetRequest):
        value = request.value
        # StrEnum values go over the wire as their text; PowerShell binds them to the enum.
        wire: str | int | bool = value if isinstance(value, bool | int) else str(value)
        invocation = Invocation(
            "Set-VMHost", (Parameter(SET_VMHOST_PARAMETER[request.setting], wire),)
        )
    elif isinstance(request, HostNetworkAddRequest):
        params = [Parameter("Subnet", request.subnet)]
        if request.priority is not None:
            params.append(Parameter("Priority", request.priority))
        invocation = Invocation("Add-VMMigrationNetwork", tuple(params))
    else:
        invocation = Invocation("Remove-VMMigrationNetwork", (Parameter("Subnet", request.subnet),))
    return Plan(PlanKind.HOST_SETTING, request.host, (invocation,))


def plan_vm_compatibility(request: VmCompatibilityRequest, vm: VmInfo, host: Host) -> Plan:
    """Set-VMProcessor -CompatibilityForMigrationEnabled, on the VM's host; the VM must be off."""
    if vm.state.casefold() != "off":
        raise PlanError(
            f"{request.vm} is {vm.state}: processor compatibility can only change "
            "while the VM is turned off.",
            code=FindingCode.VM_STATE,
            fix="Shut the VM down first.",
        )
    invocation = Invocation(
        "Set-VMProcessor",
        (
            Parameter("VMName", request.vm),
            Parameter("CompatibilityForMigrationEnabled", request.enabled),
        ),
    )
    return Plan(PlanKind.VM_SETTING, host, (invocation,))


def file_name(path: str) -> str:
    """The last component of a Windows path."""
    return path.rstrip("\\/").replace("/", "\\").rsplit("\\", 1)[-1]


def join_path(folder: str, name: str) -> str:
    """`folder\\name` for a Windows folder with or without a trailing backslash."""
    return folder.rstrip("\\/") + "\\" + name


def _disk_entries(vm: VmInfo, folder: str) -> tuple[Hashtable, ...]:
    """One -Vhds entry per disk of `vm`, each to `folder` under its own file name."""
    if not vm.disks:
        raise PlanError(
            f"{vm.name} has no virtual hard disk to place in {folder}; use vm-path alone."
        )
    moves = [VhdMove(d.path, join_path(folder, file_name(d.path))) for d in vm.disks]
    _refuse_collisions(moves)
    return _vhd_tables(moves)


def _refuse_collisions(moves: Iterable[VhdMove]) -> None:
    seen: dict[str, str] = {}
    for move in moves:
        key = move.destination.casefold()
        if key in seen:
            raise PlanError(
                f"Disks {seen[key]} and {move.source} would both become {move.destination}; "
                "move them one by one with vhd <src> to <dst>."
            )
        seen[key] = move.source


def _vhd_tables(moves: Iterable[VhdMove]) -> tuple[Hashtable, ...]:
    return tuple({"SourceFilePath": m.source, "DestinationFilePath": m.destination} for m in moves)
