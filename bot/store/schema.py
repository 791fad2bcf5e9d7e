"""The audit database: connection settings and the schema, created and upgraded by migrations.

Durability: WAL with `synchronous=FULL` syncs the log on every commit, so an event that was
committed (and so may have been reported to a person) survives a crash of the process and
of the machine. `NORMAL` would only survive the process: WAL commits since the last
checkpoint can roll back on power loss.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

from sqlite_utils import Database, Migrations

log = logging.getLogger(__name__)
MIGRATIONS = Migrations("hvbot_audit")
DEFAULT_BUSY_TIMEOUT = 30.0
# The final states as SQL literals (partial indexes need constants, not parameters).
_FINAL = ", ".join(
    f"'{state}'"
    for state in ("succeeded", "failed", "rejected", "expired", "cancelled", "outcome_unknown")
)

# Never rebuilt by a later migration: only new objects are added, so an old file upgrades in
# place without touching the events it holds (a rebuild would rewrite the hash-chained rows).


@MIGRATIONS(name="0001_requests_and_events")
def _requests_and_events(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE requests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            state TEXT NOT NULL,
            version INTEGER NOT NULL,
            vm TEXT COLLATE NOCASE,
            source_host TEXT COLLATE NOCASE,
            destination_host TEXT COLLATE NOCASE,
            reason TEXT,
            requester_slack_id TEXT NOT NULL,
            requester_account TEXT,
            requester_name TEXT,
            channel TEXT NOT NULL,
            thread_ts TEXT,
            request TEXT NOT NULL,
            invocation TEXT,
            approvals TEXT NOT NULL DEFAULT '[]',
            required_approvals INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            expires_at TEXT,
            started_at TEXT,
            finished_at TEXT,
            vm_id TEXT,
            card_ts TEXT,
            progress_ts TEXT,
            outcome TEXT,
            last_transition_seq INTEGER
        );
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            request_id INTEGER REFERENCES requests(id),
            kind TEXT NOT NULL,
            actor_slack_id TEXT NOT NULL,
            actor_account TEXT,
            actor_name TEXT,
            at TEXT NOT NULL,
            state_from TEXT,
            state_to TEXT,
            data TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE INDEX events_by_request ON events(request_id, seq);
        CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'audit events are append-only: UPDATE refused'); END;
        CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'audit events are append-only: DELETE refused'); END;
        CREATE TRIGGER requests_refuse_delete BEFORE DELETE ON requests
        BEGIN SELECT RAISE(ABORT, 'requests are never deleted'); END;
        """
    )


@MIGRATIONS(name="0002_search_indexes_and_views")
def _search_indexes_and_views(db: Database) -> None:
    for column in ("state", "vm", "source_host", "destination_host", "created_at"):
        db.table("requests").create_index([column], index_name=f"requests_by_{column}")
    db.create_view(
        "request_story",
        """
        SELECT e.request_id, r.kind AS request_kind, r.vm, r.source_host, r.destination_host,
               r.channel, r.thread_ts, e.seq, e.at, e.kind, e.actor_slack_id, e.actor_account,
               e.state_from, e.state_to, e.data
        FROM events e LEFT JOIN requests r ON r.id = e.request_id
        ORDER BY e.request_id, e.seq
        """,
    )
    db.create_view(
        "open_requests",
        """
        SELECT * FROM requests
        WHERE state NOT IN ('succeeded', 'failed', 'rejected', 'expired', 'cancelled')
        ORDER BY id
        """,
    )


@MIGRATIONS(name="0003_one_open_request_per_subject_and_host_slots")
def _one_open_request_per_subject(db: Database) -> None:
    # The database itself refuses a second open request for a VM (or a second open host
    # settings change for a host), and holds the hosts' migration slots that approved
    # requests claim, so any number of processes on one file behave as one.
    # The open_requests view learns the final state `outcome_unknown`.
    db.executescript(
        f"""
        CREATE UNIQUE INDEX one_open_request_per_vm ON requests(vm COLLATE NOCASE)
            WHERE vm IS NOT NULL AND state NOT IN ({_FINAL});
        CREATE UNIQUE INDEX one_open_settings_change_per_host
            ON requests(source_host COLLATE NOCASE)
            WHERE kind = 'host_change' AND state NOT IN ({_FINAL});
        CREATE TABLE host_slots (
            request_id INTEGER NOT NULL REFERENCES requests(id),
            host TEXT NOT NULL COLLATE NOCASE,
            pool TEXT NOT NULL,
            PRIMARY KEY (request_id, host, pool)
        );
        DROP VIEW open_requests;
        CREATE VIEW open_requests AS SELECT * FROM requests WHERE state NOT IN ({_FINAL})
            ORDER BY id;
        """
    )


