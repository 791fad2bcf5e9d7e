"""Compare-VM, Move-VM and Move-VMStorage, with both parameter-set families of architecture §5."""

from __future__ import annotations

from lab.pipeline import Progress, TerminatingError
from lab.world import compat, migration, objects
from lab.world import move_checks as checks
from lab.world.binding import CmdletSpec, Kind, Param, set_key
from lab.world.cmdlet import Cmdlet, Invocation, hyperv_fqid, vm_param
from lab.world.faults import FaultKind
from lab.world.model import Host, JobState, MigrationJob, VirtualMachine, VMState
from lab.world.move_checks import BY_NAME, BY_VM, MULTI, NAME_SINGLE, REPORT, SINGLE, VM_SINGLE

MOVABLE_STATES = frozenset({VMState.Running, VMState.Off, VMState.Saved, VMState.Paused})


def _target_params(destination_position: int | None) -> tuple[Param, ...]:
    """Parameters shared by Move-VM, Compare-VM (host moves) and Move-VMStorage."""
    multi = (
        Param(
            "SnapshotFilePath",
            Kind.STRING,
            sets=MULTI,
            aliases=("CheckpointFileLocation", "SnapshotFileLocation"),
        ),
        Param("SmartPagingFilePath", Kind.STRING, sets=MULTI),
        Param("Vhds", Kind.HASHTABLES, sets=MULTI),
        Param("VirtualMachinePath", Kind.STRING, sets=MULTI),
    )
    return (
        Param("ComputerName", Kind.STRINGS, sets=BY_NAME),
        Param("Credential", Kind.OBJECT, sets=BY_NAME),
        *multi,
        Param(
            "DestinationStoragePath",
            Kind.STRING,
            sets=SINGLE,
            mandatory=SINGLE if destination_position is not None else (),
            position=destination_position,
        ),
        Param("ResourcePoolName", Kind.STRING, sets=SINGLE + MULTI),
        Param("RetainVhdCopiesOnSource", Kind.SWITCH, sets=SINGLE + MULTI),
        Param("RemoveSourceUnmanagedVhds", Kind.SWITCH, sets=SINGLE + MULTI),
    )


def _host_move_spec(name: str, *extra: Param, moves: bool) -> CmdletSpec:
    """Move-VM (`moves`: a CompatibilityReport set, -WhatIf/-Confirm) or Compare-VM."""
    four = SINGLE + MULTI
    return CmdletSpec(
        name=name,
        fqid_suffix=hyperv_fqid(name.replace("-", "")),
        params=(
            Param("Name", Kind.STRING, sets=BY_NAME, mandatory=BY_NAME, position=0),
            vm_param(BY_VM),
            Param("DestinationHost", Kind.STRING, sets=four, mandatory=four, position=1),
            Param("DestinationCredential", Kind.OBJECT, sets=four),
            Param("IncludeStorage", Kind.SWITCH, sets=SINGLE),
            *_target_params(None),
            *extra,
        ),
        sets=four + ((REPORT,) if moves else ()),
        default_set=NAME_SINGLE,
        fallback_sets=(VM_SINGLE,),
        should_process=moves,
    )


def _not_supported(inv: Invocation, what: str) -> TerminatingError:
    return TerminatingError(
        inv.hyperv_error(
            f"The Hyper-V lab does not simulate {what}.",
            reason="NotSupportedByLab",
            category="NotImplemented",
        )
    )


def _check_state(inv: Invocation, vm: VirtualMachine) -> bool:
    if vm.state in MOVABLE_STATES:
        return True
    inv.error(
        inv.hyperv_error(
            "The operation cannot be performed while the virtual machine is in its current state.",
            reason="InvalidState",
            category="InvalidOperation",
            target=vm.name,
        )
    )
    return False


def _busy(inv: Invocation, vm: VirtualMachine) -> bool:
    """True (and the error written) if `vm` is already migrating."""
    if not migration.is_migrating(inv.world, vm):
        return False
    _busy_error(inv, vm)
    return True


