"""The shared, thread-safe state of one lab: hosts, credentials, faults, jobs, call log."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Protocol

from lab.pipeline import CommandCall, InvocationContext, PipelineSink
from lab.world import winpath
from lab.world.faults import Fault, FaultKind
from lab.world.latency import OFF, Latency
from lab.world.model import (
    HA_EVENTS,
    HA_LOG,
    VMMS_LOG,
    CallRecord,
    Event,
    Host,
    JobState,
    MigrationJob,
    Performance,
)
from lab.world.shell import run_pipeline


class Delegation(Protocol):
    """Where the hosts' Kerberos constrained delegation comes from when not the scenario's
    `delegation_to`: the lab's DC (`lab.directory.delegation`)."""

    def allows(self, source: str, destination: str, storage: bool) -> bool:
        """Whether host `source` may delegate to `destination` (the name Move-VM was given)
        for a move (`storage`: one that moves storage too)."""
        ...


DEFAULT_USER = "LAB\\hvadmin"
DEFAULT_PASSWORD = "Lab-Passw0rd!"
# Bytes per second one host reaches when it compresses memory pages: compression is CPU
# bound, so it helps on slow links and hurts on fast ones (guess from Microsoft's guidance).
COMPRESSION_CEILING = 600_000_000
COMPRESSION_RATIO = 2.0
# SMB Direct (RDMA, multichannel) beats plain TCP on the same wire: a guessed factor.
SMB_FACTOR = 2.5
LOCAL_DISK_RATE = 500_000_000


