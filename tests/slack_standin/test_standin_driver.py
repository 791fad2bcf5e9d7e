"""The driver against a real bolt app over signed HTTP, and against a raw signature checker."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest
from slack_sdk.signature import SignatureVerifier

from lab.slack import ButtonNotFound, Driver, SlackStandIn, signature
from support.slack import CARD_TEXT, BoltOverHttp, RawReceiver, Seen, build_app, wait_for


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
def driver(slack: SlackStandIn, seen: Seen) -> Iterator[Driver]:
    with BoltOverHttp(build_app(slack, seen)) as bot:
        yield Driver(slack, bot_url=bot.url, ack_timeout=30)


def test_signature_is_what_slack_sdk_verifies() -> None:
    verifier = SignatureVerifier("s3cret")
    body = "token=x&text=hello+world"
    stamp = str(int(time.time()))
    assert signature("s3cret", stamp, body.encode()) == verifier.generate_signature(
        timestamp=stamp, body=body
    )


def test_slash_command_is_signed_and_form_encoded_as_slack_sends_it(slack: SlackStandIn) -> None:
    with RawReceiver(slack.tokens.signing_secret) as bot:
        driver = Driver(slack, bot_url=bot.url)
        delivery = driver.slash("/migrate", "SRV-APP01", user="U_ALICE", channel="C_OPS")
    assert delivery.acked
    [request] = bot.received
    assert request.valid
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
    assert form["command"] == "/migrate"
    assert form["text"] == "SRV-APP01"
    assert (form["user_id"], form["user_name"]) == ("U_ALICE", "alice")
    assert (form["channel_id"], form["channel_name"]) == ("C_OPS", "ops")
    assert form["response_url"].startswith(f"http://127.0.0.1:{slack.port}/response/")
    assert form["trigger_id"]


def test_bolt_accepts_the_slash_command_and_its_card_is_stored(
    driver: Driver, slack: SlackStandIn, seen: Seen
) -> None:
    delivery = driver.slash("/migrate", "SRV-APP01 to HV-SRV02", user="U_ALICE", channel="C_OPS")
    assert delivery.acked
    wait_for(lambda: slack.workspace.history("C_OPS"))
    [posted] = slack.workspace.history("C_OPS")
    assert posted.text == CARD_TEXT
    assert seen.commands[0]["user_id"] == "U_ALICE"


def test_respond_through_the_response_url_is_ephemeral(driver: Driver, slack: SlackStandIn) -> None:
    driver.slash("/migrate", "status", user="U_ALICE", channel="C_OPS")
    wait_for(lambda: slack.workspace.ephemerals("C_OPS", "U_ALICE"))
    [answer] = slack.workspace.ephemerals("C_OPS", "U_ALICE")
    assert answer.text == "Nothing is running."
    assert slack.workspace.history("C_OPS") == []


def test_a_click_is_built_from_the_button_in_the_message(
    driver: Driver, slack: SlackStandIn, seen: Seen
) -> None:
    driver.slash("/migrate", "SRV-APP01 to HV-SRV02", user="U_ALICE", channel="C_OPS")
    wait_for(lambda: slack.workspace.history("C_OPS"))
    [card] = slack.workspace.history("C_OPS")
    assert driver.click("C_OPS", card.ts, "approve", user="U_BOB").acked
    wait_for(lambda: slack.workspace.message("C_OPS", card.ts).edits)
    body = seen.actions[0]
    [action] = body["actions"]
    assert (action["action_id"], action["value"], action["block_id"]) == (
        "approve",
        "1:1",
        "decide-1",
    )
    assert body["container"] == {
        "type": "message",
        "message_ts": card.ts,
        "channel_id": "C_OPS",
        "is_ephemeral": False,
    }
    assert body["message"]["blocks"] == card.blocks
    assert body["user"]["id"] == "U_BOB"
    edited = slack.workspace.message("C_OPS", card.ts)
    assert edited.text == "Approved by <@U_BOB>"
    with pytest.raises(ButtonNotFound):
        driver.click("C_OPS", card.ts, "approve", user="U_CAROL")  # the buttons are gone


def test_a_refused_click_gets_an_ephemeral_line(driver: Driver, slack: SlackStandIn) -> None:
    driver.slash("/migrate", "SRV-APP01 to HV-SRV02", user="U_ALICE", channel="C_OPS")
    wait_for(lambda: slack.workspace.history("C_OPS"))
    [card] = slack.workspace.history("C_OPS")
    driver.click("C_OPS", card.ts, "approve", user="U_ALICE")
    wait_for(lambda: slack.workspace.ephemerals("C_OPS", "U_ALICE"))
    [line] = slack.workspace.ephemerals("C_OPS", "U_ALICE")
    assert "own request" in line.text
    assert not slack.workspace.message("C_OPS", card.ts).edits


def test_a_forged_click_can_be_built_then_altered(driver: Driver, slack: SlackStandIn) -> None:
    driver.slash("/migrate", "x", user="U_ALICE", channel="C_OPS")
    wait_for(lambda: slack.workspace.history("C_OPS"))
    [card] = slack.workspace.history("C_OPS")
    payload = driver.build_click("C_OPS", card.ts, "approve", user="U_BOB")
    payload["actions"][0]["value"] = "999:1"
    assert driver.send_interaction(payload).acked


def test_a_mention_in_a_thread_is_posted_and_delivered(
    driver: Driver, slack: SlackStandIn, seen: Seen
) -> None:
    incident = slack.workspace.post("C_INCIDENT", "U_CAROL", "SRV-APP01 is slow")
    delivery = driver.mention(
        "migrate SRV-APP01 to HV-SRV02", channel="C_INCIDENT", thread_ts=incident.ts, user="U_ALICE"
    )
    assert delivery.acked
    wait_for(lambda: len(slack.workspace.replies("C_INCIDENT", incident.ts)) == 3)
    thread = slack.workspace.replies("C_INCIDENT", incident.ts)
    assert thread[1].text.endswith("migrate SRV-APP01 to HV-SRV02")
    assert thread[2].text == "On it."
    event = seen.mentions[0]["event"]
    assert (event["type"], event["thread_ts"], event["user"]) == (
        "app_mention",
        incident.ts,
        "U_ALICE",
    )


def test_event_retries_carry_slacks_headers(slack: SlackStandIn) -> None:
    with RawReceiver(slack.tokens.signing_secret, status=500) as bot:
        driver = Driver(slack, bot_url=bot.url, event_retry_delays=(0.0, 0.0))
        delivery = driver.mention("status", channel="C_OPS", user="U_ALICE")
        assert not delivery.acked
        assert [r.headers.get("X-Slack-Retry-Num") for r in bot.received] == [None, "1", "2"]
        assert bot.received[1].headers["X-Slack-Retry-Reason"] == "http_error"
        assert len({b["event_id"] for b in bot.json_bodies()}) == 1
        assert all(r.valid for r in bot.received)
        bot.status = 200
        again = driver.redeliver(delivery, reason="http_timeout")
    assert again.acked
    assert bot.received[-1].headers["X-Slack-Retry-Num"] == "3"
    assert json.loads(bot.received[-1].body)["event"]["type"] == "app_mention"


def test_x_slack_no_retry_stops_the_retries(slack: SlackStandIn) -> None:
    no_retry = {"X-Slack-No-Retry": "1"}
    with RawReceiver(slack.tokens.signing_secret, status=500, headers=no_retry) as bot:
        driver = Driver(slack, bot_url=bot.url, event_retry_delays=(0.0, 0.0))
        assert not driver.mention("status", channel="C_OPS", user="U_ALICE").acked
    assert len(bot.received) == 1


def test_a_slash_command_not_acked_shows_slacks_error(slack: SlackStandIn) -> None:
    with RawReceiver(slack.tokens.signing_secret, status=500) as bot:
        Driver(slack, bot_url=bot.url).slash("/migrate", "x", user="U_ALICE", channel="C_OPS")
    [shown] = slack.workspace.ephemerals("C_OPS", "U_ALICE")
    assert shown.text == '/migrate failed with the error "dispatch_failed"'


def test_an_ack_with_content_is_shown_to_the_user(slack: SlackStandIn) -> None:
    reply = json.dumps({"text": "Checking…"}).encode()
    with RawReceiver(slack.tokens.signing_secret, reply=reply) as bot:
        Driver(slack, bot_url=bot.url).slash("/migrate", "x", user="U_ALICE", channel="C_OPS")
    [shown] = slack.workspace.ephemerals("C_OPS", "U_ALICE")
    assert shown.text == "Checking…"


def test_bolt_refuses_a_bad_signature_and_a_stale_timestamp(driver: Driver) -> None:
    body = b"command=%2Fmigrate&text=status&user_id=U_ALICE&channel_id=C_OPS"
    assert driver.post_signed(body, secret="not-the-secret").status_code == 401
    stale = int(time.time()) - 6 * 60
    assert driver.post_signed(body, timestamp=stale).status_code == 401
