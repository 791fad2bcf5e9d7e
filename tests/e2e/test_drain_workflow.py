"""A drain through the real bot and the maintenance-night lab: one approval, every VM moved at
most once, limits kept, the audit chain intact — also when the bot is killed or cancelled."""

from __future__ import annotations

import collections
import datetime as dt
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from bot.store import SqliteAuditStore
from commands.workflow.records import RequestRecord, State
from commands.workflow.scheduler import SLOTS_FREED
from lab.world import winpath
from support.e2e import BotRig

# What the drain of HV-SRV01 cannot take off: nowhere to go, stopped, fails halfway.
STAYS = {"SRV-BIG01", "SRV-OLD01", "SRV-OLD02"}
FAILS = "SRV-APP07"
LIMITS = {"HV-SRV01": 4, "HV-SRV02": 2, "HV-SRV03": 2, "HV-SRV04": 2}


def _request_drain(rig: BotRig) -> None:
    submitted = rig.run("request", "--as", "UALICE", "--", "drain", "HV-SRV01", "reason", "patch")
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    assert "SRV-BIG01 fits nowhere" in submitted.stdout
    assert "PS> Move-VM -Name 'SRV-APP07'" in submitted.stdout


def _count_events(database: Path, kind: str) -> int:
    if not database.exists():
        return 0
    with sqlite3.connect(database) as conn:
        try:
            row = conn.execute("SELECT count(*) FROM events WHERE kind = ?", (kind,)).fetchone()
        except sqlite3.OperationalError:
            return 0
    return int(row[0])


