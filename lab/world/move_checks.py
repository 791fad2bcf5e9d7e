"""What a Move-VM, Compare-VM or Move-VMStorage call asks for, and what stands in its way.

The call's side: its destination host, where the files go (`targets`), a compatibility
report given back to Move-VM. The obstacles: `find_problems` and the error record and event
log entries a refused move leaves, worded like VMMS (see NOTES.md for the guesses).
"""

from __future__ import annotations

from collections.abc import Mapping

from lab.pipeline import LabEnum, LabError, LabObject, LabValue, TerminatingError
from lab.world import compat, winpath
from lab.world.cmdlet import Invocation
from lab.world.compat import Problem, StorageTargets
from lab.world.model import Host, VirtualMachine

NAME_SINGLE, NAME_MULTI = "NameSingleDestination", "NameMultipleDestinations"
VM_SINGLE, VM_MULTI = "VMSingleDestination", "VMMultipleDestinations"
REPORT = "CompatibilityReport"
SINGLE, MULTI = (NAME_SINGLE, VM_SINGLE), (NAME_MULTI, VM_MULTI)
BY_NAME, BY_VM = (NAME_SINGLE, NAME_MULTI), (VM_SINGLE, VM_MULTI)


def targets(inv: Invocation, vm: VirtualMachine, include_flag: bool) -> StorageTargets | None:
    """Where the files go for this parameter set; raises for unusable path arguments."""
    b = inv.bound
    for param in ("DestinationStoragePath", "VirtualMachinePath"):
        path = b.text(param)
        if path is not None and not winpath.is_absolute(path):
            raise TerminatingError(
                inv.hyperv_error(
                    f"The path '{path}' given for {param} is not an absolute path.",
                    reason="InvalidParameter",
                    category="InvalidArgument",
                    target=path,
                )
            )
    if b.parameter_set in MULTI:
        vhds = b.get("Vhds")
        entries = [v for v in vhds if isinstance(v, Mapping)] if isinstance(vhds, list) else []
        config = b.text("VirtualMachinePath")
        if config is None and not entries:
            return None
        found = compat.multiple_destinations(vm, config, entries)
        if isinstance(found, str):
            raise TerminatingError(
                inv.hyperv_error(
                    found, reason="InvalidParameter", category="InvalidArgument", target=vm.name
                )
            )
        return found
    folder = b.text("DestinationStoragePath")
    if include_flag and not b.flag("IncludeStorage"):
        if folder is not None:
            raise TerminatingError(
                inv.hyperv_error(
                    "The DestinationStoragePath parameter can only be used together with the "
                    "IncludeStorage parameter.",
                    reason="InvalidParameter",
                    category="InvalidArgument",
                    target=folder,
                )
            )
        return None
    return compat.single_destination(vm, folder)


def destination_of(inv: Invocation) -> tuple[str, Host | None]:
    """-DestinationHost as given, and the lab host it names (None if none)."""
    name = inv.bound.text("DestinationHost") or ""
    return name, inv.world.host(name)


def find_problems(
    inv: Invocation,
    vm: VirtualMachine,
    name: str,
    destination: Host | None,
    targets: StorageTargets | None,
) -> tuple[list[Problem], bool]:
    """(problems, connection_failed) for moving `vm` to `destination`."""
    with inv.world.lock:
        failed = compat.connection_problems(
            inv.world, inv.host, destination, name, vm, storage=targets is not None
        )
        if failed or destination is None:
            return failed, True
        return compat.compatibility_problems(inv.world, inv.host, destination, vm, targets), False


def failure_header(vm: VirtualMachine, source: Host, destination: str, at_destination: bool) -> str:
    """VMMS's first line of a failed move: which VM, failed at which end."""
    where = (
        f"migration destination '{destination}'"
        if at_destination
        else f"migration source '{source.name}'"
    )
    return (
        f"Virtual machine migration operation for '{vm.name}' failed at {where}. "
        f"(Virtual machine ID {vm.id.upper()})"
    )


def _failure_text(
    inv: Invocation, vm: VirtualMachine, destination: str, problems: list[Problem]
) -> str:
    at_destination = any(p.at_destination for p in problems)
    header = failure_header(vm, inv.host, destination, at_destination)
    return "\n".join([header, *(p.message for p in problems)])


# How a refused move reads when Windows does not name the incompatibility (the
# `generic_refusal` fault): the wording is a guess; only the pointer to Compare-VM matters.
GENERIC_REFUSAL = compat.Problem(
    "The virtual machine is not compatible with the destination host. Use Compare-VM to get "
    "the list of incompatibilities.",
    0,
    None,
)


def move_error(
    inv: Invocation, vm: VirtualMachine, destination: str, problems: list[Problem], connection: bool
) -> LabError:
    """The error record of a refused move: Unspecified for connections, else InvalidOperation."""
    text = _failure_text(inv, vm, destination, problems)
    hresult = next((p.hresult for p in problems if p.hresult is not None), None)
    if connection:
        return inv.hyperv_error(text, target=vm.name, hresult=hresult)
    return inv.hyperv_error(
        text,
        reason="InvalidOperation",
        category="InvalidOperation",
        target=vm.name,
        hresult=hresult,
    )


def log_failure(
    inv: Invocation,
    vm: VirtualMachine,
    destination: Host | None,
    name: str,
    problems: list[Problem],
) -> None:
    """The events a refused move leaves: 20306 and 21125 where they apply, then 21502."""
    world = inv.world
    summary = _failure_text(inv, vm, name, problems)
    for problem in problems:
        if problem.event_id == compat.EVENT_NO_CREDENTIALS:
            world.log_event(
                inv.host,
                compat.EVENT_NO_CREDENTIALS,
                "Error",
                "The Virtual Machine Management Service failed to authenticate the "
                f"connection for a Virtual Machine migration at the source host: "
                f"{problem.message}",
            )
        if problem.event_id == compat.EVENT_CONFIG_FAILED and destination is not None:
            world.log_event(
                destination,
                compat.EVENT_CONFIG_FAILED,
                "Error",
                f"'{vm.name}' failed to apply its configuration on the destination "
                f"host: {problem.message}",
            )
    world.log_event(inv.host, compat.EVENT_FAILED, "Error", summary)


def _report(inv: Invocation) -> Mapping[str, LabValue]:
    report = inv.bound.get("CompatibilityReport")
    if isinstance(report, LabObject):
        return report.properties
    return report if isinstance(report, Mapping) else {}


def report_target(inv: Invocation) -> tuple[list[VirtualMachine], str]:
    """The VM (if still on this host) and destination name of -CompatibilityReport."""
    props = _report(inv)
    vms = [vm for vm in [inv.vm_from_object(props.get("VM"))] if vm]
    return vms, str(props.get("Destination") or "")


def report_targets(inv: Invocation, vm: VirtualMachine) -> StorageTargets | None:
    """A report of a move with storage moves the disks to the same paths on the destination."""
    operation = _report(inv).get("OperationType")
    name = operation.name if isinstance(operation, LabEnum) else str(operation)
    with_storage = name in ("MoveVirtualMachineAndStorage", "2")
    return compat.single_destination(vm, None) if with_storage else None
