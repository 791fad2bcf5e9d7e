"""Fakes for the workflow tests: a Hyper-V world, a preflight over it, a notifier, an executor
that runs tasks only when told, and a clock that moves only when told."""

from __future__ import annotations

import collections
import datetime as dt
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import ParamSpec, Protocol, TypeVar

from commands.hyperv import (
    CancelMethod,
    ErrorKind,
    HostEvent,
    HostSettings,
    HyperVError,
    Incompatibility,
    JobState,
    MigrationOutcome,
    MigrationProgress,
    VmInfo,
    Volume,
)
from commands.inventory import Host, Inventory
from commands.invocation import Invocation, Parameter
from commands.requests import HostSetRequest, MigrateRequest, Move, Request, StorageRequest
from commands.workflow.approvals import ApprovalPolicy, Approvers, MemoryDirectory
from commands.workflow.memory_store import MemoryAuditStore
from commands.workflow.preflight import Finding, PreflightResult, Severity
from commands.workflow.records import Actor, AuditEvent, Place, RequestRecord
from commands.workflow.service import Workflow
from commands.workflow.store import AuditStore

P = ParamSpec("P")
T = TypeVar("T")

START = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)
HOSTS = (
    Host("HV-SRV01", "hv-srv01.lab.local"),
    Host("HV-SRV02", "hv-srv02.lab.local"),
    Host("HV-SRV03", "hv-srv03.lab.local"),
    Host("HV-CRIT", "hv-crit.lab.local", critical=True),
)
INVENTORY = Inventory(HOSTS)
REQUESTER = Actor("UREQ", "LAB\\req")
ALICE = Actor("UALICE", "LAB\\alice")
BOB = Actor("UBOB", "LAB\\bob")
CAROL = Actor("UCAROL", "LAB\\carol")
MALLORY = Actor("UMALLORY", "LAB\\mallory")
PLACE = Place("C0OPS", "1700000000.000100")


class Crash(BaseException):
    """The process dies here (not an Exception: no handler in the workflow catches it)."""


class FakeClock:
    """A clock that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


class ManualExecutor(Executor):
    """Runs submitted tasks only when the test calls `run_next`/`run_all`."""

    def __init__(self) -> None:
        self.tasks: collections.deque[Callable[[], None]] = collections.deque()
        self.closed = False

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        if self.closed:
            raise RuntimeError("shut down")
        future: Future[T] = Future()

        def task() -> None:
            future.set_result(fn(*args, **kwargs))

        self.tasks.append(task)
        return future

    def run_next(self) -> bool:
        if not self.tasks:
            return False
        self.tasks.popleft()()
        return True

    def run_all(self, limit: int = 200) -> int:
        """Runs tasks until idle or `limit` tasks ran (a followed migration never idles)."""
        for count in range(limit):
            if not self.run_next():
                return count
        return limit


class InspectableStore(AuditStore, Protocol):
    """A store whose whole log a test can read (both the memory and the SQLite store)."""

    def all_events(self) -> Sequence[AuditEvent]: ...


class SlowReadStore(MemoryAuditStore):
    """Reads take a moment, so racing threads really interleave between read and write."""

    def get(self, request_id: int) -> RequestRecord | None:
        """The record, a millisecond late."""
        record = super().get(request_id)
        time.sleep(0.001)
        return record


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
    on_start: Callable[[str], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

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

    def host_settings(self, host: Host) -> HostSettings:
        if host.name in self.unreachable:
            raise HyperVError(ErrorKind.HOST_UNREACHABLE, f"{host.name} does not answer.")
        return HostSettings(
            host=host.name,
            migration_enabled=True,
            max_vm_migrations=self.limits.get(host.name, 2),
            max_storage_migrations=self.limits.get(host.name, 2),
            authentication="Kerberos",
            performance="Compression",
            use_any_network=False,
        )

    def switches(self, host: Host) -> tuple[str, ...]:
        return ("LAN",)

    def volumes(self, host: Host) -> tuple[Volume, ...]:
        return ()

    def supported_versions(self, host: Host) -> tuple[str, ...]:
        return ("10.0",)

    def path_exists(self, host: Host, path: str) -> bool:
        return True

    def events_since(self, host: Host, since: dt.datetime) -> tuple[HostEvent, ...]:
        return ()

    def compare(self, source: Host, invocation: Invocation) -> tuple[Incompatibility, ...]:
        return ()

    def run(self, host: Host, invocations: Sequence[Invocation]) -> None:
        with self.lock:
            self.runs.append((host.name, tuple(i.render() for i in invocations)))

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
            raise HyperVError(ErrorKind.HOST_UNREACHABLE, f"{source.name} does not answer.")
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
    """Plans `Move-VM` on the VM's current host; findings injected by tests."""

    def __init__(self, world: FakeHyperV) -> None:
        self.world = world
        self.blocking: dict[str, str] = {}
        self.calls = 0

    def preflight(self, request: Request) -> PreflightResult:
        self.calls += 1
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
        assert isinstance(request, MigrateRequest)
        move = request.move
        vm = self.world.find_vm(move.vm)
        source = INVENTORY.find(vm.host)
        findings: list[Finding] = []
        if vm.host == move.destination.name:
            findings.append(Finding(Severity.BLOCKING, "same_host", f"{vm.name} is already there."))
        if move.vm in self.blocking:
            findings.append(Finding(Severity.BLOCKING, "injected", self.blocking[move.vm]))
        findings.append(Finding(Severity.INFO, "ok", "Compare-VM found nothing."))
        invocation = Invocation(
            "Move-VM",
            (Parameter("Name", vm.name), Parameter("DestinationHost", move.destination.fqdn)),
        )
        return PreflightResult(tuple(findings), (invocation,), source, move.destination, vm.id)


