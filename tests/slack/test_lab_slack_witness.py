"""The audit witness posts each chain head it is given to its Slack channel."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, replace

import pytest
from slack_sdk import WebClient

from bot.cli.audit import register
from bot.slack.actions import APPROVE
from bot.slack.pacing import Pacer
from bot.slack.witness import SlackWitness
from commands.workflow.records import TERMINAL_STATES
from lab.slack.server import SlackStandIn
from support.attacks import attack, rehash_from
from support.slack_app import ALICE, BOB, CHANNEL, MALLORY, SlackRig, eventually

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


def verify(
    rig: SlackRig, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str]:
    """`hvbot audit verify` with the bot's configuration and its token in the environment."""
    config = rig.tmp / "hvbot.toml"
    config.write_text(rig.config_text + f'slack_channel = "{AUDIT}"\n', encoding="utf-8")
    monkeypatch.setenv("SLACK_BOT_TOKEN", rig.slack.tokens.bot)
    parser = argparse.ArgumentParser(prog="hvbot")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["audit", "verify", "--config", str(config)])
    code: int = args.func(args)
    return code, capsys.readouterr().out


def test_verify_reads_the_audit_channel_back_and_names_an_event_rewritten_before_a_head(
    rig: SlackRig, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rig.config = replace(rig.config, audit=replace(rig.config.audit, slack_channel=AUDIT))
    driver = rig.start("http")
    record = rig.submit("SRV-APP01 to HV-SRV02 include-storage reason patch night", user=ALICE)
    card = rig.card(record.id)
    assert driver.click(CHANNEL, card.ts, APPROVE, user=BOB).acked
    rig.ended(record.id)
    eventually(lambda: rig.slack.workspace.history(AUDIT), what="the audit head")
    rig.stop()
    # Anyone in the channel may post text that looks like a head: it is no witness.
    rig.slack.workspace.post(AUDIT, MALLORY, f"audit head: event 1, hash {'0' * 64}, at now")

    code, out = verify(rig, capsys, monkeypatch)
    assert code == 0, out
    assert out.startswith("OK: ") and f"Slack channel {AUDIT}: 1 witnessed heads compared" in out

    # Someone who can write the file rewrites an early event, recomputes every link after it
    # (the log is not keyed) and the anchor file to match: only Slack still has the old head.
    database = rig.tmp / "audit.db"
    with attack(database) as attacker:
        attacker.execute("UPDATE events SET actor_name = 'nobody' WHERE seq = 2")
        rehash_from(attacker, 2, None)
        hashes = dict(attacker.execute("SELECT seq, hash FROM events").fetchall())
    anchor_file = database.with_name("audit.db.anchors")
    lines = [json.loads(line) for line in anchor_file.read_text().splitlines()]
    anchor_file.write_text(
        "".join(json.dumps({**line, "hash": hashes[line["seq"]]}) + "\n" for line in lines)
    )

    code, out = verify(rig, capsys, monkeypatch)
    assert code == 1
    [rewritten] = [line for line in out.splitlines() if line.startswith("REWRITTEN: ")]
    assert f"(Slack channel {AUDIT}, message " in rewritten
    assert "the log was rewritten from there on" in rewritten
    assert "anchored" not in rewritten


def test_verify_fails_when_the_configured_audit_channel_cannot_be_read(
    rig: SlackRig, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rig.start("http")
    rig.stop()
    rig.slack.faults.fail("conversations.history", "channel_not_found")
    code, out = verify(rig, capsys, monkeypatch)
    assert code == 1
    assert out.splitlines()[-1] == (
        f"NOT VERIFIED: Slack channel {AUDIT} not read: Slack answered channel_not_found"
    )
