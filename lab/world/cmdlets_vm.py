"""Cmdlets about one VM and its devices: Get-VM, Get-VMNetworkAdapter, ..., Get-VHD."""

from __future__ import annotations

from collections.abc import Callable

from lab.pipeline import LabObject
from lab.world import objects, winpath
from lab.world.binding import CmdletSpec, Kind, Param, set_key
from lab.world.cmdlet import Cmdlet, Invocation, hyperv_fqid, vm_param
from lab.world.model import Host, VirtualMachine, VMState

COMPUTER = Param("ComputerName", Kind.STRINGS)
CREDENTIAL = Param("Credential", Kind.OBJECT)
BY_NAME, BY_VM = "VMName", "VMObject"


def _vm_spec(name: str, *extra: Param, should_process: bool = False) -> CmdletSpec:
    """Spec of a cmdlet that targets a VM by -VMName or by a piped -VM object."""
    return CmdletSpec(
        name=name,
        fqid_suffix=hyperv_fqid(name.replace("-", "")),
        params=(
            set_key("VMName", Kind.STRINGS, BY_NAME, position=0),
            vm_param((BY_VM,)),
            Param("ComputerName", Kind.STRINGS, sets=(BY_NAME,)),
            Param("Credential", Kind.OBJECT, sets=(BY_NAME,)),
            *extra,
        ),
        sets=(BY_NAME, BY_VM),
        default_set=BY_NAME,
        should_process=should_process,
    )


def _each_vm(
    render: Callable[[Host, VirtualMachine], list[LabObject]],
) -> Callable[[Invocation], None]:
    def handler(inv: Invocation) -> None:
        for vm in inv.vms(name_param="VMName"):
            with inv.world.lock:
                rendered = render(inv.host, vm)
            for obj in rendered:
                inv.output(obj)

    return handler


def get_vm(inv: Invocation) -> None:
    """Get-VM [-Name] <String[]> | -Id <Guid>."""
    vm_id = inv.bound.text("Id")
    if vm_id is not None:
        with inv.world.lock:
            vm = inv.host.vms.get(vm_id.strip("{}").lower())
        if vm is None:
            inv.error(
                inv.hyperv_error(
                    f'Hyper-V was unable to find a virtual machine with id "{vm_id}".',
                    reason="InvalidParameter",
                    category="InvalidArgument",
                    target=vm_id,
                )
            )
            return
        inv.output(objects.vm(inv.host, vm))
        return
    for vm in inv.vms(name_param="Name"):
        with inv.world.lock:
            inv.output(objects.vm(inv.host, vm))


GET_VM = Cmdlet(
    CmdletSpec(
        name="Get-VM",
        fqid_suffix=hyperv_fqid("GetVM"),
        params=(
            Param("Name", Kind.STRINGS, sets=("Name",), position=0, aliases=("VMName",)),
            Param("Id", Kind.STRING, sets=("Id",), position=0),
            COMPUTER,
            CREDENTIAL,
        ),
        sets=("Name", "Id"),
        default_set="Name",
    ),
    get_vm,
)


def _adapters(host: Host, vm: VirtualMachine) -> list[LabObject]:
    return [objects.network_adapter(host, vm, nic) for nic in vm.adapters]


def get_network_adapter(inv: Invocation) -> None:
    """Get-VMNetworkAdapter -VMName | -VM | -All | -ManagementOS [-Name]."""
    if inv.bound.flag("ManagementOS"):
        return
    wanted = inv.bound.text("Name")
    if inv.bound.flag("All"):
        with inv.world.lock:
            machines = sorted(inv.host.vms.values(), key=lambda v: v.name.lower())
    else:
        machines = inv.vms(name_param="VMName")
    for vm in machines:
        with inv.world.lock:
            adapters = _adapters(inv.host, vm)
        for obj in adapters:
            if wanted is None or str(obj.properties["Name"]).lower() == wanted.lower():
                inv.output(obj)


GET_NETWORK_ADAPTER = Cmdlet(
    CmdletSpec(
        name="Get-VMNetworkAdapter",
        fqid_suffix=hyperv_fqid("GetVMNetworkAdapter"),
        params=(
            set_key("VMName", Kind.STRINGS, BY_NAME, position=0),
            vm_param((BY_VM,)),
            set_key("All", Kind.SWITCH, "All"),
            set_key("ManagementOS", Kind.SWITCH, "ManagementOS"),
            Param("Name", Kind.STRING, aliases=("VMNetworkAdapterName",)),
            Param("ComputerName", Kind.STRINGS, sets=(BY_NAME, "All", "ManagementOS")),
            Param("Credential", Kind.OBJECT, sets=(BY_NAME, "All", "ManagementOS")),
        ),
        sets=(BY_NAME, BY_VM, "All", "ManagementOS"),
        default_set=BY_NAME,
    ),
    get_network_adapter,
    pipeline_param="VM",
)

