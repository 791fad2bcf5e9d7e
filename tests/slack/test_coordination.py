"""Several `serve` processes on one audit database: one holds the lease, events are taken once."""

from __future__ import annotations

import threading
from pathlib import Path

from bot.slack.coordination import Coordination, LeaseKeeper


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_holder_at_a_time_and_a_standby_takes_over_after_expiry(tmp_path: Path) -> None:
    clock = Clock()
    db = tmp_path / "audit.db"
    first = Coordination(db, holder="first", ttl=15, clock=clock)
    second = Coordination(db, holder="second", ttl=15, clock=clock)
    assert first.try_acquire()
    assert not second.try_acquire()
    assert second.current_holder() == "first"
    clock.now += 10
    assert first.renew()
    clock.now += 14
    assert not second.try_acquire()
    clock.now += 2
    assert second.try_acquire()
    assert not first.renew()
    assert first.current_holder() == "second"


def test_a_released_lease_is_free_at_once(tmp_path: Path) -> None:
    clock = Clock()
    db = tmp_path / "audit.db"
    first = Coordination(db, holder="first", clock=clock)
    second = Coordination(db, holder="second", clock=clock)
    assert first.try_acquire()
    second.release()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()


def test_an_event_is_taken_once_across_processes(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    one, two = Coordination(db), Coordination(db)
    assert one.first_sight("Ev01")
    assert not two.first_sight("Ev01")
    assert not one.first_sight("Ev01")
    assert two.first_sight("Ev02")


def test_a_standby_waits_then_becomes_active_when_the_holder_leaves(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    # Renewed every second, the lease never lapses while its holder runs, even on a busy machine.
    active = Coordination(db, holder="active", ttl=3)
    standby = Coordination(db, holder="standby", ttl=3)
    active_keeper = LeaseKeeper(active, on_lost=lambda: None)
    assert active_keeper.wait_until_active(print, threading.Event())
    active_keeper.start_renewing()
    heard: list[str] = []
    became = threading.Event()

    def stand_by() -> None:
        if LeaseKeeper(standby, on_lost=lambda: None).wait_until_active(
            heard.append, threading.Event()
        ):
            became.set()

    thread = threading.Thread(target=stand_by)
    thread.start()
    assert not became.wait(1.0)
    assert heard == ["standing by: active is the active bot on this database"]
    active_keeper.stop(release=True)
    assert became.wait(30)
    thread.join()


def test_a_holder_that_lost_its_lease_is_told(tmp_path: Path) -> None:
    clock = Clock()
    db = tmp_path / "audit.db"
    first = Coordination(db, holder="first", ttl=0.3, clock=clock)
    thief = Coordination(db, holder="thief", ttl=0.3, clock=clock)
    lost = threading.Event()
    keeper = LeaseKeeper(first, on_lost=lost.set)
    assert keeper.wait_until_active(print, threading.Event())
    clock.now += 1
    assert thief.try_acquire()
    keeper.start_renewing()
    assert lost.wait(30)
    keeper.stop(release=True)
    assert thief.current_holder() == "thief"
