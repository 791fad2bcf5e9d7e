"""Readings of a migration on its hosts: the Msvm_MigrationJob instances, the host's clock
against ours, whether a storage move's files are in place, the blackout an event reports.
What they prove is decided in `commands.outcome`."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from bot.winrm import objects as o
from bot.winrm.calls import call, migration_jobs
from bot.winrm.errors import records_error
from bot.winrm.session import HostSession
from commands.clock import utc_now
from commands.diagnosis import blackout_seconds
from commands.hyperv import HostEvent, JobState, MigrationProgress, VmInfo
from commands.invocation import Invocation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobReading:
    """One Msvm_MigrationJob: its id, when it started (host clock), the progress it reports
    and the destination host it names."""

    instance_id: str
    started: dt.datetime | None
    progress: MigrationProgress
    destination: str | None = None


@dataclass(frozen=True)
class HostClock:
    """How far a host's clock is ahead of the bot's (`offset`), and how wrong that may be."""

    offset: dt.timedelta
    error: dt.timedelta

    def to_bot(self, host_time: dt.datetime) -> dt.datetime:
        """A time the host wrote, on the bot's clock."""
        return host_time - self.offset


UNMEASURED = HostClock(dt.timedelta(0), dt.timedelta(0))


def measure_clock(session: HostSession) -> HostClock:
    """The host's clock against ours, from one round trip (`Get-Date -Format o`: the
    round-trip text keeps the offset and 7 fractional digits).

    The host read its clock somewhere between our send and its answer: half the round trip
    bounds the error. A host that cannot tell its time gives `UNMEASURED` (no tolerance):
    `commands.outcome` then never adopts a job or event from before the send, and at worst
    calls a move's outcome unknown rather than inventing one.
    """
    before = utc_now()
    result = session.run([call("Get-Date", ("Format", "o"))])
    after = utc_now()
    host_time = None if result.failed or not result.output else o.timestamp(result.output[0])
    if host_time is None:
        log.warning("host clock unreadable; no skew tolerance", extra={"host": session.host.name})
        return UNMEASURED
    half = (after - before) / 2
    return HostClock(host_time - (before + half), half)


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
        destination=o.text(job, "DestinationHost") or None,
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


def blackout(events: tuple[HostEvent, ...]) -> float | None:
    """The blackout time the first success event reports, if any."""
    for event in events:
        value = blackout_seconds(event)
        if value is not None:
            return value
    return None
