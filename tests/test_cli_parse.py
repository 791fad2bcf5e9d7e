"""`hvbot parse` and `hvbot check-config`: exit codes and the shapes of stdout and stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.cli.common import fallback_log

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = str(ROOT / "examples" / "hvbot.toml")
MOVE_KEYS = {
    "action",
    "vm",
    "destination",
    "source",
    "include_storage",
    "storage_path",
    "vm_path",
    "reason",
    "vhds",
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def parse_json(capsys: pytest.CaptureFixture[str], *words: str) -> dict[str, object]:
    code, out, err = run(capsys, "parse", "--config", EXAMPLE, "--json", "--", *words)
    assert (code, err) == (0, "")
    assert out.count("\n") == 1
    data = json.loads(out)
    assert isinstance(data, dict)
    return data


def test_bare_move_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    data = parse_json(
        capsys, 'SRV-APP01 to hv-srv02 from HV-SRV01 storage-path "D:\\VMs\\a b" reason patch'
    )
    assert set(data) >= MOVE_KEYS
    assert data["action"] == "migrate"
    assert data["vm"] == "SRV-APP01"
    assert data["destination"] == "hv-srv02.lab.local"
    assert data["source"] == "hv-srv01.lab.local"
    assert data["include_storage"] is True
    assert data["storage_path"] == "D:\\VMs\\a b"
    assert data["vm_path"] is None
    assert data["reason"] == "patch"
    assert data["vhds"] == []


def test_slack_text_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    data = parse_json(
        capsys,
        "\u201cMy VM\u201d to <http://hv-srv03.lab.local|hv-srv03.lab.local> reason R&amp;D",
    )
    assert (data["vm"], data["destination"], data["reason"]) == (
        "My VM",
        "hv-srv03.lab.local",
        "R&D",
    )
    assert data["source"] is None
    assert data["include_storage"] is False


def test_storage_vhds_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    data = parse_json(capsys, "storage SRV-APP01 vhd D:\\a.vhdx to E:\\a.vhdx vm-path E:\\cfg")
    assert set(data) >= MOVE_KEYS
    assert data["action"] == "storage"
    assert data["vhds"] == [{"source": "D:\\a.vhdx", "destination": "E:\\a.vhdx"}]
    assert data["vm_path"] == "E:\\cfg"
    assert data["destination"] is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("check SRV-APP01 to HV-SRV02", {"action": "check", "vm": "SRV-APP01"}),
        ("status", {"action": "status", "request_id": None, "vm": None}),
        ("status #42", {"action": "status", "request_id": 42}),
        ("cancel 42", {"action": "cancel", "request_id": 42}),
        ("history HV-SRV01 last 5", {"action": "history", "host": "hv-srv01.lab.local", "last": 5}),
        (
            "diagnose SRV-APP01 to HV-SRV02",
            {"action": "diagnose", "destination": "hv-srv02.lab.local"},
        ),
        ("host HV-SRV01", {"action": "host", "operation": "show", "host": "hv-srv01.lab.local"}),
        ("host HV-SRV01 disable", {"action": "host", "operation": "disable", "enabled": False}),
        (
            "host HV-SRV01 set auth kerberos",
            {"action": "host", "setting": "auth", "value": "Kerberos"},
        ),
        ("host HV-SRV01 set max-migrations 4", {"setting": "max-migrations", "value": 4}),
        ("host HV-SRV01 set any-network on", {"setting": "any-network", "value": True}),
        (
            "host HV-SRV01 network add 10.0.1.0/24 priority 2",
            {"operation": "network-add", "subnet": "10.0.1.0/24", "priority": 2},
        ),
        ("host HV-SRV01 network remove 10.0.1.0/24", {"operation": "network-remove"}),
        ("vm SRV-APP01 compatibility on", {"action": "vm", "vm": "SRV-APP01", "enabled": True}),
        (
            "delegation HV-SRV01 HV-SRV02 fix",
            {"action": "delegation", "hosts": ["hv-srv01.lab.local", "hv-srv02.lab.local"]},
        ),
        ("help host", {"action": "help", "topic": "host"}),
    ],
)
def test_every_action_as_json(
    capsys: pytest.CaptureFixture[str], text: str, expected: dict[str, object]
) -> None:
    data = parse_json(capsys, text)
    assert {k: data[k] for k in expected} == expected
    assert isinstance(data["canonical"], str) and data["canonical"].startswith("/migrate ")


def test_words_after_double_dash_are_joined(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "parse", "--config", EXAMPLE, "--json", "--", "SRV", "to", "HV-SRV02"
    )
    assert code == 0
    assert json.loads(out)["vm"] == "SRV"


def test_readable_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "parse", "--config", EXAMPLE, "--", "SRV-APP01 to HV-SRV02")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "/migrate SRV-APP01 to HV-SRV02"
    assert "  destination: hv-srv02.lab.local" in lines
    assert "  include_storage: false" in lines


def test_help_prints_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "parse", "--config", EXAMPLE, "--", "help", "storage")
    assert code == 0
    assert "/migrate storage <vm> to <path>" in out


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("SRV* to HV-SRV02", "wildcard"),
        ("SRV-APP01 to HV-SRV9", "did you mean HV-SRV0"),
        ("SRV-APP01 to HV-SRV02 storage-path ..\\x", "not absolute"),
        ('"unclosed', "unclosed quote"),
    ],
)
def test_refusal_is_one_line_on_stderr(
    capsys: pytest.CaptureFixture[str], text: str, fragment: str
) -> None:
    code, out, err = run(capsys, "parse", "--config", EXAMPLE, "--json", "--", text)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert fragment in err
    assert "Usage: /migrate" in err


def test_missing_config_says_how_to_pass_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HVBOT_CONFIG", raising=False)
    code, out, err = run(capsys, "parse", "--", "status")
    assert (code, out) == (2, "")
    assert "--config" in err and "HVBOT_CONFIG" in err


def test_config_from_environment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HVBOT_CONFIG", EXAMPLE)
    code, out, _ = run(capsys, "parse", "--json", "--", "host hv-srv03")
    assert code == 0
    assert json.loads(out)["host"] == "hv-srv03.lab.local"


BAD_CONFIG = """
[[hosts]]
name = "HV SRV01"
fqdn = "hv-srv01"

