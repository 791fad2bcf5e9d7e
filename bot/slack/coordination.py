"""What every `hvbot serve` process on one audit database agrees on through that database.

- The lease: one process is the active bot; the others stand by. The holder renews it every
  `ttl / 3` seconds; a standby takes it once it has expired, so a dead bot is replaced within
  `ttl + ttl / 3` seconds (15 s + 5 s by default, under the 30 s promised).
- Seen events: Slack redelivers an event it thinks was lost (`X-Slack-Retry-Num`), possibly to
  another process after a takeover. The first process to record its `event_id` handles it.

Times are the machine's wall clock: processes sharing an SQLite file share a machine (SQLite
over a network filesystem is not supported anyway).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bot.store.schema import connect, migrate

log = logging.getLogger(__name__)

DEFAULT_TTL = 15.0
# Slack retries an event for about 5 minutes; a seen id is kept well beyond that.
SEEN_EVENTS_KEPT = 3600.0


def holder_id() -> str:
    """A name for this process that no other process (here or after a restart) shares."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Coordination:
    """The lease and the seen events of one audit database. Thread-safe."""

    def __init__(
        self,
        database: Path | str,
        *,
        holder: str | None = None,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.time,
        name: str = "serve",
    ) -> None:
        self.holder = holder or holder_id()
        self.ttl = ttl
        self._name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._conn = connect(database)
        migrate(self._conn)

    def try_acquire(self) -> bool:
        """Takes the lease if it is free, expired or already ours (which renews it)."""
        now = self._clock()
        return self._changed(
            """
            INSERT INTO serve_lease (name, holder, expires_at) VALUES (?, ?, ?)
            ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                expires_at = excluded.expires_at
            WHERE serve_lease.holder = excluded.holder OR serve_lease.expires_at < ?
            """,
            (self._name, self.holder, now + self.ttl, now),
        )

    def renew(self) -> bool:
        """Extends the lease; False when another process holds it now (ours had expired)."""
        return self._changed(
            "UPDATE serve_lease SET expires_at = ? WHERE name = ? AND holder = ?",
            (self._clock() + self.ttl, self._name, self.holder),
        )

    def release(self) -> None:
        """Gives the lease back at once, so a standby need not wait for it to expire."""
        self._changed(
            "DELETE FROM serve_lease WHERE name = ? AND holder = ?", (self._name, self.holder)
        )

    def current_holder(self) -> str | None:
        """Who holds an unexpired lease, if anyone."""
        with self._lock:
            row = self._conn.execute(
                "SELECT holder FROM serve_lease WHERE name = ? AND expires_at >= ?",
                (self._name, self._clock()),
            ).fetchone()
        return str(row[0]) if row else None

    def first_sight(self, event_id: str) -> bool:
        """Records a Slack event id; True only for the first process and call to record it."""
        now = self._clock()
        with self._lock:
            self._conn.execute(
                "DELETE FROM slack_events_seen WHERE seen_at < ?", (now - SEEN_EVENTS_KEPT,)
            )
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO slack_events_seen (event_id, seen_at) VALUES (?, ?)",
                (event_id, now),
            )
            return cursor.rowcount == 1

    def close(self) -> None:
        """Closes the connection (the lease stays until released or expired)."""
        with self._lock:
            self._conn.close()

    def _changed(self, sql: str, params: tuple[object, ...]) -> bool:
        with self._lock:
            return bool(self._conn.execute(sql, params).rowcount == 1)


class LeaseKeeper:
    """Waits for the lease (standing by), then renews it in a thread until stopped.
    `on_lost` runs if another process took it meanwhile (this one was frozen too long)."""

    def __init__(self, coordination: Coordination, on_lost: Callable[[], None]) -> None:
        self._coordination = coordination
        self._on_lost = on_lost
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def interval(self) -> float:
        """Seconds between two tries or renewals."""
        return self._coordination.ttl / 3

    def wait_until_active(self, announce: Callable[[str], None], stop: threading.Event) -> bool:
        """Blocks until this process holds the lease (True) or `stop` is set (False).
        `announce` hears, once, who is active while this one stands by."""
        told = False
        while not stop.is_set():
            if _round(self._coordination.try_acquire):
                return True
            if not told:
                holder = self._coordination.current_holder() or "another process"
                announce(f"standing by: {holder} is the active bot on this database")
                told = True
            stop.wait(self.interval)
        return False

    def start_renewing(self) -> None:
        """Renews the lease in a daemon thread until `stop`."""
        self._thread = threading.Thread(target=self._renew, name="hvbot-lease", daemon=True)
        self._thread.start()

    def stop(self, *, release: bool) -> None:
        """Stops renewing; `release` gives the lease back."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if release:
            self._coordination.release()

    def _renew(self) -> None:
        while not self._stop.wait(self.interval):
            if _round(self._coordination.renew) is False:
                log.error("lease lost to another process; this bot stops taking work")
                self._on_lost()
                return


def _round(attempt: Callable[[], bool]) -> bool | None:
    """One try at the lease; None when the database stayed busy past its timeout (the next
    round tries again; a lease that expires meanwhile is lost like any other)."""
    try:
        return attempt()
    except sqlite3.OperationalError:
        log.warning("lease round failed", exc_info=True)
        return None
