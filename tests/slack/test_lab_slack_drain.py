"""A drain from Slack over real HTTP, signed: `/migrate drain HV-SRV01` in the channel, one
card with the placement and every move's PowerShell, one click, one summary message edited in
place (the same one after a restart), and the final sentence broadcast to the channel."""

from __future__ import annotations

import collections
import json
import time

from bot.slack.actions import APPROVE
from commands.workflow.records import TERMINAL_STATES, RequestRecord, State
from lab.slack.blocks import MAX_BLOCKS, MAX_BLOCKS_CHARS
from lab.slack.workspace import Message
from support.slack_app import ALICE, BOB, CHANNEL, SlackRig, eventually

# The maintenance-night lab: what HV-SRV01 keeps (nowhere to go, stopped, fails halfway).
STAYS = {"SRV-BIG01", "SRV-OLD01", "SRV-OLD02", "SRV-APP07"}


def _drain_card(rig: SlackRig) -> tuple[RequestRecord, Message]:
    driver = rig.driver
    assert driver is not None
    slash = driver.slash(
        "/migrate", "drain HV-SRV01 reason patch night", user=ALICE, channel=CHANNEL
    )
    assert slash.acked and slash.status == 200
    record = eventually(lambda: next(iter(rig.services.workflow.open_requests()), None))
    card = rig.card(record.id)
    return rig.record(record.id), card


def _moved(rig: SlackRig, record: RequestRecord) -> int:
    moves = rig.services.workflow.status(request_id=record.id)[1:]
    return sum(m.state is State.SUCCEEDED for m in moves)


def _summary(rig: SlackRig, record: RequestRecord) -> list[Message]:
    return [m for m in rig.thread(record) if m.text.startswith(f"Drain #{record.id} of HV-SRV01")]


def test_a_drain_from_slack_one_card_one_click_one_summary_and_the_final_broadcast(
    drain_slack_rig: SlackRig,
) -> None:
    rig = drain_slack_rig
    driver = rig.start("http")
    record, card = _drain_card(rig)
    assert record.kind == "drain"
    assert len(card.blocks) <= MAX_BLOCKS and len(json.dumps(card.blocks)) <= MAX_BLOCKS_CHARS
    shown = json.dumps(card.blocks, ensure_ascii=False)
    assert "drain of HV-SRV01" in shown and "patch night" in shown
    assert "HV-SRV01 → HV-SRV02, HV-SRV03, HV-SRV04" in shown
    # The placement table: one row per move, with its host, memory and storage.
    moves = record.invocation["details"]["moves"] if record.invocation else []
    assert len(moves) == 30
    for move in moves:
        assert f"{move['vm']}" in shown and f"→ {move['destination']}" in shown
    assert "SRV-BIG01 fits nowhere" in shown
    # Every move's exact PowerShell, in the card or in its thread, in start order.
    rendered = record.invocation["rendered"] if record.invocation else []
    where = eventually(
        lambda: (
            shown + "".join(m.text for m in rig.thread(record))
            if all(line in shown + "".join(m.text for m in rig.thread(record)) for line in rendered)
            else None
        ),
        what="every move's PowerShell",
    )
    positions = [where.index(line) for line in rendered]
    assert positions == sorted(positions)

    clicked = time.monotonic()
    assert driver.click(CHANNEL, card.ts, APPROVE, user=BOB).acked
    done = rig.settled(record.id, TERMINAL_STATES)
    ran = time.monotonic() - clicked
    assert done.state is State.FAILED  # SRV-APP07 fails halfway: the host is not empty
    final = eventually(
        lambda: [m for m in rig.thread(done) if "HV-SRV01 still holds 4 VM(s)" in m.text],
        what="the final sentence",
    )
    rig.idle()
    assert len(final) == 1 and final[0].broadcast
    assert "29 VMs moved in" in final[0].text and "1 failed: SRV-APP07" in final[0].text
    assert any(m.ts == final[0].ts for m in rig.slack.workspace.history(CHANNEL))
    [summary] = _summary(rig, done)
    assert summary.ts == done.progress_ts
    assert summary.edits, "the summary is edited in place"
    assert summary.text.startswith(f"Drain #{done.id} of HV-SRV01: 29 of 30 moved")
    assert "SRV-APP07" in summary.text and "failed:" in summary.text
    # No message per VM: the card, the approval's note, the summary and the final word are
    # the whole drain's posts. The summary is edited at most once every 5 s while the drain
    # runs, besides its start and its end; the card when it is approved and when it ends.
    assert len(rig.slack.calls("chat.postMessage")) == 4
    edits = collections.Counter(c.params["ts"] for c in rig.slack.calls("chat.update"))
    assert edits[summary.ts] <= ran / 5 + 3, edits
    assert edits[card.ts] <= 3, edits
    assert set(edits) == {summary.ts, card.ts}
    world = rig.world.host("HV-SRV01")
    assert world is not None and {vm.name for vm in world.vms.values()} == STAYS


def test_a_bot_taking_over_mid_drain_edits_the_same_summary(drain_slack_rig: SlackRig) -> None:
    rig = drain_slack_rig
    driver = rig.start("http")
    record, card = _drain_card(rig)
    assert driver.click(CHANNEL, card.ts, APPROVE, user=BOB).acked
    posted = eventually(
        lambda: rig.record(record.id).progress_ts, what="the summary's ts in the record"
    )
    eventually(lambda: _moved(rig, record) >= 3, what="three moves done")
    rig.stop()
    rig.start("http")
    assert rig.bot is not None
    # Taken over mid-drain: some moves had ended, the rest are picked up where they were.
    assert 3 <= _moved(rig, record) < 30

    done = rig.settled(record.id, TERMINAL_STATES)
    eventually(
        lambda: [m for m in rig.thread(done) if "HV-SRV01 still holds" in m.text],
        what="the final sentence",
    )
    rig.idle()
    [summary] = _summary(rig, done)
    assert summary.ts == posted == done.progress_ts
    assert "moved" in summary.text and "finished" in summary.text
