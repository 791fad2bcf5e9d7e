"""Hosts whose clocks differ from the bot's: a move's evidence is read on one timeline."""

from __future__ import annotations

import datetime as dt

from commands.hyperv import ErrorKind
from support.winrm_lab import Lab


def _skew(lab: Lab, seconds: float) -> None:
    for name in ("HV-SRV01", "HV-SRV02"):
        host = lab.world.host(name)
        assert host is not None
        host.clock_offset_seconds = seconds


def test_a_move_on_hosts_whose_clocks_run_behind_keeps_its_own_job_and_events(lab: Lab) -> None:
    # Behind by more than the 30 s the bot once assumed: its own job would have looked older
    # than the send, and the move would have passed for one that never started.
    _skew(lab, -90)
    vm, plan = lab.move_with_storage()
    outcome = lab.port.start_migration(plan.host, plan.invocations[0], vm.id).wait(30)
    assert outcome is not None and outcome.succeeded, outcome
    assert 20415 in {e.event_id for e in outcome.events} and outcome.blackout_seconds
    # Converted to the bot's clock, the events fall after the send.
    assert all(
        e.time_created >= dt.datetime.now(dt.UTC) - dt.timedelta(seconds=60) for e in outcome.events
    )


def test_a_move_never_sent_after_a_previous_one_on_hosts_ahead_is_not_started(lab: Lab) -> None:
    # Ahead by 40 s: the previous move's job and success event carry host times later than the
    # bot's send. Read on the host's own clock they would pass for this move's.
    _skew(lab, 40)
    vm, plan = lab.move_with_storage()
    first = lab.port.start_migration(plan.host, plan.invocations[0], vm.id).wait(30)
    assert first is not None and first.succeeded
    _, back = lab.move_with_storage(source="HV-SRV02", to="HV-SRV01")
    other = lab.new_port()
    try:
        handle = other.reattach_migration(
            lab.host("HV-SRV02"), vm.id, dt.datetime.now(dt.UTC), back.invocations[0]
        )
        outcome = handle.wait(5)
    finally:
        other.close()
    assert outcome is not None and not outcome.succeeded
    assert outcome.error is not None and outcome.error.kind is ErrorKind.NOT_STARTED
    assert outcome.events == ()
    assert len(lab.world.calls("Move-VM")) == 1