def _wait_for_events(database: Path, kind: str, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while _count_events(database, kind) < count:
        assert time.monotonic() < deadline, f"fewer than {count} {kind!r} events in {timeout} s"
        time.sleep(0.02)


def _moves_per_vm(rig: BotRig) -> collections.Counter[str]:
    return collections.Counter(
        str(dict(call.parameters).get("Name")) for call in rig.world.calls("Move-VM")
    )


def _children(store: SqliteAuditStore, parent: int) -> list[RequestRecord]:
    records = [store.get(i) for i in range(parent + 1, parent + 40)]
    return [r for r in records if r is not None and r.request.get("drain") == parent]


def _most_at_once(store: SqliteAuditStore, children: list[RequestRecord]) -> dict[str, int]:
    """Per host, the most moves that held its slots at the same time, from the audit log: from
    the send to the slots given back (the move over on its hosts) or the end."""
    spans: list[tuple[dt.datetime, dt.datetime, str, str]] = []
    for child in children:
        times = {e.kind: e.at for e in store.events(child.id)}
        if "invocation_sent" in times:
            end = (
                times.get(SLOTS_FREED)
                or times.get("succeeded")
                or times.get("failed")
                or times.get("stopped_on_host")
            )
            assert end is not None
            spans.append(
                (
                    times["invocation_sent"],
                    end,
                    child.source_host or "",
                    child.destination_host or "",
                )
            )
    most: dict[str, int] = collections.defaultdict(int)
    for start, _, _, _ in spans:
        live = [s for s in spans if s[0] <= start < s[1]]
        for host in LIMITS:
            most[host] = max(most[host], sum(host in (s[2], s[3]) for s in live))
    return dict(most)


def test_drain_moves_every_vm_once_within_the_limits(drain_rig: BotRig) -> None:
    database = drain_rig.config.parent / "audit.db"
    _request_drain(drain_rig)
    approved = drain_rig.run("approve", "1", "--as", "UBOB", timeout=300)
    # One move fails halfway, so the drain as a whole failed.
    assert approved.returncode == 1, approved.stdout + approved.stderr
    assert "HV-SRV01 still holds 4 VM(s)" in approved.stdout
    assert "29 VMs moved in" in approved.stdout
    assert f"1 failed: {FAILS} (" in approved.stdout
    drain_rig.world.wait_idle()

    source = drain_rig.world.host("HV-SRV01")
    assert source is not None
    assert {vm.name for vm in source.vms.values()} == STAYS | {FAILS}
    moves = _moves_per_vm(drain_rig)
    assert len(moves) == 30 and set(moves.values()) == {1}

    with SqliteAuditStore(database) as store:
        assert store.verify().ok
        parent = store.get(1)
        assert parent is not None and parent.kind == "drain"
        assert parent.state is State.FAILED
        assert parent.outcome is not None and parent.outcome["failed"] == [FAILS]
        children = _children(store, 1)
        assert len(children) == 30
        assert {c.vm for c in children if c.state is State.FAILED} == {FAILS}
        assert all(c.state is State.SUCCEEDED for c in children if c.vm != FAILS)
        for child in children:
            kinds = [e.kind for e in store.events(child.id)]
            # Each move is a migration like any other: checked, approved, one send, an end.
            assert kinds[:4] == ["submitted", "check_started", "checked", "approved"]
            assert kinds.count("invocation_sent") == 1
        for host, most in _most_at_once(store, children).items():
            assert most <= LIMITS[host], (host, most)
    # Nor did a host ever have to queue a move past its own limit (event 21501).
    for name in LIMITS:
        lab_host = drain_rig.world.host(name)
        assert lab_host is not None
        assert not [e for e in lab_host.events if e.event_id == 21501], name


# Killed while the drain records its moves, while moves are being sent, between a move's end on
# its hosts and its outcome, and later on.
KILL_POINTS = [
    ("approved", 6),
    ("invocation_sent", 7),
    (SLOTS_FREED, 5),
    ("succeeded", 12),
]


@pytest.mark.parametrize(("anchor", "count"), KILL_POINTS, ids=lambda v: str(v))
def test_drain_killed_midway_resumes_and_moves_each_vm_at_most_once(
    drain_rig: BotRig, anchor: str, count: int
) -> None:
    database = drain_rig.config.parent / "audit.db"
    _request_drain(drain_rig)
    approving = drain_rig.start("approve", "1", "--as", "UBOB")
    _wait_for_events(database, anchor, count)
    approving.send_signal(signal.SIGKILL)
    approving.wait(timeout=10)

    recovered = drain_rig.run("recover", timeout=300)
    assert "Traceback" not in recovered.stderr, recovered.stderr
    assert "internal error" not in recovered.stderr, recovered.stderr
    assert "a drain (or one of its moves): picking it up where it was" in recovered.stdout
    drain_rig.world.wait_idle()

    moves = _moves_per_vm(drain_rig)
    assert max(moves.values()) == 1
    with SqliteAuditStore(database) as store:
        assert store.verify().ok
        parent = store.get(1)
        assert parent is not None and parent.state.terminal
        children = _children(store, 1)
        assert len(children) == 30
        assert all(c.state.terminal for c in children)
        for child in children:
            sent = [e.kind for e in store.events(child.id)].count("invocation_sent")
            moved = moves.get(child.vm or "", 0)
            # Never sent twice; a Move-VM the host saw was recorded as sent first.
            assert sent <= 1 and moved <= sent
            if child.state is State.SUCCEEDED:
                assert moved == 1
        stayed = {c.vm for c in children if c.state is not State.SUCCEEDED}
    source = drain_rig.world.host("HV-SRV01")
    assert source is not None
    assert {vm.name for vm in source.vms.values()} == STAYS | stayed


def test_drain_cancel_starts_no_further_move(drain_rig: BotRig) -> None:
    database = drain_rig.config.parent / "audit.db"
    _request_drain(drain_rig)
    approving = drain_rig.start("approve", "1", "--as", "UBOB")
    _wait_for_events(database, "succeeded", 3)
    cancelled = drain_rig.run("cancel", "1", "--as", "UALICE")
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    assert "will not start; running moves finish" in cancelled.stdout
    approving.wait(timeout=300)
    drain_rig.world.wait_idle()

    moves = _moves_per_vm(drain_rig)
    with SqliteAuditStore(database) as store:
        assert store.verify().ok
        parent = store.get(1)
        assert parent is not None
        assert parent.state in (State.CANCELLED, State.FAILED)
        children = _children(store, 1)
        stopped = [c for c in children if c.state is State.CANCELLED]
        assert stopped, "cancel came after every move had started"
        for child in stopped:
            assert "invocation_sent" not in [e.kind for e in store.events(child.id)]
            assert child.vm not in moves
        assert set(moves.values()) == {1}
        assert len(moves) == sum(c.state is not State.CANCELLED for c in children)
        assert parent.outcome is not None
        assert sorted(parent.outcome["cancelled"]) == sorted(c.vm or "" for c in stopped)
    source = drain_rig.world.host("HV-SRV01")
    assert source is not None
    assert {c.vm for c in stopped} <= {vm.name for vm in source.vms.values()}


def test_a_drain_with_storage_moves_local_disks_and_their_space(rig: BotRig) -> None:
    # The default lab: SRV-APP01 runs on local D: disks (24 + 36 GB), SRV-TEST01 is off with a
    # 10 GB local disk, SRV-DB01 keeps its disk on a share (it moves live, without storage).
    source, destination = rig.world.host("HV-SRV01"), rig.world.host("HV-SRV02")
    assert source is not None and destination is not None
    free_before = {h.name: h.volumes["D"].free for h in (source, destination)}
    disks = [d.path for vm in source.vms.values() if vm.name != "SRV-DB01" for d in vm.disks]
    submitted = rig.run(
        "request",
        "--as",
        "UALICE",
        "--",
        "drain",
        "HV-SRV01",
        "to",
        "HV-SRV02",
        "include-storage",
        "include-stopped",
    )
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    approved = rig.run("approve", "1", "--as", "UBOB", timeout=300)
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert "HV-SRV01 is empty: 3 VMs moved in" in approved.stdout
    rig.world.wait_idle()

    assert not source.vms
    assert {vm.name for vm in destination.vms.values()} >= {"SRV-APP01", "SRV-DB01", "SRV-TEST01"}
    moved = {
        str(dict(c.parameters).get("Name")): "IncludeStorage" in dict(c.parameters)
        for c in rig.world.calls("Move-VM")
    }
    assert moved == {"SRV-APP01": True, "SRV-TEST01": True, "SRV-DB01": False}
    # Each local disk now lives at its own path on the destination, gone from the source, and
    # both volumes account for the 70 GB that moved (the share's disk is no one's).
    for path in disks:
        assert winpath.normalize(path) in destination.files
        assert winpath.normalize(path) not in source.files
    gb = 1024**3
    assert destination.volumes["D"].free == free_before["HV-SRV02"] - 70 * gb
    assert source.volumes["D"].free == free_before["HV-SRV01"] + 70 * gb
    with SqliteAuditStore(rig.config.parent / "audit.db") as store:
        assert store.verify().ok
        children = _children(store, 1)
        assert {c.vm: c.state for c in children} == {
            "SRV-APP01": State.SUCCEEDED,
            "SRV-TEST01": State.SUCCEEDED,
            "SRV-DB01": State.SUCCEEDED,
        }
