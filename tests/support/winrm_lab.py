"""The lab over real WinRM (HTTPS with the lab's CA, Basic auth) and the adapter pointed at it."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from bot.config import Config, Secrets, parse_config
from bot.winrm.hyperv import WinRMHyperV
from bot.winrm.session import ConnectionSettings, Sessions
from commands.hyperv import VmInfo
from commands.inventory import Host
from commands.plans import Plan, plan_move
from commands.requests import Move

USER_ENV = "HVBOT_TEST_WINRM_USER"
PASSWORD_ENV = "HVBOT_TEST_WINRM_PASSWORD"
TIME_SCALE = 0.004


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

    def move_with_storage(
        self, vm: str = "SRV-APP01", source: str = "HV-SRV01", to: str = "HV-SRV02"
    ) -> tuple[VmInfo, Plan]:
        """`vm` as `source` reports it, and the plan moving it there with its storage to `to`."""
        host = self.host(source)
        info = self.port.get_vm(host, vm)
        return info, plan_move(Move(vm, self.host(to), include_storage=True), info, host)

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
        f'auth = "{running.auth}"',
        f"ssl = {'true' if running.ca_file else 'false'}",
        "cert_validation = true",
        *([f'ca_file = "{running.ca_file}"'] if running.ca_file else []),
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


SHARED_VM = {
    "name": "SRV-SHARED01",
    "host": "HV-SRV01",
    "id": "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c01",
    "state": "Running",
    "memory_gb": 2,
    "processors": 2,
    "version": "9.0",
    "path": "\\\\FS01\\VMs\\SRV-SHARED01",
    "adapters": [{"name": "Network Adapter", "switch": "vSwitch-Prod"}],
    "disks": [{"path": "\\\\FS01\\VMs\\SRV-SHARED01\\OS.vhdx", "size_gb": 20}],
}
"""A VM on an SMB share (the seed's "shared storage" case): only its memory moves."""


def scenario() -> dict[str, Any]:
    """The packaged default lab plus SRV-SHARED01, whose files live on a share."""
    data = tomllib.loads(
        resources.files("lab").joinpath("scenarios/default.toml").read_text("utf-8")
    )
    data["vms"].append(SHARED_VM)
    return data


def lab_config(running: Any) -> Config:
    return parse_config(tomllib.loads(toml_for(running)))
