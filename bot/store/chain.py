"""Walking the hash chain of the `events` table to prove nothing was edited, removed or moved."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from bot.store.codec import GENESIS_HASH, event_hash
from bot.store.rows import hashed_content
from bot.store.schema import APPEND_ONLY_TRIGGERS


@dataclass(frozen=True)
class BrokenLink:
    """The first event whose place in the chain does not hold, why, and what it claims to be
    (None for events missing from the end)."""

    seq: int
    reason: str
    request_id: int | None = None
    kind: str | None = None
    at: str | None = None


@dataclass(frozen=True)
class ChainReport:
    """What a walk of the chain found: events checked, the head hash, the first break."""

    count: int
    head_hash: str
    broken: BrokenLink | None
    missing_triggers: frozenset[str]

    @property
    def ok(self) -> bool:
        """The chain holds and the append-only triggers are in place."""
        return self.broken is None and not self.missing_triggers


def verify_chain(conn: sqlite3.Connection) -> ChainReport:
    """Recompute every hash in `seq` order; stop at the first event that does not fit.

    A deleted or reordered event breaks the `prev_hash` link of its successor; an edited one
    no longer matches its own hash; events removed from the end show as a `seq` behind the
    highest one SQLite ever handed out. Anyone able to rewrite the whole chain can defeat
    this, which is why the head hash is reported: keep it somewhere else to compare later.
    """
    cursor = conn.execute("SELECT * FROM events ORDER BY seq")
    cursor.row_factory = sqlite3.Row
    expected_prev = GENESIS_HASH
    count = 0
    last_seq = 0
    broken: BrokenLink | None = None
    for row in cursor:
        broken = _check(row, expected_prev)
        if broken:
            break
        expected_prev = row["hash"]
        last_seq = row["seq"]
        count += 1
    if broken is None:
        high = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        if high and high[0] > last_seq:
            broken = BrokenLink(
                high[0], f"events {last_seq + 1} to {high[0]} are missing from the end"
            )
    triggers = {
        name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    }
    return ChainReport(count, expected_prev, broken, APPEND_ONLY_TRIGGERS - triggers)


def _check(row: sqlite3.Row, expected_prev: str) -> BrokenLink | None:
    if row["prev_hash"] != expected_prev:
        reason = "its prev_hash is not the hash of the event before it (removed or moved)"
    else:
        try:
            actual: str | None = event_hash(hashed_content(row))
        except ValueError:
            actual = None
        if actual == row["hash"]:
            return None
        reason = "its content does not match its hash (edited or moved)"
    return BrokenLink(row["seq"], reason, row["request_id"], row["kind"], row["at"])
