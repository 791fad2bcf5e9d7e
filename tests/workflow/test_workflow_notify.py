"""The core decides which progress readings people see, for every front end alike."""

from __future__ import annotations

import datetime as dt

from commands.hyperv import JobState, MigrationProgress
from commands.workflow.notify import ProgressCadence
from support.clock import START
from support.workflow import ALICE, PLACE, REQUESTER, make_rig, move


def reading(percent: int, state: JobState = JobState.RUNNING) -> MigrationProgress:
    return MigrationProgress(state, percent, 1.0)


def test_the_cadence_shows_the_first_reading_state_changes_and_steps_not_too_often() -> None:
    cadence = ProgressCadence(percent_step=10, min_seconds=5)
    later = START + dt.timedelta(seconds=6)
    shown = [
        cadence.due(1, reading(0, JobState.STARTING), START),  # the first
        cadence.due(1, reading(5, JobState.STARTING), START),  # nothing new
        cadence.due(1, reading(5), START),  # running now
        cadence.due(1, reading(40), START + dt.timedelta(seconds=2)),  # too soon
        cadence.due(1, reading(40), later),  # 35 points and 6 s later
        cadence.due(1, reading(45), later + dt.timedelta(seconds=60)),  # fewer than 10 points
        cadence.due(2, reading(45), later),  # another request has its own pace
        cadence.due(1, reading(100, JobState.COMPLETED), later),  # the end
    ]
    assert shown == [True, False, True, False, True, False, True, True]
    cadence.forget(1)
    assert cadence.due(1, reading(100, JobState.COMPLETED), later)


def test_the_workflow_reports_progress_at_the_cadence() -> None:
    # The clock stands still: after the first reading, the climbing percentage is not shown.
    rig = make_rig(progress_seconds=5)
    record = rig.workflow.submit(move("SRV-APP01"), REQUESTER, PLACE)
    rig.run()
    rig.workflow.approve(record.id, ALICE)
    rig.run(12)
    assert rig.world.migrations[0].percent >= 50
    assert rig.notifier.progress_readings == [(record.id, 10)]
    rig.clock.advance(seconds=6)
    rig.run(3)
    assert len(rig.notifier.progress_readings) == 2
