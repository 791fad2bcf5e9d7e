"""The migration verdict as a pure function of the hosts' readings: one row per situation."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from commands.diagnosis import KNOWLEDGE
from commands.hyperv import ErrorKind, HostEvent, JobState, MigrationProgress
from commands.outcome import (
    JobSeen,
    Location,
    MoveReadings,
    PipelineEnd,
    Verdict,
    decide,
)

SENT = dt.datetime(2026, 11, 30, 7, 0, tzinfo=dt.UTC)
ERROR = dt.timedelta(milliseconds=10)


def at(seconds: float) -> dt.datetime:
    return SENT + dt.timedelta(seconds=seconds)


def job(
    started: float,
    state: JobState = JobState.COMPLETED,
    *,
    to: str | None = "HV-SRV02",
    text: str | None = None,
) -> JobSeen:
    progress = MigrationProgress(state, 100 if state is JobState.COMPLETED else 40, 12.0)
    if text is not None:
        progress = dataclasses.replace(progress, error_code=32768, error_description=text)
    return JobSeen(f"JOB-{started}", at(started), progress, to)


def event(seconds: float, event_id: int, text: str = "") -> HostEvent:
    message = text or f"event {event_id} of 'SRV-APP01' (Virtual machine ID 6F1C)"
    return HostEvent(event_id, at(seconds), "Information", message)


def readings(**changes: object) -> MoveReadings:
    base = MoveReadings(
        vm="SRV-APP01",
        source="HV-SRV01",
        destination="HV-SRV02",
        sent_at=SENT,
        clock_error=ERROR,
        pipeline=None,
        jobs=(),
        events=(),
        location=Location.SOURCE,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


PREVIOUS_MOVE = {
    "jobs": (job(-5),),
    "events": (event(-5, 20413), event(-2, 20415, "blackout time of 0.3 seconds")),
}
FAILED_TEXT = "Migration failed: lost the connection with host 'HV-SRV02' (0x8007274C)."
FAILED = KNOWLEDGE[ErrorKind.MIGRATION_NETWORK].error()

CASES: list[tuple[str, MoveReadings, Verdict]] = [
    (
        "our job completed, VM on the destination",
        readings(jobs=(job(0.2),), location=Location.DESTINATION),
        Verdict.SUCCEEDED,
    ),
    (
        "killed before the send, right after the VM's previous move: its lingering job and "
        "events are not ours",
        readings(**PREVIOUS_MOVE),
        Verdict.NOT_STARTED,
    ),
    ("no job, no event, VM still on its source", readings(), Verdict.NOT_STARTED),
    (
        "no job, no event, VM on the destination: not this move's own word",
        readings(location=Location.DESTINATION),
        Verdict.UNKNOWN,
    ),
    (
        "job completed but the VM is still on its source",
        readings(jobs=(job(0.2),)),
        Verdict.UNKNOWN,
    ),
    (
        "job failed but the VM is on the destination",
        readings(
            jobs=(job(0.2, JobState.EXCEPTION, text=FAILED_TEXT),), location=Location.DESTINATION
        ),
        Verdict.UNKNOWN,
    ),
    (
        "job failed, VM on its source",
        readings(jobs=(job(0.2, JobState.EXCEPTION, text=FAILED_TEXT),)),
        Verdict.FAILED,
    ),
    (
        "job stopped, VM on its source",
        readings(jobs=(job(0.2, JobState.TERMINATED),)),
        Verdict.CANCELLED,
    ),
    ("job still running", readings(jobs=(job(0.2, JobState.RUNNING),)), Verdict.RUNNING),
    ("pipeline still running", readings(pipeline=PipelineEnd.RUNNING), Verdict.RUNNING),
    (
        "an unconfirmed send whose job may still appear",
        readings(job_may_appear=True),
        Verdict.RUNNING,
    ),
    (
        "pipeline completed, location unread",
        readings(pipeline=PipelineEnd.SUCCEEDED, location=Location.UNKNOWN),
        Verdict.SUCCEEDED,
    ),
    (
        "pipeline failed, VM on its source",
        readings(pipeline=PipelineEnd.FAILED, pipeline_error=FAILED),
        Verdict.FAILED,
    ),
    (
        "job gone, our success event after the send, VM on the destination",
        readings(events=(event(0.1, 20413), event(3, 20415)), location=Location.DESTINATION),
        Verdict.SUCCEEDED,
    ),
    (
        "queued (21501) then succeeded",
        readings(events=(event(0.1, 21501), event(3, 20415)), location=Location.DESTINATION),
        Verdict.SUCCEEDED,
    ),
    (
        "our failure event after the send, VM on its source",
        readings(events=(event(0.1, 20413), event(1, 21502, FAILED_TEXT))),
        Verdict.FAILED,
    ),
    ("VM on neither host", readings(location=Location.NEITHER), Verdict.UNKNOWN),
    (
        "a job after the send towards another host is not this move's",
        readings(jobs=(job(0.2, to="HV-SRV03"),)),
        Verdict.NOT_STARTED,
    ),
    (
        "a job stamped within the clock error before the send is ours",
        readings(jobs=(job(-0.005),), location=Location.DESTINATION),
        Verdict.SUCCEEDED,
    ),
    (
        "the previous move lingers, and ours completed after it",
        readings(
            jobs=(job(-5), job(0.3)),
            events=(*PREVIOUS_MOVE["events"], event(0.3, 20413), event(4, 20415)),
            location=Location.DESTINATION,
        ),
        Verdict.SUCCEEDED,
    ),
    (
        "storage move: job completed, files at their targets",
        readings(destination=None, jobs=(job(0.2, to=None),), location=Location.DESTINATION),
        Verdict.SUCCEEDED,
    ),
    (
        "pipeline completed but our job failed",
        readings(
            pipeline=PipelineEnd.SUCCEEDED,
            jobs=(job(0.2, JobState.EXCEPTION, text=FAILED_TEXT),),
        ),
        Verdict.UNKNOWN,
    ),
    (
        "a cancel was asked and the move stopped with a generic error",
        readings(
            cancel_requested=True, jobs=(job(0.2, JobState.EXCEPTION, text="Operation aborted"),)
        ),
        Verdict.CANCELLED,
    ),
    (
        "connection lost, location unread, nothing else",
        readings(pipeline=PipelineEnd.LOST, location=Location.UNKNOWN),
        Verdict.UNKNOWN,
    ),
]


@pytest.mark.parametrize(
    ("readings_", "verdict"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_verdict(readings_: MoveReadings, verdict: Verdict) -> None:
    decision = decide(readings_)
    assert decision.verdict is verdict, decision.evidence
    if verdict is Verdict.SUCCEEDED:
        assert decision.error is None
    elif verdict is not Verdict.RUNNING:
        assert decision.error is not None
    if decision.job is not None:
        assert decision.job.started is not None and decision.job.started >= SENT - ERROR


def test_a_failure_is_diagnosed_from_the_job_text() -> None:
    decision = decide(readings(jobs=(job(0.2, JobState.EXCEPTION, text=FAILED_TEXT),)))
    assert decision.error is not None and decision.error.kind is ErrorKind.MIGRATION_NETWORK


def test_an_unknown_outcome_shows_its_evidence_and_what_to_check() -> None:
    decision = decide(readings(jobs=(job(0.2),)))
    assert decision.error is not None and decision.error.kind is ErrorKind.OUTCOME_UNKNOWN
    assert "its job completed" in decision.evidence
    assert "SRV-APP01 now: on HV-SRV01" in decision.evidence
    assert "Get-VM on HV-SRV01 and HV-SRV02" in decision.error.fix
    assert "VMMS-Admin" in decision.error.fix


def test_the_previous_moves_events_never_count_as_ours() -> None:
    decision = decide(readings(**PREVIOUS_MOVE))
    assert decision.events == ()
    assert decision.job is None
    assert "1 job(s) of earlier moves ignored" in decision.evidence
