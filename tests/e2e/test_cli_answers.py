"""The workflow commands answering an operator's mistakes and interruptions, against the lab
(in-process `hvbot` with the real adapters): what is said, the exit code, and that nothing
secret or Python-internal reaches the terminal."""

from __future__ import annotations

import pytest

from bot.app import Services
from commands.workflow.records import TERMINAL_STATES, RequestRecord, State
from support.e2e import BotRig, run

MOVE = "SRV-APP01 to HV-SRV02 include-storage"


def test_recover_with_nothing_to_do_says_so(
    hvbot: BotRig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(hvbot, capsys, "recover") == (
        0,
        "Nothing to recover: no request was left open.\n",
        "",
    )


def test_a_refused_check_shows_each_finding_with_its_fix(
    hvbot: BotRig, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(hvbot, capsys, "request", "--as", "UALICE", "--", "SRV-APP01 to HV-SRV02")
    assert code == 1
    assert "cannot go ahead" in out
    assert "• SRV-APP01 has disks on local storage" in out
    assert "Fix: Add `include-storage` (shared-nothing migration)." in out
    assert out.count("disks on local storage") == 1


def test_wrong_password_is_classified_and_never_printed(
    hvbot: BotRig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HVBOT_WINRM_PASSWORD", "not-" + hvbot.lab.password)
    code, out, err = run(hvbot, capsys, "plan", "--", MOVE)
    assert (code, out) == (1, "")
    assert "The host refused the bot's credentials." in err and "fix:" in err
    # A request refused for the same reason: the bot's one line, nothing after it.
    code, out, _ = run(hvbot, capsys, "request", "--as", "UALICE", "--", MOVE)
    assert code == 1
    assert out.splitlines()[-1].startswith("hvbot: Request #1 cannot go ahead: The host refused")
    logged = (hvbot.config.parent / "audit.log").read_text(encoding="utf-8")
    assert "not-" + hvbot.lab.password not in logged


def test_ctrl_c_during_approve_then_cancel_elsewhere_then_recover(
    hvbot: BotRig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(hvbot, capsys, "request", "--as", "UALICE", "--", MOVE)
    assert code == 0 and "Request #1" in out and "requested: @UALICE" in out

    real_wait = Services.wait_for

    def ctrl_c_once_running(
        services: Services, request_id: int, until: frozenset[State], poll: float = 0.05
    ) -> RequestRecord:
        real_wait(services, request_id, TERMINAL_STATES | {State.RUNNING}, poll)
        raise KeyboardInterrupt

    monkeypatch.setattr(Services, "wait_for", ctrl_c_once_running)
    code, _, err = run(hvbot, capsys, "approve", "--as", "UBOB", "1")
    monkeypatch.setattr(Services, "wait_for", real_wait)
    assert code == 130
    assert err.startswith("Interrupted. Request #1 is running: Ctrl-C stopped this process")
    assert "Run `hvbot recover` to follow it to its end" in err

    # Nobody may cancel what they may not cancel; the requester can, from this other process:
    # the host's job is asked to stop, and the process that follows the move records the end.
    code, _, err = run(hvbot, capsys, "cancel", "--as", "UMALLORY", "#1")
    assert (code, err) == (2, "Only the requester or an approver can cancel request #1.\n")
    code, out, err = run(hvbot, capsys, "cancel", "--as", "UALICE", "#1")
    assert code == 0, err
    assert "@UALICE asked to cancel request #1; asking HV-SRV01 to stop it." in out
    assert "Asked the host to stop request #1 (job_state_change)." in out

    code, out, _ = run(hvbot, capsys, "recover")
    assert "#1 running: following the move on its host again (no second Move-VM)" in out
    assert "#1 SRV-APP01: cancelled after" in out, out
    assert code == 0
    hvbot.world.wait_idle()
    assert len(hvbot.world.calls("Move-VM")) == 1


def test_ctrl_c_while_a_request_is_recorded_says_where_it_stands(
    hvbot: BotRig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_wait = Services.wait_for

    def ctrl_c_once_settled(
        services: Services, request_id: int, until: frozenset[State], poll: float = 0.05
    ) -> RequestRecord:
        real_wait(services, request_id, until, poll)
        raise KeyboardInterrupt

    monkeypatch.setattr(Services, "wait_for", ctrl_c_once_settled)
    code, _, err = run(hvbot, capsys, "request", "--as", "UALICE", "--", MOVE)
    assert code == 130
    assert err == (
        "Interrupted. Request #1 is recorded and waits for approval "
        "(`hvbot approve 1 --as USER`, or `hvbot cancel 1 --as USER`).\n"
    )
    monkeypatch.setattr(Services, "wait_for", real_wait)
    assert run(hvbot, capsys, "recover") == (
        0,
        "#1 awaiting_approval: still waiting for approval\n",
        "",
    )


def test_log_lines_of_an_approved_request_carry_its_id(
    hvbot: BotRig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(hvbot, capsys, "request", "--as", "UALICE", "--", MOVE)[0] == 0
    assert run(hvbot, capsys, "approve", "--as", "UBOB", "1")[0] == 0
    log_file = hvbot.config.parent / "audit.log"
    pool_lines = [
        line
        for line in log_file.read_text(encoding="utf-8").splitlines()
        if '"winrm pool opened"' in line
    ]
    # The approving process opens pools on the workflow's executor, inside the approval:
    # their log lines carry the request id bound by `hvbot approve`.
    assert any('"request_id": 1' in line for line in pool_lines)
