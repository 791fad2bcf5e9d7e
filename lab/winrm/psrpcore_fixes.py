"""Corrections to psrpcore (0.3.1) serialization that the lab's replies depend on.

psrpcore writes a TimeSpan's seconds with `rstrip(".0")`, which also eats the zeros of whole
seconds: 220 s (3 min 40 s) goes out as `PT3M4S`, 10 s as `PT1S`. A poller then sees an
Msvm_MigrationJob's ElapsedTime jump back by up to 45 s whenever the seconds end in a zero.
`install()` swaps in a correct formatter, only while psrpcore still has the bug.
"""

from __future__ import annotations

import datetime as dt

from psrpcore.types import _serializer

_TICKS_PER_SECOND = 10_000_000
_TICKS_PER_MINUTE = 60 * _TICKS_PER_SECOND
_TICKS_PER_HOUR = 60 * _TICKS_PER_MINUTE
_TICKS_PER_DAY = 24 * _TICKS_PER_HOUR


def duration_text(value: dt.timedelta) -> str:
    """A .NET TimeSpan as the xs:duration text PowerShell writes (`PT3M40S`, `P1DT0.5S`).

    Precision is the .NET tick (100 ns); the fraction loses its trailing zeros only.
    """
    microseconds = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    # psrpcore's PSDuration carries the nanoseconds a timedelta cannot hold.
    ticks = (microseconds * 1000 + int(getattr(value, "nanoseconds", 0))) // 100
    sign = "-" if ticks < 0 else ""
    days, ticks = divmod(abs(ticks), _TICKS_PER_DAY)
    hours, ticks = divmod(ticks, _TICKS_PER_HOUR)
    minutes, ticks = divmod(ticks, _TICKS_PER_MINUTE)
    whole, fraction = divmod(ticks, _TICKS_PER_SECOND)
    time = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if ticks or not (days or time):
        digits = f".{fraction:07d}".rstrip("0") if fraction else ""
        time += f"{whole}{digits}S"
    return f"{sign}P{f'{days}D' if days else ''}{f'T{time}' if time else ''}"


def install() -> None:
    """Make psrpcore serialize TimeSpans with `duration_text` if its own formatter is wrong."""
    if _serializer._serialize_duration(dt.timedelta(seconds=10)) != "PT10S":
        _serializer._serialize_duration = duration_text
