"""The TimeSpan text the lab sends reads back exactly, zeros of whole seconds included."""

from __future__ import annotations

import datetime as dt
import re

from hypothesis import given
from hypothesis import strategies as st

from lab.winrm.psrpcore_fixes import duration_text

_ISO = re.compile(
    r"^(?P<sign>-)?P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>[\d.]+)S)?)?$"
)
SPAN = st.timedeltas(min_value=dt.timedelta(days=-3), max_value=dt.timedelta(days=3))


def _parse(text: str) -> dt.timedelta:
    match = _ISO.match(text)
    assert match, text
    whole, _, fraction = (match["s"] or "0").partition(".")
    span = dt.timedelta(
        days=int(match["d"] or 0),
        hours=int(match["h"] or 0),
        minutes=int(match["m"] or 0),
        seconds=int(whole),
        microseconds=int(fraction.ljust(6, "0")[:6]),
    )
    return -span if match["sign"] else span


@given(SPAN)
def test_every_duration_reads_back_as_itself(value: dt.timedelta) -> None:
    assert _parse(duration_text(value)) == value


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
