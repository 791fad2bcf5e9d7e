"""Configuration loading: defaults, every problem reported at once with its key."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

import pytest

from bot.config import (
    Config,
    ConfigError,
    Secrets,
    Section,
    load_config,
    missing_secrets,
    parse_config,
)

MINIMAL = {"hosts": [{"name": "HV-SRV01", "fqdn": "hv-srv01.lab.local"}]}


def test_minimal_config_gets_safe_defaults() -> None:
    config = parse_config(MINIMAL)
    assert config.winrm.ssl is True
    assert config.winrm.cert_validation is True
    assert config.approvals.allow_self_approval is False
    assert config.slack.mode == "socket"
    assert config.inventory.find("HV-SRV01.LAB.LOCAL") is not None


def test_every_problem_is_reported_with_its_key() -> None:
    data = {
        "hosts": [
            {"name": "HV SRV", "fqdn": "nodots"},
            {"name": "HV-SRV02", "fqdn": "hv-srv02.lab.local", "port": 0},
            {"name": "hv-srv02", "fqdn": "other.lab.local"},
        ],
        "winrm": {"auth": "telnet", "operation_timeout": 40, "read_timeout": 30},
        "approvals": {"required_critical": 0, "users": "U1"},
        "executor": {"poll_seconds": "soon"},
        "colour": "blue",
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    keys = [p.split(":", 1)[0] for p in caught.value.problems]
    assert keys == [
        "colour",
        "hosts[0].name",
        "hosts[0].fqdn",
        "hosts[1].port",
        "hosts[2].name",
        "approvals.users",
        "approvals.required_critical",
        "winrm.auth",
        "winrm.operation_timeout",
        "executor.poll_seconds",
    ]


def test_logging_file_is_optional_text() -> None:
    assert parse_config(MINIMAL).logging.file is None
    config = parse_config({**MINIMAL, "logging": {"file": "/var/log/hvbot/cli.log"}})
    assert config.logging.file == "/var/log/hvbot/cli.log"
    with pytest.raises(ConfigError, match=r"logging\.file: expected a string"):
        parse_config({**MINIMAL, "logging": {"file": 3}})


def test_missing_hosts_and_wrong_types() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"winrm": {"ssl": "yes", "port": True}})
    text = str(caught.value)
    assert "hosts: at least one [[hosts]]" in text
    assert "winrm.ssl: expected true or false" in text
    assert "winrm.port: expected an integer" in text


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("hosts = [", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    latin = tmp_path / "latin.toml"
    latin.write_bytes('[[hosts]]\nname = "HV-SRV01"\n# caf\u00e9\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as refusal:
        load_config(latin)
    assert refusal.value.problems == [
        f"{latin}: not UTF-8 text (byte 33 is 0xe9); TOML files are UTF-8: save it as UTF-8"
    ]


def test_missing_secrets_name_what_needs_them() -> None:
    config = parse_config(
        {
            "hosts": [{"name": "HV-SRV01", "fqdn": "hv-srv01.lab.local"}],
            "winrm": {"auth": "ntlm"},
            "directory": {"uri": "ldaps://dc.lab.local", "base_dn": "DC=lab,DC=local"},
        }
    )
    missing = missing_secrets(config, Secrets.from_environ({"HVBOT_WINRM_USER": "LAB\\svc"}))
    assert missing == [
        "winrm (ntlm auth): the environment variable HVBOT_WINRM_PASSWORD is not set (or empty)",
        "directory: the environment variable HVBOT_LDAP_BIND_DN is not set (or empty)",
        "directory: the environment variable HVBOT_LDAP_PASSWORD is not set (or empty)",
    ]
    kerberos = parse_config({"hosts": [{"name": "HV-SRV01", "fqdn": "hv-srv01.lab.local"}]})
    assert missing_secrets(kerberos, Secrets.from_environ({})) == []


def test_secrets_come_from_the_environment_and_never_print() -> None:
    secrets = Secrets.from_environ({"HVBOT_WINRM_PASSWORD": "hunter22", "EMPTY": ""})
    assert secrets.get("HVBOT_WINRM_PASSWORD") == "hunter22"
    assert secrets.get("EMPTY") is None
    assert "hunter22" not in repr(secrets)


def test_slack_allow_lists_and_the_audit_witness_channel() -> None:
    config = parse_config(MINIMAL)
    assert (config.slack.channels, config.slack.requesters) == ((), ())
    assert config.audit.slack_channel is None
    config = parse_config(
        {
            **MINIMAL,
            "slack": {"channels": ["C0OPS0001"], "requesters": ["U0ALICE01"]},
            "audit": {"slack_channel": "C0AUDIT01"},
        }
    )
    assert config.slack.channels == ("C0OPS0001",)
    assert config.slack.requesters == ("U0ALICE01",)
    assert config.audit.slack_channel == "C0AUDIT01"
    with pytest.raises(ConfigError, match=r"slack\.channels: expected a list"):
        parse_config({**MINIMAL, "slack": {"channels": "C0OPS0001"}})


# Every table of the file (a section added to Config is covered without listing it here).
SECTIONS = {
    name: hint
    for name, hint in typing.get_type_hints(Config).items()
    if isinstance(hint, type) and issubclass(hint, Section)
}


def test_the_sections_are_the_tables_of_hvbot_toml() -> None:
    assert sorted(SECTIONS) == [
        "approvals",
        "audit",
        "directory",
        "executor",
        "logging",
        "slack",
        "winrm",
    ]


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_every_key_of_every_section_reads_back_as_written(name: str) -> None:
    defaults: Any = SECTIONS[name]()
    # Every key given explicitly, as TOML would hold it (lists for tuples, None left out).
    table = {
        f.name: list(value) if isinstance(value, tuple) else value
        for f in dataclasses.fields(defaults)
        if (value := getattr(defaults, f.name)) is not None
    }
    assert len(table) >= 2
    assert getattr(parse_config({**MINIMAL, name: table}), name) == defaults


def test_each_type_of_key_says_what_it_expected_with_its_full_key() -> None:
    data = {
        "hosts": [{"name": "HV-SRV01", "fqdn": "hv-srv01.lab.local", "port": "5986"}],
        "slack": {"requesters": ["U1", 2]},
        "executor": {"poll_seconds": False, "workers": 1.5},
        "audit": {"slack_channel": 7},
        "directory": {"cache_seconds": -1},
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert caught.value.problems == [
        "hosts[0].port: expected an integer, got '5986'",
        "slack.requesters: expected a list of non-empty strings",
        "directory.cache_seconds: must be a positive integer",
        "audit.slack_channel: expected a string, got 7",
        "executor.workers: expected an integer, got 1.5",
        "executor.poll_seconds: expected a number, got False",
    ]


def test_an_empty_optional_text_is_unset_and_a_float_key_takes_an_integer() -> None:
    config = parse_config(
        {
            **MINIMAL,
            "audit": {"slack_channel": "", "database": "x.db"},
            "executor": {"poll_seconds": 3},
        }
    )
    assert config.audit.slack_channel is None and config.audit.database == "x.db"
    assert config.executor.poll_seconds == 3.0


def test_a_host_missing_its_name_is_said_once_and_in_key_order() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"hosts": [{"fqdn": "bad fqdn", "critical": "yes"}]})
    assert caught.value.problems == [
        "hosts[0].name: missing",
        "hosts[0].fqdn: must be a fully qualified DNS name like hv-srv01.lab.local",
        "hosts[0].critical: expected true or false, got 'yes'",
    ]
