"""Fixtures for the lab world tests: a fresh default lab with a tiny time scale."""

from __future__ import annotations

import pytest

from lab.pipeline import LabValue
from lab.world import World, load_scenario
from support.lab_world import RecordingSink, Runner, run_on


@pytest.fixture
def world() -> World:
    """The default lab, with a time scale that makes a migration last milliseconds."""
    return load_scenario(time_scale=0.0005)


@pytest.fixture
def run(world: World) -> Runner:
    """Runs one cmdlet on a host of `world` and returns what it wrote."""

    def runner(host: str, cmdlet: str, *params: tuple[str | None, LabValue]) -> RecordingSink:
        return run_on(world, host, (cmdlet, params))

    return runner
