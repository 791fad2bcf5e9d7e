"""Every way to rewrite the audit log found in issue 9, done by hand on a real SQLite file as
someone who can write it (but does not hold the audit key) would, and what `verify` names.

The log here is keyed and anchored as the bot writes it: three requests, two of them final
(one cancelled before approval, one succeeded), each final state anchored."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.store import AnchorFile, AuditKey, ChainHead, SqliteAuditStore
from bot.store.codec import chain_text
from bot.store.keys import digest
from commands.workflow.records import SYSTEM, State
from support.attacks import attack, rehash_from
from support.clock import FakeClock
from support.store import BOB, draft, new_request

KEY = AuditKey(b"k" * 32, "test")
OTHER_KEY = AuditKey(b"o" * 32, "test")


class Witness:
    """A witness out of the attacker's reach (as a Slack channel would be)."""

    name = "outside witness"

    def __init__(self) -> None:
        self.heads: list[ChainHead] = []

    def witness(self, head: ChainHead) -> None:
        self.heads.append(head)


@pytest.fixture
def anchors(tmp_path: Path) -> Path:
    return tmp_path / "audit.db.anchors"


@pytest.fixture
def outside() -> Witness:
    return Witness()


def _story(store: SqliteAuditStore) -> None:
    cancelled = store.create(new_request("SRV-OLD"), draft("submitted")).id
    store.transition(cancelled, [State.REQUESTED], State.AWAITING_APPROVAL, draft("checked"))
    store.transition(cancelled, [State.AWAITING_APPROVAL], State.CANCELLED, draft("cancelled"))
    moved = store.create(new_request(), draft("submitted")).id
    store.transition(moved, [State.REQUESTED], State.AWAITING_APPROVAL, draft("checked"))
    store.transition(
        moved,
        [State.AWAITING_APPROVAL],
        State.APPROVED,
        draft("approved", BOB),
        changes={"approvals": (BOB.slack_user_id,)},
    )
    store.transition(moved, [State.APPROVED], State.RUNNING, draft("started", SYSTEM))
    store.append(moved, draft("progress", SYSTEM, percent=50))
    store.transition(
        moved,
        [State.RUNNING],
        State.SUCCEEDED,
        draft("succeeded", SYSTEM),
        changes={"outcome": {"succeeded": True}},
    )
    store.create(new_request("SRV-NEW"), draft("submitted"))


def _open(
    db_path: Path,
    anchors: Path,
    clock: FakeClock,
    key: AuditKey | None = KEY,
    *more: Witness,
) -> SqliteAuditStore:
    return SqliteAuditStore(
        db_path, clock=clock, key=key, witnesses=[AnchorFile(anchors, key), *more]
    )


@pytest.fixture
def keyed(db_path: Path, anchors: Path, clock: FakeClock, outside: Witness) -> Path:
    """The keyed, anchored story; 10 events, final states at events 3 and 9."""
    with _open(db_path, anchors, clock, KEY, outside) as store:
        _story(store)
    return db_path


@pytest.fixture
def unkeyed(db_path: Path, anchors: Path, clock: FakeClock) -> Path:
    """The same story written without a key (anchors unsigned)."""
    with _open(db_path, anchors, clock, None) as store:
        _story(store)
    return db_path


def _verify(db_path: Path, anchors: Path, key: AuditKey | None = KEY) -> dict[str, str]:
    with SqliteAuditStore.for_reading(db_path, key) as store:
        report = store.verify(AnchorFile(anchors, key).read())
    found: dict[str, str] = {}
    for finding in report.findings:
        found[finding.name] = "\n".join(filter(None, (found.get(finding.name), finding.message)))
    return found


def test_an_untouched_keyed_log_verifies_whole(keyed: Path, anchors: Path) -> None:
    with SqliteAuditStore.for_reading(keyed, KEY) as store:
        report = store.verify(AnchorFile(anchors, KEY).read())
    assert report.findings == ()
    assert (report.count, report.keyed, report.anchors, report.requests) == (10, 10, 2, 3)
    assert [line.count('"mac"') for line in anchors.read_text().splitlines()] == [1, 1]


def test_emptying_the_log_is_named(keyed: Path, anchors: Path) -> None:
    with attack(keyed) as attacker:
        attacker.execute("DELETE FROM events")
        attacker.execute("UPDATE sqlite_sequence SET seq = 0 WHERE name = 'events'")
    found = _verify(keyed, anchors)
    assert "says it held 9" in found["EMPTIED"]
    assert "request 1 was last changed by event 3" in found["TRUNCATED"]


def test_emptying_both_tables_is_named_by_the_anchors(keyed: Path, anchors: Path) -> None:
    with attack(keyed) as attacker:
        attacker.execute("DELETE FROM events")
        attacker.execute("DELETE FROM requests")
        attacker.execute("DELETE FROM sqlite_sequence")
    found = _verify(keyed, anchors)
    assert set(found) == {"EMPTIED"}


def test_cutting_the_tail_and_lowering_sqlite_sequence_is_named(keyed: Path, anchors: Path) -> None:
    with attack(keyed) as attacker:
        attacker.execute("DELETE FROM events WHERE seq >= 6")
        attacker.execute("UPDATE sqlite_sequence SET seq = 5 WHERE name = 'events'")
    found = _verify(keyed, anchors)
    assert "events 6 to 9 were removed" in found["TRUNCATED"]


