"""Many moves in one channel share a running-migrations board, edited in place, while each
move's thread keeps its own news and final word (the notifier against the stand-in's Web API
over real HTTP, through the real pacer)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.slack import blocks as ui
from bot.slack.actions import STOP
from bot.slack.board import (
    BOARD_REF,
    OWN_PER_PLACE,
    PAGE_BUDGET,
    board_blocks,
    board_ts,
    width,
)
from bot.slack.notifier import SlackNotifier
from bot.slack.pacing import Limits, Pacer
from commands.hyperv import JobState, MigrationOutcome, MigrationProgress
from commands.workflow.memory_store import MemoryAuditStore
from commands.workflow.records import Actor, Place, RequestKind, RequestRecord, State
from lab.slack.server import SlackStandIn
from lab.slack.workspace import Message

CHANNEL = "C0BUSY001"
NOW = dt.datetime(2026, 11, 30, 7, 0, tzinfo=dt.UTC)
BOARD_HEAD = "Running migrations"


@dataclasses.dataclass
class Rig:
    slack: SlackStandIn
    client: WebClient
    pacer: Pacer
    notifier: SlackNotifier

    def running(self, request_id: int, vm: str) -> RequestRecord:
        """A running move with its card posted in the channel."""
        card = self.client.chat_postMessage(channel=CHANNEL, text=f"card of {vm}")
        return move(request_id, vm, card_ts=str(card["ts"]))

    def idle(self) -> None:
        assert self.pacer.idle(timeout=60)

    def boards(self) -> list[Message]:
        return [m for m in self.slack.workspace.history(CHANNEL) if m.text.startswith(BOARD_HEAD)]


@pytest.fixture
def rig() -> Iterator[Rig]:
    with SlackStandIn() as slack:
        pacer = Pacer(Limits(spacing=0.2))
        try:
            client = WebClient(token=slack.tokens.bot, base_url=slack.api_url)
            notifier = SlackNotifier(client, pacer)
            notifier.attach(MemoryAuditStore())
            yield Rig(slack, client, pacer, notifier)
        finally:
            pacer.stop()


def reading(percent: int) -> MigrationProgress:
    return MigrationProgress(JobState.RUNNING, percent, 12.0 + percent)


def shown(rig: Rig, record: RequestRecord, progress: MigrationProgress) -> RequestRecord:
    """Hands a reading over as the workflow does, keeping the reference it gets back."""
    ref = rig.notifier.progress(record, progress)
    if ref is not None and record.progress_ts is None:
        return dataclasses.replace(record, progress_ts=ref)
    return record


def succeeded(record: RequestRecord) -> RequestRecord:
    return dataclasses.replace(record, state=State.SUCCEEDED)


def test_past_a_few_moves_in_one_channel_progress_goes_to_one_board_edited_in_place(
    rig: Rig,
) -> None:
    records = [rig.running(i, f"BENCH-VM{i:03d}") for i in range(1, OWN_PER_PLACE + 3)]
    records = [shown(rig, r, reading(10)) for r in records]
    rig.idle()
    own, boarded = records[:OWN_PER_PLACE], records[OWN_PER_PLACE:]
    boarded = [shown(rig, r, reading(30)) for r in boarded]
    rig.idle()
    assert all(r.progress_ts is not None and board_ts(r.progress_ts) is None for r in own)
    [board] = rig.boards()
    assert {r.progress_ts for r in boarded} == {BOARD_REF + board.ts}
    assert board.text == "Running migrations: 2"
    text = json.dumps(board.blocks, ensure_ascii=False)
    assert "#5 *BENCH-VM005* HV-SRV01 → HV-SRV02 · *30%* · 42.0 s · running" in text
    assert "#6 *BENCH-VM006*" in text and "#1 *BENCH-VM001*" not in text
    assert board.edits, "the board is edited in place, not posted again"
    for record in boarded:
        assert record.card_ts is not None
        assert not any(
            ui.progress_bar(30) in m.text
            for m in rig.slack.workspace.replies(CHANNEL, record.card_ts)
        ), "a move on the board posts no progress message of its own"

    # With the board up, the moves that had a message of their own join it: one edit of the
    # board serves them all. Their message says so once and keeps its Cancel button.
    own = [shown(rig, r, reading(40)) for r in own]
    rig.idle()
    [board] = rig.boards()
    assert board.text == "Running migrations: 6"
    assert "#1 *BENCH-VM001* HV-SRV01 → HV-SRV02 · *40%*" in json.dumps(
        board.blocks, ensure_ascii=False
    )
    first = rig.slack.workspace.message(CHANNEL, str(own[0].progress_ts))
    assert "on the running-migrations board" in first.text and STOP in str(first.blocks)
    assert ui.progress_bar(10) in first.text, "its last own reading stays, then the board's"

    for record in boarded:
        rig.notifier.finished(succeeded(record), MigrationOutcome(True, 80.0, 0.4))
    rig.idle()
    [board] = rig.boards()
    text = json.dumps(board.blocks, ensure_ascii=False)
    assert "#5 " not in text and "#1 *BENCH-VM001*" in text and "2 ended" in text
    for record in own:
        rig.notifier.finished(succeeded(record), MigrationOutcome(True, 81.0, 0.4))
    rig.idle()
    [board] = [m for m in rig.slack.workspace.history(CHANNEL) if m.ts == board.ts]
    assert board.text.startswith("No migration running on this board any more: 6 ended")
    first = rig.slack.workspace.message(CHANNEL, str(own[0].progress_ts))
    assert "Succeeded" in first.text and STOP not in str(first.blocks)
    for record in records:
        assert record.card_ts is not None
        finals = [m for m in rig.slack.workspace.replies(CHANNEL, record.card_ts) if m.is_reply]
        finals = [m for m in finals if m.broadcast]
        assert len(finals) == 1
        assert finals[0].text.startswith(f":white_check_mark: {record.vm} is now on HV-SRV02")


def test_a_bot_that_takes_over_edits_the_same_board(rig: Rig) -> None:
    records = [rig.running(i, f"VM{i}") for i in range(1, OWN_PER_PLACE + 2)]
    records = [shown(rig, r, reading(10)) for r in records]
    rig.idle()
    late = shown(rig, records[-1], reading(20))
    rig.idle()
    assert board_ts(late.progress_ts) is not None
    [board] = rig.boards()

    successor = SlackNotifier(rig.client, rig.pacer)
    successor.attach(MemoryAuditStore())
    assert successor.progress(late, reading(70)) is None
    rig.idle()
    assert [m.ts for m in rig.boards()] == [board.ts]
    [board] = rig.boards()
    assert "*70%*" in json.dumps(board.blocks, ensure_ascii=False)


def test_a_board_past_its_budget_opens_a_second_message(rig: Rig) -> None:
    # A hundred and twenty cards at once would be refused by the channel's posting limit:
    # not the subject here.
    rig.slack.limits.enabled = False
    records = [rig.running(i, f"VM{i:03d}") for i in range(1, OWN_PER_PLACE + 121)]
    records = [shown(rig, r, reading(5)) for r in records]
    rig.idle()
    counts = [int(b.text.rsplit(" ", 1)[1]) for b in rig.boards()]
    assert len(counts) == 2 and sum(counts) == 120 and counts[0] >= 100, counts
    assert not [c for c in rig.slack.calls() if c.error], "every board fits in one message"


def test_a_full_board_stays_within_slacks_limits_however_its_lines_grow() -> None:
    usual = ui.board_line(move(123, "BENCH-VM000"), MigrationProgress(JobState.STARTING, 0, 2.0))
    assert PAGE_BUDGET // width(usual) >= 100, "a hundred usual moves fit"
    long = "X" * 120
    record = move(99999, long, source_host=long, destination_host=long)
    first = ui.board_line(record, MigrationProgress(JobState.STARTING, 0, 1.0))
    fitted = PAGE_BUDGET // width(first)
    # The same moves later: done, hours in, the longest phase, a rate.
    grown = ui.board_line(record, MigrationProgress(JobState.SHUTTING_DOWN, 100, 359_999.0, 10**15))
    _, body = board_blocks([grown] * fitted, 99999, closed=False)
    dicts = [b.to_dict() for b in body]
    assert len(json.dumps(dicts)) < 13_000
    assert all(len(d.get("text", {}).get("text", "")) <= 3000 for d in dicts)
    assert len(dicts) <= 50


def move(request_id: int, vm: str, **fields: Any) -> RequestRecord:
    """A running move of `vm` from HV-SRV01 to HV-SRV02."""
    record = RequestRecord(
        id=request_id,
        kind=RequestKind.MIGRATION,
        state=State.RUNNING,
        version=5,
        requester=Actor("U0ALICE01"),
        place=Place(CHANNEL),
        request={},
        created_at=NOW,
        updated_at=NOW,
        vm=vm,
        source_host="HV-SRV01",
        destination_host="HV-SRV02",
    )
    return dataclasses.replace(record, **fields)
