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
from bot.slack.board import BOARD_REF, OWN_PER_PLACE, PAGE_LINES, board_blocks, board_ts
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
    records = [shown(rig, r, reading(30)) for r in records]
    rig.idle()
    own, boarded = records[:OWN_PER_PLACE], records[OWN_PER_PLACE:]
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

    fifth, sixth = boarded
    rig.notifier.finished(succeeded(fifth), MigrationOutcome(True, 80.0, 0.4))
    rig.idle()
    [board] = rig.boards()
    text = json.dumps(board.blocks, ensure_ascii=False)
    assert "#5 " not in text and "#6 *BENCH-VM006*" in text and "1 ended" in text
    rig.notifier.finished(succeeded(sixth), MigrationOutcome(True, 81.0, 0.4))
    rig.idle()
    [board] = [m for m in rig.slack.workspace.history(CHANNEL) if m.ts == board.ts]
    assert board.text.startswith("No migration running on this board any more: 2 ended")
    for record in boarded:
        assert record.card_ts is not None
        finals = [m for m in rig.slack.workspace.replies(CHANNEL, record.card_ts) if m.is_reply]
        assert len(finals) == 1 and finals[0].broadcast
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


def test_a_board_past_its_lines_opens_a_second_message(rig: Rig) -> None:
    # Fifty cards at once would be refused by the channel's posting limit: not the subject.
    rig.slack.limits.enabled = False
    records = [rig.running(i, f"VM{i:03d}") for i in range(1, OWN_PER_PLACE + PAGE_LINES + 3)]
    records = [shown(rig, r, reading(5)) for r in records]
    rig.idle()
    boards = rig.boards()
    assert [b.text for b in boards] == [
        f"Running migrations: {PAGE_LINES}",
        "Running migrations: 2",
    ]


def test_a_full_board_of_long_names_stays_within_slacks_limits() -> None:
    long = "X" * 120
    record = move(99999, long, source_host=long, destination_host=long)
    line = ui.board_line(record, MigrationProgress(JobState.RUNNING, 100, 36_000.0, 10**12))
    _, body = board_blocks([line] * PAGE_LINES, 999, closed=False)
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
