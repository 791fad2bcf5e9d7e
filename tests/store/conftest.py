"""Fixtures for the audit store tests: a store on a temporary file with a stepping clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_support import StepClock

from bot.store import SqliteAuditStore


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where the test's audit database lives."""
    return tmp_path / "audit.db"


@pytest.fixture
def clock() -> StepClock:
    """A clock starting at 2026-11-25 09:00 UTC."""
    return StepClock(dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC))


@pytest.fixture
def store(db_path: Path, clock: StepClock) -> Iterator[SqliteAuditStore]:
    """An open store on `db_path`, closed after the test."""
    with SqliteAuditStore(db_path, clock=clock) as opened:
        yield opened
