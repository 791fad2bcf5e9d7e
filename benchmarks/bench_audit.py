"""Audit store speed: durable append rate against bare sqlite3, and `hvbot audit` latency on a
large log.

    scripts/bench audit [--appends 2000] [--events 1000000] [--dir DIR]

Part 1 appends events one transaction each through SqliteAuditStore (WAL, synchronous=FULL,
HMAC-keyed chain, scrubbing, the columns written) — alone, and with the head anchored to a
synced anchor file after every event (the worst case: the bot anchors after final states
only, about one event in eight) — and through a bare `INSERT` + commit with the same
PRAGMAs, in one run, alternating rounds (target: the store at least half the bare rate).
Part 2 fills a database with `--events` keyed events as the store writes them (one
`executemany` transaction; requests whose rows match their events; an anchor per final
state) and times the audit commands, `verify` included (target: ≤ 10 s for 1,000,000).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import itertools
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.cli.audit import register
from bot.store import AnchorFile, AuditKey, ChainHead, SqliteAuditStore
from bot.store.codec import GENESIS_HASH, canonical_json, chain_text, utc_text
from bot.store.schema import connect
from commands.workflow.records import Actor, EventDraft, NewRequest, Place, RequestKind

KEY_TEXT = "bench-audit-key-0123456789abcdef"
KEY = AuditKey.from_text(KEY_TEXT, "bench")

ACTOR = Actor("U0BENCH", "LAB\\bench")
DATA = {"percent": 42, "phase": "memory copy", "host": "HV-SRV02", "elapsed_seconds": 12.5}
KINDS = (
    ("requested", None, "requested"),
    ("preflight_passed", "requested", "awaiting_approval"),
    ("approved", "awaiting_approval", "approved"),
    ("started", "approved", "running"),
    ("invocation_sent", None, None),
    ("progress", None, None),
    ("progress", None, None),
    ("succeeded", "running", "succeeded"),
)
START = dt.datetime(2025, 11, 25, tzinfo=dt.UTC)
HOSTS = [f"HV-SRV{i:02d}" for i in range(1, 9)]


_RUNS = itertools.count()


def bench_store_append(directory: Path, count: int, anchored: bool) -> float:
    """Events per second through SqliteAuditStore.append (keyed), the head anchored to a
    synced file after every event when `anchored`."""
    # A file per run: the VM of each run's request is open until the end (one per VM).
    path = directory / f"store-{next(_RUNS)}.db"
    anchors = AnchorFile(path.with_name(path.name + ".anchors"), KEY)
    with SqliteAuditStore(path, key=KEY, witnesses=[anchors] if anchored else []) as store:
        rid = store.create(
            NewRequest(
                RequestKind.MIGRATION, ACTOR, Place("C0"), {"vm": "SRV-APP01"}, vm="SRV-APP01"
            ),
            EventDraft("requested", ACTOR),
        ).id
        draft = EventDraft("progress", ACTOR, DATA)
        start = time.perf_counter()
        for _ in range(count):
            store.append(rid, draft)
            if anchored:
                store.anchor()
        return count / (time.perf_counter() - start)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def bench_bare_append(directory: Path, count: int, synchronous: str) -> float:
    """Events per second for a plain INSERT and COMMIT per event, same journal settings."""
    conn = sqlite3.connect(directory / f"bare-{synchronous}.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, request_id INTEGER, kind TEXT,"
        " actor_slack_id TEXT, at TEXT, data TEXT)"
    )
    start = time.perf_counter()
    for _ in range(count):
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO events (request_id, kind, actor_slack_id, at, data)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                1,
                "progress",
                ACTOR.slack_user_id,
                utc_text(dt.datetime.now(dt.UTC)),
                json.dumps(DATA),
            ),
        )
        conn.execute("COMMIT")
    rate = count / (time.perf_counter() - start)
    conn.close()
    return rate


_REQUEST_COLUMNS = (
    "kind", "vm", "source_host", "destination_host", "reason", "requester_slack_id",
    "requester_account", "requester_name", "channel", "thread_ts", "request", "invocation",
    "approvals", "required_approvals", "expires_at", "started_at", "finished_at", "vm_id",
    "card_ts", "progress_ts", "outcome",
)  # fmt: skip


def _story(rid: int, at: str) -> tuple[dict[str, object], list[tuple[str, object, object, object]]]:
    """A request's first row and its events: (kind, state_from, state_to, changes)."""
    vm = f"SRV-{rid % 5000:04d}"
    row: dict[str, object] = dict.fromkeys(_REQUEST_COLUMNS)
    row |= {
        "kind": "migrate", "vm": vm, "source_host": HOSTS[rid % 8],
        "destination_host": HOSTS[(rid + 3) % 8], "requester_slack_id": f"U{rid % 300:04d}",
        "channel": "C0OPS", "request": canonical_json({"vm": vm}), "approvals": "[]",
        "required_approvals": 1,
    }  # fmt: skip
    outcome = canonical_json({"succeeded": True, "duration_seconds": 41.5})
    changes = [
        {"required_approvals": 1, "expires_at": at},
        {"approvals": canonical_json([f"U{(rid + 1) % 300:04d}"])},
        {"started_at": at, "vm_id": f"{rid:08x}-0000-0000-0000-000000000000"},
        None,
        None,
        None,
        {"finished_at": at, "outcome": outcome},
    ]
    events = [(k, f, t, c) for (k, f, t), c in zip(KINDS[1:], changes, strict=True)]
    return row, [("requested", None, "requested", None), *events]


