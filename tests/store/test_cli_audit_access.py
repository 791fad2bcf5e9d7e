"""`hvbot audit` as an auditor uses it: read access only, output piped into `head`."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlite_utils import Database

from bot.cli.audit import EXIT_BROKEN_PIPE
from bot.store import SqliteAuditStore
from bot.store.schema import MIGRATIONS, connect
from commands.workflow.records import SYSTEM, State
from support.store import BOB, draft, new_request

ACTIONS = (
    ("list",),
    ("show", "1"),
    ("export", "--format", "csv"),
    ("export", "--format", "json"),
    ("verify",),
)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder another user can enter (pytest's own tmp folders are private to their owner)."""
    path = Path(tempfile.mkdtemp(prefix="hvbot-audit-"))
    path.chmod(0o755)
    yield path
    path.chmod(0o755)
    shutil.rmtree(path)


def _fill(path: Path) -> None:
    with SqliteAuditStore(path) as store:
        one = store.create(new_request(), draft("requested")).id
        store.transition(one, [State.REQUESTED], State.APPROVED, draft("approved", BOB))
        store.append(one, draft("invocation_sent", SYSTEM, cmdlet="Move-VM"))


def _hvbot(*argv: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "bot.cli", *argv]
    if user is not None:
        who = pwd.getpwnam(user)
        command = [
            *("setpriv", f"--reuid={who.pw_uid}", f"--regid={who.pw_gid}", "--clear-groups"),
            *command,
        ]
    environ = {k: v for k, v in os.environ.items() if k != "HVBOT_CONFIG"}
    return subprocess.run(command, capture_output=True, text=True, env=environ, timeout=60)


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_every_action_works_for_a_reader_without_write_access(shared_dir: Path) -> None:
    db = shared_dir / "audit.db"
    _fill(db)
    db.chmod(0o444)
    shared_dir.chmod(0o555)
    if os.geteuid() == 0:
        # Permissions do not bind root: run the command as an unprivileged user instead.
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot drop write access")
        user: str | None = "nobody"
    else:
        user = None
    before = _digest(shared_dir)
    for action in ACTIONS:
        done = _hvbot("audit", *action, "--db", str(db), user=user)
        assert (done.returncode, done.stderr) == (0, ""), action
        assert done.stdout
    assert _digest(shared_dir) == before


def test_a_current_database_is_opened_read_only_and_left_untouched(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    _fill(db)
    before = db.read_bytes()
    with SqliteAuditStore.for_reading(db) as store:
        assert store.read_only
        assert store.verify().ok
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store.append(None, draft("tamper"))
    # A reader may leave SQLite's empty WAL index files behind, never a change.
    assert db.read_bytes() == before
    assert (
        not (tmp_path / "audit.db-wal").exists() or not (tmp_path / "audit.db-wal").stat().st_size
    )


def test_an_older_schema_is_upgraded_by_a_reader_with_write_access(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    conn = connect(db)
    MIGRATIONS.apply(
        Database(conn, execute_plugins=False), stop_before="0002_search_indexes_and_views"
    )
    conn.close()
    with SqliteAuditStore.for_reading(db) as store:
        assert not store.read_only
        assert store.verify().ok
    upgraded = Database(connect(db), execute_plugins=False)
    assert "open_requests" in upgraded.view_names()


def test_a_reader_that_stops_early_ends_the_export_quietly(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    _fill(db)
    # Far more than a pipe buffer holds, so the export is still writing when `head` leaves.
    conn = sqlite3.connect(db)
    with conn:
        conn.executemany(
            "INSERT INTO events (request_id, kind, actor_slack_id, at, data, prev_hash, hash) "
            "VALUES (NULL, 'filler', 'hvbot', '2026-11-25T09:00:00+00:00', ?, '', '')",
            [(f'{{"n": {n}, "pad": "{"x" * 200}"}}',) for n in range(3000)],
        )
    conn.close()
    for kind in ("csv", "json"):
        command = [sys.executable, "-m", "bot.cli", "audit", "export", "--format", kind]
        with subprocess.Popen(
            [*command, "--db", str(db)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as process:
            assert process.stdout is not None and process.stderr is not None
            assert process.stdout.readline()
            process.stdout.close()
            errors = process.stderr.read()
            code = process.wait(timeout=60)
        assert (code, errors) == (EXIT_BROKEN_PIPE, ""), kind
