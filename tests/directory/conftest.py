"""A real Samba AD DC for this test process (its own loopback address), and per-test objects.

The DC is started on first use and stopped when the session ends. Every test using it gets
the `directory` mark (tests/conftest.py), which `scripts/test --fast` leaves out.
"""

from __future__ import annotations

import itertools
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import Secrets, parse_config
from bot.directory import ActiveDirectory, open_directory
from bot.winrm.hyperv import WinRMHyperV
from bot.winrm.session import ConnectionSettings, Sessions
from commands.preflight import HostPreflight
from lab.directory import RunningDC
from lab.directory.domain import LabComputer, seed_domain
from lab.directory.objects import LabDirectory, admin_connection
from lab.running import start_lab
from lab.world import parse_scenario
from support.directory import DomainLab, settings, start_or_skip
from support.winrm_lab import PASSWORD_ENV, TIME_SCALE, USER_ENV, scenario, toml_for

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


@pytest.fixture
def domain_lab(dc: RunningDC, tmp_path: Path) -> Iterator[DomainLab]:
    """The default lab (every host on Kerberos, delegation to each other) and its own DC."""
    world = parse_scenario(scenario(), "default+shared", time_scale=TIME_SCALE)
    own = start_or_skip()
    try:
        computers = [
            LabComputer(h.name, h.fqdn, tuple(h.delegation_to)) for h in world.hosts.values()
        ]
        domain = seed_domain(own, computers)
        with start_lab(world, auth="basic", https=True) as running:
            text = (
                toml_for(running)
                + "\n"
                + domain.config_fragment()
                + f'\n[audit]\ndatabase = "{tmp_path / "audit.db"}"\n'
                + '\n[approvals]\nusers = ["UBOB"]\n'
                + "\n[executor]\npoll_seconds = 0.1\n"
            )
            config = parse_config(tomllib.loads(text))
            (tmp_path / "hvbot.toml").write_text(text, encoding="utf-8")
            secrets = Secrets(
                {
                    USER_ENV: str(running.username),
                    PASSWORD_ENV: str(running.password),
                    **domain.environment(),
                }
            )
            directory = open_directory(config, secrets)
            assert directory is not None
            port = WinRMHyperV(
                Sessions(ConnectionSettings.from_config(config, secrets), backoff=0.01)
            )
            preflight = HostPreflight(port, config.inventory, directory)
            try:
                yield DomainLab(
                    world, domain, config, secrets, tmp_path / "hvbot.toml", preflight, directory
                )
            finally:
                port.close()
                directory.close()
                world.wait_idle(10)
    finally:
        own.stop()
