"""Slack's rate limits during a migration, and secrets kept out of every message and log."""

from __future__ import annotations

import logging
import re

import pytest

from bot.slack.actions import APPROVE
from commands.workflow.records import State
from support.slack_app import ALICE, BOB, CHANNEL, SlackRig

MOVE = "SRV-APP01 to HV-SRV02 include-storage reason patch night"


def percents(text: str) -> list[int]:
    return [int(p) for p in re.findall(r"(\d+)%", text)]


def test_a_storm_of_429s_during_progress_loses_nothing_and_keeps_the_order(
    rig: SlackRig,
) -> None:
    driver = rig.start("http")
    record = rig.submit(MOVE, user=ALICE)
    card = rig.card(record.id)
    for method in ("chat.update", "chat.postMessage"):
        rig.slack.faults.fail(method, "ratelimited", times=6, retry_after=1)
    assert driver.click(CHANNEL, card.ts, APPROVE, user=BOB).acked
    done = rig.ended(record.id)
    assert done.state is State.SUCCEEDED
    thread = rig.thread(done)
    finals = [m for m in thread if "is now on HV-SRV02" in m.text]
    assert len(finals) == 1
    progress = next(m for m in thread if "█" in m.text or "░" in m.text)
    seen = [percents(text)[0] for text in [*(v.text for v in progress.edits), progress.text]]
    assert seen == sorted(seen) and seen[-1] == 100
    assert "Succeeded" in progress.text
    limited = [c for c in rig.slack.calls() if c.status == 429]
    assert len(limited) >= 6
    assert progress.ts < finals[0].ts


def test_no_secret_reaches_a_message_or_the_log(
    rig: SlackRig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    driver = rig.start("http")
    record = rig.submit(MOVE, user=ALICE)
    card = rig.card(record.id)
    assert driver.click(CHANNEL, card.ts, APPROVE, user=BOB).acked
    rig.ended(record.id)
    secrets = [
        rig.secrets.get(name)
        for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET")
    ] + [rig.secrets.get("HVBOT_WINRM_PASSWORD")]
    shown = [
        str(m.text) + str(m.blocks) + "".join(str(v.blocks) for v in m.edits)
        for m in rig.slack.workspace.all_messages(CHANNEL)
    ]
    logged = [r.getMessage() + str(r.__dict__) for r in caplog.records]
    for secret in secrets:
        assert secret
        assert not any(secret in text for text in shown)
        assert not any(secret in text for text in logged)
