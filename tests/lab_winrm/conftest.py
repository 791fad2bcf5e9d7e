"""Fixtures for the WinRM layer's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lab.running import RunningLab, start_lab
from support.lab_winrm import FakeWorld


@pytest.fixture
def world() -> FakeWorld:
    """A fresh fake world."""
    return FakeWorld()


@pytest.fixture
def lab(world: FakeWorld) -> Iterator[RunningLab]:
    """A lab over plain HTTP with Basic auth and a short maximum Receive wait."""
    with start_lab(world, max_operation_timeout=5) as running:
        yield running
