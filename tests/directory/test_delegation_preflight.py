"""The delegation check inside the preflight of moves, against the lab over real WinRM and the
lab's domain on a real DC (what `hvbot lab --directory` runs)."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ldap3 import MODIFY_DELETE

from bot.app import build_services
from bot.config import Config, ConfigError, Secrets, parse_config
from bot.directory import ActiveDirectory, open_directory
from bot.winrm.hyperv import WinRMHyperV
from bot.winrm.session import ConnectionSettings, Sessions
from commands.delegation import apply_repair
from commands.findings import Severity
from commands.inventory import Host
from commands.preflight import HostPreflight
from commands.requests import CheckRequest, Move
from commands.workflow.notify import Notifier
from lab.directory import RunningDC
from lab.directory.domain import LabComputer, LabDomain, seed_domain
from lab.directory.objects import admin_connection
from lab.running import start_lab
from lab.world import World, parse_scenario
from support.directory import start_or_skip
from support.winrm_lab import PASSWORD_ENV, TIME_SCALE, USER_ENV, scenario, toml_for


@dataclass
class DomainLab:
    world: World
    domain: LabDomain
    config: Config
    secrets: Secrets
    preflight: HostPreflight
    directory: ActiveDirectory

    def host(self, name: str) -> Host:
        found = self.config.inventory.find(name)
        assert found is not None
        return found

    def check(self, storage: bool = True) -> list[tuple[Severity, str, str]]:
        move = Move("SRV-APP01", self.host("HV-SRV02"), include_storage=storage)
        result = self.preflight.preflight(CheckRequest(move))
        return [(f.severity, f.code, f.message) for f in result.findings]


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
            )
            config = parse_config(tomllib.loads(text))
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
                yield DomainLab(world, domain, config, secrets, preflight, directory)
            finally:
                port.close()
                directory.close()
                world.wait_idle(10)
    finally:
        own.stop()


def delegation(found: list[tuple[Severity, str, str]]) -> list[tuple[Severity, str, str]]:
    return [f for f in found if "delegation" in f[1]]


def test_the_lab_domain_passes_and_a_lost_cifs_entry_blocks_storage_moves_only(
    domain_lab: DomainLab,
) -> None:
    assert delegation(domain_lab.check()) == []
    conn = admin_connection(domain_lab.domain.dc)
    dn = f"CN=HV-SRV01,{domain_lab.domain.hosts_dn}"
    lost = ["cifs/HV-SRV02.lab.local", "cifs/HV-SRV02"]
    conn.modify(dn, {"msDS-AllowedToDelegateTo": [(MODIFY_DELETE, lost)]})
    conn.unbind()
    found = delegation(domain_lab.check())
    assert [(s, c) for s, c, _ in found] == [(Severity.BLOCKING, "delegation_target_missing")] * 2
    assert "HV-SRV01 may not delegate to cifs/HV-SRV02.lab.local" in found[0][2]
    assert delegation(domain_lab.check(storage=False)) == []
    first, second = domain_lab.host("HV-SRV01"), domain_lab.host("HV-SRV02")
    outcome = apply_repair(domain_lab.directory, first, second)
    assert [c.add_delegate_to for c in outcome.applied] == [tuple(lost)]
    assert delegation(domain_lab.check()) == []


def test_directory_down_is_a_warning_and_the_other_checks_still_run(
    domain_lab: DomainLab,
) -> None:
    domain_lab.world.hosts["hv-srv02"].switches.clear()
    domain_lab.domain.dc.stop()
    found = domain_lab.check()
    codes = {(s, c) for s, c, _ in found}
    assert (Severity.WARNING, "delegation_unknown") in codes
    assert (Severity.BLOCKING, "switch_missing") in codes
    (unknown,) = [m for _, c, m in found if c == "delegation_unknown"]
    assert unknown.startswith("Kerberos delegation HV-SRV01 → HV-SRV02 is unknown: cannot reach")


class Silent:
    """A notifier nobody reads (the wiring test sends nothing)."""

    def __getattr__(self, name: str) -> object:
        return lambda *args, **kwargs: None


def test_build_services_wires_the_directory_and_refuses_a_missing_account(
    domain_lab: DomainLab,
) -> None:
    config = domain_lab.config
    notifier: Notifier = Silent()  # type: ignore[assignment]
    services = build_services(config, domain_lab.secrets, notifier)
    try:
        assert services.directory is not None
        assert services.directory.find_computer("HV-SRV03") is not None
    finally:
        services.close()
    without = Secrets({k: v for k, v in domain_lab.secrets.values.items() if "LDAP" not in k})
    with pytest.raises(ConfigError, match=r"directory: set \$HVBOT_LDAP_BIND_DN"):
        build_services(config, without, notifier)
