"""Damage done by hand to a real audit database, as someone who can write the file (but does
not hold the audit key) would: the append-only triggers dropped for the edit, links
recomputed after it."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from bot.store.codec import chain_text
from bot.store.keys import AuditKey, digest


@contextlib.contextmanager
def attack(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A plain connection to the file, with the append-only triggers dropped for the edit
    and put back as they were after it, as anyone with write access can."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
    saved = [(row["name"], row["sql"]) for row in triggers]
    for name, _ in saved:
        conn.execute(f'DROP TRIGGER "{name}"')
    try:
        yield conn
    finally:
        for _, sql in saved:
            conn.execute(sql)
        conn.close()


def rehash_from(conn: sqlite3.Connection, seq: int, key: AuditKey | None) -> None:
    """Recompute every link from `seq` on, as an attacker does after an edit."""
    prev = conn.execute("SELECT hash FROM events WHERE seq = ?", (seq - 1,)).fetchone()[0]
    for row in conn.execute("SELECT * FROM events WHERE seq >= ? ORDER BY seq", (seq,)):
        fields = (
            row["seq"], row["request_id"], row["kind"], row["actor_slack_id"],
            row["actor_account"], row["actor_name"], row["at"], row["state_from"],
            row["state_to"], row["data"], prev, row["key_id"], row["changes"],
        )  # fmt: skip
        prev = digest(chain_text(fields), key)
        conn.execute(
            "UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?",
            (fields[10], prev, row["seq"]),
        )
