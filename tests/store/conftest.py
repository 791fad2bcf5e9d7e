"""Fixtures for the audit store tests: a store on a temporary file with a stepping clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.store import SqliteAuditStore
from support.clock import FakeClock, step_clock


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where the test's audit database lives."""
    return tmp_path / "audit.db"


@pytest.fixture
def clock() -> FakeClock:
    """A clock starting at 2026-11-25 09:00 UTC."""
    return step_clock()


@pytest.fixture
def store(db_path: Path, clock: FakeClock) -> Iterator[SqliteAuditStore]:
    """An open store on `db_path`, closed after the test."""
    with SqliteAuditStore(db_path, clock=clock) as opened:
        yield opened
