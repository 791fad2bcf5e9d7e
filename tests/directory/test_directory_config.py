"""`[directory]`: validation, the check-config lines, and building the adapter (no DC needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli.parse import directory_summary
from bot.config import ConfigError, Secrets, configured_secrets, load_config, parse_config
from bot.directory import open_directory

ROOT = Path(__file__).resolve().parents[2]
HOSTS = [{"name": "HV-SRV01", "fqdn": "hv-srv01.lab.local"}]
ENV = {
    "HVBOT_LDAP_BIND_DN": "CN=svc-hvbot,OU=Service,DC=lab,DC=local",
    "HVBOT_LDAP_PASSWORD": "read-secret",
}


def config_with(**directory: object) -> dict[str, object]:
    return {"hosts": HOSTS, "directory": directory}


def test_problems_name_their_keys(tmp_path: Path) -> None:
    data = config_with(uri="ldaps://dc1", ca_file=str(tmp_path / "absent.pem"), timeout=0)
    data["approvals"] = {"ad_groups": ["HV-Approvers"]}
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    problems = caught.value.problems
    assert any(p.startswith("directory.base_dn: required") for p in problems)
    assert any(p.startswith("directory.ca_file:") for p in problems)
    assert any(p.startswith("directory.timeout:") for p in problems)
    with pytest.raises(ConfigError, match=r"approvals.ad_groups: needs \[directory\] uri"):
        parse_config({"hosts": HOSTS, "approvals": {"ad_groups": ["HV-Approvers"]}})


def test_summary_says_tls_accounts_and_what_is_missing_without_secrets() -> None:
    config = load_config(ROOT / "examples" / "hvbot.toml")
    lines = directory_summary(config, Secrets.from_environ(ENV))
    text = "\n".join(lines)
    assert lines[0] == (
        "directory: ldaps://dc1.lab.local (LDAPS, certificate validated against the system's "
        "CAs), base DC=lab,DC=local"
    )
    assert "read account: $HVBOT_LDAP_BIND_DN, $HVBOT_LDAP_PASSWORD (set)" in text
    assert (
        "write (delegation fix) account: $HVBOT_LDAP_WRITE_BIND_DN, $HVBOT_LDAP_WRITE_PASSWORD "
        "(not set: $HVBOT_LDAP_WRITE_BIND_DN, $HVBOT_LDAP_WRITE_PASSWORD)"
    ) in text
    assert "read-secret" not in text and "svc-hvbot" not in text


def test_summary_of_starttls_and_of_no_directory() -> None:
    starttls = parse_config(config_with(uri="ldap://dc1.lab.local", base_dn="DC=lab,DC=local"))
    assert "(StartTLS, certificate validated" in directory_summary(starttls, Secrets({}))[0]
    none = parse_config({"hosts": HOSTS})
    assert directory_summary(none, Secrets({})) == [
        "directory: not configured (delegation checks say 'unknown'; AD groups cannot approve)"
    ]


def test_open_directory_needs_the_read_account_and_knows_when_it_cannot_write() -> None:
    config = parse_config(config_with(uri="ldaps://dc1.lab.local", base_dn="DC=lab,DC=local"))
    with pytest.raises(ValueError, match=r"set \$HVBOT_LDAP_PASSWORD"):
        open_directory(config, Secrets({"HVBOT_LDAP_BIND_DN": "x"}))
    directory = open_directory(config, Secrets(ENV))
    assert directory is not None
    assert directory.write_refusal() == (
        "no write-capable directory account is configured "
        "(set $HVBOT_LDAP_WRITE_BIND_DN and $HVBOT_LDAP_WRITE_PASSWORD)"
    )
    writable = open_directory(
        config,
        Secrets({**ENV, "HVBOT_LDAP_WRITE_BIND_DN": "w", "HVBOT_LDAP_WRITE_PASSWORD": "wp"}),
    )
    assert writable is not None and writable.write_refusal() is None
    assert open_directory(parse_config({"hosts": HOSTS}), Secrets(ENV)) is None


def test_the_write_password_is_masked_like_every_secret() -> None:
    config = parse_config(config_with(uri="ldaps://dc1.lab.local", base_dn="DC=lab,DC=local"))
    secrets = Secrets({**ENV, "HVBOT_LDAP_WRITE_PASSWORD": "write-secret"})
    assert "write-secret" in configured_secrets(config, secrets)