class RecordingNotifier:
    """Keeps every message, progress reading and final report, thread-safely."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[tuple[int, str]] = []
        self.progress_readings: list[tuple[int, int]] = []
        self.finals: list[tuple[int, str]] = []

    def request_updated(self, record: RequestRecord, message: str) -> None:
        with self.lock:
            self.messages.append((record.id, message))

    def progress(self, record: RequestRecord, progress: MigrationProgress) -> None:
        with self.lock:
            self.progress_readings.append((record.id, progress.percent))

    def finished(self, record: RequestRecord, outcome: MigrationOutcome | None) -> None:
        with self.lock:
            self.finals.append((record.id, record.state.value))

    def texts(self, request_id: int) -> list[str]:
        with self.lock:
            return [m for i, m in self.messages if i == request_id]


@dataclass
class Rig:
    """Everything a workflow test needs, wired like `bot/` would."""

    clock: FakeClock
    store: InspectableStore
    world: FakeHyperV
    preflight: FakePreflight
    notifier: RecordingNotifier
    approvers: Approvers
    poll_seconds: float = 0.0
    executor: Executor = field(default_factory=ManualExecutor)
    expiry_seconds: float = 30.0
    workflow: Workflow = field(init=False)

    def __post_init__(self) -> None:
        self.workflow = self._build()

    def restart(self, executor: Executor | None = None) -> Workflow:
        """A new process on the same database and hosts (the old one's tasks are gone)."""
        self.executor = executor or ManualExecutor()
        self.workflow = self._build()
        return self.workflow

    def other_process(self, executor: Executor) -> Workflow:
        """A second bot process on the same database and hosts, running on `executor`."""
        current = self.executor
        self.executor = executor
        try:
            return self._build()
        finally:
            self.executor = current

    def run(self, limit: int = 200) -> int:
        """Runs the manual executor's tasks (see `ManualExecutor.run_all`)."""
        assert isinstance(self.executor, ManualExecutor)
        return self.executor.run_all(limit)

    def _build(self) -> Workflow:
        return Workflow(
            store=self.store,
            hyperv=self.world,
            preflight=self.preflight,
            approvers=self.approvers,
            notifier=self.notifier,
            inventory=INVENTORY,
            executor=self.executor,
            clock=self.clock,
            poll_seconds=self.poll_seconds,
            expiry_seconds=self.expiry_seconds,
        )


def make_rig(
    *,
    executor: Executor | None = None,
    allow_self_approval: bool = False,
    ttl_minutes: int = 60,
    poll_seconds: float = 0.0,
    expiry_seconds: float = 30.0,
    store: Callable[[FakeClock], InspectableStore] = MemoryAuditStore,
) -> Rig:
    """Three VMs on HV-SRV01; approvers: UALICE and UREQ by id, UBOB by Slack user group,
    carol through nested AD groups (HV-Approvers > LAB\\Leads > carol)."""
    clock = FakeClock()
    world = FakeHyperV(clock=clock)
    for name in ("SRV-APP01", "SRV-APP02", "SRV-DB01"):
        world.add_vm(name, "HV-SRV01")
    directory = MemoryDirectory(
        usergroups={"SAPPROVERS": ["UBOB"]},
        ad_groups={"HV-Approvers": ["LAB\\Leads"], "LAB\\Leads": ["LAB\\carol"]},
    )
    policy = ApprovalPolicy(
        users=frozenset({"UALICE", "UREQ"}),
        usergroups=("SAPPROVERS",),
        ad_groups=("HV-Approvers",),
        allow_self_approval=allow_self_approval,
        required_critical=2,
        ttl=dt.timedelta(minutes=ttl_minutes),
    )
    return Rig(
        clock=clock,
        store=store(clock),
        world=world,
        preflight=FakePreflight(world),
        notifier=RecordingNotifier(),
        approvers=Approvers(policy, directory),
        poll_seconds=poll_seconds,
        executor=executor or ManualExecutor(),
        expiry_seconds=expiry_seconds,
    )


def host(name: str) -> Host:
    """The inventory host called `name`."""
    found = INVENTORY.find(name)
    assert found is not None
    return found


def move(vm: str, destination: str = "HV-SRV02") -> MigrateRequest:
    """`/migrate <vm> to <destination>`."""
    return MigrateRequest(Move(vm=vm, destination=host(destination)))


def kinds(rig: Rig, request_id: int) -> list[str]:
    """The request's audit event kinds, in order."""
    return [e.kind for e in rig.store.events(request_id)]