class World:
    """Every simulated host and what happens on them. One lock guards everything.

    `time_scale` maps simulated seconds to real ones (0.05: a 40 s migration takes 2 s).
    """

    def __init__(
        self,
        hosts: Iterable[Host],
        *,
        credentials: dict[str, str] | None = None,
        time_scale: float = 0.05,
        link_mbps: float = 1000.0,
        linger_seconds: float = 300.0,
        faults: Iterable[Fault] = (),
        shared_files: Iterable[str] = (),
    ) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.hosts: dict[str, Host] = {h.name.lower(): h for h in hosts}
        self.credentials: dict[str, str] = (
            dict(credentials) if credentials is not None else {DEFAULT_USER: DEFAULT_PASSWORD}
        )
        self.time_scale = time_scale
        self.link_mbps = link_mbps
        self.linger_seconds = linger_seconds
        self.faults: list[Fault] = list(faults)
        self.shared_files = {winpath.normalize(p) for p in shared_files}
        self.jobs: dict[str, MigrationJob] = {}
        self.call_log: list[CallRecord] = []
        self.peak_running: dict[str, int] = {}
        self._next_record: dict[tuple[str, str], int] = {}
        self.latency: Latency = OFF
        self._modules_loaded: set[tuple[str, str]] = set()
        self._threads: list[threading.Thread] = []
        # None: the scenario's `delegation_to` says who may delegate to whom.
        self.delegation: Delegation | None = None

    # -- hosts ---------------------------------------------------------------------------

    def host(self, name: str) -> Host | None:
        """The host called `name`: short name or FQDN, any case."""
        key = name.strip().lower()
        with self.lock:
            if key in self.hosts:
                return self.hosts[key]
            return next((h for h in self.hosts.values() if h.fqdn.lower() == key), None)

    def host_names(self) -> list[str]:
        """Short names of every host, in scenario order."""
        with self.lock:
            return [h.name for h in self.hosts.values()]

    def is_reachable(self, host: str) -> bool:
        """False for unknown hosts and hosts with an UNREACHABLE fault."""
        found = self.host(host)
        return found is not None and self.fault(FaultKind.UNREACHABLE, found.name) is None

    def authenticate(self, host: str, user: str, password: str) -> bool:
        """True if `user`/`password` may log on to `host` (as DOMAIN\\user, user@fqdn or user)."""
        found = self.host(host)
        if found is None or self.fault(FaultKind.BAD_CREDENTIALS, found.name) is not None:
            return False
        wanted = _account(user)
        with self.lock:
            return any(
                _account(known) == wanted and secret == password
                for known, secret in self.credentials.items()
            )

    # -- faults --------------------------------------------------------------------------

    def inject(self, fault: Fault) -> None:
        """Add a fault now; it applies to every later operation."""
        with self.lock:
            self.faults.append(fault)

    def clear_faults(self, kind: FaultKind | None = None) -> None:
        """Remove every fault, or every fault of one kind."""
        with self.lock:
            self.faults = [f for f in self.faults if kind is not None and f.kind is not kind]

    def fault(self, kind: FaultKind, host: str | None, vm: str | None = None) -> Fault | None:
        """The first active fault of `kind` that concerns `host` (and `vm`)."""
        with self.lock:
            return next((f for f in self.faults if f.kind is kind and f.applies(host, vm)), None)

    # -- call log and events -------------------------------------------------------------

    def record_call(self, context: InvocationContext, call: CommandCall) -> None:
        """Append one invocation to the call log."""
        with self.lock:
            self.call_log.append(
                CallRecord(
                    host=context.host,
                    user=context.user,
                    cmdlet=call.name,
                    parameters=tuple(call.parameters),
                    time=dt.datetime.now(dt.UTC),
                )
            )

    def calls(self, cmdlet: str | None = None, host: str | None = None) -> list[CallRecord]:
        """Logged invocations, optionally of one cmdlet (any case) and on one host."""
        with self.lock:
            return [
                c
                for c in self.call_log
                if (cmdlet is None or c.cmdlet.lower() == cmdlet.lower())
                and (host is None or c.host.lower() == host.lower())
            ]

    def log_event(self, host: Host, event_id: int, level: str, message: str) -> None:
        """Write one record to the log of `host` where Windows writes `event_id`."""
        log = HA_LOG if event_id in HA_EVENTS else VMMS_LOG
        with self.lock:
            # Record ids count per log, as each Windows event log numbers its own records.
            record = self._next_record.get((host.name, log), 1)
            self._next_record[(host.name, log)] = record + 1
            host.events.append(Event(record, event_id, level, host.now(), message, log))

    # -- migrations ----------------------------------------------------------------------

    def transfer_rate(self, source: Host, destination: Host) -> float:
        """Bytes per second a migration from `source` to `destination` moves."""
        if source is destination:
            return float(LOCAL_DISK_RATE)
        slow = self.fault(FaultKind.SLOW_LINK, destination.name) or self.fault(
            FaultKind.SLOW_LINK, source.name
        )
        wire = (slow.mbps if slow else self.link_mbps) * 1_000_000 / 8
        if source.performance is Performance.Compression:
            return max(wire, min(wire * COMPRESSION_RATIO, COMPRESSION_CEILING))
        if source.performance is Performance.SMB:
            return wire * SMB_FACTOR
        return wire

    def active_jobs(self, host: Host, *, storage_only: bool) -> int:
        """Running migrations of one kind that involve `host` (as source or destination)."""
        with self.lock:
            return sum(
                1
                for j in self.jobs.values()
                if j.state is JobState.Running
                and j.storage_only == storage_only
                and host.name in (j.source, j.destination)
            )

    def incoming_memory(self, destination: Host) -> int:
        """Memory that live migrations still under way will take on `destination`."""
        with self.lock:
            total = 0
            for job in self.jobs.values():
                source = self.hosts.get(job.source.lower())
                if job.finished or job.storage_only or job.destination != destination.name:
                    continue
                vm = source.vms.get(job.vm_id.lower()) if source else None
                total += vm.memory_assigned if vm else 0
            return total

    def visible_jobs(self, host: Host) -> list[MigrationJob]:
        """Jobs WMI on `host` still shows; finished ones vanish after the linger time."""
        with self.lock:
            self.purge_jobs()
            return [j for j in self.jobs.values() if host.name in (j.source, j.destination)]

    def purge_jobs(self) -> None:
        """Forget finished jobs older than the (scaled) linger time."""
        limit = self.linger_seconds * self.time_scale
        now = time.monotonic()
        with self.lock:
            for key in [
                k
                for k, j in self.jobs.items()
                if j.finished_monotonic is not None and now - j.finished_monotonic > limit
            ]:
                del self.jobs[key]

    def start_thread(self, target: threading.Thread) -> None:
        """Start and remember a background thread (for `wait_idle`)."""
        with self.lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            target.start()
            self._threads.append(target)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every migration job finished and its thread ended; True if in time.

        Jobs are what it waits on: a job is registered under the lock before its thread
        starts, so a migration whose thread is not running yet is waited for too.
        """
        deadline = time.monotonic() + timeout
        with self.changed:
            settled = self.changed.wait_for(
                lambda: all(j.finished for j in self.jobs.values()), timeout
            )
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
        return settled and not any(t.is_alive() for t in threads)

    # -- PowerShell ----------------------------------------------------------------------

    def run_pipeline(
        self, context: InvocationContext, commands: Sequence[CommandCall], sink: PipelineSink
    ) -> None:
        """CommandRunner: run a pipeline of cmdlets on `context.host`."""
        time.sleep(self.latency.pipeline)
        run_pipeline(self, context, commands, sink)

    def pace(self, context: InvocationContext, hyperv: bool) -> None:
        """Take as long as Windows would for one cmdlet (see `lab.world.latency`)."""
        latency = self.latency
        cost = latency.hyperv_cmdlet if hyperv else latency.cmdlet
        if hyperv and latency.module_load:
            key = (context.host.casefold(), context.session)
            with self.lock:
                first = key not in self._modules_loaded
                self._modules_loaded.add(key)
            if first:
                cost += latency.module_load
        if cost:
            time.sleep(cost)

    @property
    def loaded_modules(self) -> frozenset[tuple[str, str]]:
        """(host, runspace pool) pairs that have loaded the Hyper-V module."""
        with self.lock:
            return frozenset(self._modules_loaded)


def _account(user: str) -> str:
    name = user.strip().lower()
    if "\\" in name:
        name = name.split("\\", 1)[1]
    return name.split("@", 1)[0]
