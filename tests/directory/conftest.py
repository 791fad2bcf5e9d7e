"""A real Samba AD DC for this test process (its own loopback address), and per-test objects.

The DC is started on first use and stopped when the session ends. Every test using it gets
the `directory` mark (tests/conftest.py), which `scripts/test --fast` leaves out.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from bot.directory import ActiveDirectory
from lab.directory import RunningDC
from lab.directory.objects import LabDirectory, admin_connection
from support.directory import settings, start_or_skip

_units = itertools.count(1)


@pytest.fixture(scope="session")
def dc() -> Iterator[RunningDC]:
    running = start_or_skip()
    yield running
    running.stop()


@pytest.fixture
def lab_dir(dc: RunningDC) -> Iterator[LabDirectory]:
    """An organisational unit of its own, emptied after the test (names can be reused)."""
    conn = admin_connection(dc)
    unit = LabDirectory(conn, dc.base_dn, f"t{os.getpid()}-{next(_units)}")
    yield unit
    unit.clear()
    conn.unbind()


@pytest.fixture
def ad(dc: RunningDC) -> Iterator[ActiveDirectory]:
    """The adapter with a reading and a writing account."""
    directory = ActiveDirectory(settings(dc), dc.base_dn, settings(dc))
    yield directory
    directory.close()
