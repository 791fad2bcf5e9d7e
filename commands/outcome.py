"""How a migration ended, decided from what the hosts say about *this* move only.

The adapter gathers readings (the Move-VM pipeline when this process sent it, the VM's
Msvm_MigrationJob instances, its VMMS events, where the VM or its files are) and puts every
time on the bot's clock, using the offset it measured against each host's own clock. `decide`
is a pure function of those readings:

- a job or an event is this move's only if it began at or after the send (less the clock
  measurement's error) — a finished job of the VM's previous move lingers for minutes and
  its events stay in the log, and must never pass for ours;
- `succeeded` needs this move's own word (the pipeline, its job or its success event); the
  VM's location only corroborates it;
- no word from this move and the VM where it was: `not_started`;
- witnesses that disagree (a completed job with the VM still on its source, a failed job
  with the VM on its destination, the VM on neither host...): `unknown`, with the evidence
  and what to check, never a guess.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from commands.diagnosis import (
    EVENT_MIGRATION_FAILED,
    EVENT_MIGRATION_STARTED,
    FAILURE_EVENTS,
    KNOWLEDGE,
    SUCCESS_EVENTS,
    diagnose,
    diagnose_events,
)
from commands.hyperv import ErrorKind, HostEvent, HyperVError, JobState, MigrationProgress

# Storage-move events as the lab writes them; architecture §5 lists only the live-migration ids,
# so these three are a guess about Windows (unverified).
EVENT_STORAGE_STARTED = 20414
EVENT_STORAGE_SUCCEEDED = 20418
EVENT_STORAGE_FAILED = 20419
MOVE_STARTS = frozenset({EVENT_MIGRATION_STARTED, EVENT_STORAGE_STARTED})
# The events that end a move, one way or the other. 21501 (queued), 20306 and 21125 come
# before or beside a 21502: they explain a failure but do not end a move by themselves.
MOVE_SUCCEEDED = SUCCESS_EVENTS | {EVENT_STORAGE_SUCCEEDED}
MOVE_FAILED = frozenset({EVENT_MIGRATION_FAILED, EVENT_STORAGE_FAILED})
MOVE_ENDS = MOVE_SUCCEEDED | MOVE_FAILED


class Verdict(StrEnum):
    """What the readings prove about the move."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    NOT_STARTED = "not_started"
    UNKNOWN = "unknown"


