"""The adapter's own fixed invocations (reads, job queries, cancel), built as data."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from commands.hyperv import ErrorKind, HyperVError
from commands.inventory import Inventory
from commands.invocation import Invocation, Parameter, ParameterValue

VMMS_ADMIN_LOG = "Microsoft-Windows-Hyper-V-VMMS-Admin"
# Live migration failures (21501, 21502) and the destination's configuration failure (21125)
# are written here (architecture §5); a host without the channel answers NoMatchingLogsFound.
HA_ADMIN_LOG = "Microsoft-Windows-Hyper-V-High-Availability-Admin"
MIGRATION_LOGS = (VMMS_ADMIN_LOG, HA_ADMIN_LOG)
VIRTUALIZATION_NAMESPACE = "root\\virtualization\\v2"
MIGRATION_JOB_CLASS = "Msvm_MigrationJob"
REQUESTED_STATE_TERMINATE = 4
# Job instance ids and VM ids are GUIDs; anything else is refused before it reaches WQL.
_WQL_SAFE = re.compile(r"^[A-Za-z0-9{}:\-_.]+$")


# Get-VM -Name and friends read these as patterns (` escapes them): `*` matches every VM.
_PATTERN_CHARACTERS = frozenset("*?[]`")
_NAME_PARAMETERS = frozenset({"name", "vmname"})


def refuse_pattern(vm: str) -> None:
    """Refuse a VM name that PowerShell would read as a pattern, or an empty one."""
    if not vm or any(c in _PATTERN_CHARACTERS or ord(c) < 32 for c in vm):
        raise HyperVError(
            ErrorKind.INVALID_PARAMETERS,
            "A VM name cannot hold wildcard or control characters.",
            cause="Get-VM -Name treats * ? [ ] as patterns that match other VMs.",
            fix="Give the exact VM name.",
        )


@dataclass(frozen=True)
class Script:
    """One of the bot's fixed scripts (`bot/winrm/scripts/*.ps1`) and its parameters.

    The text never changes at run time; every user value travels as a parameter
    (`add_parameter`), so nothing a user types is ever parsed as PowerShell.
    """

    file: str
    parameters: tuple[Parameter, ...] = ()

    @property
    def cmdlet(self) -> str:
        """How logs name this step."""
        return f"script {self.file}"

    @property
    def text(self) -> str:
        """The script's fixed text."""
        return script_text(self.file)


@functools.cache
def script_text(file: str) -> str:
    """The text of one of the bot's fixed scripts."""
    return (resources.files("bot.winrm") / "scripts" / file).read_text(encoding="utf-8")


def script(file: str, *parameters: tuple[str, ParameterValue]) -> Script:
    """A fixed script with (name, value) parameters."""
    return Script(file, tuple(Parameter(n, v) for n, v in parameters))


Step = Invocation | Script
"""One command of a pipeline: a cmdlet invocation or a fixed script."""


def refuse_patterns(invocations: Iterable[Step]) -> None:
    """Refuse any invocation whose `-Name`/`-VMName` would be read as a pattern.

    The command language refuses such names already; this is the last check before a host.
    """
    for invocation in invocations:
        for parameter in invocation.parameters:
            if parameter.name.casefold() in _NAME_PARAMETERS and isinstance(parameter.value, str):
                refuse_pattern(parameter.value)


def refuse_foreign_destination(invocation: Invocation, inventory: Inventory) -> None:
    """Refuse a move whose `-DestinationHost` is not an inventory host."""
    if not invocation.has("DestinationHost"):
        return
    target = invocation.parameter("DestinationHost")
    if not isinstance(target, str) or inventory.find(target) is None:
        raise HyperVError(
            ErrorKind.INVALID_PARAMETERS,
            "The destination host is not in the inventory; hvbot only moves VMs between "
            "configured hosts.",
            fix="Pick a destination from the inventory.",
        )


def call(cmdlet: str, *parameters: tuple[str, ParameterValue]) -> Invocation:
    """An invocation built from (name, value) pairs."""
    return Invocation(cmdlet, tuple(Parameter(n, v) for n, v in parameters))


def wql_literal(value: str) -> str:
    """`value` as a WQL string literal; only GUID-like ids are accepted."""
    if not _WQL_SAFE.match(value):
        raise ValueError(f"not an id: {value!r}")
    return f"'{value}'"


def migration_jobs(vm_id: str) -> Invocation:
    """The Msvm_MigrationJob instances of one VM (finished ones linger for about 5 minutes)."""
    return call(
        "Get-CimInstance",
        ("Namespace", VIRTUALIZATION_NAMESPACE),
        ("ClassName", MIGRATION_JOB_CLASS),
        ("Filter", f"VirtualSystemName = {wql_literal(vm_id)}"),
    )


def cancel_job(instance_id: str) -> Invocation:
    """RequestStateChange(4) on one migration job, selected by its InstanceID."""
    return call(
        "Invoke-CimMethod",
        ("Namespace", VIRTUALIZATION_NAMESPACE),
        (
            "Query",
            f"SELECT * FROM {MIGRATION_JOB_CLASS} WHERE InstanceID = {wql_literal(instance_id)}",
        ),
        ("MethodName", "RequestStateChange"),
        ("Arguments", {"RequestedState": REQUESTED_STATE_TERMINATE}),
    )