[winrm]
port = 0
"""


def test_config_problems_refuse_parse(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD_CONFIG, encoding="utf-8")
    code, out, err = run(capsys, "parse", "--config", str(bad), "--", "status")
    assert (code, out) == (2, "")
    lines = err.splitlines()
    assert any(line.startswith("hosts[0].name:") for line in lines)
    assert any(line.startswith("hosts[0].fqdn:") for line in lines)
    assert any(line.startswith("winrm.port:") for line in lines)


def test_check_config_lists_every_problem(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD_CONFIG, encoding="utf-8")
    code, out, err = run(capsys, "check-config", "--config", str(bad))
    assert (code, out) == (1, "")
    assert len(err.splitlines()) == 3


def test_check_config_summarises_the_example(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HVBOT_LDAP_BIND_DN", "CN=svc-hvbot,OU=Service,DC=lab,DC=local")
    monkeypatch.setenv("HVBOT_LDAP_PASSWORD", "bind password")
    code, out, err = run(capsys, "check-config", "--config", EXAMPLE)
    assert (code, err) == (0, "")
    assert "hosts: 3" in out
    assert "HV-SRV01  hv-srv01.lab.local  critical" in out
    assert "HV-SRV02  hv-srv02.lab.local\n" in out
    assert "slack: socket mode" in out
    assert "winrm: kerberos auth, port 5986, TLS validated" in out
    assert "approvers:" in out
    assert "the command line counts approvals.users only" in out
    assert f"log: {Path(EXAMPLE).parent / 'hvbot.log'}" in out


def test_check_config_warns_of_a_plain_text_lab_and_says_where_the_log_goes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HVBOT_WINRM_USER", "lab\\user")
    monkeypatch.setenv("HVBOT_WINRM_PASSWORD", "lab password")
    config = tmp_path / "hvbot.toml"
    config.write_text(
        '[[hosts]]\nname = "HV-SRV01"\nfqdn = "hv-srv01.lab.local"\nport = 5985\n'
        '[winrm]\nauth = "basic"\nssl = false\n[logging]\nfile = "logs/cli.log"\n',
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "check-config", "--config", str(config))
    assert code == 0
    assert "winrm: basic auth, port 5986 unless the host names one, TLS off" in out
    assert "commands cross the network readable (lab only)" in out
    assert f"log: {tmp_path / 'logs' / 'cli.log'}" in out


def test_check_config_fails_without_the_secrets_the_config_needs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HVBOT_WINRM_USER", "HVBOT_WINRM_PASSWORD", "HVBOT_AUDIT_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HVBOT_WINRM_USER", "lab\\user")
    config = tmp_path / "hvbot.toml"
    config.write_text(
        '[[hosts]]\nname = "HV-SRV01"\nfqdn = "hv-srv01.lab.local"\n[winrm]\nauth = "ntlm"\n',
        encoding="utf-8",
    )
    code, out, err = run(capsys, "check-config", "--config", str(config))
    assert code == 1
    assert err == (
        "winrm (ntlm auth): the environment variable HVBOT_WINRM_PASSWORD is not set (or empty)\n"
    )
    assert "audit key: NONE — the audit log is UNKEYED" in out

    monkeypatch.setenv("HVBOT_WINRM_PASSWORD", "lab password")
    monkeypatch.setenv("HVBOT_AUDIT_KEY", "short")
    code, _, err = run(capsys, "check-config", "--config", str(config))
    assert code == 1 and "is 5 bytes; use at least 16" in err

    monkeypatch.setenv("HVBOT_AUDIT_KEY", "k" * 32)
    code, out, err = run(capsys, "check-config", "--config", str(config))
    assert (code, err) == (0, "")
    assert "audit key: $HVBOT_AUDIT_KEY (key id " in out and "k" * 32 not in out
    assert f"audit anchors: {tmp_path / 'hvbot.db.anchors'}" in out


def test_the_fallback_log_is_private_to_the_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert fallback_log() == tmp_path / "state" / "hvbot" / "hvbot.log"
    assert (tmp_path / "state" / "hvbot").stat().st_mode & 0o777 == 0o700
    monkeypatch.setenv("XDG_STATE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert fallback_log() == tmp_path / "home" / ".local" / "state" / "hvbot" / "hvbot.log"


def test_check_config_never_prints_secrets(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-value")
    monkeypatch.setenv("HVBOT_WINRM_PASSWORD", "hunter2-secret")
    _, out, err = run(capsys, "check-config", "--config", EXAMPLE)
    assert "xoxb-secret-value" not in out + err
    assert "hunter2" not in out + err


def test_console_entry_point_in_a_real_process() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "parse", "--config", EXAMPLE, "--json", "--", "x* to a"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "words",
    [
        # The shell took the quotes away: each word with spaces was one value.
        ["storage", "My VM", "vhd", "D:\\Virtual Hard Disks\\a.vhdx", "to", "E:\\a.vhdx"],
        # One word is the whole text, quoted as in chat.
        ["storage 'My VM' vhd \"D:\\Virtual Hard Disks\\a.vhdx\" to E:\\a.vhdx"],
    ],
)
def test_shell_words_keep_their_values(
    capsys: pytest.CaptureFixture[str], words: list[str]
) -> None:
    data = parse_json(capsys, *words)
    assert data["vm"] == "My VM"
    assert data["vhds"] == [
        {"source": "D:\\Virtual Hard Disks\\a.vhdx", "destination": "E:\\a.vhdx"}
    ]
