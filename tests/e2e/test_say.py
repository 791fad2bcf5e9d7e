"""`hvbot say` against the lab: what the bot answers in chat, through the one handler."""

from __future__ import annotations

import pytest

from support.e2e import BotRig, run


def say(
    rig: BotRig, capsys: pytest.CaptureFixture[str], user: str, text: str
) -> tuple[int, str, str]:
    """`hvbot say --as USER -- TEXT`: exit code, stdout, stderr."""
    return run(rig, capsys, "say", "--as", user, "--", text)


def test_say_host_shows_its_settings(hvbot: BotRig, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = say(hvbot, capsys, "UALICE", "host HV-SRV01")
    assert code == 0
    assert out.startswith("HV-SRV01: live migration settings\n")
    assert "live migration: enabled" in out and "authentication: Kerberos" in out


def test_say_diagnose_names_the_missing_switch(
    hvbot: BotRig, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        hvbot, capsys, "say", "--as", "UALICE", "--", "diagnose SRV-DB01 to HV-SRV03"
    )
    assert code == 0
    assert "this move would be refused" in out
    assert "HV-SRV03 has no virtual switch 'vSwitch-Backup'" in out


def test_say_status_and_history_list_requests(
    hvbot: BotRig, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        hvbot, capsys, "say", "--as", "UALICE", "--", "SRV-APP01 to HV-SRV02 include-storage"
    )
    assert code == 0
    assert "Request #1 recorded" in out and "PS> Move-VM -Name 'SRV-APP01'" in out
    code, out, _ = say(hvbot, capsys, "UBOB", "status")
    assert code == 0
    assert out.splitlines()[:2] == [
        "Open requests:",
        "#1 awaiting_approval SRV-APP01 HV-SRV01 → HV-SRV02 by @UALICE",
    ]
    code, out, _ = say(hvbot, capsys, "UBOB", "history")
    assert code == 0
    assert out.splitlines()[1].startswith("#1 awaiting_approval SRV-APP01")


def test_say_refuses_in_one_line_with_exit_2(
    hvbot: BotRig, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = say(hvbot, capsys, "UALICE", "SRV-* to HV-SRV02")
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1 and "wildcard" in err
