"""The audit witness posts each chain head it is given to its Slack channel."""

from __future__ import annotations

from dataclasses import dataclass, replace

from slack_sdk import WebClient

from bot.slack.actions import APPROVE
from bot.slack.pacing import Pacer
from bot.slack.witness import SlackWitness
from commands.workflow.records import TERMINAL_STATES
from lab.slack.server import SlackStandIn
from support.slack_app import ALICE, BOB, CHANNEL, SlackRig, eventually

AUDIT = "C0AUDIT01"


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str
    at: str
    request_id: int | None = None
    state: str | None = None


def test_each_head_is_posted_to_the_audit_channel_even_through_a_rate_limit() -> None:
    with SlackStandIn() as slack:
        pacer = Pacer()
        try:
            client = WebClient(token=slack.tokens.bot, base_url=slack.api_url)
            witness = SlackWitness(client, "C0AUDIT01", pacer)
            assert witness.name == "Slack channel C0AUDIT01"
            slack.faults.fail("chat.postMessage", "ratelimited", times=2, retry_after=1)
            witness.witness(Head(41, "ab" * 32, "2026-11-30T07:40:00Z", 7, "succeeded"))
            witness.witness(Head(44, "cd" * 32, "2026-11-30T07:41:00Z", 8, "failed"))
            assert pacer.idle(timeout=60)
        finally:
            pacer.stop()
        posted = [m.text for m in slack.workspace.history("C0AUDIT01")]
    assert posted == [
        f"audit head: event 41, hash {'ab' * 32}, at 2026-11-30T07:40:00Z "
        "after request #7 succeeded",
        f"audit head: event 44, hash {'cd' * 32}, at 2026-11-30T07:41:00Z after request #8 failed",
    ]


def test_the_bot_posts_the_head_to_the_configured_audit_channel(rig: SlackRig) -> None:
    rig.config = replace(rig.config, audit=replace(rig.config.audit, slack_channel=AUDIT))
    rig.start("http")
    record = rig.submit("SRV-APP01 to HV-SRV02 include-storage reason patch night", user=ALICE)
    card = rig.card(record.id)
    assert rig.driver is not None
    assert rig.driver.click(CHANNEL, card.ts, APPROVE, user=BOB).acked
    done = rig.settled(record.id, TERMINAL_STATES)
    posted = eventually(
        lambda: [m.text for m in rig.slack.workspace.history(AUDIT)], what="the audit head"
    )
    assert posted[-1].startswith("audit head: event ")
    assert posted[-1].endswith(f"after request #{done.id} {done.state.value}")
