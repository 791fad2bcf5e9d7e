"""`hvbot audit list|show|export|verify` on a small database."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import sqlite3
from pathlib import Path

import pytest

from bot.cli.audit import parse_since, register
from bot.store import AnchorFile, SqliteAuditStore, default_anchor_path
from commands.workflow.records import SYSTEM, State
from support.clock import FakeClock
from support.store import BOB, draft, new_request

Run = tuple[int, str, str]


def _audit(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    parser = argparse.ArgumentParser(prog="hvbot")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["audit", *argv])
    code: int = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def filled(db_path: Path, clock: FakeClock) -> Path:
    """Two requests: #1 SRV-APP01 succeeded, #2 SRV-DB01 awaiting approval (two days later)."""
    anchors = AnchorFile(default_anchor_path(db_path), None)
    with SqliteAuditStore(db_path, clock=clock, witnesses=[anchors]) as store:
        one = store.create(new_request(), draft("requested", text="/migrate SRV-APP01")).id
        store.transition(one, [State.REQUESTED], State.APPROVED, draft("approved", BOB))
        store.transition(one, [State.APPROVED], State.RUNNING, draft("started", SYSTEM))
        store.append(one, draft("invocation_sent", SYSTEM, cmdlet="Move-VM"))
        store.transition(
            one,
            [State.RUNNING],
            State.SUCCEEDED,
            draft("succeeded", SYSTEM, seconds=42.5),
            changes={"outcome": {"result": "moved"}},
        )
        clock.now += dt.timedelta(days=2)
        store.create(new_request("SRV-DB01", "HV-SRV03", "HV-SRV04"), draft("requested"))
    return db_path


def test_list_shows_a_table_newest_first(capsys: pytest.CaptureFixture[str], filled: Path) -> None:
    code, out, err = _audit(capsys, "list", "--db", str(filled))
    lines = out.splitlines()
    assert (code, err) == (0, "")
    assert lines[0].split() == [
        "ID",
        "STATE",
        "KIND",
        "VM",
        "FROM",
        "TO",
        "REQUESTER",
        "CREATED",
        "(UTC)",
    ]
    assert lines[1].split()[:4] == ["2", "requested", "migration", "SRV-DB01"]
    assert lines[2].split()[:4] == ["1", "succeeded", "migration", "SRV-APP01"]
    assert "U0ALICE (LAB\\alice)" in lines[2]


def test_list_filters_and_json(capsys: pytest.CaptureFixture[str], filled: Path) -> None:
    db = ["--db", str(filled)]
    _, out, _ = _audit(capsys, "list", *db, "--state", "succeeded", "--json")
    assert [r["id"] for r in json.loads(out)] == [1]
    _, out, _ = _audit(capsys, "list", *db, "--host", "hv-srv04", "--json")
    assert [(r["id"], r["vm"]) for r in json.loads(out)] == [(2, "SRV-DB01")]
    _, out, _ = _audit(capsys, "list", *db, "--since", "2026-11-26", "--vm", "srv-app01")
    assert len(out.splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["list", "--state", "done"], "unknown state 'done'"),
        (["list", "--since", "yesterday"], "bad --since 'yesterday'"),
        (["list", "--limit", "0"], "--limit must be a positive whole number"),
        (["show", "99"], "no request with id 99"),
        (["show", "one"], "the request id must be a positive whole number"),
        (["show", "²"], "the request id must be a positive whole number"),
        (["export", "--format", "csv", "--output", "/nonexistent/x.csv"], "No such file"),
    ],
)
def test_bad_input_is_one_line_and_status_two(
    capsys: pytest.CaptureFixture[str], filled: Path, argv: list[str], message: str
) -> None:
    code, out, err = _audit(capsys, *argv, "--db", str(filled))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and message in err


