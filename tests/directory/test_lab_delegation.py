"""The lab's hosts take their Kerberos delegation from the lab's DC (as `hvbot lab --directory`
runs them): a move the DC does not allow fails on the host as on Windows, and the same move
runs once the delegation is repaired in the directory."""

from __future__ import annotations

from ldap3 import MODIFY_DELETE

from bot.winrm.hyperv import WinRMHyperV
from bot.winrm.session import ConnectionSettings, Sessions
from commands.delegation import MIGRATION_SERVICE, plan_for
from commands.hyperv import ErrorKind, MigrationOutcome
from commands.preflight import resolve_plan
from commands.requests import MigrateRequest, Move
from lab.directory.delegation import DirectoryDelegation
from lab.directory.objects import admin_connection
from support.directory import DomainLab


def moved(lab: DomainLab, port: WinRMHyperV, storage: bool) -> MigrationOutcome:
    """SRV-APP01 sent to HV-SRV02 by Move-VM on its host, past the bot's preflight."""
    request = MigrateRequest(Move("SRV-APP01", lab.host("HV-SRV02"), include_storage=storage))
    resolved = resolve_plan(port, lab.config.inventory, request)
    assert resolved.vm is not None
    handle = port.start_migration(resolved.plan.host, resolved.plan.invocations[0], resolved.vm.id)
    outcome = handle.wait(120)
    assert outcome is not None
    return outcome


def test_the_hosts_follow_the_directory_before_and_after_a_fix(domain_lab: DomainLab) -> None:
    domain_lab.world.delegation = DirectoryDelegation(domain_lab.domain.dc)
    conn = admin_connection(domain_lab.domain.dc)
    lost = [f"{MIGRATION_SERVICE}/HV-SRV02.lab.local", f"{MIGRATION_SERVICE}/HV-SRV02"]
    conn.modify(
        f"CN=HV-SRV01,{domain_lab.domain.hosts_dn}",
        {"msDS-AllowedToDelegateTo": [(MODIFY_DELETE, lost)]},
    )
    conn.unbind()
    settings = ConnectionSettings.from_config(domain_lab.config, domain_lab.secrets)
    port = WinRMHyperV(Sessions(settings, backoff=0.01))
    try:
        refused = moved(domain_lab, port, storage=True)
        assert not refused.succeeded
        assert refused.error is not None and refused.error.kind is ErrorKind.DELEGATION
        first, second = domain_lab.host("HV-SRV01"), domain_lab.host("HV-SRV02")
        for change in plan_for(domain_lab.directory, first, second).changes:
            domain_lab.directory.apply(change)
        done = moved(domain_lab, port, storage=True)
        assert done.succeeded, done.error
        assert port.find_vm("SRV-APP01").host == "HV-SRV02"
    finally:
        port.close()


def test_a_dc_that_does_not_answer_fails_the_move(domain_lab: DomainLab) -> None:
    domain_lab.world.delegation = DirectoryDelegation(domain_lab.domain.dc)
    domain_lab.domain.dc.stop()
    settings = ConnectionSettings.from_config(domain_lab.config, domain_lab.secrets)
    port = WinRMHyperV(Sessions(settings, backoff=0.01))
    try:
        outcome = moved(domain_lab, port, storage=False)
        assert outcome.error is not None and outcome.error.kind is ErrorKind.DELEGATION
    finally:
        port.close()
