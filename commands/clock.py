"""The one clock: every "now" of the bot is UTC and read through a `Clock`, so tests can
give the workflow, the stores and the handler a clock of their own."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """Now, in UTC."""
    return dt.datetime.now(dt.UTC)