def _event_rows(
    requests: int, start: dt.datetime, rows: list[tuple[object, ...]], heads: list[ChainHead]
) -> Iterator[tuple[object, ...]]:
    """Every event, keyed as the store writes it; fills `rows` with the requests' final rows
    and `heads` with the head after each final state."""
    prev = GENESIS_HASH
    seq = 0
    data = canonical_json(DATA)
    for rid in range(1, requests + 1):
        at = utc_text(start + dt.timedelta(minutes=rid))
        row, story = _story(rid, at)
        waiting = rid >= requests - 20
        state = "requested"
        version = 0
        for kind, state_from, state_to, changed in story[:2] if waiting else story:
            seq += 1
            if kind == "requested":
                changed = {k: row[k] for k in _REQUEST_COLUMNS}
            elif isinstance(changed, dict):
                row |= changed
            fields = (
                seq, rid, kind, "U0BENCH", None, None, at, state_from, state_to, data, prev,
                KEY.key_id, None if changed is None else canonical_json(changed),
            )  # fmt: skip
            prev = KEY.mac(chain_text(fields))
            yield (*fields, prev)
            if state_to is not None:
                state, version, last = str(state_to), version + 1, seq
            if state_to == "succeeded":
                heads.append(ChainHead(seq, prev, at, rid, state_to))
        rows.append((rid, state, version, at, at, last, *(row[k] for k in _REQUEST_COLUMNS)))