def _busy_error(inv: Invocation, vm: VirtualMachine) -> None:
    inv.error(
        inv.hyperv_error(
            f"The operation cannot be performed on virtual machine '{vm.name}' because a "
            "migration of it is already in progress.",
            reason="InvalidOperation",
            category="ResourceBusy",
            target=vm.name,
        )
    )


def move_vm(inv: Invocation) -> None:
    """Move-VM: live (or shared-nothing) migration from this host, blocking until done."""
    if inv.bound.flag("AsJob"):
        raise _not_supported(inv, "Move-VM -AsJob")
    if inv.bound.parameter_set == REPORT:
        vms, name = checks.report_target(inv)
        destination = inv.world.host(name)
    else:
        vms = inv.vms("Name", "VM")
        name, destination = checks.destination_of(inv)
    for vm in vms:
        if not _check_state(inv, vm) or _busy(inv, vm):
            continue
        if destination is inv.host:
            inv.error(
                inv.hyperv_error(
                    f"The destination host '{name}' is the host the virtual machine '{vm.name}' "
                    "runs on. Use Move-VMStorage to move its storage.",
                    reason="InvalidParameter",
                    category="InvalidArgument",
                    target=name,
                )
            )
            continue
        targets = (
            checks.report_targets(inv, vm)
            if inv.bound.parameter_set == REPORT
            else checks.targets(inv, vm, include_flag=True)
        )
        problems, connection = checks.find_problems(inv, vm, name, destination, targets)
        if (
            problems
            and not connection
            and destination is not None
            and inv.world.fault(FaultKind.GENERIC_REFUSAL, destination.name, vm.name)
        ):
            problems = [checks.GENERIC_REFUSAL]
        if problems or destination is None:
            checks.log_failure(inv, vm, destination, name, problems)
            inv.error(checks.move_error(inv, vm, name, problems, connection))
            continue
        if inv.world.fault(FaultKind.MIGRATION_LIMIT, destination.name, vm.name):
            _limit_failure(inv, vm, destination)
            continue
        if inv.bound.what_if:
            continue
        plan = migration.MovePlan(
            vm, inv.host, destination, targets, inv.bound.flag("RetainVhdCopiesOnSource")
        )
        job = migration.start(inv.world, plan)
        if job is None:
            _busy_error(inv, vm)
            continue
        if _wait(
            inv, job, f"Moving virtual machine '{vm.name}' to '{destination.name}'"
        ) and inv.bound.flag("Passthru"):
            with inv.world.lock:
                inv.output(objects.vm(destination, vm))


def _limit_failure(inv: Invocation, vm: VirtualMachine, destination: Host) -> None:
    header = checks.failure_header(vm, inv.host, destination.name, False)
    text = (
        f"{header}\nThe migration cannot start: the simultaneous migration limit has been reached "
        f"(MaximumVirtualMachineMigrations = {inv.host.max_vm_migrations})."
    )
    inv.world.log_event(inv.host, migration.EVENT_LIMIT, "Error", text)
    inv.error(
        inv.hyperv_error(text, reason="InvalidOperation", category="LimitsExceeded", target=vm.name)
    )


def _wait(inv: Invocation, job: MigrationJob, activity: str) -> bool:
    """Report progress until `job` ends; True if it completed.

    Stopping the pipeline cancels the migration, as stopping Move-VM does on Windows.
    """
    world, last, stopping, queued = inv.world, -1, False, False
    while True:
        with world.changed:
            if not job.finished:
                world.changed.wait(0.05)
            percent, state, finished = job.percent, job.state, job.finished
            text, hresult, elapsed = job.error_description, job.hresult, job.elapsed
        if state is JobState.New and not queued:
            inv.sink.write_progress(
                Progress(activity, "Queued: waiting for a free migration slot", 0)
            )
            queued = True
        if (state is JobState.Running and percent != last) or state is JobState.Completed:
            remaining = int(elapsed * (100 - percent) / percent) if percent else -1
            inv.sink.write_progress(Progress(activity, f"{percent}% complete", percent, remaining))
            last = percent
        inv.flush()
        if finished:
            break
        if not stopping and inv.context.stop_requested.is_set():
            migration.request_cancel(world, job)
            stopping = True
    if state is JobState.Completed:
        return True
    if not stopping:
        inv.error(inv.hyperv_error(text, target=job.vm_name, hresult=hresult))
    return False


