"""The adapter's own fixed invocations (reads, job queries, cancel), built as data."""

from __future__ import annotations

import re

from commands.invocation import Invocation, Parameter, ParameterValue

VMMS_ADMIN_LOG = "Microsoft-Windows-Hyper-V-VMMS-Admin"
VIRTUALIZATION_NAMESPACE = "root\\virtualization\\v2"
MIGRATION_JOB_CLASS = "Msvm_MigrationJob"
REQUESTED_STATE_TERMINATE = 4
# Hyper-V job instance ids are GUIDs; anything else is refused before it reaches WQL.
_INSTANCE_ID = re.compile(r"^[A-Za-z0-9{}:\-_.]+$")


def call(cmdlet: str, *parameters: tuple[str, ParameterValue]) -> Invocation:
    """An invocation built from (name, value) pairs."""
    return Invocation(cmdlet, tuple(Parameter(n, v) for n, v in parameters))


def migration_jobs() -> Invocation:
    """Every Msvm_MigrationJob on the host (finished ones linger for about 5 minutes)."""
    return call(
        "Get-CimInstance",
        ("Namespace", VIRTUALIZATION_NAMESPACE),
        ("ClassName", MIGRATION_JOB_CLASS),
    )


def cancel_job(instance_id: str) -> Invocation:
    """RequestStateChange(4) on one migration job, selected by its InstanceID."""
    if not _INSTANCE_ID.match(instance_id):
        raise ValueError(f"not a job instance id: {instance_id!r}")
    return call(
        "Invoke-CimMethod",
        ("Namespace", VIRTUALIZATION_NAMESPACE),
        ("Query", f"SELECT * FROM {MIGRATION_JOB_CLASS} WHERE InstanceID = '{instance_id}'"),
        ("MethodName", "RequestStateChange"),
        ("Arguments", {"RequestedState": REQUESTED_STATE_TERMINATE}),
    )
