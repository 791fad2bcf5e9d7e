"""Several `hvbot serve` processes on one audit database: one active, the others standing by."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from bot.slack.actions import APPROVE
from lab.slack.driver import Driver
from lab.slack.workspace import Message
from support.slack_app import ALICE, BOB, CHANNEL, SlackRig, eventually, start_serve


def write_config(rig: SlackRig, path: Path) -> dict[str, str]:
    """The rig's configuration in a file, and the environment holding its secrets."""
    path.write_text(rig.config_text, encoding="utf-8")
    return {**os.environ, **rig.secrets.values}


def test_sigterm_hands_over_to_the_standby_at_once(rig: SlackRig, tmp_path: Path) -> None:
    config = tmp_path / "hvbot.toml"
    env = write_config(rig, config)
    first = start_serve(config, env)
    try:
        first.active_url()
        second = start_serve(config, env)
        try:
            second.wait_for("standing by")
            first.process.send_signal(signal.SIGTERM)
            assert first.process.wait(timeout=60) == 0
            second.active_url()
        finally:
            second.stop()
    finally:
        first.stop()


def test_kill_9_of_the_active_bot_mid_migration_the_standby_finishes_the_move(
    slow_rig: SlackRig, tmp_path: Path
) -> None:
    rig = slow_rig
    config = tmp_path / "hvbot.toml"
    env = write_config(rig, config)
    first = start_serve(config, env)
    second = None
    try:
        driver = Driver(rig.slack, bot_url=first.active_url(), ack_timeout=10)
        second = start_serve(config, env)
        second.wait_for("standing by")
        assert driver.slash("/migrate", SLOW_MOVE, user=ALICE, channel=CHANNEL).acked
        card = eventually(lambda: card_of(rig, "SRV-APP01"), what="the card")
        assert driver.click(CHANNEL, card.ts, APPROVE, user=BOB).acked
        eventually(lambda: progress_of(rig, card), what="the progress message")
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=60)
        second.active_url()
        finals = eventually(
            lambda: [m for m in rig.slack.workspace.replies(CHANNEL, card.ts) if is_final(m)],
            timeout=180,
            what="the final message",
        )
        assert "SRV-APP01 is now on HV-SRV02" in finals[0].text
        assert len(rig.world.calls("Move-VM")) == 1
        second.stop()
        assert len([m for m in rig.slack.workspace.replies(CHANNEL, card.ts) if is_final(m)]) == 1
    finally:
        first.stop()
        if second is not None:
            second.stop()


SLOW_MOVE = "SRV-APP01 to HV-SRV02 include-storage reason patch night"


def card_of(rig: SlackRig, vm: str) -> Message | None:
    """The bot's approval card for `vm` in the channel, once it has its buttons."""
    return next(
        (
            m
            for m in rig.slack.workspace.history(CHANNEL)
            if m.bot and f"of {vm}" in m.text and APPROVE in str(m.blocks)
        ),
        None,
    )


def progress_of(rig: SlackRig, card: Message) -> Message | None:
    """The progress message in the card's thread, once it shows a running move."""
    return next(
        (
            m
            for m in rig.slack.workspace.replies(CHANNEL, card.ts)
            if "█" in m.text and "running" in m.text
        ),
        None,
    )


def is_final(message: Message) -> bool:
    """Whether `message` is a request's final word (broadcast from its thread)."""
    return message.broadcast and (":white_check_mark:" in message.text or ":x:" in message.text)
