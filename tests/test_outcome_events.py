"""Which VMMS events belong to this move, when the previous move's are still in the window."""

from __future__ import annotations

import datetime as dt

from commands.hyperv import HostEvent
from commands.outcome import events_of_this_move

T0 = dt.datetime(2026, 11, 25, 22, 0, tzinfo=dt.UTC)


def _at(seconds: float, event_id: int) -> HostEvent:
    return HostEvent(event_id, T0 + dt.timedelta(seconds=seconds), "Information", str(event_id))


PREVIOUS = (_at(-4, 20413), _at(-1, 20415))


def _ids(events: tuple[HostEvent, ...]) -> list[int]:
    return [e.event_id for e in events]


def test_a_finished_previous_move_is_cut_off_at_its_end() -> None:
    ours = (_at(0.2, 20413), _at(3, 20415))
    assert events_of_this_move(PREVIOUS + ours, T0) == ours


def test_a_move_that_failed_before_its_start_event_keeps_only_its_failure() -> None:
    ours = (_at(0.5, 21502),)
    assert events_of_this_move(PREVIOUS + ours, T0) == ours


def test_a_move_with_no_event_of_its_own_gets_none_of_the_previous_ones() -> None:
    assert events_of_this_move(PREVIOUS, T0) == ()


def test_a_previous_end_stamped_after_the_anchor_is_still_cut_at_our_start_event() -> None:
    # Host clock ahead of the bot's: the previous end looks later than our start.
    ours = (_at(2, 20413), _at(3, 20415))
    shifted = (_at(0.5, 20413), _at(1, 20415))
    assert events_of_this_move(shifted + ours, T0) == ours


def test_events_after_our_end_from_the_other_host_stay_ours() -> None:
    ours = (_at(0.2, 20413), _at(2, 21502), _at(2.1, 21125))
    assert _ids(events_of_this_move(PREVIOUS + ours, T0)) == [20413, 21502, 21125]


def test_queued_warning_and_storage_events_count() -> None:
    ours = (_at(0.1, 21501), _at(0.3, 20414), _at(2, 20418))
    assert _ids(events_of_this_move(PREVIOUS + ours, T0)) == [20414, 20418]
    queued_then_failed = (_at(0.1, 21501), _at(2, 21502))
    assert events_of_this_move(PREVIOUS + queued_then_failed, T0) == queued_then_failed