def compare_vm(inv: Invocation) -> None:
    """Compare-VM: the incompatibilities of a move, as a VMCompatibilityReport."""
    name, destination = checks.destination_of(inv)
    for vm in inv.vms("Name", "VM"):
        targets = checks.targets(inv, vm, include_flag=True)
        problems, connection = checks.find_problems(inv, vm, name, destination, targets)
        if connection or destination is None:
            inv.error(checks.move_error(inv, vm, name, problems, True))
            continue
        with inv.world.lock:
            report = objects.compatibility_report(
                inv.host,
                vm,
                destination.name,
                targets is not None,
                [objects.compatibility_error(p.message, p.message_id, p.source) for p in problems],
            )
        inv.output(report)


def move_vm_storage(inv: Invocation) -> None:
    """Move-VMStorage: move a VM's files on its own host, blocking until done."""
    if inv.bound.flag("AsJob"):
        raise _not_supported(inv, "Move-VMStorage -AsJob")
    for vm in inv.vms("Name", "VM"):
        targets = checks.targets(inv, vm, include_flag=False)
        if targets is None or inv.bound.what_if or _busy(inv, vm):
            continue
        with inv.world.lock:
            problems = compat.storage_problems(inv.world, inv.host, vm, targets, True)
        if problems:
            text = "\n".join(
                [
                    f"Storage migration for virtual machine '{vm.name}' failed. "
                    f"(Virtual machine ID {vm.id.upper()})",
                    *(p.message for p in problems),
                ]
            )
            inv.world.log_event(inv.host, migration.EVENT_STORAGE_FAILED, "Error", text)
            inv.error(
                inv.hyperv_error(
                    text,
                    reason="InvalidOperation",
                    category="InvalidOperation",
                    target=vm.name,
                    hresult=problems[0].hresult,
                )
            )
            continue
        plan = migration.MovePlan(
            vm, inv.host, inv.host, targets, inv.bound.flag("RetainVhdCopiesOnSource")
        )
        job = migration.start(inv.world, plan)
        if job is None:
            _busy_error(inv, vm)
            continue
        _wait(inv, job, f"Moving storage of '{vm.name}'")


def _storage_spec() -> CmdletSpec:
    four = SINGLE + MULTI
    return CmdletSpec(
        name="Move-VMStorage",
        fqid_suffix=hyperv_fqid("MoveVMStorage"),
        params=(
            Param(
                "Name",
                Kind.STRING,
                sets=BY_NAME,
                mandatory=BY_NAME,
                position=0,
                aliases=("VMName",),
            ),
            vm_param(BY_VM),
            *_target_params(1),
            Param("AllowUnverifiedPaths", Kind.SWITCH, sets=four),
            Param("AsJob", Kind.SWITCH),
        ),
        sets=four,
        default_set=NAME_SINGLE,
        fallback_sets=(VM_SINGLE,),
        should_process=True,
    )


COMMANDS = (
    Cmdlet(
        _host_move_spec(
            "Move-VM",
            set_key(
                "CompatibilityReport",
                Kind.OBJECT,
                REPORT,
                position=0,
                object_type="Microsoft.HyperV.PowerShell.VMCompatibilityReport",
            ),
            Param("AsJob", Kind.SWITCH),
            Param("Passthru", Kind.SWITCH),
            moves=True,
        ),
        move_vm,
        pipeline_param="VM",
    ),
    Cmdlet(_host_move_spec("Compare-VM", moves=False), compare_vm, pipeline_param="VM"),
    Cmdlet(_storage_spec(), move_vm_storage, pipeline_param="VM"),
)
