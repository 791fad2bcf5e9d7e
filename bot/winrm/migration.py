"""Following one migration: the Move-VM pipeline on its own pool, progress from Msvm_MigrationJob.

The pipeline runs on a pool of its own on the source host (a thread keeps receiving from
it); progress, cancel and re-attach read the migration job on the host's shared pool.
Jobs are correlated by VM id (`VirtualSystemName`), destination and start time against the
send, every host time converted to the bot's clock with an offset measured against that
host; what the readings prove is decided by `commands.outcome.decide`. Whatever happens to
the connection, the move itself is never sent twice: when in doubt the handle follows the
job on the host.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import threading
import time
from typing import TYPE_CHECKING

from pypsrp.complex_objects import PSInvocationState
from pypsrp.powershell import PowerShell

from bot.winrm import objects as o
from bot.winrm.calls import (
    cancel_job,
    refuse_foreign_destination,
    refuse_patterns,
    wql_literal,
)
from bot.winrm.errors import incompatibilities_error, records_error, shell_lost, transport_error
from bot.winrm.jobs import (
    HostClock,
    JobReading,
    blackout,
    files_in_place,
    jobs_for,
    measure_clock,
    param,
)
from bot.winrm.session import HostSession, build_pipeline
from commands.clock import utc_now
from commands.diagnosis import KNOWLEDGE
from commands.hyperv import (
    CancelMethod,
    ErrorKind,
    HostEvent,
    HyperVError,
    JobState,
    MigrationOutcome,
    MigrationProgress,
    VmInfo,
)
from commands.inventory import Host
from commands.invocation import Invocation
from commands.outcome import (
    Decision,
    JobSeen,
    Location,
    MoveReadings,
    PipelineEnd,
    Verdict,
    decide,
)
from commands.plans import compare_invocation

if TYPE_CHECKING:
    from bot.winrm.hyperv import WinRMHyperV

log = logging.getLogger(__name__)

MIGRATION_CMDLETS = ("Move-VM", "Move-VMStorage")
# VMMS creates the job as soon as a Move-VM reaches it. When our connection went before the
# host answered, the job's absence proves the move never started only after this long.
JOB_APPEARS_WITHIN = dt.timedelta(seconds=10)
RECEIVE_TIMEOUT_SECONDS = 1


class _Pipeline:
    """The running Move-VM pipeline and the thread that receives from it."""

    def __init__(self, session: HostSession, ps: PowerShell) -> None:
        self.session = session
        self.ps = ps
        self.done = threading.Event()
        self.lost: HyperVError | None = None
        self.finished_at: dt.datetime | None = None
        self.thread = threading.Thread(target=self._follow, name="hvbot-migration", daemon=True)

    def _follow(self) -> None:
        try:
            while self.ps.state == PSInvocationState.RUNNING:
                # Short receives release the lock often so a cancel can get in.
                with self.session.lock:
                    if self.ps.state == PSInvocationState.RUNNING:
                        self.ps.poll_invoke(timeout=RECEIVE_TIMEOUT_SECONDS)
        except Exception as exc:
            # The connection went, not necessarily the migration: the job tells the rest.
            self.lost = transport_error(exc, self.session.host.name, self.session.scrub)
            log.warning(
                "migration pipeline connection lost",
                extra={"host": self.session.host.name, "kind": self.lost.kind.value},
            )
        finally:
            self.finished_at = utc_now()
            self.done.set()
            self.session.close()

    def end(self) -> PipelineEnd:
        """How the pipeline stands, as `commands.outcome` reads it."""
        if not self.done.is_set():
            return PipelineEnd.RUNNING
        if self.lost is not None:
            return PipelineEnd.LOST
        if self.ps.state == PSInvocationState.STOPPED:
            return PipelineEnd.STOPPED
        if (
            self.ps.state == PSInvocationState.COMPLETED
            and not self.ps.had_errors
            and not self.ps.streams.error
        ):
            return PipelineEnd.SUCCEEDED
        return PipelineEnd.FAILED

    def error(self) -> HyperVError:
        """The classified error of a failed pipeline."""
        return records_error(self.ps.streams.error, self.session.host.name, self.session.scrub)

    def stop(self) -> bool:
        """Stop the pipeline if it still runs; whether it did."""
        with self.session.lock:
            if self.done.is_set() or self.ps.state != PSInvocationState.RUNNING:
                return False
            self.ps.stop()
            return True


class Migration:
    """`commands.ports.MigrationHandle` for one migration on one source host."""

    def __init__(
        self,
        port: WinRMHyperV,
        source: Host,
        invocation: Invocation,
        vm_id: str,
        started_at: dt.datetime,
        *,
        ignore_jobs: frozenset[str] = frozenset(),
        pipeline: _Pipeline | None = None,
        sent_here: bool = False,
        clocks: dict[str, HostClock] | None = None,
    ) -> None:
        self._port = port
        self.source = source
        self.invocation = invocation
        self._vm_id = vm_id.casefold()
        self._started_at = started_at
        self._ignore = ignore_jobs
        self._pipeline = pipeline
        self._sent_here = sent_here
        self._clocks = dict(clocks or {})
        self._cancel_requested = False
        self._outcome: MigrationOutcome | None = None
        self.vm_name = str(param(invocation, "Name") or param(invocation, "VMName") or "")
        target = param(invocation, "DestinationHost")
        self.destination = port.inventory.find(str(target)) if target else None

    # -- construction --------------------------------------------------------------------

    @classmethod
    def start(
        cls, port: WinRMHyperV, source: Host, invocation: Invocation, vm_id: str
    ) -> Migration:
        """Send the move to `source` on a new pool and start following it."""
        _require_migration(invocation)
        _require_vm_id(vm_id)
        refuse_patterns([invocation])
        refuse_foreign_destination(invocation, port.inventory)
        shared = port.session(source)
        before = frozenset(r.instance_id for r in jobs_for(shared, vm_id))
        # Measured right before the send, on the host that will stamp the job and events.
        clock = measure_clock(shared)
        session = port.sessions.dedicated(source)
        pool = session.open()
        started_at = utc_now()
        pipeline: _Pipeline | None = None
        with session.lock:
            ps = build_pipeline(pool, [invocation])
            try:
                ps.begin_invoke()
            except Exception as exc:
                session.discard()
                error = transport_error(exc, source.name, session.scrub)
                if shell_lost(exc):
                    raise error from None
                # The Command may have reached the host: never resend, follow the job instead.
                log.warning(
                    "migration start unconfirmed; following the host's job",
                    extra={"host": source.name, "vm_id": vm_id, "kind": error.kind.value},
                )
            else:
                pipeline = _Pipeline(session, ps)
        handle = cls(
            port,
            source,
            invocation,
            vm_id,
            started_at,
            ignore_jobs=before,
            pipeline=pipeline,
            sent_here=True,
            clocks={source.name: clock},
        )
        if pipeline is not None:
            pipeline.thread.start()
            log.info(
                "migration started",
                extra={"host": source.name, "vm_id": vm_id, "invocation": invocation.render()},
            )
        return handle

    @classmethod
    def reattach(
        cls,
        port: WinRMHyperV,
        source: Host,
        invocation: Invocation,
        vm_id: str,
        started_at: dt.datetime,
    ) -> Migration:
        """Follow a migration started earlier (perhaps by another process) from its job."""
        _require_migration(invocation)
        _require_vm_id(vm_id)
        log.info(
            "migration re-attached",
            extra={"host": source.name, "vm_id": vm_id, "started_at": started_at.isoformat()},
        )
        return cls(port, source, invocation, vm_id, started_at)

    # -- MigrationHandle -----------------------------------------------------------------

    @property
    def vm_id(self) -> str:
        """The VM's GUID (Msvm_MigrationJob.VirtualSystemName)."""
        return self._vm_id

    @property
    def started_at(self) -> dt.datetime:
        """When the move was sent (bot clock, UTC)."""
        return self._started_at

    def poll(self) -> MigrationProgress:
        """This move's job now; derived from the verdict when no job of it is visible."""
        decision = self._decision()
        if decision.job is not None:
            return decision.job.progress
        if decision.verdict is Verdict.RUNNING:
            elapsed = (utc_now() - self._started_at).total_seconds()
            return MigrationProgress(JobState.STARTING, 0, elapsed)
        outcome = self._settle(decision)
        state = JobState.COMPLETED if outcome.succeeded else JobState.EXCEPTION
        return MigrationProgress(state, 100 if outcome.succeeded else 0, outcome.duration_seconds)

    def wait(self, timeout: float) -> MigrationOutcome | None:
        """The outcome if the migration ends within `timeout` seconds, else None."""
        if self._outcome is not None:
            return self._outcome
        deadline = time.monotonic() + timeout
        pipeline = self._pipeline
        if pipeline is not None and not pipeline.done.wait(timeout):
            return None
        while True:
            decision = self._decision()
            if decision.verdict is not Verdict.RUNNING:
                return self._settle(decision)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            time.sleep(min(self._port.poll_interval, remaining))

    def ended_on_hosts(self, timeout: float) -> bool:
        """Whether the Move-VM sent here returned without error within `timeout` seconds:
        Move-VM without -AsJob returns once the move is over. Only this end is taken at its
        word; a failure, a stop or a lost connection says nothing until the outcome does."""
        pipeline = self._pipeline
        if pipeline is None or not pipeline.done.wait(timeout):
            return False
        return pipeline.end() is PipelineEnd.SUCCEEDED

    def cancel(self) -> CancelMethod:
        """RequestStateChange(4) on this move's job when it is cancellable, else stop the
        pipeline."""
        self._cancel_requested = True
        job = self._decision(settled=False).job
        if job is not None and not job.progress.state.finished and job.progress.cancellable:
            session = self._port.session(self.source)
            result = session.run([cancel_job(job.instance_id)])
            codes = [o.number(r, "ReturnValue") for r in result.output]
            if not result.failed and all(c in (0, 4096) for c in codes):
                log.info(
                    "migration cancel requested",
                    extra={"host": self.source.name, "vm_id": self._vm_id},
                )
                return CancelMethod.JOB_STATE_CHANGE
            log.warning(
                "migration job refused the cancel",
                extra={"host": self.source.name, "vm_id": self._vm_id, "codes": codes},
            )
        if self._pipeline is not None and self._pipeline.stop():
            log.info(
                "migration pipeline stopped", extra={"host": self.source.name, "vm_id": self._vm_id}
            )
            return CancelMethod.PIPELINE_STOP
        return CancelMethod.TOO_LATE

    # -- readings ------------------------------------------------------------------------

    def _decision(self, *, settled: bool = True) -> Decision:
        """The verdict on the readings: the job and the pipeline first; the events and where
        the VM is only once they no longer say the move runs (or never when not `settled`)."""
        source_clock = self._clock(self.source)
        jobs = tuple(self._seen(r, source_clock) for r in self._jobs())
        decision = decide(self._readings(jobs, (), Location.UNKNOWN))
        if decision.verdict is Verdict.RUNNING or not settled:
            return decision
        location, unanswered = self._location()
        decision = decide(self._readings(jobs, self._events(), location))
        if decision.verdict is Verdict.UNKNOWN and unanswered is not None:
            # Only the host that did not answer could settle it: ask again later.
            raise unanswered
        return decision

    def _readings(
        self, jobs: tuple[JobSeen, ...], events: tuple[HostEvent, ...], location: Location
    ) -> MoveReadings:
        pipeline = self._pipeline
        end = None if pipeline is None else pipeline.end()
        unconfirmed = pipeline is None or end is PipelineEnd.LOST
        return MoveReadings(
            vm=self.vm_name,
            source=self.source.name,
            destination=self.destination.name if self.destination else None,
            sent_at=self._started_at,
            clock_error=max(
                (self._clocks[h.name].error for h in self._hosts() if h.name in self._clocks),
                default=dt.timedelta(0),
            ),
            pipeline=end,
            pipeline_error=pipeline.error() if end is PipelineEnd.FAILED and pipeline else None,
            jobs=jobs,
            events=events,
            location=location,
            cancel_requested=self._cancel_requested,
            job_may_appear=(
                self._sent_here
                and unconfirmed
                and utc_now() - self._started_at < JOB_APPEARS_WITHIN
            ),
        )

    def _hosts(self) -> list[Host]:
        return [self.source] + ([self.destination] if self.destination else [])

    def _clock(self, host: Host) -> HostClock:
        """The host's clock against ours, measured once per handle and host."""
        if host.name not in self._clocks:
            self._clocks[host.name] = measure_clock(self._port.session(host))
        return self._clocks[host.name]

    def _jobs(self) -> list[JobReading]:
        found = jobs_for(self._port.session(self.source), self._vm_id)
        return [r for r in found if r.instance_id not in self._ignore]

    def _seen(self, reading: JobReading, clock: HostClock) -> JobSeen:
        """A job reading on the bot's clock, its error text scrubbed, its destination named
        as in the inventory."""
        progress = reading.progress
        if progress.error_description:
            scrub = self._port.session(self.source).scrub
            progress = dataclasses.replace(
                progress, error_description=scrub(progress.error_description)
            )
        named = self._port.inventory.find(reading.destination) if reading.destination else None
        return JobSeen(
            instance_id=reading.instance_id,
            started=clock.to_bot(reading.started) if reading.started else None,
            progress=progress,
            destination=named.name if named else reading.destination,
        )

    def _events(self) -> tuple[HostEvent, ...]:
        """This VM's events on the source and destination since the send, on our clock."""
        found: list[HostEvent] = []
        keys = (self._vm_id, self.vm_name.casefold())
        for host in self._hosts():
            try:
                clock = self._clock(host)
                since = self._started_at + clock.offset - clock.error
                events = self._port.events_since(host, since)
            except HyperVError as exc:
                # Events explain a failure; their absence must not hide the outcome itself.
                log.warning("events unavailable", extra={"host": host.name, "kind": exc.kind.value})
                continue
            scrub = self._port.session(host).scrub
            found += [
                dataclasses.replace(
                    e, time_created=clock.to_bot(e.time_created), message=scrub(e.message)
                )
                for e in events
                if any(k and k in e.message.casefold() for k in keys)
            ]
        return tuple(sorted(found, key=lambda e: e.time_created))

    def _location(self) -> tuple[Location, HyperVError | None]:
        """Where the VM (live move) or its files (storage move) are now, and why not when a
        host could not answer."""
        if self.destination is not None:
            found: dict[str, bool] = {}
            unanswered: HyperVError | None = None
            for host in (self.source, self.destination):
                try:
                    found[host.name] = self._vm_on(host) is not None
                except HyperVError as exc:
                    unanswered = exc
            if found.get(self.destination.name):
                return Location.DESTINATION, None
            if found.get(self.source.name):
                return Location.SOURCE, None
            return (Location.UNKNOWN, unanswered) if unanswered else (Location.NEITHER, None)
        try:
            vm = self._vm_on(self.source)
        except HyperVError as exc:
            return Location.UNKNOWN, exc
        if vm is None:
            return Location.NEITHER, None
        in_place = files_in_place(vm, self.invocation)
        return (Location.DESTINATION if in_place else Location.SOURCE), None

    def _vm_on(self, host: Host) -> VmInfo | None:
        """The VM (this id) on `host`, or None; raises when the host cannot answer."""
        try:
            vm = self._port.get_vm(host, self.vm_name)
        except HyperVError as exc:
            if exc.kind is not ErrorKind.VM_NOT_FOUND:
                raise
            return None
        return vm if vm.id.casefold() == self._vm_id else None

    # -- outcome -------------------------------------------------------------------------

    def _explained(self, error: HyperVError | None) -> HyperVError | None:
        """A failure Windows words generically ("... Use Compare-VM ...") is explained by a
        Compare-VM with the move's own parameters, when that names incompatibilities."""
        if (
            error is None
            or error.kind is not ErrorKind.REMOTE_ERROR
            or self.invocation.cmdlet != "Move-VM"
            or not _COMPARE_HINT.search(error.detail)
        ):
            return error
        try:
            items = self._port.compare(self.source, compare_invocation(self.invocation))
        except HyperVError as exc:
            log.warning(
                "compare-vm after a generic failure failed",
                extra={"host": self.source.name, "kind": exc.kind.value},
            )
            return error
        if not items:
            return error
        scrub = self._port.session(self.source).scrub
        return incompatibilities_error(items, self.source.name, scrub)

    def _settle(self, decision: Decision) -> MigrationOutcome:
        """The outcome of a settled verdict, kept: a finished move does not change."""
        if self._outcome is not None:
            return self._outcome
        job = decision.job
        if job is not None and job.progress.elapsed_seconds > 0:
            duration = job.progress.elapsed_seconds
        else:
            pipeline = self._pipeline
            end = pipeline.finished_at if pipeline and pipeline.finished_at else utc_now()
            duration = max(0.0, (end - self._started_at).total_seconds())
        succeeded = decision.verdict is Verdict.SUCCEEDED
        self._outcome = MigrationOutcome(
            succeeded,
            duration,
            blackout(decision.events) if succeeded else None,
            error=self._explained(decision.error),
            events=decision.events,
            evidence=decision.evidence,
        )
        log.info(
            "migration outcome decided",
            extra={"host": self.source.name, "vm_id": self._vm_id, "verdict": decision.verdict},
        )
        return self._outcome


_COMPARE_HINT = re.compile(r"compare-vm", re.IGNORECASE)


def _require_migration(invocation: Invocation) -> None:
    if invocation.cmdlet not in MIGRATION_CMDLETS:
        raise KNOWLEDGE[ErrorKind.INVALID_PARAMETERS].error(
            summary=f"{invocation.cmdlet} is not a migration."
        )


def _require_vm_id(vm_id: str) -> None:
    try:
        wql_literal(vm_id)
    except ValueError:
        raise HyperVError(
            ErrorKind.INVALID_PARAMETERS, "A VM id must be a GUID.", detail=vm_id
        ) from None
