"""Drains in the workflow core (fake hosts, manual executor): one approval, one migration per
VM, one summary, cancel, a restart in the middle, critical hosts."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from commands.requests import Drain, DrainRequest
from commands.workflow.codec import drain_of
from commands.workflow.context import Deps
from commands.workflow.drains import MAX_LISTED, _Line, _Live, final_sentence, summary_text
from commands.workflow.machine import WorkflowError
from commands.workflow.records import RequestRecord, State
from support.workflow import (
    ALICE,
    BOB,
    PLACE,
    REQUESTER,
    ManualExecutor,
    Rig,
    host,
    kinds,
    make_rig,
)

SOURCE = "HV-SRV01"


def drain_of_source(rig: Rig, *destinations: str) -> int:
    """Submits `drain HV-SRV01 [to ...]`, checks it, and returns its id."""
    request = DrainRequest(Drain(host(SOURCE), tuple(host(d) for d in destinations)))
    request_id = rig.workflow.submit(request, REQUESTER, PLACE).id
    rig.run()
    return request_id


def finish_running(rig: Rig, succeeded: bool = True) -> None:
    """Runs the executor, ending every migration that has started, until nothing is left."""
    for _ in range(50):
        rig.run(500)
        running = [m for m in rig.world.migrations if m.outcome is None]
        if not running:
            rig.run(500)
            if not any(m.outcome is None for m in rig.world.migrations):
                return
        for migration in running:
            migration.finish(succeeded)
    raise AssertionError("migrations kept starting")


def moves(rig: Rig, parent: int) -> list[RequestRecord]:
    return rig.workflow.drain_moves(parent)


def final_word(rig: Rig, parent: int) -> str:
    """The drain's final sentence, once its end was reported (exactly once)."""
    record = rig.workflow.get(parent)
    assert [f for f in rig.notifier.finals if f[0] == parent] == [(parent, record.state.value)]
    assert record.outcome is not None
    return str(record.outcome["summary"])


def test_one_approval_moves_every_vm_as_its_own_migration() -> None:
    rig = make_rig()
    parent = drain_of_source(rig, "HV-SRV02", "HV-SRV03")
    record = rig.workflow.get(parent)
    assert (record.kind, record.state) == ("drain", State.AWAITING_APPROVAL)
    checked = rig.notifier.texts(parent)[-1]
    assert "needs 1 approval(s)" in checked
    assert "Move-VM -Name 'SRV-APP01' -DestinationHost" in checked

    rig.workflow.approve(parent, ALICE)
    finish_running(rig)

    record = rig.workflow.get(parent)
    assert record.state is State.SUCCEEDED
    children = moves(rig, parent)
    assert {c.vm for c in children} == {"SRV-APP01", "SRV-APP02", "SRV-DB01"}
    assert all(c.state is State.SUCCEEDED and drain_of(c) == parent for c in children)
    for child in children:
        assert kinds(rig, child.id)[:4] == ["submitted", "check_started", "checked", "approved"]
        assert kinds(rig, child.id).count("invocation_sent") == 1
    assert len(rig.world.starts) == 3
    assert not any(vm.host == SOURCE for vm in rig.world.vms.values())
    # The moves said nothing in the chat themselves: their news went to the summary.
    assert all(rig.notifier.texts(c.id) == [] for c in children)
    final = final_word(rig, parent)
    assert final.startswith("HV-SRV01 is empty: 3 VMs moved in")
    status = rig.workflow.status(request_id=parent)
    assert [r.id for r in status] == [parent, *(c.id for c in children)]
    summaries = [t for i, t in rig.notifier.summaries if i == parent]
    assert summaries[-1].startswith(f"Drain #{parent} of HV-SRV01: 3 of 3 moved")
    assert "done in 42 s, blackout 0.3 s" in summaries[-1]
    # Coalesced: a start and an end, not one edit per reading of every move.
    assert len(summaries) <= 3


def test_a_failed_move_fails_the_drain_and_is_named_with_its_cause() -> None:
    rig = make_rig()
    parent = drain_of_source(rig, "HV-SRV02")
    rig.workflow.approve(parent, ALICE)
    finish_running(rig, succeeded=False)
    record = rig.workflow.get(parent)
    assert record.state is State.FAILED
    assert record.outcome is not None and len(record.outcome["failed"]) == 3
    final = final_word(rig, parent)
    assert final.startswith("HV-SRV01 still holds 3 VM(s)")
    assert "3 failed: " in final and "Could not find Ethernet switch 'LAN'." in final


def test_a_critical_destination_needs_two_approvers() -> None:
    rig = make_rig()
    parent = drain_of_source(rig, "HV-CRIT")
    assert rig.workflow.get(parent).required_approvals == 2
    rig.workflow.approve(parent, ALICE)
    assert rig.workflow.get(parent).state is State.AWAITING_APPROVAL
    rig.workflow.approve(parent, BOB)
    finish_running(rig)
    assert rig.workflow.get(parent).state is State.SUCCEEDED


