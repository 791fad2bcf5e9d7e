"""Fixtures: a fresh lab per test, and log capture of every logger."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot.config import Secrets
from bot.winrm.hyperv import WinRMHyperV
from bot.winrm.session import ConnectionSettings, Sessions
from lab.running import start_lab
from lab.world import parse_scenario
from support.winrm_lab import (
    PASSWORD_ENV,
    TIME_SCALE,
    USER_ENV,
    Lab,
    lab_config,
    scenario,
)


@pytest.fixture
def lab() -> Iterator[Lab]:
    """A fresh default lab (HV-SRV01..03, SRV-APP01) per test: migrations change the world."""
    world = parse_scenario(scenario(), "default+shared", time_scale=TIME_SCALE)
    with start_lab(world, auth="basic", https=True) as running:
        config = lab_config(running)
        secrets = Secrets.from_environ(
            {USER_ENV: str(running.username), PASSWORD_ENV: str(running.password)}
        )
        settings = ConnectionSettings.from_config(config, secrets)
        port = WinRMHyperV(Sessions(settings, backoff=0.01), poll_interval=0.02)
        try:
            yield Lab(world, running, config, secrets, port)
        finally:
            port.close()
            world.wait_idle(10)


@pytest.fixture
def captured_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record of every logger, including pypsrp's debug dumps of the wire."""
    caplog.set_level(logging.DEBUG)
    return caplog
