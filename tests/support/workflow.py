"""Fakes for the workflow tests: stores, a notifier, an executor that runs tasks only when told,
a clock that moves only when told, and the rig that wires them (hosts: `support.hosts`)."""

from __future__ import annotations

import collections
import datetime as dt
import threading
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any, ParamSpec, Protocol, TypeVar

from commands.delegation import DelegationDirectory
from commands.handling import Handler
from commands.hyperv import (
    MigrationOutcome,
    MigrationProgress,
)
from commands.inventory import Host
from commands.ports import DelegationChecker, NoDirectory
from commands.requests import MigrateRequest, Move
from commands.workflow.approvals import ApprovalPolicy, Approvers, MemoryDirectory
from commands.workflow.cards import ApprovalCard
from commands.workflow.memory_store import MemoryAuditStore
from commands.workflow.notify import ProgressCadence
from commands.workflow.records import (
    Actor,
    AuditEvent,
    EventDraft,
    Place,
    RequestRecord,
    State,
    TransitionResult,
)
from commands.workflow.service import Workflow
from commands.workflow.store import AuditStore
from support.clock import START as START
from support.clock import FakeClock
from support.hosts import HOSTS as HOSTS  # re-exported for the tests
from support.hosts import INVENTORY as INVENTORY
from support.hosts import Crash as Crash
from support.hosts import FakeHyperV, FakePreflight
from support.hosts import FakeMigration as FakeMigration

P = ParamSpec("P")
T = TypeVar("T")

REQUESTER = Actor("UREQ", "LAB\\req")
ALICE = Actor("UALICE", "LAB\\alice")
BOB = Actor("UBOB", "LAB\\bob")
CAROL = Actor("UCAROL", "LAB\\carol")
MALLORY = Actor("UMALLORY", "LAB\\mallory")
PLACE = Place("C0OPS", "1700000000.000100")


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


class RaceStore(MemoryAuditStore):
    """Makes a race deterministic: `after_reading_log` runs once, right after the next read of
    a request's log; `before_writing[kind]` runs once, just before a step recording `kind`."""

    def __init__(self, clock: Callable[[], dt.datetime]) -> None:
        super().__init__(clock)
        self.after_reading_log: Callable[[], object] | None = None
        self.before_writing: dict[str, Callable[[], object]] = {}

    def events(self, request_id: int) -> Sequence[AuditEvent]:
        """The log; then the pending `after_reading_log`, if any."""
        found = super().events(request_id)
        meanwhile, self.after_reading_log = self.after_reading_log, None
        if meanwhile is not None:
            meanwhile()
        return found

    def transition(
        self,
        request_id: int,
        expected: Collection[State],
        new_state: State,
        event: EventDraft,
        **options: Any,
    ) -> TransitionResult:
        """The pending `before_writing[event.kind]`, if any; then the conditional step."""
        meanwhile = self.before_writing.pop(event.kind, None)
        if meanwhile is not None:
            meanwhile()
        return super().transition(request_id, expected, new_state, event, **options)


class RecordingNotifier:
    """Keeps every card, message, progress reading and final report, thread-safely. With
    `refs`, answers as a chat would, with message references `card-<id>`, `progress-<id>`."""

    def __init__(self) -> None:
        self.refs = False
        self.lock = threading.Lock()
        self.cards: list[ApprovalCard] = []
        self.messages: list[tuple[int, str]] = []
        self.progress_readings: list[tuple[int, int]] = []
        self.finals: list[tuple[int, str]] = []
        self.summaries: list[tuple[int, str]] = []
        self.summary_posts = 0

    def request_updated(self, record: RequestRecord, message: str) -> None:
        with self.lock:
            self.messages.append((record.id, message))

    def approval_needed(self, record: RequestRecord, card: ApprovalCard) -> str | None:
        with self.lock:
            self.cards.append(card)
        return f"card-{record.id}" if self.refs else None

    def progress(self, record: RequestRecord, progress: MigrationProgress) -> str | None:
        with self.lock:
            self.progress_readings.append((record.id, progress.percent))
        return f"progress-{record.id}" if self.refs else None

    def finished(self, record: RequestRecord, outcome: MigrationOutcome | None) -> None:
        with self.lock:
            self.finals.append((record.id, record.state.value))

    def summary(self, record: RequestRecord, text: str) -> str | None:
        """Edits the message the record names; posts a new one (`summary-<id>-<n>`) otherwise."""
        with self.lock:
            self.summaries.append((record.id, text))
            if not self.refs or record.progress_ts is not None:
                return None
            self.summary_posts += 1
            return f"summary-{record.id}-{self.summary_posts}"

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
    directory: DelegationDirectory | None = None
    executor: Executor = field(default_factory=ManualExecutor)
    expiry_seconds: float = 30.0
    # The fake clock stands still: with 0, every 10 points is shown, as a slow move would be.
    progress_seconds: float = 0.0
    workflow: Workflow = field(init=False)

    def __post_init__(self) -> None:
        self.preflight.directory = self.directory
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

    def handler(self, delegation: DelegationChecker | None = None) -> Handler:
        """The one front door over this rig's workflow, store and hosts, with `delegation` as
        its directory (none configured when not given)."""
        return Handler(
            inventory=INVENTORY,
            workflow=self.workflow,
            store=self.store,
            preflight=self.preflight,
            hyperv=self.world,
            delegation=delegation or NoDirectory(),
            clock=self.clock,
        )

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
            cadence=ProgressCadence(min_seconds=self.progress_seconds),
            directory=self.directory,
        )


def make_rig(
    *,
    executor: Executor | None = None,
    allow_self_approval: bool = False,
    ttl_minutes: int = 60,
    poll_seconds: float = 0.0,
    expiry_seconds: float = 30.0,
    progress_seconds: float = 0.0,
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
        progress_seconds=progress_seconds,
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
