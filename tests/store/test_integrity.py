"""The log resists change: append-only triggers, hash-chain tamper detection, schema upgrades,
durable settings, and events that survive the writing process being killed."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from multiprocessing.synchronize import Event
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from bot.store import SqliteAuditStore
from bot.store.codec import GENESIS_HASH, event_hash
from bot.store.rows import hashed_content
from bot.store.schema import MIGRATIONS, connect
from commands.workflow.records import EventDraft, State
from support.store import BOB, draft, new_request

REPO = Path(__file__).resolve().parents[2]


def _story(store: SqliteAuditStore, requests: int = 2) -> None:
    """A few requests through several states: seq 1..4*requests."""
    for i in range(requests):
        rid = store.create(new_request(vm=f"VM{i}"), draft("requested")).id
        store.transition(rid, [State.REQUESTED], State.AWAITING_APPROVAL, draft("card"))
        store.transition(rid, [State.AWAITING_APPROVAL], State.APPROVED, draft("approved", BOB))
        store.append(rid, draft("invocation_sent", cmdlet="Move-VM"))


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_events_refuse_update_and_delete(store: SqliteAuditStore, db_path: Path) -> None:
    _story(store, 1)
    conn = _raw(db_path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE events SET kind = 'nothing' WHERE seq = 1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM events WHERE seq = 1")
    with pytest.raises(sqlite3.IntegrityError, match="never deleted"):
        conn.execute("DELETE FROM requests")
    assert conn.execute("SELECT count(*) FROM events").fetchone() == (4,)
    assert store.verify().ok


def _edit(conn: sqlite3.Connection) -> None:
    conn.execute("""UPDATE events SET data = '{"cmdlet":"Remove-VM"}' WHERE seq = 4""")


def _delete(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM events WHERE seq = 4")


def _swap(conn: sqlite3.Connection) -> None:
    columns = [r[1] for r in conn.execute("PRAGMA table_info(events)") if r[1] != "seq"]
    rows = {
        seq: conn.execute(
            f"SELECT {', '.join(columns)} FROM events WHERE seq = ?", (seq,)
        ).fetchone()
        for seq in (4, 5)
    }
    assignments = ", ".join(f"{c} = ?" for c in columns)
    conn.execute(f"UPDATE events SET {assignments} WHERE seq = 4", rows[5])
    conn.execute(f"UPDATE events SET {assignments} WHERE seq = 5", rows[4])


def _truncate(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM events WHERE seq >= 7")


@pytest.mark.parametrize(
    ("tamper", "first_broken", "why"),
    [
        (_edit, 4, "content does not match"),
        (_delete, 5, "prev_hash"),
        (_swap, 4, "prev_hash"),
        (_truncate, 8, "missing from the end"),
    ],
)
def test_tampering_is_found_at_the_first_broken_event(
    db_path: Path,
    tamper: Callable[[sqlite3.Connection], None],
    first_broken: int,
    why: str,
) -> None:
    with SqliteAuditStore(db_path) as store:
        _story(store)
        assert store.verify().count == 8
    conn = _raw(db_path)
    conn.execute("DROP TRIGGER events_refuse_update")
    conn.execute("DROP TRIGGER events_refuse_delete")
    tamper(conn)
    conn.close()

    with SqliteAuditStore(db_path) as store:
        report = store.verify()

    assert report.broken is not None
    assert report.broken.seq == first_broken
    assert why in report.broken.reason
    assert not report.ok


def test_rewriting_data_with_a_fresh_hash_still_breaks_the_next_link(db_path: Path) -> None:
    with SqliteAuditStore(db_path) as store:
        _story(store)
    conn = _raw(db_path)
    conn.row_factory = sqlite3.Row
    conn.execute("DROP TRIGGER events_refuse_update")
    _edit(conn)
    row = conn.execute("SELECT * FROM events WHERE seq = 4").fetchone()
    conn.execute("UPDATE events SET hash = ? WHERE seq = 4", (event_hash(hashed_content(row)),))
    conn.close()

    with SqliteAuditStore(db_path) as store:
        broken = store.verify().broken
    assert broken is not None and broken.seq == 5


def test_dropped_triggers_alone_fail_verification(db_path: Path) -> None:
    with SqliteAuditStore(db_path) as store:
        _story(store, 1)
    _raw(db_path).execute("DROP TRIGGER events_refuse_delete")
    with SqliteAuditStore(db_path) as store:
        report = store.verify()
    assert report.broken is None
    assert report.missing_triggers == {"events_refuse_delete"}
    assert not report.ok


def test_connections_are_durable(store: SqliteAuditStore, db_path: Path) -> None:
    conn = connect(db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)


def test_migrations_upgrade_an_older_database_in_place(db_path: Path) -> None:
    first = "0001_requests_and_events"
    db = Database(connect(db_path), execute_plugins=False)
    MIGRATIONS.apply(db, stop_before="0002_search_indexes_and_views")
    db.execute(
        "INSERT INTO requests (kind, state, version, vm, requester_slack_id, channel, request,"
        " created_at, updated_at, last_transition_seq) VALUES ('migration', 'requested', 1,"
        " 'OLD-VM', 'U0OLD', 'C0OLD', '{}', '2025-01-01T00:00:00.000000+00:00',"
        " '2025-01-01T00:00:00.000000+00:00', 1)"
    )
    old_event = {
        "seq": 1,
        "request_id": 1,
        "kind": "requested",
        "actor_slack_id": "U0OLD",
        "actor_account": None,
        "actor_name": None,
        "at": "2025-01-01T00:00:00.000000+00:00",
        "state_from": None,
        "state_to": "requested",
        "data": "{}",
        "prev_hash": GENESIS_HASH,
    }
    old_event["hash"] = event_hash(hashed_content(old_event))
    db.table("events").insert(old_event)
    assert [m.name for m in MIGRATIONS.applied(db)] == [first]
    assert "request_story" not in db.view_names()
    db.close()

    with SqliteAuditStore(db_path) as store:
        old = store.get(1)
        assert old is not None and old.vm == "OLD-VM"
        store.transition(1, [State.REQUESTED], State.CANCELLED, draft("cancelled"))
        assert store.verify().count == 2
        assert store.search(vm="old-vm")[0].state is State.CANCELLED

    db = Database(connect(db_path), execute_plugins=False)
    assert [m.name for m in MIGRATIONS.applied(db)] == [m.name for m in MIGRATIONS._migrations]
    assert {"request_story", "open_requests"} <= set(db.view_names())
    story = list(db.query("SELECT vm, kind, state_to FROM request_story"))
    assert story == [
        {"vm": "OLD-VM", "kind": "requested", "state_to": "requested"},
        {"vm": "OLD-VM", "kind": "cancelled", "state_to": "cancelled"},
    ]
    assert "requests_by_vm" in {i.name for i in db.table("requests").indexes}


_WRITER = textwrap.dedent(
    """
    import sys
    from bot.store import SqliteAuditStore
    from commands.workflow.records import Actor, EventDraft, NewRequest, Place, RequestKind
    store = SqliteAuditStore(sys.argv[1])
    actor = Actor("U0CRASH")
    rid = store.create(
        NewRequest(RequestKind.MIGRATION, actor, Place("C0"), {"vm": "VM"}, vm="VM"),
        EventDraft("requested", actor),
    ).id
    while True:
        event = store.append(rid, EventDraft("progress", actor, {"percent": 1}))
        print(event.seq, flush=True)
    """
)


def test_committed_events_survive_sigkill(db_path: Path) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(db_path)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    reported = [int(writer.stdout.readline()) for _ in range(25)]
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=10)
    assert writer.returncode == -signal.SIGKILL

    with SqliteAuditStore(db_path) as store:
        seqs = [e.seq for e in store.events(1)]
        report = store.verify()
    assert set(reported) <= set(seqs)
    assert report.ok and report.count == len(seqs)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.dictionaries(st.text(), json_values, max_size=5))
def test_any_json_data_reads_back_and_verifies(data: dict[str, object]) -> None:
    with tempfile.TemporaryDirectory() as tmp, SqliteAuditStore(Path(tmp) / "a.db") as store:
        rid = store.create(new_request(), draft("requested")).id
        event = store.append(rid, EventDraft("note", BOB, data))
        assert store.events(rid)[-1] == event
        assert store.verify().ok


def _open_and_create(path: str, index: int, start: Event) -> None:
    start.wait()
    with SqliteAuditStore(path) as store:
        store.create(new_request(vm=f"VM{index}"), draft("requested"))


def test_processes_opening_a_new_file_together_migrate_it_once(db_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    start = context.Event()
    procs = [
        context.Process(target=_open_and_create, args=(str(db_path), i, start)) for i in range(4)
    ]
    for proc in procs:
        proc.start()
    start.set()
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    with SqliteAuditStore(db_path) as store:
        assert sorted(r.vm or "" for r in store.search()) == ["VM0", "VM1", "VM2", "VM3"]
        assert store.verify().count == 4
    db = Database(connect(db_path), execute_plugins=False)
    assert len(MIGRATIONS.applied(db)) == len(MIGRATIONS._migrations)


def test_the_hvbot_command_verifies_the_log(db_path: Path) -> None:
    with SqliteAuditStore(db_path) as store:
        _story(store, 1)
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "audit", "verify", "--db", str(db_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("OK: 4 events, chain intact")
