"""`/migrate delegation A B fix` end to end against a real DC: `hvbot say` records it and prints
its card with exactly the LDAP changes, `hvbot approve` by someone else writes them through the
write-capable account and reads them back; the second fix has nothing to change."""

from __future__ import annotations

import os
import subprocess
import sys

from ldap3 import MODIFY_DELETE, MODIFY_REPLACE

from bot.store import SqliteAuditStore
from commands.workflow.records import State
from lab.directory.objects import admin_connection
from support.directory import DomainLab

FIX = "delegation HV-SRV01 HV-SRV02 fix"


def hvbot(lab: DomainLab, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """`hvbot ARGS` as a subprocess with the lab's config and secrets: exit code and output."""
    command = [sys.executable, "-m", "bot.cli", args[0], "--config", str(lab.config_file)]
    done = subprocess.run(
        [*command, *args[1:]],
        env=env if env is not None else {**os.environ, **lab.secrets.values},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr


def break_srv01(lab: DomainLab) -> str:
    """HV-SRV01 with unconstrained delegation on and its cifs entries gone; its DN."""
    dn = f"CN=HV-SRV01,{lab.domain.hosts_dn}"
    conn = admin_connection(lab.domain.dc)
    lost = ["cifs/HV-SRV02.lab.local", "cifs/HV-SRV02"]
    conn.modify(
        dn,
        {
            "msDS-AllowedToDelegateTo": [(MODIFY_DELETE, lost)],
            "userAccountControl": [(MODIFY_REPLACE, [str(0x1000 | 0x80000 | 0x1000000)])],
        },
    )
    conn.unbind()
    return dn


def raw(lab: DomainLab, dn: str, attribute: str) -> list[str]:
    conn = admin_connection(lab.domain.dc)
    conn.search(dn, "(objectClass=*)", search_scope="BASE", attributes=[attribute])
    values = conn.entries[0].entry_attributes_as_dict[attribute]
    conn.unbind()
    return [str(v) for v in values]


def test_a_fix_goes_through_a_card_is_written_once_and_read_back(domain_lab: DomainLab) -> None:
    dn = break_srv01(domain_lab)
    code, out = hvbot(domain_lab, "say", "--as", "UREQ", "--", FIX)
    assert code == 0, out
    assert "will change in Active Directory:" in out
    assert (
        "- HV-SRV01: turn OFF unconstrained delegation (TRUSTED_FOR_DELEGATION was on); "
        "userAccountControl 0x1081000 → 0x1001000"
    ) in out
    assert "- HV-SRV01: add msDS-AllowedToDelegateTo cifs/HV-SRV02.lab.local" in out
    assert "PS>" not in out
    assert raw(domain_lab, dn, "userAccountControl") == [str(0x1081000)]  # nothing yet

    code, out = hvbot(domain_lab, "approve", "1", "--as", "UREQ")
    assert code == 2 and "own request" in out, out
    code, out = hvbot(domain_lab, "approve", "1", "--as", "UBOB")
    assert code == 0, out
    assert "every change is in force" in out
    assert "klist purge -li 0x3e7" in out and "about 15 minutes" in out
    assert raw(domain_lab, dn, "userAccountControl") == [str(0x1001000)]
    assert "cifs/HV-SRV02" in raw(domain_lab, dn, "msDS-AllowedToDelegateTo")

    with SqliteAuditStore(domain_lab.config_file.parent / "audit.db") as store:
        record = store.get(1)
        assert record is not None and record.state is State.SUCCEEDED
        events = {e.kind: e.data for e in store.events(1)}
        assert [e.kind for e in store.events(1)].count("invocation_sent") == 1
        assert store.verify().ok
    assert events["started"]["before"]["HV-SRV01"]["userAccountControl"] == 0x1081000
    assert events["succeeded"]["after"]["HV-SRV01"]["userAccountControl"] == 0x1001000
    assert domain_lab.secrets.values["HVBOT_LDAP_WRITE_PASSWORD"] not in str(events)

    code, out = hvbot(domain_lab, "say", "--as", "UREQ", "--", FIX)
    assert code == 0, out
    assert "nothing to change" in out
    assert "recorded" not in out


def test_without_a_write_account_the_fix_says_so_and_changes_nothing(
    domain_lab: DomainLab,
) -> None:
    dn = break_srv01(domain_lab)
    env = {**os.environ, **domain_lab.secrets.values}
    for name in ("HVBOT_LDAP_WRITE_BIND_DN", "HVBOT_LDAP_WRITE_PASSWORD"):
        env.pop(name)
    code, out = hvbot(domain_lab, "say", "--as", "UREQ", "--", FIX, env=env)
    assert code == 1, out
    assert (
        "no write-capable directory account is configured (set $HVBOT_LDAP_WRITE_BIND_DN and "
        "$HVBOT_LDAP_WRITE_PASSWORD): nothing can be written."
    ) in out
    assert raw(domain_lab, dn, "userAccountControl") == [str(0x1081000)]