def test_an_appended_row_with_a_correct_sha256_is_named(keyed: Path, anchors: Path) -> None:
    with attack(keyed) as attacker:
        last = attacker.execute("SELECT * FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        fields = (
            last["seq"] + 1, 1, "annotated", "U0EVIL", None, None, last["at"], None, None, "{}",
            last["hash"], None, None,
        )  # fmt: skip
        attacker.execute(
            "INSERT INTO events (seq, request_id, kind, actor_slack_id, actor_account, actor_name,"
            " at, state_from, state_to, data, prev_hash, key_id, changes, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*fields, digest(chain_text(fields), None)),
        )
    found = _verify(keyed, anchors)
    assert found["FORGED"].startswith("event 11 (request 1, annotated")
    assert "without the audit key" in found["FORGED"]


def test_an_edited_row_with_the_rest_rehashed_is_named(keyed: Path, anchors: Path) -> None:
    with attack(keyed) as attacker:
        attacker.execute("""UPDATE events SET data = '{"percent":100}' WHERE seq = 8""")
        rehash_from(attacker, 8, None)
    found = _verify(keyed, anchors)
    assert found["FORGED"].startswith("event 8 ")
    assert "REWRITTEN" in found  # event 9's link is no longer the anchored one


def test_without_a_key_an_edit_rehashed_is_still_named_by_the_anchors(
    unkeyed: Path, anchors: Path
) -> None:
    with attack(unkeyed) as attacker:
        attacker.execute("""UPDATE events SET data = '{"percent":100}' WHERE seq = 8""")
        rehash_from(attacker, 8, None)
    found = _verify(unkeyed, anchors, None)
    assert set(found) == {"REWRITTEN"}
    assert found["REWRITTEN"].startswith("event 9 is not the one anchored")


def test_a_cancelled_request_shown_as_succeeded_with_a_fake_approver_is_named(
    keyed: Path, anchors: Path
) -> None:
    with attack(keyed) as attacker:
        attacker.execute(
            """UPDATE requests SET state = 'succeeded', approvals = '["U0FAKE"]',"""
            """ outcome = '{"succeeded":true}' WHERE id = 1"""
        )
    found = _verify(keyed, anchors)
    assert set(found) == {"REQUEST EDITED"}
    message = found["REQUEST EDITED"]
    assert message.startswith("request 1: ")
    assert '''state is "succeeded" but its events say "cancelled"''' in message
    assert "approvals is" in message and "U0FAKE" in message
    assert "outcome is" in message


def test_without_the_key_a_keyed_log_is_not_called_verified(keyed: Path, anchors: Path) -> None:
    found = _verify(keyed, anchors, None)
    assert set(found) == {"KEY MISSING"}
    assert found["KEY MISSING"].startswith("10 events are keyed")
    assert set(_verify(keyed, anchors, OTHER_KEY)) == {"WRONG KEY", "ANCHOR FORGED", "UNANCHORED"}


def test_a_bot_run_without_the_key_after_keyed_events_is_named(
    keyed: Path, anchors: Path, clock: FakeClock
) -> None:
    with _open(keyed, anchors, clock, None) as store:
        store.append(1, draft("annotated"))
    found = _verify(keyed, anchors)
    assert found["FORGED"].startswith("event 11 ")


def test_a_deleted_anchor_file_is_named(keyed: Path, anchors: Path) -> None:
    anchors.unlink()
    found = _verify(keyed, anchors)
    assert set(found) == {"ANCHOR MISSING"}
    assert "the last: event 9" in found["ANCHOR MISSING"]


def test_a_forged_anchor_line_is_named(keyed: Path, anchors: Path) -> None:
    lines = anchors.read_text().splitlines()
    anchors.write_text("\n".join([lines[0], lines[1].replace('"seq":9', '"seq":8')]) + "\n")
    found = _verify(keyed, anchors)
    assert "line 2 has a MAC that is not the audit key's" in found["ANCHOR FORGED"]
    assert "UNANCHORED" in found


def test_cutting_log_and_anchors_to_the_same_point_needs_an_outside_witness(
    keyed: Path, anchors: Path, outside: Witness
) -> None:
    """What cannot be seen from the machine alone: log, requests and anchor file all cut
    back to the first final state look like an older, intact log. The head hash `verify`
    prints then differs from the last one a witness out of reach saw."""
    with attack(keyed) as attacker:
        attacker.execute("DELETE FROM events WHERE seq > 3")
        attacker.execute("DELETE FROM requests WHERE id > 1")
        attacker.execute("UPDATE sqlite_sequence SET seq = 3 WHERE name = 'events'")
        attacker.execute("UPDATE sqlite_sequence SET seq = 1 WHERE name = 'requests'")
    anchors.write_text(anchors.read_text().splitlines()[0] + "\n")

    with SqliteAuditStore.for_reading(keyed, KEY) as store:
        report = store.verify(AnchorFile(anchors, KEY).read())

    assert report.findings == ()
    assert (report.count, outside.heads[-1].seq) == (3, 9)
    assert report.head_hash != outside.heads[-1].hash


def test_cutting_log_and_anchors_but_not_requests_is_named(keyed: Path, anchors: Path) -> None:
    with attack(keyed) as attacker:
        attacker.execute("DELETE FROM events WHERE seq > 3")
        attacker.execute("UPDATE sqlite_sequence SET seq = 3 WHERE name = 'events'")
    anchors.write_text(anchors.read_text().splitlines()[0] + "\n")
    found = _verify(keyed, anchors)
    assert set(found) == {"TRUNCATED"}
    assert "request 2 was last changed by event 9" in found["TRUNCATED"]
