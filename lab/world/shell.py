"""The simulated PowerShell engine: look up, bind and run each command of a pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from lab.pipeline import (
    CollectingSink,
    CommandCall,
    InvocationContext,
    LabValue,
    PipelineSink,
    TerminatingError,
)
from lab.world import (
    cmdlets_engine,
    cmdlets_host,
    cmdlets_migration,
    cmdlets_misc,
    cmdlets_vm,
    errors,
    scripts,
)
from lab.world.binding import Bound, bind
from lab.world.cmdlet import Cmdlet, Invocation, Outbox
from lab.world.model import Host

if TYPE_CHECKING:
    from lab.world.world import World

REGISTRY: dict[str, Cmdlet] = {
    c.spec.name.lower(): c
    for c in (
        *cmdlets_vm.COMMANDS,
        *cmdlets_host.COMMANDS,
        *cmdlets_migration.COMMANDS,
        *cmdlets_misc.COMMANDS,
        *cmdlets_engine.COMMANDS,
    )
}


# The cmdlets of the Hyper-V module (the rest are PowerShell's own or CIM's).
HYPERV_MODULE = frozenset(
    c.spec.name.lower()
    for c in (*cmdlets_vm.COMMANDS, *cmdlets_host.COMMANDS, *cmdlets_migration.COMMANDS)
)


# System.Management.Automation.ActionPreference, for -ErrorAction given as a number.
# Stop makes the first error terminating; SilentlyContinue and Ignore drop errors.
ACTION_PREFERENCE = {0: "SilentlyContinue", 1: "Stop", 2: "Continue", 3: "Inquire", 4: "Ignore"}


def run_pipeline(
    world: World, context: InvocationContext, commands: Sequence[CommandCall], sink: PipelineSink
) -> None:
    """Run `commands` as one pipeline on `context.host`, writing to `sink`.

    Raises TerminatingError where PowerShell fails the pipeline: script text, unknown
    commands, parameter binding errors, and cmdlet errors that are terminating on Windows.
    """
    host = world.host(context.host)
    if host is None:
        raise TerminatingError(errors.command_not_found(commands[0].name if commands else ""))
    if len(commands) == 1 and commands[0].is_script:
        scripts.run_script(world, context, commands[0], sink, run_pipeline)
        return
    for call in commands:
        world.record_call(context, call)
    resolved = [_lookup(call) for call in commands]
    for call in commands:
        world.pace(context, call.name.strip().lower() in HYPERV_MODULE)
    pipe_input: list[LabValue] | None = None
    for index, (call, cmdlet) in enumerate(zip(commands, resolved, strict=True)):
        last = index == len(commands) - 1
        downstream = CollectingSink(forward=sink) if not last else None
        target: PipelineSink = downstream if downstream is not None else sink
        fed = pipe_input is not None
        bound = bind(cmdlet.spec, call.parameters, cmdlet.pipeline_param if fed else None)
        action = bound.common.get("ErrorAction", "Continue")
        if isinstance(action, int) and not isinstance(action, bool):
            action = ACTION_PREFERENCE.get(action, "Continue")
        errors_go = str(action).lower()
        for where in _hosts(world, host, bound, target, cmdlet):
            outbox = Outbox(target, errors_go)
            if pipe_input is None:
                _invoke(cmdlet, Invocation(world, where, context, outbox, bound, cmdlet.spec))
            else:
                _run_with_input(world, where, context, outbox, cmdlet, bound, pipe_input)
        pipe_input = downstream.output if downstream is not None else None


def _hosts(
    world: World, local: Host, bound: Bound, sink: PipelineSink, cmdlet: Cmdlet
) -> list[Host]:
    """The hosts -ComputerName names (the session's host when absent or local)."""
    given = bound.get("ComputerName")
    names = given if isinstance(given, list) else [given] if isinstance(given, str) else []
    if not names:
        return [local]
    found: list[Host] = []
    for name in (str(n) for n in names):
        other = local if name.lower() in (".", "localhost") else world.host(name)
        if other is not None and world.is_reachable(other.name):
            found.append(other)
            continue
        sink.write_error(
            errors.hyperv_error(
                cmdlet.spec.name,
                cmdlet.spec.fqid_suffix,
                f"The operation on computer '{name}' failed: The WinRM client cannot process "
                "the request because the server name cannot be resolved.",
                reason="InvalidParameter",
                category="InvalidArgument",
                target=name,
                target_type="String",
            )
        )
    return found


def _lookup(call: CommandCall) -> Cmdlet:
    if call.is_script:
        raise TerminatingError(errors.script_not_supported(call.name))
    cmdlet = REGISTRY.get(call.name.strip().lower())
    if cmdlet is None:
        raise TerminatingError(errors.command_not_found(call.name))
    return cmdlet


def _run_with_input(
    world: World,
    host: Host,
    context: InvocationContext,
    outbox: Outbox,
    cmdlet: Cmdlet,
    bound: Bound,
    items: list[LabValue],
) -> None:
    name = cmdlet.pipeline_param
    for item in items:
        if name is None or name in bound.values:
            outbox.write_error(
                errors.binding_error(
                    cmdlet.spec.name,
                    cmdlet.spec.fqid_suffix,
                    "InputObjectNotBound",
                    "The input object cannot be bound to any parameters for the command either "
                    "because the command does not take pipeline input or the input and its "
                    "properties do not match any of the parameters that take pipeline input.",
                )
            )
            continue
        values = dict(bound.values)
        values[name] = item
        per_item = Bound(values, bound.parameter_set, bound.common)
        _invoke(cmdlet, Invocation(world, host, context, outbox, per_item, cmdlet.spec))
    outbox.flush()


def _invoke(cmdlet: Cmdlet, invocation: Invocation) -> None:
    """Run one cmdlet, then deliver its writes, also when it ends with a terminating error."""
    try:
        cmdlet.handler(invocation)
    finally:
        invocation.flush()
