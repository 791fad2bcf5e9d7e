"""Witnesses of the chain head: copies of (event count, head hash) kept outside the database.

The keyed chain stops someone without the key from rewriting events; it cannot stop them
from deleting the newest ones, or the whole log. A copy of the head kept elsewhere can: if a
witness saw event 120 with hash H, a log of 80 events, or whose event 120 hashes otherwise,
has lost or changed something. The store hands the head to every witness after each final
state of a request (`HeadWitness`). `AnchorFile` is the one built in.

More witnesses: implement `HeadWitness` and give it to the store (`witnesses` in
`bot.store.open_store`, or `SqliteAuditStore.add_witness` for one made later, as `hvbot serve`
does with `bot.slack.witness.SlackWitness` for `[audit] slack_channel`).
A witness runs after the commit, in the writer's thread, while the store's lock is held:
keep it short, or hand the head to a queue of your own. It may raise; the store logs the
failure and carries on, because the request has already ended and saying so matters more.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.store.codec import canonical_json
from bot.store.keys import AuditKey


@dataclass(frozen=True)
class ChainHead:
    """The chain right after one event: `seq` is also the number of events up to it."""

    seq: int
    hash: str
    at: str
    request_id: int | None = None
    state: str | None = None


class HeadWitness(Protocol):
    """Somewhere outside the database that keeps each head it is given."""

    @property
    def name(self) -> str:
        """What to call this witness in the log (`anchor file /var/lib/hvbot/hvbot.anchors`)."""
        ...

    def witness(self, head: ChainHead) -> None:
        """Keep `head`; raise if it could not be kept."""
        ...


@dataclass(frozen=True)
class Anchor:
    """One anchor line: the head a witness saw, and where in the file it is."""

    line: int
    seq: int
    hash: str
    at: str
    key_id: str | None


@dataclass(frozen=True)
class WitnessedHead:
    """A head a witness out of the database's reach kept and gave back (a message in the
    Slack audit channel): `where` names the copy for people."""

    seq: int
    hash: str
    at: str
    where: str


@dataclass(frozen=True)
class AnchorReading:
    """What an anchor file holds: the anchors that can be trusted, and why others cannot."""

    path: Path
    exists: bool
    anchors: tuple[Anchor, ...]
    problems: tuple[str, ...]


class AnchorFile:
    """An append-only file of heads, one JSON line each, signed with the audit key if any.

    Each line is written with one `write` on a file opened with O_APPEND, so lines from
    several processes never interleave, and synced before the store carries on: an anchor
    is as durable as the event it names.
    """

    def __init__(self, path: Path, key: AuditKey | None) -> None:
        self.path = path
        self._key = key

    @property
    def name(self) -> str:
        """`anchor file PATH`."""
        return f"anchor file {self.path}"

    def witness(self, head: ChainHead) -> None:
        """Append `head` as one line and sync it."""
        fields: dict[str, object] = {"at": head.at, "hash": head.hash, "seq": head.seq}
        if head.request_id is not None:
            fields |= {"request_id": head.request_id, "state": head.state}
        if self._key is not None:
            fields["key_id"] = self._key.key_id
            fields["mac"] = self._key.mac(canonical_json(fields))
        data = (canonical_json(fields) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> AnchorReading:
        """Every line, checked against the key: unreadable, unsigned or forged lines are
        problems, not anchors (a line without the key's MAC could have been written by
        anyone to make a rewritten log look anchored)."""
        try:
            with open(self.path, encoding="utf-8", errors="replace") as lines:
                anchors, problems = _parse(lines, self._key)
        except FileNotFoundError:
            return AnchorReading(self.path, False, (), ())
        return AnchorReading(self.path, True, tuple(anchors), tuple(problems))


def _parse(lines: Iterator[str], key: AuditKey | None) -> tuple[list[Anchor], list[str]]:
    anchors: list[Anchor] = []
    problems: list[str] = []
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            fields = json.loads(text)
            anchor = Anchor(
                number, int(fields["seq"]), str(fields["hash"]), str(fields["at"]),
                fields.get("key_id"),
            )  # fmt: skip
        except (ValueError, KeyError, TypeError):
            problems.append(f"line {number} is not an anchor")
            continue
        problem = _signature_problem(fields, key)
        if problem:
            problems.append(f"line {number} {problem}")
        else:
            anchors.append(anchor)
    return anchors, problems


def _signature_problem(fields: dict[str, object], key: AuditKey | None) -> str | None:
    mac = fields.pop("mac", None)
    if key is None:
        return None
    if mac is None:
        return "is not signed although a key is in use (written without the key)"
    if fields.get("key_id") != key.key_id:
        return f"is signed with another key (key id {fields.get('key_id')})"
    if mac != key.mac(canonical_json(fields)):
        return "has a MAC that is not the audit key's (edited or forged)"
    return None
