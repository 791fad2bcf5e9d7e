"""Proving the audit log: one pass over the events checks the keyed hash chain, compares it
with the anchors kept outside the database, and rebuilds every request from its events to
compare with the `requests` table. Every kind of damage found is named (`Finding.name`).

What each check catches, and what it cannot:

- The chain (`prev_hash` links, sha256 or HMAC-SHA256 per event) catches an event edited,
  removed from the middle or moved. Without the key, someone who can write the file can
  recompute every sha256 after an edit; with the key (kept outside the database) they
  cannot, and an event they append or rewrite shows as FORGED.
- The anchors catch the log losing its newest events, or all of them (TRUNCATED, EMPTIED),
  and a chain rewritten from some point on (REWRITTEN), which a chain alone never shows.
  Someone who cuts the log AND the anchor file back to the same point leaves an older,
  intact-looking log: only a witness they cannot reach shows it. Heads read back from such
  a witness (`WitnessedHead`: the Slack audit channel) are compared the same way; `verify`
  also prints the head so that it can be compared with any other copy.
- The rebuild catches a `requests` row that says something its events do not (REQUEST
  EDITED): the state, approvers, outcome, or any other column an event wrote.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.store.anchors import Anchor, AnchorReading, WitnessedHead
from bot.store.codec import CHAIN_COLUMNS, GENESIS_HASH, canonical_json, chain_text
from bot.store.keys import AuditKey, digest
from bot.store.rows import hashed_content
from bot.store.schema import PROTECTING_TRIGGERS
from commands.workflow.records import TERMINAL_STATES

# Findings of one kind beyond this many are counted, not listed: a systematic change would
# otherwise print a line per request of a million-event log.
MAX_LISTED = 10
_FINAL = frozenset(s.value for s in TERMINAL_STATES)
_SEQ, _REQUEST, _KIND, _AT, _FROM, _TO, _PREV, _KEY_ID, _CHANGES = 0, 1, 2, 6, 7, 8, 10, 11, 12
_HASH = len(CHAIN_COLUMNS)
# Columns the store derives from the event itself rather than from its `changes`.
DERIVED_COLUMNS = frozenset(
    {"id", "state", "version", "created_at", "updated_at", "last_transition_seq"}
)


@dataclass(frozen=True)
class Finding:
    """One kind of damage and what shows it, e.g. `TRUNCATED`: the log ends at event 80..."""

    name: str
    message: str


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
    """What `verify_log` found. `count` events verified (before the first break, if any),
    `head_hash` the last one's link, `keyed` of them checked with the key, `anchors` anchors
    compared, `requests` requests rebuilt and compared, and every finding (`ok` if none)."""

    count: int
    head_hash: str
    broken: BrokenLink | None
    missing_triggers: frozenset[str]
    findings: tuple[Finding, ...] = ()
    key_id: str | None = None
    keyed: int = 0
    anchors: int = 0
    requests: int = 0
    witnessed: int = 0

    @property
    def ok(self) -> bool:
        """Nothing was found."""
        return not self.findings


class _Rebuilt:
    """A request as its events build it: the derived columns, and every `changes` text."""

    __slots__ = ("changes", "created_at", "last_transition_seq", "state", "updated_at", "version")

    def __init__(self, created_at: str) -> None:
        self.created_at = created_at
        self.updated_at = created_at
        self.state: str | None = None
        self.last_transition_seq = 0
        self.version = 0
        self.changes: list[str] = []

    def columns(self) -> dict[str, Any]:
        """The rebuilt row: every change in order, then the derived columns."""
        row: dict[str, Any] = {}
        try:
            for change in json.loads("[" + ",".join(self.changes) + "]"):
                row.update(change if isinstance(change, dict) else {})
        except (ValueError, TypeError):
            # Damaged `changes` text is the chain's finding (EDITED or FORGED): rebuild from
            # the texts that still parse.
            for text in self.changes:
                row.update(_parsed(text))
        row |= {
            "state": self.state,
            "version": self.version,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "last_transition_seq": self.last_transition_seq,
        }
        return row


@dataclass
class _Walk:
    key: AuditKey | None
    reading: AnchorReading | None
    prev: str = GENESIS_HASH
    count: int = 0
    rows: int = 0
    last_seq: int = 0
    keyed: int = 0
    first_keyed: int | None = None
    unchecked: int = 0
    other_keys: Counter[str] = field(default_factory=Counter)
    last_final: tuple[int, Any, Any] | None = None
    broken: BrokenLink | None = None
    findings: list[Finding] = field(default_factory=list)
    seen: Counter[str] = field(default_factory=Counter)
    rebuilt: dict[int, _Rebuilt] = field(default_factory=dict)
    anchored: dict[int, list[Anchor]] = field(default_factory=lambda: defaultdict(list))
    witnessed: dict[int, list[WitnessedHead]] = field(default_factory=lambda: defaultdict(list))

    def add(self, name: str, message: str) -> None:
        self.seen[name] += 1
        if self.seen[name] <= MAX_LISTED:
            self.findings.append(Finding(name, message))

    def event(self, row: tuple[Any, ...]) -> None:
        seq = row[_SEQ]
        self.rows += 1
        self.last_seq = seq
        if self.broken is None:
            self._link(row)
        for anchor in self.anchored.get(seq, ()):
            if anchor.hash != row[_HASH]:
                where = f"anchored at {anchor.at} ({self._anchor_file()} line {anchor.line})"
                self._rewritten(seq, row[_HASH], anchor.hash, where, "the anchor")
        for head in self.witnessed.get(seq, ()):
            if head.hash != row[_HASH]:
                where = f"witnessed at {head.at} ({head.where})"
                self._rewritten(seq, row[_HASH], head.hash, where, "the witness")
        if row[_TO] in _FINAL:
            self.last_final = (seq, row[_REQUEST], row[_TO])
        if row[_REQUEST] is not None:
            self.rebuild(row)

    def _rewritten(self, seq: int, stored: str, said: str, where: str, by: str) -> None:
        self.add(
            "REWRITTEN",
            f"event {seq} is not the one {where}: its link is {stored[:16]}…, {by} says "
            f"{said[:16]}… — the log was rewritten from there on",
        )

    def _link(self, row: tuple[Any, ...]) -> None:
        seq, key_id, stored = row[_SEQ], row[_KEY_ID], row[_HASH]
        text = chain_text(row[:_HASH])
        if row[_PREV] != self.prev:
            self._break(
                row,
                "REMOVED OR MOVED",
                "its prev_hash is not the hash of the event "
                "before it (an event was removed or moved)",
            )
            return
        if key_id is None:
            if self.first_keyed is not None:
                self._break(
                    row,
                    "FORGED",
                    "it has a plain sha256 link after keyed events: "
                    "written by someone (or a bot) without the audit key",
                )
                return
            expected = digest(text, None)
        else:
            if self.first_keyed is None:
                self.first_keyed = seq
            expected = self._keyed(key_id, text, stored)
        if expected != stored and not self._matches_parsed(row, key_id):
            if key_id is None:
                self._break(row, "EDITED", "its content does not match its hash (edited)")
            else:
                self._break(
                    row,
                    "FORGED",
                    "its content does not match its MAC: edited, "
                    "or written by someone without the audit key",
                )
            return
        self.prev = stored
        self.count += 1

    def _keyed(self, key_id: str, text: str, stored: str) -> str:
        if self.key is None:
            self.unchecked += 1
            return stored
        if key_id != self.key.key_id:
            self.other_keys[key_id] += 1
            return stored
        self.keyed += 1
        return self.key.mac(text)

    def _matches_parsed(self, row: tuple[Any, ...], key_id: str | None) -> bool:
        # The fast text assumes `data` and `changes` were stored canonical, as the store
        # writes them; an older writer's other spelling of the same JSON still verifies.
        try:
            content = hashed_content(dict(zip(CHAIN_COLUMNS, row, strict=False)))
        except (ValueError, TypeError):
            return False
        key = self.key if key_id is not None else None
        return bool(digest(canonical_json(content), key) == row[_HASH])

    def _break(self, row: tuple[Any, ...], name: str, reason: str) -> None:
        seq = row[_SEQ]
        self.broken = BrokenLink(seq, reason, row[_REQUEST], row[_KIND], row[_AT])
        claims = f" (request {row[_REQUEST]}, {row[_KIND]}, at {row[_AT]})"
        self.add(name, f"event {seq}{claims}: {reason}; {self.count} events before it hold")

    def rebuild(self, row: tuple[Any, ...]) -> None:
        """Apply one event of a request to the row its events build (its `changes` are
        parsed when the row is compared: one parse per request instead of one per event)."""
        state_to = row[_TO]
        if state_to is None:
            return
        request_id = row[_REQUEST]
        rebuilt = self.rebuilt.get(request_id)
        if rebuilt is None:
            rebuilt = self.rebuilt[request_id] = _Rebuilt(row[_AT])
        rebuilt.state = state_to
        rebuilt.updated_at = row[_AT]
        rebuilt.last_transition_seq = row[_SEQ]
        rebuilt.version += 1
        if row[_CHANGES]:
            rebuilt.changes.append(row[_CHANGES])

    def sequence(self, conn: sqlite3.Connection) -> None:
        high = dict(conn.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
        if high.get("events", 0) > self.last_seq:
            reason = (
                f"events {self.last_seq + 1} to {high['events']} are missing from the end "
                "(SQLite handed out their numbers)"
            )
            self.broken = self.broken or BrokenLink(high["events"], reason)
            self.add("TRUNCATED", reason)
        top = conn.execute("SELECT max(id) FROM requests").fetchone()[0] or 0
        if high.get("requests", 0) > top:
            self.add(
                "TRUNCATED",
                f"requests {top + 1} to {high['requests']} are missing from "
                "the end (SQLite handed out their numbers)",
            )

    def requests(self, conn: sqlite3.Connection) -> int:
        cursor = conn.execute("SELECT * FROM requests ORDER BY id")
        names = [d[0] for d in cursor.description]
        compared = 0
        for values in cursor:
            row = dict(zip(names, values, strict=True))
            rebuilt = self.rebuilt.pop(row["id"], None)
            compared += 1
            cut = row["last_transition_seq"] or 0
            if cut > self.last_seq:
                self.add(
                    "TRUNCATED",
                    f"request {row['id']} was last changed by event {cut}, "
                    f"but the log ends at event {self.last_seq}: its newest events were "
                    "removed",
                )
            elif rebuilt is None:
                self.add(
                    "REQUEST WITHOUT EVENTS",
                    f"request {row['id']} ({row['state']}) has no "
                    "events: they were removed, or the row was added by hand",
                )
            else:
                self._compare(row, rebuilt)
        for request_id in sorted(self.rebuilt):
            self.add(
                "EVENTS WITHOUT REQUEST",
                f"request {request_id} has events but no row in requests: the row was removed",
            )
        return compared

    def _compare(self, row: dict[str, Any], rebuilt: _Rebuilt) -> None:
        differ = _differences(row, rebuilt.columns())
        if differ:
            self.add("REQUEST EDITED", f"request {row['id']}: " + "; ".join(differ))

    def anchors(self) -> int:
        reading = self.reading
        if reading is None:
            return 0
        for problem in reading.problems:
            self.add("ANCHOR FORGED", f"{reading.path} {problem}")
        final = self.last_final
        if not reading.exists:
            if final is not None:
                self.add(
                    "ANCHOR MISSING",
                    f"there is no anchor file at {reading.path}, yet the "
                    f"log holds final states (the last: event {final[0]}): it was deleted, "
                    "or this is not the file the bot writes",
                )
            return 0
        top = max(reading.anchors, key=lambda a: a.seq, default=None)
        if top is not None:
            self._beyond_end(top.seq, top.at, f"{reading.path} line {top.line}")
        if final is not None and (top is None or top.seq < final[0]):
            self.add(
                "UNANCHORED",
                f"the last final state (event {final[0]}, request {final[1]} "
                f"→ {final[2]}) has no anchor in {reading.path}: the file lost its end, or "
                "the bot stopped between the two writes",
            )
        return len(reading.anchors)

    def witnesses(self) -> int:
        """Heads read back from a witness out of reach: one past the log's end shows events
        removed (each head at an event that is still there was compared on the way)."""
        heads = [head for seq in sorted(self.witnessed) for head in self.witnessed[seq]]
        if heads:
            top = heads[-1]
            self._beyond_end(top.seq, top.at, top.where)
        return len(heads)

    def _beyond_end(self, seq: int, at: str, where: str) -> None:
        """A copy says event `seq` existed: the log must reach it."""
        if seq <= self.last_seq:
            return
        if self.rows == 0:
            self.add("EMPTIED", f"the log holds no events, but {where} says it held {seq} at {at}")
        else:
            self.add(
                "TRUNCATED",
                f"the log ends at event {self.last_seq}, but {where} says event {seq} existed "
                f"at {at}: events {self.last_seq + 1} to {seq} were removed",
            )

    def _anchor_file(self) -> str:
        return str(self.reading.path) if self.reading else "anchors"

    def key_findings(self) -> None:
        if self.unchecked:
            self.add(
                "KEY MISSING",
                f"{self.unchecked} events are keyed and no audit key was "
                "given: their links were followed but their MACs not checked",
            )
        for key_id, count in sorted(self.other_keys.items()):
            mine = self.key.key_id if self.key else "none"
            self.add(
                "WRONG KEY",
                f"{count} events are keyed with key id {key_id}, the key "
                f"given is {mine}: their MACs were not checked",
            )
        if self.key is not None and self.rows and self.first_keyed is None:
            self.add(
                "UNKEYED",
                f"an audit key (id {self.key.key_id}) was given but no event "
                "carries it: the log was written, or rewritten, without the key",
            )

    def report(
        self, missing_triggers: frozenset[str], requests: int, anchors: int, witnessed: int
    ) -> ChainReport:
        for name, count in self.seen.items():
            if count > MAX_LISTED:
                self.findings.append(Finding(name, f"… and {count - MAX_LISTED} more"))
        return ChainReport(
            count=self.count,
            head_hash=self.prev,
            broken=self.broken,
            missing_triggers=missing_triggers,
            findings=tuple(self.findings),
            key_id=self.key.key_id if self.key else None,
            keyed=self.keyed,
            anchors=anchors,
            requests=requests,
            witnessed=witnessed,
        )


def verify_log(
    conn: sqlite3.Connection,
    key: AuditKey | None = None,
    anchors: AnchorReading | None = None,
    witnessed: Sequence[WitnessedHead] = (),
) -> ChainReport:
    """Check the whole log in one pass over its events (see the module docstring); `anchors`
    None skips the anchor checks (a log that was never anchored); `witnessed` are heads read
    back from witnesses out of the database's reach."""
    walk = _Walk(key, anchors)
    for anchor in anchors.anchors if anchors else ():
        walk.anchored[anchor.seq].append(anchor)
    for head in witnessed:
        walk.witnessed[head.seq].append(head)
    cursor = conn.execute(f"SELECT {', '.join(CHAIN_COLUMNS)}, hash FROM events ORDER BY seq")
    for row in cursor:
        walk.event(row)
    walk.sequence(conn)
    walk.key_findings()
    if walk.rows == 0 and conn.execute("SELECT 1 FROM requests LIMIT 1").fetchone():
        walk.add("EMPTIED", "the log holds no events, but the requests table holds requests")
    compared = walk.requests(conn)
    anchored = walk.anchors()
    compared_heads = walk.witnesses()
    triggers = {
        name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    }
    missing = PROTECTING_TRIGGERS - triggers
    if missing:
        walk.add("UNPROTECTED", f"append-only triggers missing: {', '.join(sorted(missing))}")
    return walk.report(frozenset(missing), compared, anchored, compared_heads)


