"""Following one migration: the Move-VM pipeline on its own pool, progress from Msvm_MigrationJob.

The pipeline runs on a pool of its own on the source host (a thread keeps receiving from
it); progress, cancel and re-attach read the migration job on the host's shared pool.
Jobs are correlated by VM id (`VirtualSystemName`) and start time; finished jobs of earlier
migrations, which linger for minutes, are ignored. Whatever happens to the connection, the
move itself is never sent twice: when in doubt the handle follows the job on the host.
"""

from __future__ import annotations

import datetime as dt
import logging
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
from bot.winrm.errors import records_error, shell_lost, transport_error
from bot.winrm.jobs import (
    JobReading,
    blackout,
    events_of_this_move,
    files_in_place,
    jobs_for,
    param,
    refine,
)
from bot.winrm.session import HostSession, build_pipeline
from commands.diagnosis import (
    FAILURE_EVENTS,
    KNOWLEDGE,
    SUCCESS_EVENTS,
    diagnose,
    diagnose_events,
)
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

if TYPE_CHECKING:
    from bot.winrm.hyperv import WinRMHyperV

log = logging.getLogger(__name__)

MIGRATION_CMDLETS = ("Move-VM", "Move-VMStorage")
# Host and bot clocks differ a little (Kerberos tolerates 5 minutes; domain members stay
# within seconds): jobs and events this much older than our start may still be ours. Only
# the net cast on the hosts is this wide; `events_of_this_move` then cuts the previous
# move of the VM away.
CLOCK_SKEW = dt.timedelta(seconds=30)
# VMMS creates the job as soon as a Move-VM reaches it. When our connection went before the
# host answered, the job's absence proves the move never started only after this long.
JOB_APPEARS_WITHIN = dt.timedelta(seconds=10)
RECEIVE_TIMEOUT_SECONDS = 1


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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
            self.finished_at = _now()
            self.done.set()
            self.session.close()

    @property
    def succeeded(self) -> bool:
        return (
            self.ps.state == PSInvocationState.COMPLETED
            and not self.ps.had_errors
            and not self.ps.streams.error
        )

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
    ) -> None:
        self._port = port
        self.source = source
        self.invocation = invocation
        self._vm_id = vm_id.casefold()
        self._started_at = started_at
        self._ignore = ignore_jobs
        self._pipeline = pipeline
        self._sent_here = sent_here
        self._job_id: str | None = None
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
        session = port.sessions.dedicated(source)
        pool = session.open()
        started_at = _now()
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
        """The migration job now; derived from the pipeline when no job is visible."""
        reading = self._job()
        if reading is not None:
            return reading.progress
        elapsed = (_now() - self._started_at).total_seconds()
        pipeline = self._pipeline
        if (pipeline is not None and not pipeline.done.is_set()) or self._job_may_appear():
            return MigrationProgress(JobState.STARTING, 0, elapsed)
        outcome = self._settled_outcome()
        state = JobState.COMPLETED if outcome.succeeded else JobState.EXCEPTION
        return MigrationProgress(state, 100 if outcome.succeeded else 0, outcome.duration_seconds)

    def wait(self, timeout: float) -> MigrationOutcome | None:
        """The outcome if the migration ends within `timeout` seconds, else None."""
        if self._outcome is not None:
            return self._outcome
        deadline = time.monotonic() + timeout
        pipeline = self._pipeline
        if pipeline is not None:
            if not pipeline.done.wait(timeout):
                return None
            if pipeline.lost is None:
                self._outcome = self._pipeline_outcome(pipeline)
                return self._outcome
        while True:
            reading = self._job()
            if reading is not None:
                settled = reading.progress.state.finished
            else:
                settled = not self._job_may_appear()
            if settled:
                self._outcome = self._job_outcome(reading)
                return self._outcome
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            time.sleep(min(self._port.poll_interval, remaining))

    def cancel(self) -> CancelMethod:
        """RequestStateChange(4) when the job is cancellable, else stop the pipeline."""
        reading = self._job()
        if (
            reading is not None
            and not reading.progress.state.finished
            and reading.progress.cancellable
        ):
            session = self._port.session(self.source)
            result = session.run([cancel_job(reading.instance_id)])
            codes = [o.number(r, "ReturnValue") for r in result.output]
            if not result.failed and all(c in (0, 4096) for c in codes):
                self._cancel_requested = True
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
            self._cancel_requested = True
            log.info(
                "migration pipeline stopped", extra={"host": self.source.name, "vm_id": self._vm_id}
            )
            return CancelMethod.PIPELINE_STOP
        return CancelMethod.TOO_LATE

    # -- reading the host ----------------------------------------------------------------

    def _job_may_appear(self) -> bool:
        """Whether a move this handle sent, unconfirmed, may still be about to show its job."""
        pipeline = self._pipeline
        unconfirmed = pipeline is None or pipeline.lost is not None
        return self._sent_here and unconfirmed and _now() - self._started_at < JOB_APPEARS_WITHIN

    def _job(self) -> JobReading | None:
        earliest = self._started_at - CLOCK_SKEW
        candidates = [
            r
            for r in jobs_for(self._port.session(self.source), self._vm_id)
            if r.instance_id not in self._ignore and (r.started is None or r.started >= earliest)
        ]
        if self._job_id is not None:
            for r in candidates:
                if r.instance_id == self._job_id:
                    return r
        if not candidates:
            return None
        newest = max(candidates, key=lambda r: r.started or self._started_at)
        self._job_id = newest.instance_id
        return newest

    def _final_reading(self) -> JobReading | None:
        """The finished job (it lingers for minutes), for its elapsed time and start."""
        try:
            return self._job()
        except HyperVError as exc:
            # The pipeline already told the outcome; the job only refines it.
            log.warning(
                "migration job unavailable",
                extra={"host": self.source.name, "kind": exc.kind.value},
            )
            return None

    def _duration(self, reading: JobReading | None, end: dt.datetime) -> float:
        """The host job's elapsed time when it reports one, else the bot's clock to `end`."""
        if reading is not None and reading.progress.elapsed_seconds > 0:
            return reading.progress.elapsed_seconds
        return (end - self._started_at).total_seconds()

    def _events(self, reading: JobReading | None) -> tuple[HostEvent, ...]:
        """This VM's events of this move on the source and destination, oldest first."""
        since = self._started_at - CLOCK_SKEW
        hosts = [self.source] + ([self.destination] if self.destination else [])
        found: list[HostEvent] = []
        for host in hosts:
            try:
                found += self._port.events_since(host, since)
            except HyperVError as exc:
                # Events explain a failure; their absence must not hide the outcome itself.
                log.warning("events unavailable", extra={"host": host.name, "kind": exc.kind.value})
        keys = (self._vm_id, self.vm_name.casefold())
        mine = [e for e in found if any(k and k in e.message.casefold() for k in keys)]
        begun = reading.started if reading is not None and reading.started else self._started_at
        return events_of_this_move(mine, begun)

    # -- outcomes ------------------------------------------------------------------------

    def _settled_outcome(self) -> MigrationOutcome:
        if self._outcome is None:
            pipeline = self._pipeline
            if pipeline is not None and pipeline.done.is_set() and pipeline.lost is None:
                self._outcome = self._pipeline_outcome(pipeline)
            else:
                self._outcome = self._job_outcome(None)
        return self._outcome

    def _pipeline_outcome(self, pipeline: _Pipeline) -> MigrationOutcome:
        reading = self._final_reading()
        duration = self._duration(reading, pipeline.finished_at or _now())
        events = self._events(reading)
        if pipeline.succeeded and not self._cancel_requested:
            return MigrationOutcome(True, duration, blackout(events), events=events)
        if self._cancel_requested or pipeline.ps.state == PSInvocationState.STOPPED:
            return self._cancelled(duration, events)
        session = pipeline.session
        error = records_error(pipeline.ps.streams.error, self.source.name, session.scrub)
        return MigrationOutcome(False, duration, error=refine(error, events), events=events)

    def _job_outcome(self, reading: JobReading | None) -> MigrationOutcome:
        events = self._events(reading)
        duration = self._duration(reading, _now())
        if reading is not None:
            progress = reading.progress
            if progress.state is JobState.COMPLETED:
                return MigrationOutcome(True, duration, blackout(events), events=events)
            if progress.state in (JobState.TERMINATED, JobState.KILLED) or self._cancel_requested:
                return self._cancelled(duration, events)
            text = progress.error_description or ""
            scrub = self._port.session(self.source).scrub
            error = diagnose(text, hresult=progress.error_code).error(
                detail=scrub(f"ErrorCode {progress.error_code}: {text}"), host=self.source.name
            )
            return MigrationOutcome(False, duration, error=refine(error, events), events=events)
        if any(e.event_id in SUCCESS_EVENTS for e in events):
            return MigrationOutcome(True, duration, blackout(events), events=events)
        failed = diagnose_events(events)
        if failed is not None:
            scrub = self._port.session(self.source).scrub
            detail = "\n".join(scrub(e.message) for e in events if e.event_id in FAILURE_EVENTS)
            return MigrationOutcome(
                False,
                duration,
                error=failed.error(detail=detail, host=self.source.name),
                events=events,
            )
        return self._outcome_from_location(duration, events)

    def _outcome_from_location(
        self, duration: float, events: tuple[HostEvent, ...]
    ) -> MigrationOutcome:
        """No job and no event left: where the VM and its files are is the last witness."""
        if self.destination is not None:
            if self._vm_on(self.destination) is not None:
                return MigrationOutcome(True, duration, None, events=events)
            stayed = self._vm_on(self.source) is not None
        else:
            vm = self._vm_on(self.source)
            if vm is not None and files_in_place(vm, self.invocation):
                return MigrationOutcome(True, duration, None, events=events)
            stayed = vm is not None
        if stayed:
            error = KNOWLEDGE[ErrorKind.NOT_STARTED].error(host=self.source.name)
        else:
            error = KNOWLEDGE[ErrorKind.REMOTE_ERROR].error(
                summary="The migration left no job and no event, and the VM is on neither host.",
                host=self.source.name,
            )
        return MigrationOutcome(False, duration, error=error, events=events)

    def _vm_on(self, host: Host) -> VmInfo | None:
        """The VM (this id) on `host`, or None; a host that cannot answer proves nothing."""
        try:
            vm = self._port.get_vm(host, self.vm_name)
        except HyperVError as exc:
            if exc.kind is not ErrorKind.VM_NOT_FOUND:
                raise
            return None
        return vm if vm.id.casefold() == self._vm_id else None

    def _cancelled(self, duration: float, events: tuple[HostEvent, ...]) -> MigrationOutcome:
        error = KNOWLEDGE[ErrorKind.CANCELLED].error(host=self.source.name)
        return MigrationOutcome(False, duration, error=error, events=events)


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
