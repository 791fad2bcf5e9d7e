"""The ports the core needs from the outside world, as small Protocols.

`bot/` provides the real adapters (pypsrp, ldap3, sqlite-utils, Slack); tests provide fakes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from commands.errors import Refusal
from commands.hyperv import (
    CancelMethod,
    HostEvent,
    HostFacts,
    HostSettings,
    Incompatibility,
    MigrationOutcome,
    MigrationProgress,
    Processor,
    Survey,
    VmInfo,
    Volume,
)
from commands.inventory import Host
from commands.invocation import Invocation

if TYPE_CHECKING:
    from commands.delegation import DelegationReport, RepairPlan


class MigrationHandle(Protocol):
    """A migration started (or re-attached to) on its source host."""

    @property
    def vm_id(self) -> str:
        """The VM's GUID, which the host's migration job names."""
        ...

    @property
    def started_at(self) -> dt.datetime:
        """When the move was sent (UTC): jobs and events before it are not this move's."""
        ...

    def poll(self) -> MigrationProgress:
        """Read the migration job now."""
        ...

    def wait(self, timeout: float) -> MigrationOutcome | None:
        """The outcome if the migration ends within `timeout` seconds, else None."""
        ...

    def ended_on_hosts(self, timeout: float) -> bool:
        """Whether, within `timeout` seconds, the move is known to be over on both hosts (its
        command returned without error) before its outcome is decided: its hosts' slots may
        go to the next move. False when only the outcome can tell (failed, stopped,
        connection lost, re-attached after a restart): it returns at once then."""
        ...

    def cancel(self) -> CancelMethod:
        """Ask the host to stop the migration; says how."""
        ...


class HyperVPort(Protocol):
    """Everything the core asks of Hyper-V hosts. Raises `commands.hyperv.HyperVError`."""

    def find_vm(self, vm: str) -> VmInfo:
        """The VM named exactly `vm` on whichever inventory host runs it (exactly one)."""
        ...

    def get_vm(self, host: Host, vm: str) -> VmInfo:
        """The VM named exactly `vm` on `host`."""
        ...

    def list_vms(self, host: Host) -> tuple[VmInfo, ...]:
        """Every VM of `host`, with adapters, disks and DVD drives, in the host's order."""
        ...

    def processor(self, host: Host) -> Processor:
        """The host's processor vendor and model."""
        ...

    def survey(self, vm: str, destination: Host, paths: Sequence[str]) -> Survey:
        """The VM named exactly `vm` (as `find_vm`), the facts of the host that runs it and of
        `destination` (with whether each of `paths` exists there), in one parallel read."""
        ...

    def host_facts(self, host: Host, paths: Sequence[str] = ()) -> HostFacts:
        """A host's settings, switches, volumes, versions and whether each of `paths` exists."""
        ...

    def host_settings(self, host: Host) -> HostSettings:
        """The host's migration settings (Get-VMHost), networks and free memory."""
        ...

    def switches(self, host: Host) -> tuple[str, ...]:
        """Names of the host's virtual switches."""
        ...

    def volumes(self, host: Host) -> tuple[Volume, ...]:
        """The host's volumes and their free space."""
        ...

    def supported_versions(self, host: Host) -> tuple[str, ...]:
        """VM configuration versions the host can run."""
        ...

    def events_since(self, host: Host, since: dt.datetime) -> tuple[HostEvent, ...]:
        """VMMS-Admin events written at or after `since`, oldest first."""
        ...

    def compare(self, source: Host, invocation: Invocation) -> tuple[Incompatibility, ...]:
        """Compare-VM with the same move parameters as `invocation` (a Move-VM)."""
        ...

    def run(self, host: Host, invocations: Sequence[Invocation]) -> None:
        """Run short changing invocations (host settings, processor compatibility) in order."""
        ...

    def start_migration(self, source: Host, invocation: Invocation, vm_id: str) -> MigrationHandle:
        """Start a Move-VM/Move-VMStorage on `source` as a long pipeline; returns at once."""
        ...

    def reattach_migration(
        self, source: Host, vm_id: str, started_at: dt.datetime, invocation: Invocation
    ) -> MigrationHandle:
        """Follow a migration started earlier (maybe by a crashed process) without re-running it."""
        ...


class DelegationChecker(Protocol):
    """Reads Kerberos constrained delegation from the directory (`bot/directory/` adapts LDAP;
    the decisions are `commands.delegation`'s).

    Raises `commands.errors.Refusal` when no directory is configured. A configured directory
    that cannot answer makes the report "unknown" (and the plan raise `DirectoryError`).
    """

    def report(self, first: Host, second: Host) -> DelegationReport:
        """The delegation between the two hosts, both ways: each missing piece with its fix."""
        ...

    def repair_plan(self, first: Host, second: Host) -> RepairPlan:
        """Exactly the LDAP changes that would complete it (nothing is written)."""
        ...


class NoDirectory:
    """The delegation checker of a bot without a directory: every question is refused."""

    def report(self, first: Host, second: Host) -> DelegationReport:
        """Refuses: the answer is in Active Directory, which the bot cannot read."""
        raise _no_directory()

    def repair_plan(self, first: Host, second: Host) -> RepairPlan:
        """Refuses, like `report`."""
        raise _no_directory()


def _no_directory() -> Refusal:
    return Refusal(
        "The directory is not configured, so hvbot cannot read Kerberos delegation",
        "Add a [directory] section to hvbot.toml (see examples/hvbot.toml), or check the "
        "hosts' computer objects in Active Directory Users and Computers, Delegation tab.",
    )
