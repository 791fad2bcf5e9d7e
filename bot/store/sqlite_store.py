"""`SqliteAuditStore`: the AuditStore port on one SQLite file (WAL, synchronous=FULL).

Every write is one `BEGIN IMMEDIATE` transaction: it takes the database's write lock first,
so racing threads and processes queue (busy timeout) instead of failing half-way, and the
chain tail read for the hash cannot change under the writer. Within a process one connection
is shared behind a lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from bot.store.anchors import AnchorReading, ChainHead, HeadWitness, WitnessedHead
from bot.store.chain import DERIVED_COLUMNS, ChainReport, request_disagreements, verify_log
from bot.store.codec import (
    GENESIS_HASH,
    canonical_json,
    chain_text,
    dumps_or_none,
    jsonable,
    parse_utc,
    utc_text,
)
from bot.store.keys import AuditKey, digest
from bot.store.rows import event_from_row, record_from_row
from bot.store.schema import (
    DEFAULT_BUSY_TIMEOUT,
    SchemaOutdated,
    connect,
    connect_readonly,
    migrate,
    require_current,
)
from bot.store.scrub import Scrubber
from commands.clock import utc_now
from commands.workflow.machine import WorkflowError
from commands.workflow.records import (
    TERMINAL_STATES,
    AuditEvent,
    EventDraft,
    NewRequest,
    RequestRecord,
    State,
    TransitionResult,
)
from commands.workflow.scheduler import SLOTS_FREED, Pool, SlotKey, has_room
from commands.workflow.store import SubjectBusy, clashes

_JSON_FIELDS = frozenset({"request", "invocation", "outcome", "approvals"})
_TIME_FIELDS = frozenset({"expires_at", "started_at", "finished_at"})
_TEXT_FIELDS = frozenset({"vm", "source_host", "destination_host", "reason", "vm_id"})
_PLAIN_FIELDS = frozenset({"required_approvals", "card_ts", "progress_ts"})
CHANGEABLE_FIELDS = _JSON_FIELDS | _TIME_FIELDS | _TEXT_FIELDS | _PLAIN_FIELDS
_TERMINAL = tuple(sorted(s.value for s in TERMINAL_STATES))
log = logging.getLogger(__name__)


class RequestNotFound(KeyError):
    """No request has this id (a KeyError, as with the in-memory store)."""

    def __init__(self, request_id: int) -> None:
        super().__init__(request_id)
        self.request_id = request_id

    def __str__(self) -> str:
        return f"no request with id {self.request_id}"


class SqliteAuditStore:
    """Requests (current state) and the append-only, hash-chained event log in one file.

    `secret_values` are the configured secrets; they are redacted wherever they would be
    written, as are secret-looking keys and Slack tokens. `clock` returns the current time.
    A `read_only` store never writes to the file (SQLite refuses its writes) and refuses a
    schema that lacks migrations (`SchemaOutdated`).

    `key` keys the chain (HMAC-SHA256; None: plain sha256, which anyone who can write the
    file can recompute, and the store says so in the log). Every `witness` is given the chain
    head after each final state of a request (see `bot.store.anchors`).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        secret_values: Iterable[str] = (),
        clock: Callable[[], dt.datetime] = utc_now,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        read_only: bool = False,
        key: AuditKey | None = None,
        witnesses: Sequence[HeadWitness] = (),
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.key = key
        self._witnesses = tuple(witnesses)
        self._scrub = Scrubber(secret_values)
        self._clock = clock
        self._lock = threading.RLock()
        self._conn = (connect_readonly if read_only else connect)(self.path, busy_timeout)
        try:
            if read_only:
                require_current(self._conn)
            else:
                migrate(self._conn)
        except BaseException:
            self._conn.close()
            raise
        self._conn.row_factory = sqlite3.Row
        if key is None and not read_only:
            log.warning(
                "audit log UNKEYED: no audit key is configured, so anyone who can write "
                "the database can rewrite its events undetected by the chain; set [audit] "
                "key_env or key_file",
                extra={"database": str(self.path)},
            )

    @classmethod
    def for_reading(cls, path: Path | str, key: AuditKey | None = None) -> SqliteAuditStore:
        """The store opened read-only when its schema is current, so that an auditor with
        read access only can use it; an older schema is upgraded first (needs write access)."""
        try:
            return cls(path, read_only=True, key=key)
        except SchemaOutdated:
            return cls(path, key=key)

    def close(self) -> None:
        """Close the connection (every committed event is already on disk)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SqliteAuditStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                # A failed COMMIT (disk full, I/O error) can leave the transaction open; the
                # next BEGIN would then fail for every caller.
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def create(self, new: NewRequest, event: EventDraft) -> RequestRecord:
        """Record a new request in state `requested`, with its first event, which holds every
        column of the new row (so that `verify` can rebuild the row from the events);
        `SubjectBusy` (naming the holder) when the database's unique indexes refuse a second
        open request for the VM or the host's settings. A VM or host name holding a configured
        secret is refused (WorkflowError) before anything is written: recorded redacted, it
        would name nothing, and the checks that follow would refuse it for a wrong reason."""
        self._refuse_secret_names(new)
        with self._write() as conn:
            now = utc_text(self._clock())
            seq, prev_hash = self._chain_tail(conn)
            try:
                request_id = self._insert_request(conn, new, now, seq)
            except sqlite3.IntegrityError:
                holder = self._holder(conn, new)
                if holder is None:
                    raise
                raise SubjectBusy(holder) from None
            row = conn.execute("SELECT * FROM requests WHERE id = ?", (request_id,)).fetchone()
            columns = {
                name: value
                for name, value in zip(row.keys(), row, strict=True)
                if name not in DERIVED_COLUMNS
            }
            self._insert_event(
                conn, seq, prev_hash, request_id, event, now, None, State.REQUESTED, columns
            )
            return record_from_row(row)

    def _refuse_secret_names(self, new: NewRequest) -> None:
        names = (
            ("VM name", new.vm),
            ("source host", new.source_host),
            ("destination host", new.destination_host),
        )
        for what, value in names:
            if value is not None and self._scrub.text(value) != value:
                raise WorkflowError(
                    f"The {what} given contains a password or token this bot is configured "
                    "with; nothing was recorded. Check what was typed (and change that secret "
                    "if it was shared)."
                )

    def _insert_request(self, conn: sqlite3.Connection, new: NewRequest, now: str, seq: int) -> int:
        request_id = conn.execute(
            """
                INSERT INTO requests (kind, state, version, vm, source_host, destination_host,
                    reason, requester_slack_id, requester_account, requester_name, channel,
                    thread_ts, request, created_at, updated_at, last_transition_seq)
                VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            (
                new.kind,
                State.REQUESTED.value,
                self._text(new.vm),
                self._text(new.source_host),
                self._text(new.destination_host),
                self._text(new.reason),
                new.requester.slack_user_id,
                new.requester.directory_account,
                new.requester.display_name,
                new.place.channel,
                new.place.thread_ts,
                self._json(new.request),
                now,
                now,
                seq,
            ),
        ).lastrowid
        assert request_id is not None  # an INSERT always sets it
        return request_id

    def _holder(self, conn: sqlite3.Connection, new: NewRequest) -> RequestRecord | None:
        """The open request that holds what `new` needs (read in the refused transaction)."""
        marks = ", ".join("?" * len(_TERMINAL))
        rows = conn.execute(
            f"SELECT * FROM requests WHERE state NOT IN ({marks}) ORDER BY id", _TERMINAL
        ).fetchall()
        return next((r for r in map(record_from_row, rows) if clashes(new, r)), None)

    def transition(
        self,
        request_id: int,
        expected: Collection[State],
        new_state: State,
        event: EventDraft,
        *,
        expected_version: int | None = None,
        changes: Mapping[str, Any] | None = None,
    ) -> TransitionResult:
        """Move to `new_state` if the request is in one of `expected` (and at
        `expected_version`), applying `changes` and appending `event`, atomically.

        The loser of a race gets `applied=False`, the record as the winner left it, and the
        winner's event. Raises RequestNotFound, or ValueError for an unknown field in
        `changes`.
        """
        columns = self._encode_changes(changes or {})
        assignments = "".join(f", {name} = ?" for name in columns)
        states = [State(s).value for s in expected]
        with self._write() as conn:
            current = conn.execute(
                "SELECT state FROM requests WHERE id = ?", (request_id,)
            ).fetchone()
            if current is None:
                raise RequestNotFound(request_id)
            now = utc_text(self._clock())
            seq, prev_hash = self._chain_tail(conn)
            sql = (
                "UPDATE requests SET state = ?, version = version + 1, updated_at = ?, "
                f"last_transition_seq = ?{assignments} "
                f"WHERE id = ? AND state IN ({', '.join('?' * len(states))})"
            )
            params: list[Any] = [new_state.value, now, seq, *columns.values(), request_id, *states]
            if expected_version is not None:
                sql += " AND version = ?"
                params.append(expected_version)
            if conn.execute(sql, params).rowcount == 0:
                record = self._record(conn, request_id)
                return TransitionResult(
                    applied=False, record=record, winner=self._winner(conn, request_id)
                )
            if new_state.terminal:
                conn.execute("DELETE FROM host_slots WHERE request_id = ?", (request_id,))
            _, link = self._insert_event(
                conn,
                seq,
                prev_hash,
                request_id,
                event,
                now,
                State(current["state"]),
                new_state,
                columns,
            )
            record = self._record(conn, request_id)
        if new_state.terminal:
            self._witness(ChainHead(seq, link, now, request_id, new_state.value))
        return TransitionResult(applied=True, record=record)

    def claim_slots(
        self,
        request_id: int,
        keys: tuple[SlotKey, ...],
        limits: Mapping[SlotKey, int] | None,
    ) -> bool:
        """Claim the request's slots in one `BEGIN IMMEDIATE` transaction if every pool has
        room: the count and the claim cannot be split by another process's claim. True when
        the request holds them already or has ended; False (nothing taken) when a pool is
        full. Its final transition (or `free_slots`) frees them (see `AuditStore.claim_slots`)."""
        with self._write() as conn:
            row = conn.execute("SELECT state FROM requests WHERE id = ?", (request_id,)).fetchone()
            if row is None:
                raise RequestNotFound(request_id)
            held_already = conn.execute(
                "SELECT 1 FROM host_slots WHERE request_id = ?", (request_id,)
            ).fetchone()
            freed = conn.execute(
                "SELECT 1 FROM events WHERE request_id = ? AND kind = ?", (request_id, SLOTS_FREED)
            ).fetchone()
            if State(row["state"]).terminal or held_already or freed:
                return True
            held = {
                SlotKey(r["host"], Pool(r["pool"])): r["n"]
                for r in conn.execute(
                    "SELECT host, pool, count(*) AS n FROM host_slots GROUP BY host, pool"
                )
            }
            if not has_room(held, keys, limits):
                return False
            conn.executemany(
                "INSERT INTO host_slots (request_id, host, pool) VALUES (?, ?, ?)",
                [(request_id, key.host, key.pool.value) for key in keys],
            )
            return True

    def free_slots(self, request_id: int, event: EventDraft) -> bool:
        """Give the request's slots back and append `event` in one transaction (see
        `AuditStore.free_slots`); False, writing nothing, when it held none."""
        with self._write() as conn:
            if (
                conn.execute("DELETE FROM host_slots WHERE request_id = ?", (request_id,)).rowcount
                == 0
            ):
                return False
            seq, prev_hash = self._chain_tail(conn)
            self._insert_event(
                conn, seq, prev_hash, request_id, event, utc_text(self._clock()), None, None, None
            )
            return True

    def slot_holders(self) -> Mapping[SlotKey, tuple[int, ...]]:
        """Which requests hold each pool's slots (tests check the limits with it)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT host, pool, request_id FROM host_slots ORDER BY request_id"
            ).fetchall()
        holders: dict[SlotKey, list[int]] = {}
        for r in rows:
            holders.setdefault(SlotKey(r["host"], Pool(r["pool"])), []).append(r["request_id"])
        return {key: tuple(ids) for key, ids in holders.items()}

    def append(self, request_id: int | None, event: EventDraft) -> AuditEvent:
        """Append an event that changes no state (invocation sent, progress, notice)."""
        with self._write() as conn:
            if (
                request_id is not None
                and conn.execute("SELECT 1 FROM requests WHERE id = ?", (request_id,)).fetchone()
                is None
            ):
                raise RequestNotFound(request_id)
            seq, prev_hash = self._chain_tail(conn)
            now = utc_text(self._clock())
            written, _ = self._insert_event(
                conn, seq, prev_hash, request_id, event, now, None, None, None
            )
            return written

    def get(self, request_id: int) -> RequestRecord | None:
        """The request with this id, or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT * FROM requests WHERE id = ?", (request_id,)
            ).fetchone()
        return None if row is None else record_from_row(row)

    def open_requests(self) -> Sequence[RequestRecord]:
        """Every request not in a terminal state, oldest first."""
        marks = ", ".join("?" * len(_TERMINAL))
        with self._lock:
            rows = self._conn.execute(
                f"SELECT * FROM requests WHERE state NOT IN ({marks}) ORDER BY id", _TERMINAL
            ).fetchall()
        return [record_from_row(r) for r in rows]

    def events(self, request_id: int) -> Sequence[AuditEvent]:
        """The request's events in the order they happened."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM events WHERE request_id = ? ORDER BY seq", (request_id,)
            ).fetchall()
        return [event_from_row(r) for r in rows]

    def search(
        self,
        *,
        vm: str | None = None,
        host: str | None = None,
        since: dt.datetime | None = None,
        state: State | None = None,
        limit: int = 50,
    ) -> Sequence[RequestRecord]:
        """Requests matching every given filter (names compare case-insensitively), newest
        first; `since` compares with the creation time."""
        where: list[str] = []
        params: list[Any] = []
        if vm is not None:
            where.append("vm = ?")
            params.append(vm)
        if host is not None:
            where.append("(source_host = ? OR destination_host = ?)")
            params += [host, host]
        if since is not None:
            where.append("created_at >= ?")
            params.append(utc_text(since))
        if state is not None:
            where.append("state = ?")
            params.append(State(state).value)
        sql = "SELECT * FROM requests"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [record_from_row(r) for r in rows]

    def all_events(self) -> Sequence[AuditEvent]:
        """Every event, in order (tests check invariants over the whole log)."""
        with self._lock:
            rows = self._conn.execute("SELECT * FROM events ORDER BY seq").fetchall()
        return [event_from_row(r) for r in rows]

    def export_rows(self) -> Iterator[dict[str, Any]]:
        """Every event row (hashes included) in chain order, read lazily on a connection of
        its own so that a long export does not hold up writers in this process."""
        conn = connect_readonly(self.path)
        try:
            cursor = conn.execute("SELECT * FROM events ORDER BY seq")
            names = [d[0] for d in cursor.description]
            for row in cursor:
                yield dict(zip(names, row, strict=True))
        finally:
            conn.close()

    def verify(
        self, anchors: AnchorReading | None = None, witnessed: Sequence[WitnessedHead] = ()
    ) -> ChainReport:
        """Check the chain with this store's key, compare it with `anchors` (None: skip) and
        the `witnessed` heads, and rebuild every request from its events (see `verify_log`)."""
        with self._lock:
            return verify_log(self._conn, self.key, anchors, witnessed)

    def disagreements(self, request_id: int) -> list[str]:
        """How the request's row differs from what its events say (empty: it agrees)."""
        with self._lock:
            return request_disagreements(self._conn, request_id)

    def head(self) -> ChainHead:
        """The newest event's place in the chain (seq 0 and the genesis hash when empty)."""
        with self._lock:
            last = self._conn.execute(
                "SELECT seq, hash, at FROM events ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        return ChainHead(0, GENESIS_HASH, "") if last is None else ChainHead(*last)

    def anchor(self) -> ChainHead:
        """Hand the current head to every witness now (the store does so by itself after
        each final state; this is for an operator or a scheduled job)."""
        head = self.head()
        self._witness(head)
        return head

    def add_witness(self, witness: HeadWitness) -> None:
        """From now on, hand every chain head to `witness` too (a witness that needs the bot's
        Slack client, made after the store)."""
        with self._lock:
            self._witnesses = (*self._witnesses, witness)

    def _witness(self, head: ChainHead) -> None:
        for witness in self._witnesses:
            try:
                witness.witness(head)
            except Exception:
                # The request has ended and must be reported as such; a missing anchor is
                # what `hvbot audit verify` will name (UNANCHORED).
                log.exception(
                    "chain head not anchored",
                    extra={"witness": witness.name, "seq": head.seq},
                )

    def _chain_tail(self, conn: sqlite3.Connection) -> tuple[int, str]:
        """The next event's seq and prev_hash; the caller holds the write lock."""
        last = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        return (1, GENESIS_HASH) if last is None else (last["seq"] + 1, last["hash"])

    def _insert_event(
        self,
        conn: sqlite3.Connection,
        seq: int,
        prev_hash: str,
        request_id: int | None,
        draft: EventDraft,
        at: str,
        state_from: State | None,
        state_to: State | None,
        columns: Mapping[str, Any] | None,
    ) -> tuple[AuditEvent, str]:
        """Insert one event (`columns`: the request columns it wrote, as stored, or None for
        an event that changes no request); return it and its link."""
        actor = draft.actor
        data = self._scrub(jsonable(draft.data))
        row = (
            seq,
            request_id,
            draft.kind,
            actor.slack_user_id,
            actor.directory_account,
            actor.display_name,
            at,
            None if state_from is None else state_from.value,
            None if state_to is None else state_to.value,
            canonical_json(data),
            prev_hash,
            None if self.key is None else self.key.key_id,
            None if columns is None else canonical_json(columns),
        )
        link = digest(chain_text(row), self.key)
        conn.execute(
            """
            INSERT INTO events (seq, request_id, kind, actor_slack_id, actor_account,
                actor_name, at, state_from, state_to, data, prev_hash, key_id, changes, hash)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            (*row, link),
        )
        moment = parse_utc(at)
        assert moment is not None
        event = AuditEvent(seq, request_id, draft.kind, actor, moment, data, state_from, state_to)
        return event, link

    def _record(self, conn: sqlite3.Connection, request_id: int) -> RequestRecord:
        row = conn.execute("SELECT * FROM requests WHERE id = ?", (request_id,)).fetchone()
        return record_from_row(row)

    def _winner(self, conn: sqlite3.Connection, request_id: int) -> AuditEvent | None:
        row = conn.execute(
            "SELECT e.* FROM events e JOIN requests r ON e.seq = r.last_transition_seq "
            "WHERE r.id = ?",
            (request_id,),
        ).fetchone()
        return None if row is None else event_from_row(row)

    def _encode_changes(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        unknown = set(changes) - CHANGEABLE_FIELDS
        if unknown:
            raise ValueError(f"cannot change request field(s): {', '.join(sorted(unknown))}")
        return {name: self._column_value(name, value) for name, value in changes.items()}

    def _column_value(self, name: str, value: Any) -> Any:
        if value is None:
            return None
        if name in _JSON_FIELDS:
            return self._json(value)
        if name in _TIME_FIELDS:
            return utc_text(value)
        if name in _TEXT_FIELDS:
            return self._text(str(value))
        return value

    def _json(self, value: Any) -> str | None:
        return dumps_or_none(self._scrub(jsonable(value)))

    def _text(self, value: str | None) -> str | None:
        return None if value is None else self._scrub.text(value)
