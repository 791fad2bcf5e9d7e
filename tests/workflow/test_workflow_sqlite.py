"""The workflow over the real SQLite audit store: the port's contract as `bot/` will use it."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.store import SqliteAuditStore
from commands.workflow.machine import WorkflowError
from commands.workflow.records import State
from support.workflow import (
    ALICE,
    BOB,
    CAROL,
    PLACE,
    REQUESTER,
    Crash,
    kinds,
    make_rig,
    move,
)


def test_a_move_crashing_after_the_send_finishes_once_with_a_verified_log(tmp_path: Path) -> None:
    database = tmp_path / "audit.db"
    rig = make_rig(store=lambda clock: SqliteAuditStore(database, clock=clock))
    request_id = rig.workflow.submit(move("SRV-APP01", "HV-CRIT"), REQUESTER, PLACE).id
    rig.run()
    rig.workflow.approve(request_id, ALICE)
    rig.workflow.approve(request_id, CAROL)
    rig.world.crash_on_start = "after"
    with pytest.raises(Crash):
        rig.run()
    rig.world.crash_on_start = None

    assert isinstance(rig.store, SqliteAuditStore)
    rig.store.close()
    rig.store = SqliteAuditStore(database, clock=rig.clock)
    rig.restart().recover()
    rig.run(5)
    rig.world.migrations[0].finish()
    rig.run()

    record = rig.workflow.get(request_id)
    assert record.state is State.SUCCEEDED
    assert record.approvals == ("UALICE", "UCAROL")
    assert record.invocation is not None and record.outcome is not None
    assert len(rig.world.starts) == 1
    assert kinds(rig, request_id).count("invocation_sent") == 1
    assert rig.store.verify().ok


def test_racing_clicks_on_sqlite_have_one_winner(tmp_path: Path) -> None:
    executor = ThreadPoolExecutor(max_workers=4)
    rig = make_rig(
        executor=executor,
        poll_seconds=0.005,
        store=lambda clock: SqliteAuditStore(tmp_path / "race.db", clock=clock),
    )
    try:
        request_id = rig.workflow.submit(move("SRV-APP01"), REQUESTER, PLACE).id
        while rig.workflow.get(request_id).state is not State.AWAITING_APPROVAL:
            threading.Event().wait(0.002)
        barrier = threading.Barrier(30)
        wins: list[str] = []

        def click(index: int) -> None:
            barrier.wait()
            try:
                if index % 3 == 0:
                    rig.workflow.approve(request_id, (ALICE, BOB)[index % 2])
                elif index % 3 == 1:
                    rig.workflow.reject(request_id, (ALICE, BOB)[index % 2])
                else:
                    rig.workflow.cancel(request_id, REQUESTER, seen=State.AWAITING_APPROVAL)
            except WorkflowError:
                return
            wins.append(str(index))

        threads = [threading.Thread(target=click, args=(i,)) for i in range(30)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(wins) == 1
    finally:
        rig.workflow.shutdown()
        for migration in rig.world.migrations:
            migration.finish()
        executor.shutdown(wait=True)