@MIGRATIONS(name="0004_one_open_drain_per_host")
def _one_open_drain_per_host(db: Database) -> None:
    # Two open drains of one host would place the same VMs twice.
    db.executescript(
        f"""
        CREATE UNIQUE INDEX one_open_drain_per_host ON requests(source_host COLLATE NOCASE)
            WHERE kind = 'drain' AND state NOT IN ({_FINAL});
        """
    )


@MIGRATIONS(name="0005_serve_lease_and_slack_events")
def _serve_lease_and_slack_events(db: Database) -> None:
    # Not audit data: which `hvbot serve` process is active (bot.slack.coordination) and which
    # Slack events were already taken, shared by every process on this database.
    db.executescript(
        """
        CREATE TABLE serve_lease (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            expires_at REAL NOT NULL
        );
        CREATE TABLE slack_events_seen (
            event_id TEXT PRIMARY KEY,
            seen_at REAL NOT NULL
        );
        """
    )


@MIGRATIONS(name="0006_keyed_events")
def _keyed_events(db: Database) -> None:
    # `key_id`: which audit key signed the event (NULL: a plain sha256 link, written without a
    # key). `changes`: the request columns the event wrote, as stored, so that `verify` can
    # rebuild every request from its events alone. Both are added, never rebuilt (see above).
    db.executescript(
        """
        ALTER TABLE events ADD COLUMN key_id TEXT;
        ALTER TABLE events ADD COLUMN changes TEXT;
        """
    )


PROTECTING_TRIGGERS = frozenset(
    {"events_refuse_update", "events_refuse_delete", "requests_refuse_delete"}
)


def connect(path: Path | str, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> sqlite3.Connection:
    """Open `path` with the audit settings; transactions are explicit (`BEGIN IMMEDIATE`)."""
    conn = sqlite3.connect(
        str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    try:
        _enable_wal(conn, busy_timeout)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
    except BaseException:
        conn.close()
        raise
    return conn


def connect_readonly(
    path: Path | str, busy_timeout: float = DEFAULT_BUSY_TIMEOUT
) -> sqlite3.Connection:
    """Open `path` for reading only: an auditor may have no write access to it or its folder.

    A WAL reader needs the `-shm` index. When the bot is not running that file is gone, and a
    reader who cannot create it falls back to opening the file as immutable, which is exact
    only while no `-wal` holds changes not yet in the main file: that case is refused.
    """
    uri = Path(path).resolve().as_uri()
    conn = _open_uri(f"{uri}?mode=ro", busy_timeout)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError as exc:
        conn.close()
        if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN):
            raise
    wal = Path(f"{path}-wal")
    if wal.is_file() and wal.stat().st_size > 0:
        raise sqlite3.OperationalError(
            f"{wal} holds changes that only a reader with write access to its folder can read"
        )
    return _open_uri(f"{uri}?mode=ro&immutable=1", busy_timeout)


def _open_uri(uri: str, busy_timeout: float) -> sqlite3.Connection:
    return sqlite3.connect(
        uri, uri=True, timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )


class SchemaOutdated(sqlite3.DatabaseError):
    """A read-only reader found migrations not yet applied (only a writer can apply them)."""


def require_current(conn: sqlite3.Connection) -> None:
    """Refuse a database whose schema lacks migrations (checking only reads)."""
    pending = MIGRATIONS.pending(Database(conn, execute_plugins=False))
    if pending:
        names = ", ".join(m.name for m in pending)
        raise SchemaOutdated(
            f"the audit schema lacks migrations {names}; open it with write access"
        )


def _enable_wal(conn: sqlite3.Connection, timeout: float) -> None:
    # Switching a new file to WAL needs an exclusive lock, and SQLite reports BUSY at once
    # (without its busy handler) when other processes open the same new file, so retry here.
    deadline = time.monotonic() + timeout
    while True:
        try:
            (mode,) = conn.execute("PRAGMA journal_mode=WAL").fetchone()
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.005)
            continue
        if mode != "wal":
            raise sqlite3.OperationalError(f"cannot use WAL for the audit log (journal {mode})")
        return


def migrate(conn: sqlite3.Connection) -> None:
    """Apply pending migrations, holding the write lock so that racing processes take turns."""
    db = Database(conn, execute_plugins=False)
    conn.execute("BEGIN IMMEDIATE")
    try:
        pending = [m.name for m in MIGRATIONS.pending(db)]
        MIGRATIONS.apply(db)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    if pending:
        log.info("audit schema migrated", extra={"migrations": pending})
