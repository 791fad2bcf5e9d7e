"""The delegation check inside the preflight of moves, against the lab over real WinRM and the
lab's domain on a real DC (what `hvbot lab --directory` runs)."""

from __future__ import annotations

import pytest
from ldap3 import MODIFY_DELETE

from bot.app import build_services
from bot.config import ConfigError, Secrets
from commands.delegation import plan_for
from commands.findings import Severity
from commands.workflow.notify import Notifier
from lab.directory.objects import admin_connection
from support.directory import DomainLab


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
    (change,) = plan_for(domain_lab.directory, first, second).changes
    assert change.add_delegate_to == tuple(lost)
    domain_lab.directory.apply(change)
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
