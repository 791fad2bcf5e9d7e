"""The adapter's own fixed invocations (reads, job queries, cancel), built as data."""

from __future__ import annotations

import re

from commands.invocation import Invocation, Parameter, ParameterValue

VMMS_ADMIN_LOG = "Microsoft-Windows-Hyper-V-VMMS-Admin"
VIRTUALIZATION_NAMESPACE = "root\\virtualization\\v2"
MIGRATION_JOB_CLASS = "Msvm_MigrationJob"
REQUESTED_STATE_TERMINATE = 4
# Job instance ids and VM ids are GUIDs; anything else is refused before it reaches WQL.
_WQL_SAFE = re.compile(r"^[A-Za-z0-9{}:\-_.]+$")


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
