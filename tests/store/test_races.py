"""Racing writers, in threads and in processes: exactly one wins, the others learn who."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

from bot.store import SqliteAuditStore
from commands.workflow.records import Actor, State, TransitionResult
from support.store import draft, new_request

DECISIONS = (State.APPROVED, State.REJECTED, State.CANCELLED)


def _race(count: int, attempt: Callable[[int], TransitionResult]) -> list[TransitionResult]:
    barrier = threading.Barrier(count)

    def run(i: int) -> TransitionResult:
        barrier.wait()
        return attempt(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def _awaiting_approval(store: SqliteAuditStore) -> int:
    rid = store.create(new_request(), draft("requested")).id
    store.transition(rid, [State.REQUESTED], State.AWAITING_APPROVAL, draft("card_posted"))
    return rid


def test_fifty_threads_deciding_one_request_make_one_winner(store: SqliteAuditStore) -> None:
    rid = _awaiting_approval(store)

    results = _race(
        50,
        lambda i: store.transition(
            rid,
            [State.AWAITING_APPROVAL],
            DECISIONS[i % 3],
            draft(DECISIONS[i % 3].value, Actor(f"U{i:02d}")),
        ),
    )

    winners = [r for r in results if r.applied]
    assert len(winners) == 1
    final = winners[0].record
    losers = [r for r in results if not r.applied]
    assert {(r.record.state, r.record.version) for r in losers} == {(final.state, final.version)}
    assert all(r.winner is not None and r.winner.state_to is final.state for r in losers)
    assert len({r.winner.actor for r in losers if r.winner}) == 1
    events = store.events(rid)
    assert len(events) == 3 and events[-1].state_to is final.state
    assert store.verify().ok


def test_fifty_threads_on_one_version_make_one_winner(store: SqliteAuditStore) -> None:
    rid = _awaiting_approval(store)
    record = store.get(rid)
    assert record is not None
    version = record.version

    results = _race(
        50,
        lambda i: store.transition(
            rid,
            [State.AWAITING_APPROVAL],
            State.AWAITING_APPROVAL,
            draft("approval", Actor(f"U{i:02d}")),
            expected_version=version,
            changes={"approvals": [f"U{i:02d}"]},
        ),
    )

    [winner] = [r for r in results if r.applied]
    assert winner.record.version == version + 1
    assert store.get(rid) == winner.record
    assert len(store.events(rid)) == 3


def _process_attempt(
    path: str, rid: int, index: int, start: Event, out: Queue[tuple[int, bool, str, str | None]]
) -> None:
    start.wait()
    with SqliteAuditStore(path) as store:
        state = DECISIONS[index % 3]
        result = store.transition(
            rid, [State.AWAITING_APPROVAL], state, draft(state.value, Actor(f"P{index}"))
        )
        winner = result.winner.actor.slack_user_id if result.winner else None
        out.put((index, result.applied, result.record.state.value, winner))


def test_processes_racing_on_one_file_make_one_winner(db_path: Path) -> None:
    with SqliteAuditStore(db_path) as store:
        rid = _awaiting_approval(store)
    context = multiprocessing.get_context("fork")
    start = context.Event()
    out = context.Queue()
    procs = [
        context.Process(target=_process_attempt, args=(str(db_path), rid, i, start, out))
        for i in range(4)
    ]
    for proc in procs:
        proc.start()
    start.set()
    results = [out.get(timeout=30) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0

    winners = [r for r in results if r[1]]
    assert len(winners) == 1
    index, _, state, _ = winners[0]
    assert {(r[2], r[3]) for r in results if not r[1]} == {(state, f"P{index}")}
    with SqliteAuditStore(db_path) as store:
        assert len(store.events(rid)) == 3
        assert store.verify().ok
