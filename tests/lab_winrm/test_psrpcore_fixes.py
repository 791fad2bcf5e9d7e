"""The TimeSpan text the lab sends reads back exactly, zeros of whole seconds included."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from lab.winrm.psrpcore_fixes import duration_text
from support.lab_winrm import duration

SPAN = st.timedeltas(min_value=dt.timedelta(days=-3), max_value=dt.timedelta(days=3))


@given(SPAN)
def test_every_duration_reads_back_as_itself(value: dt.timedelta) -> None:
    assert duration(duration_text(value)) == value


def test_whole_seconds_keep_their_zeros() -> None:
    samples = {
        dt.timedelta(0): "PT0S",
        dt.timedelta(seconds=10): "PT10S",
        dt.timedelta(minutes=3, seconds=40): "PT3M40S",
        dt.timedelta(hours=1): "PT1H",
        dt.timedelta(days=1): "P1D",
        dt.timedelta(days=1, seconds=0.5): "P1DT0.5S",
        dt.timedelta(seconds=-90): "-PT1M30S",
        dt.timedelta(microseconds=10): "PT0.00001S",
    }
    assert {value: duration_text(value) for value in samples} == samples
