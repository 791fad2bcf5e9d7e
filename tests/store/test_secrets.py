"""No configured secret reaches the database file, however the workflow hands it over."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Secrets, parse_config
from bot.store import SqliteAuditStore, configured_secrets, open_store
from bot.store.scrub import REDACTED, Scrubber
from commands.workflow.machine import WorkflowError
from commands.workflow.records import SYSTEM, State
from support.store import BOB, draft, new_request

WINRM_PASSWORD = "Winrm-P@ss-2026!"
LDAP_PASSWORD = "ldap bind secret 77"
BOT_TOKEN = "xoxb-1111111111-2222222222-abcdefABCDEF"
APP_TOKEN = "xapp-1-A0123456-1234567890-f00dfeed"
SIGNING_SECRET = "8f14e45fceea167a5a36dedd4bea2543"
ALL = (WINRM_PASSWORD, LDAP_PASSWORD, BOT_TOKEN, APP_TOKEN, SIGNING_SECRET)


HOSTS = {"hosts": [{"name": "HV-SRV01", "fqdn": "hv-srv01.lab.local"}]}


def _environ() -> dict[str, str]:
    return {
        "HVBOT_WINRM_PASSWORD": WINRM_PASSWORD,
        "HVBOT_LDAP_PASSWORD": LDAP_PASSWORD,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "HVBOT_WINRM_USER": "LAB\\svc-hvbot",
    }


def _secrets() -> tuple[str, ...]:
    return configured_secrets(parse_config(HOSTS), Secrets.from_environ(_environ()))


def test_configured_secrets_are_the_secret_values_only() -> None:
    assert set(_secrets()) == set(ALL)


def test_a_full_run_leaves_no_secret_in_the_database_files(db_path: Path) -> None:
    credential = {"username": "LAB\\svc-hvbot", "password": WINRM_PASSWORD}
    with SqliteAuditStore(db_path, secret_values=_secrets()) as store:
        request = new_request()
        rid = store.create(
            request,
            draft("requested", text=f"/migrate SRV-APP01 to HV-SRV02 token {BOT_TOKEN}"),
        ).id
        store.transition(
            rid,
            [State.REQUESTED],
            State.AWAITING_APPROVAL,
            draft("preflight_passed", SYSTEM, findings=[f"ldap bind as x/{LDAP_PASSWORD}"]),
            changes={
                "invocation": {"cmdlet": "Move-VM", "credential": credential},
                "reason": f"debug {APP_TOKEN}",
            },
        )
        store.transition(rid, [State.AWAITING_APPROVAL], State.APPROVED, draft("approved", BOB))
        store.transition(rid, [State.APPROVED], State.RUNNING, draft("started", SYSTEM))
        store.append(
            rid,
            draft(
                "invocation_sent",
                SYSTEM,
                headers={"Authorization": "Negotiate TlRMTVNTUAAB"},
                signing_secret=SIGNING_SECRET,
            ),
        )
        store.transition(
            rid,
            [State.RUNNING],
            State.FAILED,
            draft("failed", SYSTEM, error=f"Access is denied ({WINRM_PASSWORD})"),
            changes={"outcome": {"error": f"logon failure for {WINRM_PASSWORD}"}},
        )
        events = store.events(rid)
        record = store.get(rid)
        files = {p.name: p.read_bytes() for p in db_path.parent.iterdir()}

    assert "audit.db-wal" in files
    files["audit.db (closed)"] = db_path.read_bytes()
    for name, content in files.items():
        for secret in ALL:
            assert secret.encode() not in content, f"{secret!r} found in {name}"
    assert record is not None
    assert record.invocation == {"cmdlet": "Move-VM", "credential": REDACTED}
    assert events[-1].data == {"error": f"Access is denied ({REDACTED})"}


def test_scrubber_keeps_ordinary_values() -> None:
    scrub = Scrubber(["pw"])
    value = {"auth": "kerberos", "thread_ts": "1.2", "note": "pw is too short to redact"}
    assert scrub(value) == value
    assert scrub({"api_key": None, "items": ("xoxp-1-2",)}) == {
        "api_key": None,
        "items": [REDACTED],
    }


def test_open_store_finds_the_file_beside_the_config_and_redacts(tmp_path: Path) -> None:
    config = parse_config(
        {**HOSTS, "audit": {"database": "logs/audit.db"}}, tmp_path / "hvbot.toml"
    )
    (tmp_path / "logs").mkdir()
    with open_store(config, Secrets.from_environ(_environ())) as store:
        event = store.append(None, draft("note", text=f"password is {WINRM_PASSWORD}"))
    assert event.data == {"text": f"password is {REDACTED}"}
    assert (tmp_path / "logs" / "audit.db").is_file()


def test_a_secret_typed_as_a_vm_name_is_refused_and_nothing_is_recorded(db_path: Path) -> None:
    with SqliteAuditStore(db_path, secret_values=_secrets()) as store:
        for request in (new_request(vm=f"x{WINRM_PASSWORD}"), new_request(source=BOT_TOKEN)):
            with pytest.raises(WorkflowError) as refusal:
                store.create(request, draft("requested"))
            assert "nothing was recorded" in refusal.value.message
            assert not any(secret in refusal.value.message for secret in ALL)
        assert store.search() == [] and store.head().seq == 0
