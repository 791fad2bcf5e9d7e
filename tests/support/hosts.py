"""A fake Hyper-V world for the workflow tests: VMs on hosts, migrations that end when a test
says so, a log of every start (the "one Move-VM" oracle), and a preflight over that world."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from commands.delegation import DelegationDirectory
from commands.drain import drain_preflight, plan_drain
from commands.findings import Finding, FindingCode, PreflightResult, Severity
from commands.hyperv import (
    CancelMethod,
    ErrorKind,
    HostEvent,
    HostFacts,
    HostSettings,
    HyperVError,
    Incompatibility,
    JobState,
    MigrationNetwork,
    MigrationOutcome,
    MigrationProgress,
    Processor,
    Survey,
    VmInfo,
    Volume,
)
from commands.inventory import Host, Inventory
from commands.invocation import Invocation, Parameter
from commands.preflight import HostPreflight
from commands.requests import (
    CheckRequest,
    DelegationRequest,
    DrainRequest,
    HostChange,
    HostSetRequest,
    MigrateRequest,
    Request,
    StorageRequest,
    VmCompatibilityRequest,
)
from support.clock import START

_SETTING_FIELDS = {
    "MaximumVirtualMachineMigrations": "max_vm_migrations",
    "MaximumStorageMigrations": "max_storage_migrations",
    "VirtualMachineMigrationAuthenticationType": "authentication",
    "VirtualMachineMigrationPerformanceOption": "performance",
    "UseAnyNetworkForMigration": "use_any_network",
}


def lab_host(name: str, critical: bool = False) -> Host:
    """An inventory host named like the lab's (`HV-SRV01` at `hv-srv01.lab.local`)."""
    return Host(name, f"{name.lower()}.lab.local", critical=critical)


def inventory(*names: str, critical: Collection[str] = ()) -> Inventory:
    """An inventory of lab hosts; those named in `critical` need two approvals."""
    return Inventory([lab_host(name, name in critical) for name in names])


INVENTORY = inventory("HV-SRV01", "HV-SRV02", "HV-SRV03", "HV-CRIT", critical={"HV-CRIT"})
HOSTS = tuple(INVENTORY)


class Crash(BaseException):
    """The process dies here (not an Exception: no handler in the workflow catches it)."""


class FakeMigration:
    """A migration job on a fake host; ends when the test (or a cancel) says so."""

    def __init__(
        self, world: FakeHyperV, vm: str, destination: str, started_at: dt.datetime
    ) -> None:
        self.world = world
        self.vm = vm
        self.destination = destination
        self._started_at = started_at
        self.outcome: MigrationOutcome | None = None
        self.ended = threading.Event()
        self.percent = 0

    @property
    def vm_id(self) -> str:
        return self.world.vms[self.vm].id

    @property
    def started_at(self) -> dt.datetime:
        return self._started_at

    def finish(self, succeeded: bool = True) -> None:
        if self.outcome is not None:
            return
        if succeeded:
            self.world.place_vm(self.vm, self.destination)
            self.outcome = MigrationOutcome(True, 42.0, blackout_seconds=0.3)
        else:
            error = HyperVError(ErrorKind.SWITCH_MISSING, "Could not find Ethernet switch 'LAN'.")
            self.outcome = MigrationOutcome(False, 3.0, error=error)
        self.ended.set()

    def poll(self) -> MigrationProgress:
        if self.world.poll_failures:
            self.world.poll_failures -= 1
            raise HyperVError(ErrorKind.TIMEOUT, "The host did not answer in time.")
        self.percent = min(99, self.percent + 10)
        state = JobState.COMPLETED if self.outcome else JobState.RUNNING
        return MigrationProgress(state, self.percent, 1.0, cancellable=True)

    def wait(self, timeout: float) -> MigrationOutcome | None:
        self.ended.wait(timeout)
        return self.outcome

    def ended_on_hosts(self, timeout: float) -> bool:
        self.ended.wait(timeout)
        return self.outcome is not None and self.outcome.succeeded

    def cancel(self) -> CancelMethod:
        if self.outcome is not None:
            return CancelMethod.TOO_LATE
        error = HyperVError(ErrorKind.CANCELLED, "The migration was cancelled.")
        self.outcome = MigrationOutcome(False, 5.0, error=error)
        self.ended.set()
        return CancelMethod.JOB_STATE_CHANGE


