"""The lab over real WinRM (HTTPS with the lab's CA, Basic auth) and the adapter pointed at it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config, Secrets, parse_config
from bot.winrm.hyperv import WinRMHyperV
from bot.winrm.session import ConnectionSettings, Sessions
from commands.inventory import Host
from lab.running import start_lab
from lab.world import load_scenario

USER_ENV = "HVBOT_TEST_WINRM_USER"
PASSWORD_ENV = "HVBOT_TEST_WINRM_PASSWORD"
TIME_SCALE = 0.01


@dataclass
class Lab:
    """A running lab, its world, and the adapter configured for it."""

    world: Any
    running: Any
    config: Config
    secrets: Secrets
    port: WinRMHyperV

    @property
    def password(self) -> str:
        return str(self.running.password)

    def host(self, name: str) -> Host:
        found = self.config.inventory.find(name)
        assert found is not None
        return found

    def new_port(self, **session_options: Any) -> WinRMHyperV:
        settings = ConnectionSettings.from_config(self.config, self.secrets)
        return WinRMHyperV(Sessions(settings, **session_options), poll_interval=0.02)

    def write_config(self, directory: Path) -> Path:
        """The lab as an hvbot.toml, for subprocesses and the CLI."""
        path = directory / "hvbot.toml"
        path.write_text(toml_for(self.running), encoding="utf-8")
        return path

    def environ(self) -> dict[str, str]:
        return {USER_ENV: str(self.running.username), PASSWORD_ENV: self.password}


def toml_for(running: Any) -> str:
    lines = [
        "[winrm]",
        'auth = "basic"',
        "ssl = true",
        "cert_validation = true",
        f'ca_file = "{running.ca_file}"',
        f'username_env = "{USER_ENV}"',
        f'password_env = "{PASSWORD_ENV}"',
        "operation_timeout = 2",
        "read_timeout = 10",
        "connection_timeout = 3",
    ]
    for endpoint in running.endpoints.values():
        lines += [
            "",
            "[[hosts]]",
            f'name = "{endpoint.name}"',
            f'fqdn = "{endpoint.fqdn}"',
            'address = "127.0.0.1"',
            f"port = {endpoint.port}",
        ]
    return "\n".join(lines) + "\n"


def _config(running: Any) -> Config:
    import tomllib

    return parse_config(tomllib.loads(toml_for(running)))


@pytest.fixture
def lab() -> Iterator[Lab]:
    """A fresh default lab (HV-SRV01..03, SRV-APP01) per test: migrations change the world."""
    world = load_scenario(None, time_scale=TIME_SCALE)
    with start_lab(world, auth="basic", https=True) as running:
        config = _config(running)
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
