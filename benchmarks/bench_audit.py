"""Audit store speed: durable append rate against bare sqlite3, and `hvbot audit` latency on a
large log.

    .venv/bin/python benchmarks/bench_audit.py [--appends 2000] [--events 1000000] [--dir DIR]

Part 1 appends events one transaction each through SqliteAuditStore (WAL, synchronous=FULL,
hash chain, scrubbing) and through a bare `INSERT` + commit with the same PRAGMAs, in one run
(target: the store at least half the bare rate). Part 2 fills a database with `--events`
events (one `executemany` transaction, real chained hashes) and times the audit commands.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.cli.audit import register
from bot.store import SqliteAuditStore
from bot.store.codec import GENESIS_HASH, canonical_json, event_hash, utc_text
from bot.store.schema import connect
from commands.workflow.records import Actor, EventDraft, NewRequest, Place, RequestKind

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
BENCH_ACTOR = {"slack_user_id": "U0BENCH", "directory_account": None, "display_name": None}
START = dt.datetime(2025, 11, 25, tzinfo=dt.UTC)
HOSTS = [f"HV-SRV{i:02d}" for i in range(1, 9)]


def bench_store_append(directory: Path, count: int) -> float:
    """Events per second through SqliteAuditStore.append."""
    with SqliteAuditStore(directory / "store.db") as store:
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
        return count / (time.perf_counter() - start)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def bench_bare_append(directory: Path, count: int, synchronous: str) -> float:
    """Events per second for a plain INSERT and COMMIT per event, same journal settings."""
    conn = sqlite3.connect(directory / f"bare-{synchronous}.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, request_id INTEGER, kind TEXT,"
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


def _request_rows(requests: int, start: dt.datetime) -> Iterator[tuple[object, ...]]:
    for rid in range(1, requests + 1):
        created = utc_text(start + dt.timedelta(minutes=rid))
        source, destination = HOSTS[rid % 8], HOSTS[(rid + 3) % 8]
        state = "succeeded" if rid < requests - 20 else "awaiting_approval"
        yield (
            rid, "migrate", state, 5, f"SRV-{rid % 5000:04d}", source, destination,
            f"U{rid % 300:04d}", "C0OPS", f'{{"vm":"SRV-{rid % 5000:04d}"}}',
            created, created, rid * len(KINDS),
        )  # fmt: skip


def _event_rows(requests: int, start: dt.datetime) -> Iterator[tuple[object, ...]]:
    prev = GENESIS_HASH
    seq = 0
    data = canonical_json(DATA)
    for rid in range(1, requests + 1):
        at = utc_text(start + dt.timedelta(minutes=rid))
        for kind, state_from, state_to in KINDS:
            seq += 1
            content = {
                "seq": seq,
                "request_id": rid,
                "kind": kind,
                "actor": {
                    "slack_user_id": "U0BENCH",
                    "directory_account": None,
                    "display_name": None,
                },
                "at": at,
                "data": DATA,
                "state_from": state_from,
                "state_to": state_to,
                "prev_hash": prev,
            }
            digest = event_hash(content)
            yield (seq, rid, kind, "U0BENCH", at, state_from, state_to, data, prev, digest)
            prev = digest


def build_large_database(path: Path, events: int) -> int:
    """A database with about `events` events, eight per request; returns the request count."""
    SqliteAuditStore(path).close()
    requests = max(1, events // len(KINDS))
    start = START
    conn = connect(path)
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO requests (id, kind, state, version, vm, source_host, destination_host,"
        " requester_slack_id, channel, request, created_at, updated_at, last_transition_seq)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        _request_rows(requests, start),
    )
    conn.executemany(
        "INSERT INTO events (seq, request_id, kind, actor_slack_id, at, state_from, state_to,"
        " data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        _event_rows(requests, start),
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
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
        store = bench_store_append(directory, args.appends)
        bare = bench_bare_append(directory, args.appends, "FULL")
        normal = bench_bare_append(directory, args.appends, "NORMAL")
        print(f"\nAppend, one transaction per event ({args.appends} events, {directory})")
        print(f"{'writer':<55}{'events/s':>10}{'µs/event':>10}{'vs bare':>9}")
        for label, rate in (
            ("SqliteAuditStore.append (WAL, synchronous=FULL)", store),
            ("bare sqlite3 INSERT+COMMIT (WAL, synchronous=FULL)", bare),
            ("bare sqlite3 INSERT+COMMIT (WAL, NORMAL: not durable)", normal),
        ):
            print(f"{label:<55}{rate:>10.0f}{1e6 / rate:>10.0f}{rate / bare:>9.2f}")

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
        ms, code = time_command(["verify", *db], 1)
        print(f"{'audit verify (whole chain, one run)':<55}{ms:>10.0f}")
        assert code == 0


if __name__ == "__main__":
    main()
