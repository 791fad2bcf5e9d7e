"""The one test clock: it moves only when a test says so, or by a fixed step at each reading."""

from __future__ import annotations

import datetime as dt

START = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


class FakeClock:
    """Reads `now`; with a `step`, moves by it before each reading (distinct, predictable
    timestamps for the audit store), otherwise only when `advance` is called."""

    def __init__(self, start: dt.datetime = START, step: dt.timedelta | None = None) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> dt.datetime:
        if self.step is not None:
            self.now += self.step
        return self.now

    def advance(self, **delta: float) -> None:
        """Move the clock by `datetime.timedelta(**delta)`."""
        self.now += dt.timedelta(**delta)


def step_clock(start: dt.datetime = START) -> FakeClock:
    """A clock that moves one second per reading."""
    return FakeClock(start, dt.timedelta(seconds=1))