def test_missing_database_and_bad_config(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = _audit(capsys, "verify", "--db", str(tmp_path / "none.db"))
    assert code == 2 and "no audit database at" in err
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("these are not the events you are looking for\n" * 100)
    code, _, err = _audit(capsys, "list", "--db", str(not_sqlite))
    assert code == 2 and err.count("\n") == 1 and "cannot read the audit database" in err
    bad = tmp_path / "hvbot.toml"
    bad.write_text("[audit]\ndatabase = 7\n")
    code, _, err = _audit(capsys, "verify", "--config", str(bad))
    assert code == 2 and err.count("\n") == 1 and "audit.database" in err


def test_database_path_comes_from_the_config_beside_it(
    capsys: pytest.CaptureFixture[str],
    filled: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tmp_path / "hvbot.toml"
    config.write_text(
        '[audit]\ndatabase = "audit.db"\n'
        '[[hosts]]\nname = "HV-SRV01"\nfqdn = "hv-srv01.lab.local"\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, _ = _audit(capsys, "verify", "--config", str(config))
    assert code == 0 and out.startswith("OK: 6 events")


def test_show_tells_the_whole_story(capsys: pytest.CaptureFixture[str], filled: Path) -> None:
    code, out, _ = _audit(capsys, "show", "1", "--db", str(filled))
    assert code == 0
    assert out.startswith("Request 1 · migration\n")
    assert "State         succeeded (version 4)" in out
    assert "From → to     HV-SRV01 → HV-SRV02" in out
    assert 'Outcome       {"result": "moved"}' in out
    kinds = [line.split()[2] for line in out.splitlines() if line.startswith("  #")]
    assert kinds == ["requested", "approved", "started", "invocation_sent", "succeeded"]
    assert "running → succeeded" in out and '{"seconds": 42.5}' in out

    _, out, _ = _audit(capsys, "show", "1", "--db", str(filled), "--json")
    story = json.loads(out)
    assert story["request"]["state"] == "succeeded"
    assert [e["seq"] for e in story["events"]] == [1, 2, 3, 4, 5]


def test_export_csv_and_json(
    capsys: pytest.CaptureFixture[str], filled: Path, tmp_path: Path
) -> None:
    code, out, _ = _audit(capsys, "export", "--format", "csv", "--db", str(filled))
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [r["seq"] for r in rows] == [str(i) for i in range(1, 7)]
    assert rows[4]["state_to"] == "succeeded" and len(rows[4]["hash"]) == 64
    assert rows[1]["prev_hash"] == rows[0]["hash"]

    target = tmp_path / "events.json"
    code, out, _ = _audit(
        capsys, "export", "--format", "json", "--output", str(target), "--db", str(filled)
    )
    events = json.loads(target.read_text())
    assert (code, out) == (0, "")
    assert [e["kind"] for e in events][:2] == ["requested", "approved"]
    assert events[4]["data"] == {"seconds": 42.5}


def test_verify_passes_then_names_the_tampered_event(
    capsys: pytest.CaptureFixture[str], filled: Path
) -> None:
    code, out, _ = _audit(capsys, "verify", "--db", str(filled))
    assert code == 0 and out.startswith("OK: 6 events, chain intact, head hash ")

    conn = sqlite3.connect(filled, isolation_level=None)
    conn.execute("DROP TRIGGER events_refuse_update")
    conn.execute("UPDATE events SET actor_slack_id = 'U0MALLORY' WHERE seq = 2")
    conn.close()

    code, out, _ = _audit(capsys, "verify", "--db", str(filled))
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("EDITED: event 2 (request 1, approved, at 2026-11-25")
    assert lines[0].endswith("does not match its hash (edited); 1 events before it hold")
    assert "UNPROTECTED: append-only triggers missing: events_refuse_update" in out
    assert "FAILED: 2 findings; the chain holds for its first 1 events" in out


def test_since_accepts_ages_and_offsets() -> None:
    now = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
    assert parse_since("24h", now) == now - dt.timedelta(hours=24)
    assert parse_since("2W", now) == now - dt.timedelta(weeks=2)
    assert parse_since("2026-11-25T14:00+02:00") == dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
    assert parse_since("2026-11-25").tzinfo is dt.UTC


def test_show_escapes_invisible_characters_a_hand_edit_put_in(
    capsys: pytest.CaptureFixture[str], filled: Path
) -> None:
    conn = sqlite3.connect(filled, isolation_level=None)
    conn.execute("UPDATE requests SET reason = 'ok \u202eevil' WHERE id = 2")
    conn.close()
    code, out, err = _audit(capsys, "show", "2", "--db", str(filled))
    assert code == 0
    assert "Reason        ok \\u202eevil" in out and "\u202e" not in out
    assert "reason is" in err and "\u202e" not in err