@dataclass
class FakeHyperV:
    """VMs on hosts, host limits, and a log of every start (the "one Move-VM" oracle)."""

    vms: dict[str, VmInfo] = field(default_factory=dict)
    limits: dict[str, int] = field(default_factory=dict)
    starts: list[tuple[str, str]] = field(default_factory=list)
    runs: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    migrations: list[FakeMigration] = field(default_factory=list)
    crash_on_start: str | None = None
    poll_failures: int = 0
    clock: Callable[[], dt.datetime] = lambda: START
    unreachable: set[str] = field(default_factory=set)
    unreachable_kind: ErrorKind = ErrorKind.HOST_UNREACHABLE
    on_start: Callable[[str], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Host setting fields that differ from the defaults, per host: set by a test, or changed
    # by `run` (Set-VMHost & co).
    changed: dict[str, dict[str, Any]] = field(default_factory=dict)
    # A host that accepts changes and keeps its old values (the read-back must notice).
    ignores_changes: bool = False
    # What the preflight reads, per host where it varies: the defaults are hosts that fit.
    switch_names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    host_volumes: dict[str, tuple[Volume, ...]] = field(default_factory=dict)
    versions: tuple[str, ...] = ("10.0",)
    # Paths that exist on every host; None: every path does.
    paths: set[str] | None = None
    incompatibilities: tuple[Incompatibility, ...] = ()
    compared: list[Invocation] = field(default_factory=list)

    def add_vm(self, name: str, host: str) -> None:
        self.vms[name] = VmInfo(
            id=f"id-{name.lower()}",
            name=name,
            host=host,
            state="Running",
            memory_bytes=4 << 30,
            processor_compatibility=False,
            configuration_version="10.0",
            path="D:\\VMs",
        )

    def place_vm(self, name: str, host: str) -> None:
        vm = self.vms[name]
        self.vms[name] = VmInfo(**{**vm.__dict__, "host": host})

    def active(self, host: str) -> int:
        return sum(
            m.outcome is None and host in (self.vms[m.vm].host, m.destination)
            for m in self.migrations
        )

    def find_vm(self, vm: str) -> VmInfo:
        if vm not in self.vms:
            raise HyperVError(ErrorKind.VM_NOT_FOUND, f"No VM named {vm}.")
        return self.vms[vm]

    def get_vm(self, host: Host, vm: str) -> VmInfo:
        return self.find_vm(vm)

    def list_vms(self, host: Host) -> tuple[VmInfo, ...]:
        return tuple(vm for vm in self.vms.values() if vm.host == host.name)

    def processor(self, host: Host) -> Processor:
        return Processor("GenuineIntel", "Intel(R) Xeon(R) Gold 6338")

    def host_facts(self, host: Host, paths: Sequence[str] = ()) -> HostFacts:
        return HostFacts(
            self.host_settings(host),
            self.switches(host),
            self.volumes(host),
            self.supported_versions(host),
            tuple((p, self.paths is None or p in self.paths) for p in paths),
        )

    def survey(self, vm: str, destination: Host, paths: Sequence[str]) -> Survey:
        found = self.find_vm(vm)
        source = Host(found.host, found.host.lower())
        return Survey(found, (self.host_facts(source), self.host_facts(destination, paths)))

    def host_settings(self, host: Host) -> HostSettings:
        if host.name in self.unreachable:
            raise HyperVError(self.unreachable_kind, f"{host.name} does not answer.")
        settings = HostSettings(
            host=host.name,
            migration_enabled=True,
            max_vm_migrations=self.limits.get(host.name, 2),
            max_storage_migrations=self.limits.get(host.name, 2),
            authentication="Kerberos",
            performance="Compression",
            use_any_network=False,
        )
        with self.lock:
            return dataclasses.replace(settings, **self.changed.get(host.name, {}))

    def switches(self, host: Host) -> tuple[str, ...]:
        return self.switch_names.get(host.name, ("LAN",))

    def volumes(self, host: Host) -> tuple[Volume, ...]:
        return self.host_volumes.get(host.name, ())

    def supported_versions(self, host: Host) -> tuple[str, ...]:
        return self.versions

    def events_since(self, host: Host, since: dt.datetime) -> tuple[HostEvent, ...]:
        return ()

    def compare(self, source: Host, invocation: Invocation) -> tuple[Incompatibility, ...]:
        self.compared.append(invocation)
        return self.incompatibilities

    def run(self, host: Host, invocations: Sequence[Invocation]) -> None:
        with self.lock:
            self.runs.append((host.name, tuple(i.render() for i in invocations)))
            if not self.ignores_changes:
                for invocation in invocations:
                    self._apply(host.name, invocation)

    def _apply(self, host: str, invocation: Invocation) -> None:
        """What the change does to the fake host's settings (or the VM's processor)."""
        fields = self.changed.setdefault(host, {})
        params = {p.name: p.value for p in invocation.parameters}
        match invocation.cmdlet:
            case "Set-VMHost":
                fields.update({_SETTING_FIELDS[name]: value for name, value in params.items()})
            case "Enable-VMMigration" | "Disable-VMMigration":
                fields["migration_enabled"] = invocation.cmdlet == "Enable-VMMigration"
            case "Add-VMMigrationNetwork":
                priority = params.get("Priority", 1)
                assert isinstance(priority, int)
                network = MigrationNetwork(str(params["Subnet"]), priority)
                fields["networks"] = (*fields.get("networks", ()), network)
            case "Remove-VMMigrationNetwork":
                kept = [n for n in fields.get("networks", ()) if n.subnet != params["Subnet"]]
                fields["networks"] = tuple(kept)
            case "Set-VMProcessor":
                vm = self.vms[str(params["VMName"])]
                enabled = bool(params["CompatibilityForMigrationEnabled"])
                self.vms[vm.name] = dataclasses.replace(vm, processor_compatibility=enabled)

    def start_migration(self, source: Host, invocation: Invocation, vm_id: str) -> FakeMigration:
        if self.crash_on_start == "before":
            raise Crash
        vm = str(invocation.parameter("Name"))
        if self.on_start is not None:
            self.on_start(vm)
        migration = FakeMigration(self, vm, self._destination(invocation), self.clock())
        with self.lock:
            self.starts.append((vm_id, invocation.render()))
            self.migrations.append(migration)
        if self.crash_on_start == "after":
            raise Crash
        return migration

    def _destination(self, invocation: Invocation) -> str:
        if not invocation.has("DestinationHost"):
            return self.vms[str(invocation.parameter("Name"))].host
        return str(invocation.parameter("DestinationHost")).split(".")[0].upper()

    def reattach_migration(
        self, source: Host, vm_id: str, started_at: dt.datetime, invocation: Invocation
    ) -> FakeMigration:
        """The job for the VM started since `started_at`; if none ever started, a finished
        failed one, as a host that finds the VM still on its source would report."""
        if source.name in self.unreachable:
            raise HyperVError(self.unreachable_kind, f"{source.name} does not answer.")
        for migration in reversed(self.migrations):
            if migration.vm_id == vm_id and migration.started_at >= started_at:
                return migration
        vm = str(invocation.parameter("Name"))
        lost = FakeMigration(self, vm, self._destination(invocation), started_at)
        error = HyperVError(ErrorKind.REMOTE_ERROR, "No migration job found; the VM did not move.")
        lost.outcome = MigrationOutcome(False, 0.0, error=error)
        lost.ended.set()
        return lost


class FakePreflight:
    """Plans `Move-VM` on the VM's current host (and a plausible cmdlet for every other
    change); findings injected by tests."""

    def __init__(self, world: FakeHyperV) -> None:
        self.world = world
        self.blocking: dict[str, str] = {}
        self.calls = 0
        self.directory: DelegationDirectory | None = None

    def preflight(self, request: Request) -> PreflightResult:
        self.calls += 1
        if isinstance(request, DelegationRequest):
            # The real check of a delegation fix, against the rig's directory.
            return HostPreflight(self.world, INVENTORY, self.directory).preflight(request)
        if isinstance(request, HostSetRequest):
            invocation = Invocation(
                "Set-VMHost",
                (Parameter("MaximumVirtualMachineMigrations", int(request.value)),),
            )
            return PreflightResult((), (invocation,), request.host)
        if isinstance(request, StorageRequest):
            vm = self.world.find_vm(request.vm)
            invocation = Invocation(
                "Move-VMStorage",
                (
                    Parameter("Name", vm.name),
                    Parameter("DestinationStoragePath", request.storage_path),
                ),
            )
            return PreflightResult((), (invocation,), INVENTORY.find(vm.host), vm_id=vm.id)
        if isinstance(request, DrainRequest):
            return drain_preflight(plan_drain(self.world, INVENTORY, request.drain), INVENTORY)
        if isinstance(request, VmCompatibilityRequest):
            vm = self.world.find_vm(request.vm)
            invocation = Invocation(
                "Set-VMProcessor",
                (
                    Parameter("VMName", vm.name),
                    Parameter("CompatibilityForMigrationEnabled", request.enabled),
                ),
            )
            return PreflightResult((), (invocation,), INVENTORY.find(vm.host), vm_id=vm.id)
        if isinstance(request, HostChange):
            invocation = Invocation(f"{type(request).__name__.removesuffix('Request')}-VMHost", ())
            return PreflightResult((), (invocation,), request.host)
        assert isinstance(request, MigrateRequest | CheckRequest)
        move = request.move
        vm = self.world.find_vm(move.vm)
        source = INVENTORY.find(vm.host)
        findings: list[Finding] = []
        if vm.host == move.destination.name:
            findings.append(
                Finding(Severity.BLOCKING, FindingCode.PLAN, f"{vm.name} is already there.")
            )
        if move.vm in self.blocking:
            findings.append(
                Finding(Severity.BLOCKING, FindingCode.REMOTE_ERROR, self.blocking[move.vm])
            )
        invocation = Invocation(
            "Move-VM",
            (Parameter("Name", vm.name), Parameter("DestinationHost", move.destination.fqdn)),
        )
        return PreflightResult(tuple(findings), (invocation,), source, move.destination, vm.id)