def request_disagreements(conn: sqlite3.Connection, request_id: int) -> list[str]:
    """How one request's row differs from the row its events rebuild (empty: it agrees), for
    `hvbot audit show`. Only `verify` proves the events themselves."""
    cursor = conn.execute("SELECT * FROM requests WHERE id = ?", (request_id,))
    names = [d[0] for d in cursor.description]
    values = cursor.fetchone()
    if values is None:
        return []
    walk = _Walk(None, None)
    events = conn.execute(
        f"SELECT {', '.join(CHAIN_COLUMNS)}, hash FROM events WHERE request_id = ? ORDER BY seq",
        (request_id,),
    )
    for event in events:
        walk.rebuild(event)
    rebuilt = walk.rebuilt.get(request_id)
    if rebuilt is None:
        return ["it has no events at all"]
    return _differences(dict(zip(names, values, strict=True)), rebuilt.columns())


def _differences(row: dict[str, Any], rebuilt: dict[str, Any]) -> list[str]:
    return [
        f"{name} is {_shown(row[name])} but its events say {_shown(value)}"
        for name, value in rebuilt.items()
        if name in row and row[name] != value
    ]


def _parsed(changes: str) -> dict[str, Any]:
    try:
        value = json.loads(changes)
    except (ValueError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 80 else text[:79] + "…"