class PipelineEnd(StrEnum):
    """How the Move-VM pipeline this process sent stands."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"
    # The connection went: the pipeline says nothing about the move any more.
    LOST = "lost"


class Location(StrEnum):
    """Where the VM (live move) or its files (storage move) are now."""

    SOURCE = "source"
    DESTINATION = "destination"
    NEITHER = "neither"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class JobSeen:
    """One Msvm_MigrationJob of the VM; `started` on the bot's clock; `destination` the
    inventory name of its DestinationHost when the host reports one."""

    instance_id: str
    started: dt.datetime | None
    progress: MigrationProgress
    destination: str | None = None


@dataclass(frozen=True)
class MoveReadings:
    """Everything the hosts said about one move, every time on the bot's clock.

    `sent_at` is when the move was sent (or, after a crash, the `invocation_sent` record
    that precedes the send); `clock_error` bounds how wrong the host-to-bot conversion of
    host times may be. `destination` is None for a storage move. `pipeline_error` is the
    classified error of a FAILED pipeline. `job_may_appear`: a send this process made is
    unconfirmed and young enough that its job may still show up.
    """

    vm: str
    source: str
    destination: str | None
    sent_at: dt.datetime
    clock_error: dt.timedelta
    pipeline: PipelineEnd | None
    jobs: tuple[JobSeen, ...]
    events: tuple[HostEvent, ...]
    location: Location
    pipeline_error: HyperVError | None = None
    cancel_requested: bool = False
    job_may_appear: bool = False


@dataclass(frozen=True)
class Decision:
    """The verdict, this move's job and events (for duration and blackout), the error to
    tell (failed, cancelled, not started, unknown) and the evidence it rests on."""

    verdict: Verdict
    job: JobSeen | None = None
    events: tuple[HostEvent, ...] = ()
    error: HyperVError | None = None
    evidence: tuple[str, ...] = ()


@dataclass
class _Witnesses:
    succeeded: list[str]
    failed: list[tuple[str, HyperVError]]
    cancelled: list[str]


def decide(r: MoveReadings) -> Decision:
    """The verdict on one move from its readings (see the module's rules)."""
    since = r.sent_at - r.clock_error
    job = _this_moves_job(r, since)
    events = events_of_this_move((e for e in r.events if e.time_created >= since), since)
    if _still_running(r, job):
        return Decision(Verdict.RUNNING, job, events)
    seen = _witness(r, job, events)
    evidence = _evidence(r, job, events, since, seen)
    moved = r.location is Location.DESTINATION
    stayed = r.location is Location.SOURCE
    stopped = bool(seen.failed or seen.cancelled)
    if (seen.succeeded and (stopped or stayed)) or (stopped and moved):
        return _unknown(r, seen, job, events, evidence, "its witnesses disagree")
    if r.location is Location.NEITHER:
        return _unknown(r, seen, job, events, evidence, f"{r.vm} is on neither host")
    if seen.succeeded:
        return Decision(Verdict.SUCCEEDED, job, events, None, evidence)
    if seen.cancelled:
        error = KNOWLEDGE[ErrorKind.CANCELLED].error(host=r.source)
        return Decision(Verdict.CANCELLED, job, events, error, evidence)
    if seen.failed:
        return Decision(Verdict.FAILED, job, events, _refine(seen.failed[0][1], events), evidence)
    if stayed:
        error = KNOWLEDGE[ErrorKind.NOT_STARTED].error(host=r.source)
        return Decision(Verdict.NOT_STARTED, job, events, error, evidence)
    why = (
        f"{r.vm} is where the move would put it, but no job or event of this move shows it ran"
        if moved
        else f"where {r.vm} is could not be read"
    )
    return _unknown(r, seen, job, events, evidence, why)


def _this_moves_job(r: MoveReadings, since: dt.datetime) -> JobSeen | None:
    """The VM's first job that began after the send towards our destination. Moves of one
    VM never overlap, so a later one cannot start while ours runs."""
    mine = [
        j
        for j in r.jobs
        if j.started is not None
        and j.started >= since
        and (
            r.destination is None
            or j.destination is None
            or j.destination.casefold() == r.destination.casefold()
        )
    ]
    return min(mine, key=lambda j: j.started or since) if mine else None


def _still_running(r: MoveReadings, job: JobSeen | None) -> bool:
    if job is not None and not job.progress.state.finished:
        return True
    if r.pipeline is PipelineEnd.RUNNING:
        return True
    return job is None and r.job_may_appear


def _witness(r: MoveReadings, job: JobSeen | None, events: tuple[HostEvent, ...]) -> _Witnesses:
    seen = _Witnesses([], [], [])
    if job is not None:
        state = job.progress.state
        if state is JobState.COMPLETED:
            seen.succeeded.append("its job completed")
        elif state in (JobState.TERMINATED, JobState.KILLED):
            seen.cancelled.append(f"its job was stopped ({state.name.lower()})")
        else:
            text = job.progress.error_description or ""
            error = diagnose(text, hresult=job.progress.error_code).error(
                detail=f"ErrorCode {job.progress.error_code}: {text}", host=r.source
            )
            _failed(seen, f"its job ended in {state.name.lower()}", error)
    match r.pipeline:
        case PipelineEnd.SUCCEEDED:
            seen.succeeded.append("the Move-VM pipeline completed without error")
        case PipelineEnd.STOPPED:
            seen.cancelled.append("the Move-VM pipeline was stopped")
        case PipelineEnd.FAILED:
            error = r.pipeline_error or KNOWLEDGE[ErrorKind.REMOTE_ERROR].error(host=r.source)
            _failed(seen, "the Move-VM pipeline failed", error)
    if any(e.event_id in MOVE_SUCCEEDED for e in events):
        seen.succeeded.append("a success event of this move is in the log")
    told = diagnose_events(events) if any(e.event_id in MOVE_FAILED for e in events) else None
    if told is not None:
        detail = "\n".join(e.message for e in events if e.event_id in FAILURE_EVENTS)
        error = told.error(detail=detail, host=r.source)
        _failed(seen, "a failure event of this move is in the log", error)
    if r.cancel_requested and seen.failed and not seen.succeeded:
        # Stopping a move on request makes it fail with whatever text the host chose.
        seen.cancelled.append("a cancel was asked and the move stopped")
    return seen


def _failed(seen: _Witnesses, what: str, error: HyperVError) -> None:
    if error.kind is ErrorKind.CANCELLED:
        seen.cancelled.append(what + " (cancelled)")
    else:
        seen.failed.append((what, error))


def _evidence(
    r: MoveReadings,
    job: JobSeen | None,
    events: tuple[HostEvent, ...],
    since: dt.datetime,
    seen: _Witnesses,
) -> tuple[str, ...]:
    """Each witness in a short sentence, for the audit log and the 'unknown' message."""
    lines = [f"sent at {since + r.clock_error:%H:%M:%S} UTC (host clocks ±{_ms(r.clock_error)})"]
    if job is not None:
        state = job.progress.state.name.lower()
        lines.append(f"job {job.instance_id} began {job.started:%H:%M:%S}: {state}")
    older = [j for j in r.jobs if j is not job and (j.started is None or j.started < since)]
    if older:
        lines.append(f"{len(older)} job(s) of earlier moves ignored")
    if r.pipeline is not None:
        lines.append(f"pipeline: {r.pipeline.value}")
    lines.append("events of this move: " + (", ".join(str(e.event_id) for e in events) or "none"))
    lines.append(f"{r.vm} now: {_where(r)}")
    lines += seen.succeeded + [w for w, _ in seen.failed] + seen.cancelled
    return tuple(lines)


def _where(r: MoveReadings) -> str:
    match r.location:
        case Location.SOURCE:
            return f"on {r.source}" if r.destination else "files where they were"
        case Location.DESTINATION:
            return f"on {r.destination}" if r.destination else "files at the targets"
        case Location.NEITHER:
            return "on neither host"
    return "not read"


def _ms(span: dt.timedelta) -> str:
    return f"{span.total_seconds() * 1000:.0f} ms"


def _unknown(
    r: MoveReadings,
    seen: _Witnesses,
    job: JobSeen | None,
    events: tuple[HostEvent, ...],
    evidence: tuple[str, ...],
    why: str,
) -> Decision:
    hosts = " and ".join(h for h in (r.source, r.destination) if h)
    error = HyperVError(
        ErrorKind.OUTCOME_UNKNOWN,
        f"The outcome of moving {r.vm} is unknown: {why}.",
        cause="; ".join(evidence),
        fix=(
            f"Check where {r.vm} and its files are (Get-VM on {hosts}) and the "
            f"Microsoft-Windows-Hyper-V-VMMS-Admin log of {r.source} after the send time; "
            "then ask for the move again if it is still needed."
        ),
        detail="\n".join(e.detail for _, e in seen.failed if e.detail),
        host=r.source,
    )
    return Decision(Verdict.UNKNOWN, job, events, error, evidence)


def _refine(error: HyperVError, events: tuple[HostEvent, ...]) -> HyperVError:
    """A generic remote error becomes specific when an event says what went wrong."""
    if error.kind is not ErrorKind.REMOTE_ERROR:
        return error
    told = diagnose_events(events)
    if told is None:
        return error
    return told.error(detail=error.detail, host=error.host)


def events_of_this_move(events: Iterable[HostEvent], begun: dt.datetime) -> tuple[HostEvent, ...]:
    """The events of the move that began at `begun`, among this VM's events around then.

    Moves of one VM never overlap, so ours begins at its own start event (20413/20414), or,
    when it has none (refused before starting), right after an end event older than `begun`.
    """
    ordered = sorted(events, key=lambda e: e.time_created)
    first = 0
    for index, event in enumerate(ordered):
        if event.event_id in MOVE_STARTS:
            first = index
        elif event.event_id in MOVE_ENDS and event.time_created < begun:
            first = index + 1
    return tuple(ordered[first:])