def test_a_second_drain_of_the_same_host_is_refused() -> None:
    rig = make_rig()
    drain_of_source(rig, "HV-SRV02")
    try:
        rig.workflow.submit(DrainRequest(Drain(host(SOURCE))), REQUESTER, PLACE)
    except WorkflowError as refused:
        assert "already has open request #1" in refused.message
    else:
        raise AssertionError("a second drain of HV-SRV01 was accepted")


def one_at_a_time(rig: Rig) -> int:
    """An approved drain to HV-SRV02 from a source that runs one move at a time; its id."""
    rig.world.limits[SOURCE] = 1
    parent = drain_of_source(rig, "HV-SRV02")
    rig.workflow.approve(parent, ALICE)
    rig.run(500)
    assert len(rig.world.starts) == 1
    return parent


def test_cancel_starts_no_further_move_and_running_ones_finish() -> None:
    rig = make_rig()
    parent = one_at_a_time(rig)
    rig.workflow.cancel(parent, REQUESTER)
    finish_running(rig)

    record = rig.workflow.get(parent)
    assert record.state is State.CANCELLED
    states = sorted(c.state.value for c in moves(rig, parent))
    assert states == ["cancelled", "cancelled", "succeeded"]
    assert len(rig.world.starts) == 1
    assert "2 not started (cancelled)" in final_word(rig, parent)


def test_a_move_that_no_longer_fits_at_its_turn_is_not_moved_and_said_how_to_move_it() -> None:
    rig = make_rig()
    parent = one_at_a_time(rig)
    last = moves(rig, parent)[-1]
    assert last.vm is not None
    # Not next in line yet: its check before the start has not run.
    rig.preflight.blocking[last.vm] = "HV-SRV02 has 2.0 GiB free; it needs 8.0 GiB"
    finish_running(rig)

    record = rig.workflow.get(parent)
    assert record.state is State.FAILED
    assert record.outcome is not None
    assert record.outcome["changed_since_approval"] == [last.vm]
    assert record.outcome["failed"] == []
    assert rig.workflow.get(last.id).state is State.FAILED
    assert kinds(rig, last.id)[-1] == "approval_void"
    assert rig.world.vms[last.vm].host == SOURCE and len(rig.world.starts) == 2
    final = final_word(rig, parent)
    assert f"1 not moved, changed since approval: {last.vm} (now blocked: HV-SRV02 has" in final
    assert "drain HV-SRV01 again once this drain has ended" in final
    summary = [t for i, t in rig.notifier.summaries if i == parent][-1]
    assert f"#{last.id} {last.vm} → HV-SRV02: not moved, changed since approval: now" in summary


def test_the_summary_message_is_kept_in_the_drain_record() -> None:
    rig = make_rig()
    rig.notifier.refs = True
    parent = drain_of_source(rig, "HV-SRV02")
    rig.workflow.approve(parent, ALICE)
    rig.run(500)
    assert rig.workflow.get(parent).progress_ts == f"summary-{parent}-1"
    rig.restart().recover()
    finish_running(rig)
    # The process that took over edited the same message: none was posted again.
    assert rig.workflow.get(parent).state is State.SUCCEEDED
    assert rig.workflow.get(parent).progress_ts == f"summary-{parent}-1"
    assert rig.notifier.summary_posts == 1
    assert len([i for i, _ in rig.notifier.summaries if i == parent]) > 2


def test_drain_cancel_names_requests_that_are_not_drains() -> None:
    rig = make_rig()
    parent = drain_of_source(rig, "HV-SRV02")
    rig.workflow.approve(parent, ALICE)
    rig.run(500)
    child = moves(rig, parent)[0]
    try:
        rig.workflow.cancel_drain(child.id, REQUESTER)
    except WorkflowError as refused:
        assert refused.message.startswith(f"Request #{child.id} is not a drain")
    else:
        raise AssertionError("drain cancel accepted a move")


def test_a_restart_mid_drain_follows_the_moves_again_and_sends_none_twice() -> None:
    rig = make_rig()
    parent = drain_of_source(rig, "HV-SRV02")
    rig.workflow.approve(parent, ALICE)
    rig.run(500)
    started = len(rig.world.starts)
    assert started == 2  # HV-SRV02's limit

    rig.restart().recover()
    finish_running(rig)

    assert rig.workflow.get(parent).state is State.SUCCEEDED
    assert len(rig.world.starts) == 3
    for child in moves(rig, parent):
        assert kinds(rig, child.id).count("invocation_sent") == 1


