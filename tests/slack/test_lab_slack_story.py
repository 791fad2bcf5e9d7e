"""The Slack story over real HTTP, signed: card, approval click, progress, final message."""

from __future__ import annotations

import re

import pytest

from bot.slack.actions import APPROVE, STOP
from commands.workflow.records import TERMINAL_STATES, State
from lab.slack.blocks import buttons
from lab.world.faults import Fault, FaultKind
from lab.world.model import Performance
from support.slack_app import ALICE, BOB, CHANNEL, SlackRig, eventually


@pytest.mark.parametrize("mode", ["http", "socket"])
def test_card_approval_progress_and_final_message_in_the_thread(rig: SlackRig, mode: str) -> None:
    driver = rig.start(mode)
    record = rig.submit("SRV-APP01 to HV-SRV02 include-storage reason patch night", user=ALICE)
    card = rig.card(record.id)
    shown = str(card.blocks)
    assert "SRV-APP01" in shown and "HV-SRV01 → HV-SRV02" in shown
    assert "Move-VM" in shown and "patch night" in shown and f"<@{ALICE}>" in shown
    assert {b.action_id for b in buttons(card.blocks)} >= {APPROVE}

    delivery = driver.click(CHANNEL, card.ts, APPROVE, user=BOB)
    assert delivery.acked and delivery.status == 200

    done = rig.settled(record.id, TERMINAL_STATES)
    assert done.state is State.SUCCEEDED
    # The terminal state is committed (and anchored) before the notifier hears of it, so the
    # card's last edit and the final message may still be on their way.
    ts = card.ts
    eventually(
        lambda: "Succeeded" in str(rig.slack.workspace.message(CHANNEL, ts).blocks),
        what="the card's final edit",
    )
    eventually(
        lambda: any("is now on HV-SRV02" in m.text for m in rig.thread(done)),
        what="the final message",
    )
    rig.idle()
    card = rig.slack.workspace.message(CHANNEL, card.ts)
    assert not buttons(card.blocks)
    assert f"<@{BOB}> approved" in str(card.blocks) and "Succeeded" in str(card.blocks)
    thread = rig.thread(done)
    progress = [m for m in thread if "█" in m.text or "░" in m.text]
    assert len(progress) == 1, [m.text for m in thread]
    assert "Succeeded" in progress[0].text and not buttons(progress[0].blocks)
    assert any(STOP in str(v.blocks) for v in progress[0].edits)
    finals = [m for m in thread if "is now on HV-SRV02" in m.text]
    assert len(finals) == 1 and finals[0].broadcast
    assert not any("far below" in m.text for m in thread), "the lab's link is not slow"


def test_a_move_far_slower_than_its_settings_allow_says_so_once_with_the_causes(
    rig: SlackRig,
) -> None:
    rig.world.hosts["hv-srv01"].performance = Performance.TCPIP
    # 25 MB/s where TCP/IP should give ~110: a 68 GB shared-nothing move, ~14 s here.
    rig.world.inject(Fault(FaultKind.SLOW_LINK, "HV-SRV02", mbps=200))
    driver = rig.start("http")
    record = rig.submit("SRV-APP01 to HV-SRV02 include-storage reason patch night", user=ALICE)
    card = rig.card(record.id)
    assert driver.click(CHANNEL, card.ts, APPROVE, user=BOB).acked
    done = rig.ended(record.id)
    assert done.state is State.SUCCEEDED
    notes = [m for m in rig.thread(done) if "far below" in m.text]
    assert len(notes) == 1, [m.text for m in rig.thread(done)]
    assert re.match(rf"Request #{record.id} is moving about 2\d MB/s, far below", notes[0].text)
    assert "compression is off on HV-SRV01 (performance option TCPIP)" in notes[0].text
    assert "/migrate host HV-SRV01 set performance compression" in notes[0].text
    said = [e for e in rig.services.workflow.events(record.id) if e.kind == "slow_transfer"]
    assert len(said) == 1 and said[0].data["causes"][0].startswith("compression is off")
    final = next(m for m in rig.thread(done) if m.broadcast)
    assert notes[0].ts < final.ts


