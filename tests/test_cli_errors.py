"""How `hvbot` answers when things go wrong, without a lab: short answers on stderr, the
exit codes of the contract (0 ok, 1 failed, 2 refused, 130 interrupted), never a traceback
on the terminal, and the detail in the log file with a reference to find it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.cli import main
from bot.cli.common import log_path
from bot.config import load_config
from commands.workflow.machine import WorkflowError

HOSTS = '[[hosts]]\nname = "HV-SRV01"\nfqdn = "hv-srv01.lab.local"\n'


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "hvbot.toml"
    path.write_text(HOSTS + '\n[audit]\ndatabase = "audit.db"\n', encoding="utf-8")
    return path


def test_hvbot_config_naming_a_missing_file_says_where_the_name_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HVBOT_CONFIG", str(tmp_path / "nope.toml"))
    code, out, err = run(capsys, "parse", "--", "help")
    assert (code, out) == (2, "")
    assert err.startswith(f"{tmp_path / 'nope.toml'} (named by $HVBOT_CONFIG): no configuration")


def test_an_internal_error_shows_a_reference_and_logs_the_traceback(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object) -> object:
        raise RuntimeError("boom in the parser")

    monkeypatch.setattr("bot.cli.parse.parse", broken)
    code, out, err = run(capsys, "parse", "--config", str(config), "--", "help")
    assert (code, out) == (1, "")
    log_file = config.parent / "audit.log"
    assert err.startswith("internal error (reference ")
    assert err.rstrip().endswith(f"details in {log_file}")
    assert "Traceback" not in err and "boom" not in err
    reference = err.split("reference ", 1)[1].split(")", 1)[0]
    logged = log_file.read_text(encoding="utf-8")
    assert reference in logged and "Traceback" in logged and "boom in the parser" in logged
    assert '"command": "parse"' in logged


def test_the_log_file_is_only_used_while_the_command_runs(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = list(logging.getLogger().handlers)
    run(capsys, "parse", "--config", str(config), "--", "help")
    assert logging.getLogger().handlers == before
    logging.getLogger("after").error("not for the command's file")
    assert not (config.parent / "audit.log").exists()


def test_ctrl_c_is_a_short_answer_with_exit_130(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: object) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr("bot.cli.parse.parse", interrupted)
    code, out, err = run(capsys, "parse", "--config", str(config), "--", "help")
    assert (code, out, err) == (130, "", "Interrupted.\n")


def test_a_closed_output_pipe_is_not_an_internal_error(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def closed(*args: object) -> object:
        raise BrokenPipeError

    monkeypatch.setattr("bot.cli.parse.summary", closed)
    code, _, err = run(capsys, "parse", "--config", str(config), "--", "status")
    assert (code, err) == (141, "")
    assert not (config.parent / "audit.log").exists()


def test_refusals_show_chat_mentions_as_a_terminal_does(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refused(*args: object) -> object:
        raise WorkflowError("Request #4 is already finished (submitted by <@UALICE>).")

    monkeypatch.setattr("bot.cli.parse.parse", refused)
    code, _, err = run(capsys, "parse", "--config", str(config), "--", "help")
    assert (code, err) == (2, "Request #4 is already finished (submitted by @UALICE).\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (("help",), "e.g. hvbot request --as USER -- SRV-APP01 to HV-SRV02"),
        (("status",), "`/migrate status` changes nothing on a host;"),
        (("cancel", "#4"), "To cancel a request: hvbot cancel ID --as USER."),
    ],
)
def test_request_takes_changes_only(
    config: Path, capsys: pytest.CaptureFixture[str], text: tuple[str, ...], expected: str
) -> None:
    code, out, err = run(capsys, "request", "--config", str(config), "--as", "U1", "--", *text)
    assert (code, out) == (2, "")
    assert expected in err and "Request`" not in err
    assert not (config.parent / "audit.db").exists()


@pytest.mark.parametrize("written", ["#42", "42"])
def test_request_ids_are_written_as_in_chat(
    config: Path, capsys: pytest.CaptureFixture[str], written: str
) -> None:
    code, _, err = run(capsys, "reject", "--config", str(config), "--as", "U1", written)
    assert (code, err) == (2, "There is no request #42.\n")


def test_a_bad_request_id_is_refused_by_the_parser(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["approve", "--config", str(config), "--as", "U1", "#x"])
    assert exited.value.code == 2
    assert "'#x' is not a request id; write 42 or #42" in capsys.readouterr().err


def test_missing_credentials_are_one_answer_before_any_host_is_contacted(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config.write_text(HOSTS + '[winrm]\nauth = "ntlm"\n', encoding="utf-8")
    monkeypatch.delenv("HVBOT_WINRM_USER", raising=False)
    monkeypatch.delenv("HVBOT_WINRM_PASSWORD", raising=False)
    code, out, err = run(capsys, "hosts", "--config", str(config))
    assert (code, out) == (1, "")
    assert err.splitlines()[0] == (
        "No WinRM credentials: set HVBOT_WINRM_USER and HVBOT_WINRM_PASSWORD."
    )


def test_the_log_file_defaults_beside_the_audit_database(tmp_path: Path) -> None:
    path = tmp_path / "hvbot.toml"
    path.write_text(HOSTS + '[audit]\ndatabase = "data/audit.db"\n', encoding="utf-8")
    assert log_path(load_config(path)) == tmp_path / "data" / "audit.log"
    path.write_text(HOSTS + '[logging]\nfile = "logs/bot.log"\n', encoding="utf-8")
    assert log_path(load_config(path)) == tmp_path / "logs" / "bot.log"


def test_the_demo_answers_failures_like_every_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    log_file = tmp_path / "hvbot" / "hvbot-demo.log"

    def broken(*args: object, **kwargs: object) -> int:
        raise OSError("no free port")

    monkeypatch.setattr("bot.demo.run_demo", broken)
    code, _, err = run(capsys, "demo")
    assert code == 1
    assert err.startswith("internal error (reference ")
    assert f"details in {log_file}" in err and "Traceback" not in err
    assert "no free port" in log_file.read_text(encoding="utf-8")

    def interrupted(*args: object, **kwargs: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr("bot.demo.run_demo", interrupted)
    assert run(capsys, "demo") == (130, "", "Interrupted.\n")
    assert run(capsys, "demo", "--time-scale", "0")[0] == 2


def test_a_file_that_is_not_the_audit_database_is_named_as_such(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (config.parent / "audit.db").write_text("not a database", encoding="utf-8")
    code, out, err = run(capsys, "reject", "--config", str(config), "--as", "U1", "1")
    assert (code, out) == (1, "")
    assert err.startswith("The audit database cannot be used (file is not a database)")
    assert "Traceback" not in err


def test_a_subcommand_without_its_own_guard_still_answers_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    log_file = tmp_path / "hvbot" / "hvbot.log"

    def broken(args: object) -> int:
        raise OSError("Address already in use")

    monkeypatch.setattr("bot.cli.lab.run_lab", broken)
    code, out, err = run(capsys, "lab")
    assert (code, out) == (1, "")
    assert err.startswith("internal error (reference ")
    assert err.rstrip().endswith(f"details in {log_file}")
    assert "Address already in use" in log_file.read_text(encoding="utf-8")


def test_an_unusable_log_file_falls_back_to_the_users_own_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    log_file = tmp_path / "hvbot" / "hvbot.log"
    config = tmp_path / "hvbot.toml"
    (tmp_path / "logs").mkdir()
    config.write_text(HOSTS + '[logging]\nfile = "logs"\n', encoding="utf-8")

    def broken(*args: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr("bot.cli.parse.parse", broken)
    code, _, err = run(capsys, "parse", "--config", str(config), "--", "help")
    assert code == 1 and "boom" not in err
    assert err.rstrip().endswith(f"details in {log_file}")
    assert "boom" in log_file.read_text(encoding="utf-8")
