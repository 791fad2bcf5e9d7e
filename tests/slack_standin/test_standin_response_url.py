"""response_url: 5 uses within 30 minutes; replace, delete, ephemeral or in channel."""

from __future__ import annotations

import requests
from slack_sdk.webhook import WebhookClient

from lab.slack import SlackStandIn


def test_five_uses_then_refused(slack: SlackStandIn) -> None:
    url = slack.responses.issue("C_OPS", "U_ALICE", None)
    hook = WebhookClient(url)
    statuses = [hook.send(text=f"answer {n}").status_code for n in range(6)]
    assert statuses == [200] * 5 + [404]
    assert len(slack.workspace.ephemerals("C_OPS", "U_ALICE")) == 5
    assert [c.error for c in slack.calls("response_url")][-1] == "expired_url"


def test_thirty_minutes_later_the_url_is_dead(slack: SlackStandIn) -> None:
    url = slack.responses.issue("C_OPS", "U_ALICE", None)
    slack.clock.advance(30 * 60 + 1)
    assert WebhookClient(url).send(text="too late").status_code == 404
    assert slack.workspace.ephemerals("C_OPS") == []


def test_in_channel_posts_a_message_everyone_sees(slack: SlackStandIn) -> None:
    url = slack.responses.issue("C_OPS", "U_ALICE", None)
    WebhookClient(url).send(text="for all", response_type="in_channel")
    [message] = slack.workspace.history("C_OPS")
    assert message.text == "for all"
    assert slack.workspace.ephemerals("C_OPS") == []


def test_replace_original_is_how_an_ephemeral_message_changes(slack: SlackStandIn) -> None:
    command_url = WebhookClient(slack.responses.issue("C_OPS", "U_ALICE", None))
    command_url.send(text="Checking…")
    command_url.send(text="All good.", replace_original=True)
    [shown] = slack.workspace.ephemerals("C_OPS", "U_ALICE")
    assert shown.text == "All good."
    assert [v.text for v in shown.edits] == ["Checking…"]


def test_a_click_can_replace_or_delete_the_message_it_came_from(slack: SlackStandIn) -> None:
    card = slack.workspace.post("C_OPS", "U0HVBOT01", "card", [{"type": "divider"}])
    url = slack.responses.issue("C_OPS", "U_BOB", card.ts)
    WebhookClient(url).send(text="Approved", replace_original=True)
    replaced = slack.workspace.message("C_OPS", card.ts)
    assert (replaced.text, replaced.blocks) == ("Approved", [])
    WebhookClient(url).send(text="", delete_original=True)
    assert slack.workspace.history("C_OPS") == []


def test_a_body_that_is_not_json_is_refused(slack: SlackStandIn) -> None:
    url = slack.responses.issue("C_OPS", "U_ALICE", None)
    assert requests.post(url, data=b"text=hi", timeout=10).status_code == 400
    assert requests.post(url + "x", json={"text": "hi"}, timeout=10).status_code == 404