def build_large_database(path: Path, events: int) -> int:
    """A database with about `events` keyed events, eight per request, and its anchor file;
    returns the request count."""
    SqliteAuditStore(path, key=KEY).close()
    requests = max(1, events // len(KINDS))
    rows: list[tuple[object, ...]] = []
    heads: list[ChainHead] = []
    conn = connect(path)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("PRAGMA defer_foreign_keys = ON")
    conn.executemany(
        "INSERT INTO events (seq, request_id, kind, actor_slack_id, actor_account, actor_name,"
        " at, state_from, state_to, data, prev_hash, key_id, changes, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        _event_rows(requests, START, rows, heads),
    )
    columns = ("id", "state", "version", "created_at", "updated_at", "last_transition_seq")
    names = (*columns, *_REQUEST_COLUMNS)
    conn.executemany(
        f"INSERT INTO requests ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
        rows,
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    anchors = AnchorFile(path.with_name(path.name + ".anchors"), KEY)
    with open(anchors.path, "w", encoding="utf-8"):
        pass
    for head in heads[-1000:]:
        anchors.witness(head)
    return requests


def time_command(argv: list[str], runs: int) -> tuple[float, int]:
    """Median milliseconds of `hvbot audit ARGV` run in-process, and its exit status."""
    parser = argparse.ArgumentParser(prog="hvbot")
    register(parser.add_subparsers(dest="command", required=True))
    timings = []
    code = 0
    for _ in range(runs):
        args = parser.parse_args(["audit", *argv])
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            code = args.func(args)
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings), code


def main() -> None:
    """Run both parts and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appends", type=int, default=2000, help="events per append run")
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the big log")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the databases")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="hvbot-bench-") as tmp:
        directory = Path(tmp)
        # Rounds alternate so that a neighbour's load spreads over every writer alike.
        rates: dict[str, list[float]] = {"keyed": [], "anchored": [], "bare": [], "normal": []}
        per_round = max(1, args.appends // 4)
        for _ in range(4):
            rates["keyed"].append(bench_store_append(directory, per_round, anchored=False))
            rates["anchored"].append(bench_store_append(directory, per_round, anchored=True))
            rates["bare"].append(bench_bare_append(directory, per_round, "FULL"))
            rates["normal"].append(bench_bare_append(directory, per_round, "NORMAL"))
        rate = {name: statistics.median(values) for name, values in rates.items()}
        bare = rate["bare"]
        print(f"\nAppend, one transaction per event ({args.appends} events in 4 alternating "
              f"rounds, median round; {directory})")  # fmt: skip
        print(f"{'writer':<62}{'events/s':>10}{'µs/event':>10}{'vs bare':>9}")
        for label, name in (
            ("SqliteAuditStore.append, keyed chain (WAL, synchronous=FULL)", "keyed"),
            ("  + head anchored to a synced file after EVERY event", "anchored"),
            ("bare sqlite3 INSERT+COMMIT (WAL, synchronous=FULL)", "bare"),
            ("bare sqlite3 INSERT+COMMIT (WAL, NORMAL: not durable)", "normal"),
        ):
            r = rate[name]
            print(f"{label:<62}{r:>10.0f}{1e6 / r:>10.0f}{r / bare:>9.2f}")

        big = directory / "big.db"
        start = time.perf_counter()
        requests = build_large_database(big, args.events)
        seconds = time.perf_counter() - start
        recent = START + dt.timedelta(minutes=requests * 9 // 10)
        db = ["--db", str(big)]
        print(f"\n`hvbot audit` on {args.events} events (built in {seconds:.1f} s, "
              f"{big.stat().st_size / 1e6:.0f} MB), median of 5 runs, in-process")  # fmt: skip
        print(f"{'command':<55}{'ms':>10}")
        for argv in (
            ["list", *db],
            ["list", *db, "--vm", "SRV-0042"],
            ["list", *db, "--host", "HV-SRV03"],
            ["list", *db, "--state", "awaiting_approval"],
            ["list", *db, "--since", recent.date().isoformat(), "--json"],
            ["show", str(requests // 2), *db],
        ):
            ms, code = time_command(argv, 5)
            assert code == 0, argv
            print(f"{'audit ' + ' '.join(a for a in argv if a not in db):<55}{ms:>10.1f}")
        os.environ["HVBOT_AUDIT_KEY"] = KEY_TEXT
        cpu = time.process_time()
        ms, code = time_command(["verify", *db], 1)
        cpu_ms = (time.process_time() - cpu) * 1000
        print(f"{'audit verify (keyed chain, anchors, rebuild; one run)':<55}{ms:>10.0f}")
        # On a machine shared with other work the wall time also counts waiting for a core.
        print(f"{'  of which CPU time of this process':<55}{cpu_ms:>10.0f}")
        assert code == 0


if __name__ == "__main__":
    main()