def test_a_restart_while_the_moves_are_recorded_adopts_them() -> None:
    rig = make_rig()
    parent = drain_of_source(rig, "HV-SRV02")
    rig.workflow.approve(parent, ALICE)
    # The process dies right after the approval: the drain's task never ran.
    rig.restart().recover()
    finish_running(rig)
    assert rig.workflow.get(parent).state is State.SUCCEEDED
    assert len(moves(rig, parent)) == 3
    assert len(rig.world.starts) == 3


# --- the words --------------------------------------------------------------------------


def test_final_sentence() -> None:
    assert final_sentence("HV-SRV01", 14, 22 * 60, [], 0, []) == (
        "HV-SRV01 is empty: 14 VMs moved in 22 min."
    )
    assert final_sentence("H", 1, 65, [("A", "no switch")], 2, ["A", "B"]) == (
        "H still holds 2 VM(s) (A, B): 1 VM moved in 1 min 5 s; 1 failed: A (no switch); "
        "2 not started (cancelled)."
    )
    assert final_sentence("H", 0, 5, [], 0, None).startswith("H may not be empty")


def test_summary_counts_lines_and_time_left() -> None:
    now = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
    record = _record(7)
    lines = {
        1: _Line(1, "A", "H2", State.SUCCEEDED, seconds=20.0, blackout=0.2),
        2: _Line(2, "B", "H2", State.RUNNING, percent=40, elapsed=5.0),
        3: _Line(3, "C", "H3", State.APPROVED),
        4: _Line(4, "D", "H3", State.FAILED, cause="Could not find switch. Fix: create it."),
    }
    live = _Live(record, lines, {"H1": 2, "H2": 2, "H3": 2}, now - dt.timedelta(seconds=90))
    text = summary_text(live, now)
    head, *rows = text.splitlines()
    assert head == (
        "Drain #7 of H1: 1 of 4 moved, 1 running, 1 queued, 1 failed; "
        "1 min 30 s elapsed, about 20 s left"
    )
    assert rows == [
        "#1 A → H2: done in 20 s, blackout 0.2 s",
        "#2 B → H2: running 40%",
        "#3 C → H3: queued",
        "#4 D → H3: failed: Could not find switch. Fix: create it.",
    ]


def test_a_large_drain_lists_what_needs_eyes_and_counts_the_rest() -> None:
    now = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
    lines = {i: _Line(i, f"VM{i:03d}", "H2", State.SUCCEEDED, seconds=10.0) for i in range(60)}
    lines.update({i: _Line(i, f"VM{i:03d}", "H3", State.APPROVED) for i in range(60, 100)})
    lines[5] = _Line(5, "VM005", "H2", State.FAILED, cause="no switch")
    lines[61] = _Line(61, "VM061", "H3", State.RUNNING, percent=10)
    live = _Live(_record(9), lines, {"H1": 4, "H2": 2, "H3": 2}, now)
    rows = summary_text(live, now).splitlines()[1:]
    assert rows[:2] == ["#5 VM005 → H2: failed: no switch", "#61 VM061 → H3: running 10%"]
    assert rows[2].startswith("59 done: VM000, VM001, VM002, VM003, VM004, VM006")
    assert rows[2].endswith(" and 31 more")
    assert rows[3].startswith("39 queued, next: VM060, VM062")
    assert len(rows) == 4 <= MAX_LISTED


def _record(request_id: int) -> RequestRecord:
    """A running drain's record (the summary reads its id, host and state)."""
    rig = make_rig()
    record = rig.workflow.submit(DrainRequest(Drain(host(SOURCE))), REQUESTER, PLACE)
    return dataclasses.replace(record, id=request_id, source_host="H1", state=State.RUNNING)


def test_a_move_sent_while_its_drain_is_cancelled_runs_to_its_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rig = make_rig()
    rig.world.limits[SOURCE] = 1
    parent = drain_of_source(rig, "HV-SRV02")
    rig.workflow.approve(parent, ALICE)
    while not moves(rig, parent):
        rig.run(1)
    assert rig.world.starts == []
    # Another process cancels the drain. Right after it looked at the first move ("not
    # sent"), this process sends that move; the cancel of the move then finds it sent.
    was_sent = Deps.was_sent
    looked: list[int] = []

    def send_after_the_first_look(deps: Deps, request_id: int) -> bool:
        if looked:
            return was_sent(deps, request_id)
        looked.append(request_id)
        rig.run(500)
        return False

    monkeypatch.setattr(Deps, "was_sent", send_after_the_first_look)
    rig.other_process(ManualExecutor()).cancel(parent, REQUESTER)
    [running] = [m for m in rig.world.migrations if m.outcome is None]
    assert [c.vm for c in moves(rig, parent) if c.id in looked] == [running.vm]
    finish_running(rig)
    states = sorted(c.state.value for c in moves(rig, parent))
    assert states == ["cancelled", "cancelled", "succeeded"]
