"""An in-memory Active Directory for delegation: computer objects by host name, writes that can
be refused, lost or made to fail, and reads that can fail, counted."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from commands.delegation import (
    MIGRATION_SERVICE,
    TRUSTED_FOR_DELEGATION,
    TRUSTED_TO_AUTH_FOR_DELEGATION,
    ComputerObject,
    DelegationReport,
    ObjectChange,
    RepairPlan,
    delegation_targets,
    plan_for,
    read_report,
)
from commands.inventory import Host
from commands.workflow.approvals import DirectoryError

WORKSTATION = 0x1000


def host_spns(host: Host) -> tuple[str, ...]:
    """What a domain-joined Hyper-V host carries: HOST/ and the migration service."""
    return tuple(f"{s}/{n}" for s in ("HOST", MIGRATION_SERVICE) for n in (host.fqdn, host.name))


def bare(host: Host, uac: int = WORKSTATION | TRUSTED_FOR_DELEGATION) -> ComputerObject:
    """A host's object with no constrained delegation (unconstrained on, by default)."""
    return ComputerObject(
        f"CN={host.name},OU=Hosts", host.name, host.fqdn, uac, (), host_spns(host)
    )


class MemoryDelegation:
    """`commands.delegation.DelegationDirectory` and the handler's `DelegationChecker` over a
    dict, as `bot.directory.ActiveDirectory` is both. `writable=False` has no write
    account; `down` fails every read; `fail_write` names hosts whose write is refused; `lose`
    drops writes silently; `on_apply` runs before each write (a crash, a concurrent change)."""

    def __init__(self, *objects: ComputerObject, writable: bool = True) -> None:
        self.objects = {o.name.casefold(): o for o in objects}
        self.writable = writable
        self.down = False
        self.fail_write: set[str] = set()
        self.lose = False
        self.on_apply: Callable[[ObjectChange], None] | None = None
        self.writes: list[ObjectChange] = []
        self.reads = 0

    def computer(self, host: Host) -> ComputerObject | None:
        self.reads += 1
        if self.down:
            raise DirectoryError("cannot reach the directory at ldaps://dc1.lab.local")
        return self.objects.get(host.name.casefold())

    def report(self, first: Host, second: Host) -> DelegationReport:
        return read_report(self, first, second)

    def repair_plan(self, first: Host, second: Host) -> RepairPlan:
        return plan_for(self, first, second)

    def write_refusal(self) -> str | None:
        if self.writable:
            return None
        return "no write-capable directory account is configured (set $HVBOT_LDAP_WRITE_BIND_DN)"

    def apply(self, change: ObjectChange) -> None:
        if self.on_apply is not None:
            self.on_apply(change)
        if change.host in self.fail_write:
            raise DirectoryError("insufficient access rights")
        obj = self.objects[change.host.casefold()]
        if obj.user_account_control != change.uac_before:
            raise DirectoryError("userAccountControl changed since it was read")
        self.writes.append(change)
        if self.lose:
            return
        self.objects[change.host.casefold()] = dataclasses.replace(
            obj,
            user_account_control=change.uac_after,
            allowed_to_delegate_to=obj.allowed_to_delegate_to + change.add_delegate_to,
            service_principal_names=obj.service_principal_names + change.add_spns,
        )


def complete(first: Host, second: Host) -> tuple[ComputerObject, ComputerObject]:
    """Both objects with every piece of delegation in place."""
    uac = WORKSTATION | TRUSTED_TO_AUTH_FOR_DELEGATION
    return (
        dataclasses.replace(bare(first, uac), allowed_to_delegate_to=delegation_targets(second)),
        dataclasses.replace(bare(second, uac), allowed_to_delegate_to=delegation_targets(first)),
    )