def test_a_dropped_websocket_reconnects_and_nothing_is_lost(rig: SlackRig) -> None:
    driver = rig.start("socket")
    socket = rig.slack.socket
    assert socket.wait_connected(timeout=30)
    record = rig.submit("SRV-APP01 to HV-SRV02 include-storage reason patch night", user=ALICE)
    card = rig.card(record.id)
    socket.drop()
    assert socket.wait_connects(2, timeout=60)
    assert socket.wait_connected(timeout=30)
    assert driver.click(CHANNEL, card.ts, APPROVE, user=BOB).acked
    socket.ask_reconnect()
    assert socket.wait_connects(3, timeout=60)
    done = rig.settled(record.id, TERMINAL_STATES)
    assert done.state is State.SUCCEEDED
    eventually(
        lambda: [m for m in rig.thread(done) if "is now on HV-SRV02" in m.text],
        what="the final message",
    )
    rig.idle()
    assert socket.missing_acks() == []


def incident_thread(rig: SlackRig) -> str:
    """An incident thread someone started in the channel; its ts."""
    return rig.slack.workspace.post(CHANNEL, ALICE, "INC-4711: HV-SRV01 fans failing", []).ts


@pytest.mark.parametrize("mode", ["http", "socket"])
def test_a_mention_in_an_incident_thread_keeps_everything_in_that_thread(
    rig: SlackRig, mode: str
) -> None:
    driver = rig.start(mode)
    thread = incident_thread(rig)
    delivery = driver.mention(
        "migrate SRV-APP01 to HV-SRV02 include-storage reason INC-4711",
        channel=CHANNEL,
        user=ALICE,
        thread_ts=thread,
    )
    assert delivery.acked
    record = eventually(lambda: next(iter(rig.services.workflow.open_requests()), None))
    card = rig.card(record.id)
    assert card.thread_ts == thread
    assert driver.click(CHANNEL, card.ts, APPROVE, user=BOB).acked
    done = rig.settled(record.id, TERMINAL_STATES)
    assert done.state is State.SUCCEEDED
    eventually(
        lambda: any("is now on HV-SRV02" in m.text for m in rig.thread(done)),
        what="the final message",
    )
    rig.idle()
    said = [m for m in rig.slack.workspace.all_messages(CHANNEL) if m.bot]
    assert said and all(m.thread_ts == thread for m in said)
    texts = [m.text for m in said]
    assert any("recorded" in t for t in texts)
    assert any("█" in t for t in texts)
    assert sum("is now on HV-SRV02" in t for t in texts) == 1


def test_a_retried_mention_makes_no_second_request(rig: SlackRig) -> None:
    driver = rig.start("http")
    thread = incident_thread(rig)
    first = driver.mention(
        "SRV-APP01 to HV-SRV02 include-storage", channel=CHANNEL, user=ALICE, thread_ts=thread
    )
    again = driver.redeliver(first)
    assert again.event_id == first.event_id and again.acked
    record = eventually(lambda: next(iter(rig.services.workflow.open_requests()), None))
    rig.card(record.id)
    rig.idle()
    assert len(rig.services.store.search(limit=10)) == 1
    recorded = [m for m in rig.thread(record) if m.bot and "recorded" in m.text]
    assert len(recorded) == 1
    # Handled twice, the retry would have been refused ("already has open request").
    assert rig.slack.workspace.ephemerals(CHANNEL, ALICE) == []
    status = driver.mention("status", channel=CHANNEL, user=ALICE, thread_ts=thread)
    driver.redeliver(status)
    driver.redeliver(status)
    eventually(lambda: [m for m in rig.thread(record) if "Open requests" in m.text])
    rig.idle()
    assert len([m for m in rig.thread(record) if "Open requests" in m.text]) == 1


@pytest.mark.parametrize("mode", ["http", "socket"])
def test_slash_command_answers_privately_and_posts_the_card_for_everyone(
    rig: SlackRig, mode: str
) -> None:
    driver = rig.start(mode)
    assert driver.slash("/migrate", "help", user=ALICE, channel=CHANNEL).acked
    assert driver.slash(
        "/migrate", "SRV-APP01 to HV-SRV02 include-storage", user=ALICE, channel=CHANNEL
    ).acked
    record = eventually(lambda: next(iter(rig.services.workflow.open_requests()), None))
    card = rig.card(record.id)
    assert card.ephemeral_to is None and card.thread_ts is None
    private = eventually(
        lambda: (
            [m.text for m in rig.slack.workspace.ephemerals(CHANNEL, ALICE)]
            if len(rig.slack.workspace.ephemerals(CHANNEL, ALICE)) >= 2
            else None
        )
    )
    assert any("/migrate" in text for text in private)
    assert any(f"Request #{record.id} recorded" in text for text in private)
    assert not [m for m in rig.slack.workspace.history(CHANNEL) if "recorded" in m.text]
