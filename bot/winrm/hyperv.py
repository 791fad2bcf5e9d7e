"""The Hyper-V port over WinRM: typed reads and changes on inventory hosts, and migrations.

Every call is a structured invocation (cmdlet + parameters) on the host's shared pool;
a migration runs on a pool of its own (see `bot.winrm.migration`).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bot.winrm import objects as o
from bot.winrm.calls import (
    MIGRATION_LOGS,
    Step,
    call,
    refuse_foreign_destination,
    refuse_pattern,
    script,
)
from bot.winrm.errors import records_error
from bot.winrm.migration import Migration
from bot.winrm.session import HostSession, Result, Sessions
from commands.diagnosis import KNOWLEDGE
from commands.hyperv import (
    ErrorKind,
    HardDisk,
    HostEvent,
    HostFacts,
    HostSettings,
    Incompatibility,
    MigrationNetwork,
    NetworkAdapter,
    Processor,
    Survey,
    VmInfo,
    Volume,
)
from commands.inventory import Host
from commands.invocation import Invocation, ParameterValue
from commands.ports import MigrationHandle

log = logging.getLogger(__name__)

MAX_EVENTS = 200


class WinRMHyperV:
    """`commands.ports.HyperVPort` over pypsrp, for the hosts of one inventory."""

    def __init__(self, sessions: Sessions, *, poll_interval: float = 1.0) -> None:
        self.sessions = sessions
        self.inventory = sessions.settings.inventory
        self.poll_interval = poll_interval

    # -- plumbing ------------------------------------------------------------------------

    def session(self, host: Host) -> HostSession:
        """The shared session of an inventory host."""
        return self.sessions.get(host)

    def query(self, host: Host, step: Step, *, tolerate: str | tuple[str, ...] = ()) -> list[Any]:
        """Output of a read; error records fail it unless their FQEID starts with `tolerate`."""
        session = self.session(host)
        result = session.run([step])
        self._raise_for(session, result, tolerate)
        return result.output

    def _raise_for(
        self, session: HostSession, result: Result, tolerate: str | tuple[str, ...] = ()
    ) -> None:
        errors = [
            e
            for e in result.errors
            if not (tolerate and str(getattr(e, "fq_error", "") or "").startswith(tolerate))
        ]
        if result.had_errors or errors:
            raise records_error(errors or result.errors, session.host.name, session.scrub)

    # -- VMs -----------------------------------------------------------------------------

    def find_vm(self, vm: str) -> VmInfo:
        """The VM named exactly `vm`: every inventory host is asked in parallel."""
        return self._search(vm, None, ()).vm

    def survey(self, vm: str, destination: Host, paths: Sequence[str]) -> Survey:
        """The VM named exactly `vm`, its host's facts and the destination's (with `paths`):
        one pipeline per inventory host, all in parallel."""
        return self._search(vm, destination, tuple(paths))

    def _search(self, vm: str, destination: Host | None, paths: tuple[str, ...]) -> Survey:
        refuse_pattern(vm)
        hosts = list(self.inventory)
        with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
            # Each worker runs in a copy of the caller's context, so the log fields bound
            # for the request (its id) follow the search onto the pool's threads.
            searches = [
                pool.submit(contextvars.copy_context().run, self._read, h, vm, destination, paths)
                for h in hosts
            ]
            answers = [search.result() for search in searches]
        found = [
            (h, r)
            for h, records in zip(hosts, answers, strict=True)
            for r in records
            if _is_vm(r) and o.text(r, "Name").casefold() == vm.casefold()
        ]
        if not found:
            raise KNOWLEDGE[ErrorKind.VM_NOT_FOUND].error(
                detail=f"vm={vm}", summary=f"No inventory host runs a VM named {vm}."
            )
        if len(found) > 1:
            where = ", ".join(h.name for h, _ in found)
            raise KNOWLEDGE[ErrorKind.VM_AMBIGUOUS].error(
                detail=f"vm={vm} hosts={where}",
                summary=f"{vm} exists on more than one host: {where}.",
            )
        facts = tuple(
            self._facts(h, r)
            for h, records in zip(hosts, answers, strict=True)
            for r in records
            if not _is_vm(r)
        )
        return Survey(self._details(*found[0]), facts)

    def _read(
        self, host: Host, vm: str, destination: Host | None, paths: tuple[str, ...]
    ) -> list[Any]:
        """read.ps1 on one host: the VM if it is there; the facts of the VM's host (and all of
        the destination's) when a move is being surveyed."""
        facts = "Never"
        if destination is not None:
            facts = "Always" if host.name.casefold() == destination.name.casefold() else "WithVM"
        parameters: list[tuple[str, ParameterValue]] = [("Name", vm), ("Facts", facts)]
        if facts == "Always" and paths:
            parameters.append(("Paths", paths))
        # A host that does not answer must not hide the VM's real location: fail the search.
        return self.query(host, script("read.ps1", *parameters), tolerate="InvalidParameter")

    def _machines(self, host: Host, vm: str) -> list[Any]:
        return [
            r
            for r in self._read(host, vm, None, ())
            if _is_vm(r) and o.text(r, "Name").casefold() == vm.casefold()
        ]

    def get_vm(self, host: Host, vm: str) -> VmInfo:
        """The VM named exactly `vm` on `host`, with adapters, disks, DVD and processor."""
        refuse_pattern(vm)
        machines = self._machines(host, vm)
        if not machines:
            raise KNOWLEDGE[ErrorKind.VM_NOT_FOUND].error(
                detail=f"vm={vm}", host=host.name, summary=f"{host.name} has no VM named {vm}."
            )
        return self._details(host, machines[0])

    def list_vms(self, host: Host) -> tuple[VmInfo, ...]:
        """Every VM of `host` (Get-VM without a name), each with its details."""
        return tuple(
            self._details(host, m)
            for m in self.query(host, script("read.ps1", ("AllVMs", None)))
            if _is_vm(m)
        )

    def _details(self, host: Host, machine: Any) -> VmInfo:
        """The VmInfo of one VM record of read.ps1 (devices included, read on the host)."""
        return VmInfo(
            id=o.text(machine, "Id").strip("{}").lower(),
            name=o.text(machine, "Name"),
            host=host.name,
            state=o.text(machine, "State"),
            memory_bytes=o.number(machine, "MemoryAssigned") or o.number(machine, "MemoryStartup"),
            processor_compatibility=o.flag(machine, "CompatibilityForMigrationEnabled"),
            configuration_version=o.text(machine, "Version"),
            path=o.text(machine, "Path"),
            adapters=tuple(
                NetworkAdapter(o.text(a, "Name"), o.text(a, "SwitchName") or None)
                for a in o.items(o.prop(machine, "Adapters"))
            ),
            disks=tuple(
                HardDisk(
                    path=o.text(d, "Path"),
                    size_bytes=o.number(d, "FileSize"),
                    controller=o.text(d, "ControllerType"),
                )
                for d in o.items(o.prop(machine, "Disks"))
            ),
            dvd_paths=tuple(
                t for t in (o.text_of(p) for p in o.items(o.prop(machine, "DvdPaths"))) if t
            ),
            clustered=o.flag(machine, "IsClustered"),
        )

    # -- hosts ---------------------------------------------------------------------------

    def host_facts(self, host: Host, paths: Sequence[str] = ()) -> HostFacts:
        """Settings, networks, free memory, switches, volumes, versions and `paths` of a host,
        in one round trip (read.ps1)."""
        output = self.query(host, script("read.ps1", ("Facts", "Always"), ("Paths", tuple(paths))))
        records = [r for r in output if not _is_vm(r)]
        if not records:
            raise KNOWLEDGE[ErrorKind.REMOTE_ERROR].error(detail="read.ps1 returned no host")
        return self._facts(host, records[0])

    def _facts(self, host: Host, h: Any) -> HostFacts:
        """The HostFacts of read.ps1's host record."""
        settings = HostSettings(
            host=host.name,
            migration_enabled=o.flag(h, "MigrationEnabled"),
            max_vm_migrations=o.number(h, "MaximumVirtualMachineMigrations"),
            max_storage_migrations=o.number(h, "MaximumStorageMigrations"),
            authentication=o.text(h, "Authentication"),
            performance=o.text(h, "Performance"),
            use_any_network=o.flag(h, "UseAnyNetwork"),
            networks=tuple(
                MigrationNetwork(o.text(n, "Subnet"), o.number(n, "Priority"))
                for n in o.items(o.prop(h, "Networks"))
            ),
            logical_processors=o.number(h, "LogicalProcessorCount"),
            memory_total_bytes=o.number(h, "MemoryCapacity"),
            memory_free_bytes=o.number(h, "FreeMemoryBytes"),
        )
        return HostFacts(
            settings=settings,
            switches=o.texts(o.prop(h, "Switches")),
            volumes=tuple(
                Volume(o.text(v, "Path"), o.number(v, "Size"), o.number(v, "SizeRemaining"))
                for v in o.items(o.prop(h, "Volumes"))
                if o.text(v, "Path")
            ),
            supported_versions=o.texts(o.prop(h, "SupportedVersions")),
            paths=tuple(
                (o.text(p, "Path"), o.flag(p, "Exists")) for p in o.items(o.prop(h, "Paths"))
            ),
        )

    def processor(self, host: Host) -> Processor:
        """Win32_Processor's Manufacturer and Name (the first socket: hosts do not mix CPUs)."""
        result = self.session(host).run([call("Get-CimInstance", ("ClassName", "Win32_Processor"))])
        if result.failed or not result.output:
            # Like Win32_OperatingSystem, a restricted endpoint may not expose it: unknown.
            return Processor("", "")
        first = result.output[0]
        return Processor(o.text(first, "Manufacturer"), o.text(first, "Name"))

    def host_settings(self, host: Host) -> HostSettings:
        """Get-VMHost, Get-VMMigrationNetwork and the free memory of `host`."""
        return self.host_facts(host).settings

    def switches(self, host: Host) -> tuple[str, ...]:
        """Names of the host's virtual switches."""
        return self.host_facts(host).switches

    def volumes(self, host: Host) -> tuple[Volume, ...]:
        """Volumes with a drive letter or path, and their free space."""
        return self.host_facts(host).volumes

    def supported_versions(self, host: Host) -> tuple[str, ...]:
        """Configuration versions the host can run (Get-VMHostSupportedVersion)."""
        return self.host_facts(host).supported_versions

    def events_since(self, host: Host, since: dt.datetime) -> tuple[HostEvent, ...]:
        """Migration events (VMMS-Admin and High-Availability-Admin) at or after `since`,
        oldest first."""
        output = self.query(
            host,
            call("Get-WinEvent", ("LogName", MIGRATION_LOGS), ("MaxEvents", MAX_EVENTS)),
            tolerate=("NoMatchingEventsFound", "NoMatchingLogsFound"),
        )
        events = []
        for e in output:
            created = o.timestamp(o.prop(e, "TimeCreated"))
            if created is None or created < since:
                continue
            events.append(
                HostEvent(
                    event_id=o.number(e, "Id"),
                    time_created=created,
                    level=o.text(e, "LevelDisplayName"),
                    message=o.text(e, "Message"),
                )
            )
        return tuple(sorted(events, key=lambda e: e.time_created))

    def compare(self, source: Host, invocation: Invocation) -> tuple[Incompatibility, ...]:
        """Compare-VM with the move's parameters; the report's incompatibilities."""
        refuse_foreign_destination(invocation, self.inventory)
        session = self.session(source)
        # The report's Incompatibilities are below the top level: over remoting each would
        # arrive as its ToString text. Expanded on the host, each error is an output object
        # whose MessageId (Int64) and Message (String) keep their types.
        result = session.run(
            [
                Invocation("Compare-VM", invocation.parameters),
                call("Select-Object", ("ExpandProperty", "Incompatibilities")),
            ]
        )
        self._raise_for(session, result)
        return tuple(
            Incompatibility(
                message_id=o.number(item, "MessageId"),
                message=session.scrub(o.text(item, "Message")),
                source=session.scrub(o.text(item, "Source")),
            )
            for item in result.output
        )

    def run(self, host: Host, invocations: Sequence[Invocation]) -> None:
        """Run changing invocations in order; stop at the first that reports any error."""
        session = self.session(host)
        for invocation in invocations:
            result = session.run([invocation], idempotent=False)
            self._raise_for(session, result)
            log.info(
                "host change applied",
                extra={"host": host.name, "invocation": invocation.render()},
            )

    # -- migrations ----------------------------------------------------------------------

    def start_migration(self, source: Host, invocation: Invocation, vm_id: str) -> MigrationHandle:
        """Start Move-VM/Move-VMStorage on `source` on a pool of its own; returns at once."""
        return Migration.start(self, source, invocation, vm_id)

    def reattach_migration(
        self, source: Host, vm_id: str, started_at: dt.datetime, invocation: Invocation
    ) -> MigrationHandle:
        """Follow a migration started earlier, from the hosts alone; never re-runs it."""
        return Migration.reattach(self, source, invocation, vm_id, started_at)

    def close(self) -> None:
        """Close every pool."""
        self.sessions.close()


def _is_vm(record: Any) -> bool:
    """Whether a read.ps1 record describes a VM (the other kind describes its host)."""
    return o.text(record, "Record") == "vm"
