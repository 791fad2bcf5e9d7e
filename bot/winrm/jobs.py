"""What the source host says about a migration: its Msvm_MigrationJob, and what the VM's files
and the VMMS events tell once the job is gone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.winrm import objects as o
from bot.winrm.calls import migration_jobs
from bot.winrm.errors import records_error
from bot.winrm.session import HostSession
from commands.diagnosis import (
    EVENT_MIGRATION_FAILED,
    EVENT_MIGRATION_STARTED,
    SUCCESS_EVENTS,
    blackout_seconds,
    diagnose_events,
)
from commands.hyperv import (
    ErrorKind,
    HostEvent,
    HyperVError,
    JobState,
    MigrationProgress,
    VmInfo,
)
from commands.invocation import Invocation

# Storage-move events as the lab writes them; DESIGN §5 lists only the live-migration ids,
# so these three are a guess about Windows.
EVENT_STORAGE_STARTED = 20414
EVENT_STORAGE_SUCCEEDED = 20418
EVENT_STORAGE_FAILED = 20419
_MOVE_STARTS = frozenset({EVENT_MIGRATION_STARTED, EVENT_STORAGE_STARTED})
# Events that close a move. 21501 (queued), 20306 and 21125 come before or beside a 21502.
_MOVE_ENDS = SUCCESS_EVENTS | {
    EVENT_MIGRATION_FAILED,
    EVENT_STORAGE_SUCCEEDED,
    EVENT_STORAGE_FAILED,
}


@dataclass(frozen=True)
class JobReading:
    """One Msvm_MigrationJob: its id, when it started, and the progress it reports."""

    instance_id: str
    started: dt.datetime | None
    progress: MigrationProgress


def jobs_for(session: HostSession, vm_id: str) -> list[JobReading]:
    """The migration jobs the host knows for this VM (finished ones linger for minutes)."""
    result = session.run([migration_jobs(vm_id)])
    if result.failed:
        raise records_error(result.errors, session.host.name, session.scrub)
    wanted = vm_id.casefold()
    return [
        _reading(j) for j in result.output if o.text(j, "VirtualSystemName").casefold() == wanted
    ]


def _reading(job: Any) -> JobReading:
    raw_state = o.number(job, "JobState", int(JobState.NEW))
    try:
        state = JobState(raw_state)
    except ValueError:
        state = JobState.RUNNING
    error_code = o.optional_int(job, "ErrorCode")
    return JobReading(
        instance_id=o.text(job, "InstanceID"),
        started=o.timestamp(o.prop(job, "StartTime")),
        progress=MigrationProgress(
            state=state,
            percent=o.number(job, "PercentComplete"),
            elapsed_seconds=o.seconds(o.prop(job, "ElapsedTime")),
            bytes_transferred=o.optional_int(job, "BytesTransferred"),
            bytes_total=o.optional_int(job, "BytesTotal"),
            error_code=error_code or None,
            error_description=o.text(job, "ErrorDescription") or None,
            cancellable=o.flag(job, "Cancellable"),
        ),
    )


def param(invocation: Invocation, name: str) -> Any:
    """The value of parameter `name`, or None when the invocation lacks it."""
    return invocation.parameter(name) if invocation.has(name) else None


def files_in_place(vm: VmInfo, invocation: Invocation) -> bool:
    """Whether a storage move's targets already hold the VM's files (it ran to its end)."""
    disks = {d.path.casefold() for d in vm.disks}
    folder = param(invocation, "DestinationStoragePath")
    if isinstance(folder, str):
        prefix = folder.rstrip("\\").casefold() + "\\"
        return bool(disks) and all(d.startswith(prefix) for d in disks)
    tables = param(invocation, "Vhds")
    config = param(invocation, "VirtualMachinePath")
    wanted = [str(t["DestinationFilePath"]).casefold() for t in tables or ()]
    config_ok = not isinstance(config, str) or vm.path.casefold() == config.casefold()
    return config_ok and all(w in disks for w in wanted) and bool(wanted or config)


def events_of_this_move(events: Iterable[HostEvent], begun: dt.datetime) -> tuple[HostEvent, ...]:
    """The events of the move that began at `begun`, among this VM's events around then.

    The window asked of the hosts reaches back before our start (clock skew), so it may hold
    the previous move of the same VM, whose 20415 would give a wrong blackout or outcome.
    Moves of one VM never overlap, so ours begins at its own start event (20413/20414), or,
    when it has none (refused before starting), right after an end event older than `begun`.
    `begun` is best the host job's StartTime (host clock, the events' own timeline); without
    it, the bot's send time with no skew tolerance: a tolerance would let the end of a move
    finished just before ours pass for ours, turning a move that never ran into a success.
    A host clock running behind costs at most our own end event, and then the job or the
    VM's location decides the outcome.
    """
    ordered = sorted(events, key=lambda e: e.time_created)
    first = 0
    for index, event in enumerate(ordered):
        if event.event_id in _MOVE_STARTS:
            first = index
        elif event.event_id in _MOVE_ENDS and event.time_created < begun:
            first = index + 1
    return tuple(ordered[first:])


def blackout(events: tuple[HostEvent, ...]) -> float | None:
    """The blackout time the first success event reports, if any."""
    for event in events:
        value = blackout_seconds(event)
        if value is not None:
            return value
    return None


def refine(error: HyperVError, events: tuple[HostEvent, ...]) -> HyperVError:
    """A generic remote error becomes specific when an event says what went wrong."""
    if error.kind is not ErrorKind.REMOTE_ERROR:
        return error
    told = diagnose_events(events)
    if told is None:
        return error
    return told.error(detail=error.detail, host=error.host)