GET_HARD_DISK = Cmdlet(
    _vm_spec(
        "Get-VMHardDiskDrive",
        Param("ControllerType", Kind.ENUM, enum_type=objects.CONTROLLER_TYPE),
        Param("ControllerNumber", Kind.INT),
        Param("ControllerLocation", Kind.INT),
    ),
    _each_vm(lambda host, vm: [objects.hard_disk(host, vm, d) for d in vm.disks]),
    pipeline_param="VM",
)
GET_DVD = Cmdlet(
    _vm_spec(
        "Get-VMDvdDrive",
        Param("ControllerNumber", Kind.INT),
        Param("ControllerLocation", Kind.INT),
    ),
    _each_vm(lambda host, vm: [objects.dvd_drive(host, vm, d) for d in vm.dvds]),
    pipeline_param="VM",
)
GET_PROCESSOR = Cmdlet(
    _vm_spec("Get-VMProcessor"),
    _each_vm(lambda host, vm: [objects.processor(host, vm)]),
    pipeline_param="VM",
)


def set_processor(inv: Invocation) -> None:
    """Set-VMProcessor: processor compatibility and count can only change while the VM is off."""
    compat = inv.bound.get("CompatibilityForMigrationEnabled")
    count = inv.bound.integer("Count")
    for vm in inv.vms(name_param="VMName"):
        if inv.bound.what_if:
            continue
        with inv.world.lock:
            changing = (isinstance(compat, bool) and compat != vm.compatibility_for_migration) or (
                count is not None and count != vm.processor_count
            )
            if changing and vm.state is not VMState.Off:
                inv.error(
                    inv.hyperv_error(
                        "The operation cannot be performed while the virtual machine is in its "
                        "current state.",
                        reason="InvalidState",
                        category="InvalidOperation",
                        target=vm.name,
                    )
                )
                continue
            if isinstance(compat, bool):
                vm.compatibility_for_migration = compat
            if count is not None:
                vm.processor_count = count
            result = objects.processor(inv.host, vm)
        if inv.bound.flag("Passthru"):
            inv.output(result)


SET_PROCESSOR = Cmdlet(
    _vm_spec(
        "Set-VMProcessor",
        Param("Count", Kind.LONG, minimum=1),
        Param("CompatibilityForMigrationEnabled", Kind.BOOL),
        Param("CompatibilityForOlderOperatingSystemsEnabled", Kind.BOOL),
        Param("Passthru", Kind.SWITCH),
        should_process=True,
    ),
    set_processor,
    pipeline_param="VM",
)


def get_vhd(inv: Invocation) -> None:
    """Get-VHD -Path: size of a virtual hard disk attached to one of the host's VMs."""
    for path in inv.bound.texts("Path"):
        if winpath.is_unc(path):
            # A share is a second hop from a WinRM session: no delegation, no access.
            inv.error(
                inv.hyperv_error(
                    f"Getting the mounted storage instance for the path '{path}' failed. "
                    "Access is denied. (0x80070005)",
                    reason="AccessDenied",
                    category="PermissionDenied",
                    target=path,
                    hresult=0x80070005,
                )
            )
            continue
        with inv.world.lock:
            disk = next(
                (
                    d
                    for vm in inv.host.vms.values()
                    for d in vm.disks
                    if winpath.normalize(d.path) == winpath.normalize(path)
                ),
                None,
            )
        if disk is None:
            inv.error(
                inv.hyperv_error(
                    f"Getting the mounted storage instance for the path '{path}' failed. "
                    "The system cannot find the file specified.",
                    reason="ObjectNotFound",
                    category="ObjectNotFound",
                    target=path,
                )
            )
            continue
        inv.output(
            LabObject(
                ("Microsoft.Vhd.PowerShell.VirtualHardDisk", "System.Object"),
                {
                    "Path": disk.path,
                    "FileSize": disk.size,
                    "Size": disk.max_size or disk.size,
                    "VhdFormat": "VHDX",
                    "VhdType": "Dynamic",
                    "Attached": True,
                    "ComputerName": inv.host.name,
                },
                "Microsoft.Vhd.PowerShell.VirtualHardDisk",
            )
        )


GET_VHD = Cmdlet(
    CmdletSpec(
        name="Get-VHD",
        fqid_suffix="Microsoft.Vhd.PowerShell.Cmdlets.GetVHD",
        params=(
            Param("Path", Kind.STRINGS, mandatory=("Path",), position=0, aliases=("FullName",)),
            COMPUTER,
            CREDENTIAL,
        ),
        sets=("Path",),
        default_set="Path",
    ),
    get_vhd,
)

COMMANDS = (
    GET_VM,
    GET_NETWORK_ADAPTER,
    GET_HARD_DISK,
    GET_DVD,
    GET_PROCESSOR,
    SET_PROCESSOR,
    GET_VHD,
)
