"""The transcript and the web page show what happened in a channel, as a person reads it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
from slack_sdk import WebClient

from lab.slack import SlackStandIn
from lab.slack.workspace import Json

CARD: list[Json] = [
    {"type": "header", "text": {"type": "plain_text", "text": "Move SRV-APP01"}},
    {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "*HV-SRV01* → *HV-SRV02*, asked by <@U_ALICE>"},
    },
    {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": "approve",
                "text": {"type": "plain_text", "text": "Approve"},
                "value": "1:1",
                "style": "primary",
            },
            {
                "type": "button",
                "action_id": "reject",
                "text": {"type": "plain_text", "text": "Reject"},
                "value": "1:1",
                "style": "danger",
            },
        ],
    },
]
DECIDED: list[Json] = [
    CARD[0],
    {"type": "section", "text": {"type": "mrkdwn", "text": "Approved by <@U_BOB>"}},
]


def play_story(slack: SlackStandIn, client: WebClient) -> str:
    """A command, a card, a click, a progress message edited many times, a broadcast end."""
    slack.workspace.record_activity("C_OPS", "U_ALICE", "command", "/migrate SRV-APP01 to HV-SRV02")
    card = client.chat_postMessage(channel="C_OPS", text="Move SRV-APP01?", blocks=CARD)["ts"]
    client.chat_postEphemeral(channel="C_OPS", user="U_ALICE", text="Request #1 is waiting.")
    slack.workspace.record_activity("C_OPS", "U_BOB", "click", "[Approve]", card)
    client.chat_update(channel="C_OPS", ts=card, text="Approved", blocks=DECIDED)
    progress = client.chat_postMessage(channel="C_OPS", text="0% copying", thread_ts=card)["ts"]
    for percent in range(10, 101, 10):
        client.chat_update(channel="C_OPS", ts=progress, text=f"{percent}% copying")
    client.chat_postMessage(
        channel="C_OPS", text="SRV-APP01 is on HV-SRV02", thread_ts=card, reply_broadcast=True
    )
    return str(card)


def test_the_transcript_indents_threads_and_compacts_edits(
    slack: SlackStandIn, client: WebClient
) -> None:
    play_story(slack, client)
    text = re.sub(r"\d\d:\d\d:\d\d", "HH:MM:SS", slack.transcript("C_OPS"))
    assert text == (
        "#ops\n"
        "HH:MM:SS  @alice typed /migrate SRV-APP01 to HV-SRV02\n"
        "HH:MM:SS  @hvbot: Move SRV-APP01\n"
        "          *HV-SRV01* → *HV-SRV02*, asked by @alice\n"
        "          [Approve] [Reject]\n"
        "          edited ×1, last: Move SRV-APP01\n"
        "            Approved by @bob\n"
        "    ↳ HH:MM:SS  @bob clicked [Approve]\n"
        "    ↳ HH:MM:SS  @hvbot: 0% copying\n"
        "                edited ×10, last: 100% copying\n"
        "    ↳ HH:MM:SS  @hvbot (also sent to the channel): SRV-APP01 is on HV-SRV02\n"
        "HH:MM:SS  @hvbot (only @alice sees this): Request #1 is waiting.\n"
    )


def test_the_page_shows_cards_buttons_threads_and_edit_history(
    slack: SlackStandIn, client: WebClient
) -> None:
    card = play_story(slack, client)
    page = requests.get(slack.page_url + "channels/C_OPS", timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    html = page.text
    assert "<b>HV-SRV01</b>" in html
    assert "data-action-id='approve'" in html  # in the edit history: the card as first posted
    assert "edit history" in html
    assert "Approved by @bob" in html
    assert "class='entry thread'" in html
    assert "only @alice sees this" in html
    permalink = client.chat_getPermalink(channel="C_OPS", message_ts=card)["permalink"]
    assert requests.get(permalink, timeout=10).text == html
    assert requests.get(slack.page_url + "channels/nope", timeout=10).status_code == 404


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing on CI: scripts/install-browser should install it")
        pytest.skip("chromium is not installed (scripts/install-browser installs it as root)")
    return found


def test_headless_chromium_sees_the_card_and_the_thread(
    slack: SlackStandIn, client: WebClient, tmp_path: Path
) -> None:
    browser = chromium()
    play_story(slack, client)
    result = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            slack.page_url + "channels/C_OPS",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    card = re.search(r'<div class="card">(.*?)</div></div>', dom, flags=re.S)
    assert card is not None and "Move SRV-APP01" in card.group(1)
    assert re.search(r'class="entry thread"[^>]*>.*?100% copying', dom, flags=re.S)
    assert 'data-action-id="approve"' in dom
