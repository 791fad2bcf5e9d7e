"""Socket Mode: slack_sdk's own client (through bolt) on the stand-in's WebSocket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from lab.slack import Driver, SlackStandIn
from support.slack import CARD_TEXT, BoltOverSocket, Seen, build_app, wait_for


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
def bolt(slack: SlackStandIn, seen: Seen) -> Iterator[BoltOverSocket]:
    with BoltOverSocket(build_app(slack, seen), slack) as connected:
        yield connected


def test_connections_open_needs_the_app_token(slack: SlackStandIn, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as caught:
        client.apps_connections_open(app_token=slack.tokens.bot)
    assert caught.value.response["error"] == "not_allowed_token_type"
    url = client.apps_connections_open(app_token=slack.tokens.app)["url"]
    assert url.startswith("ws://127.0.0.1:")


def test_the_whole_loop_over_the_socket(
    bolt: BoltOverSocket, slack: SlackStandIn, seen: Seen
) -> None:
    driver = Driver(slack)
    assert driver.slash("/migrate", "SRV-APP01 to HV-SRV02", user="U_ALICE", channel="C_OPS").acked
    wait_for(lambda: slack.workspace.history("C_OPS"))
    [card] = slack.workspace.history("C_OPS")
    assert card.text == CARD_TEXT
    assert driver.click("C_OPS", card.ts, "approve", user="U_BOB").acked
    wait_for(lambda: slack.workspace.message("C_OPS", card.ts).edits)
    assert driver.mention("status", channel="C_OPS", user="U_CAROL").acked
    wait_for(lambda: len(slack.workspace.all_messages("C_OPS")) == 3)
    assert seen.commands[0]["command"] == "/migrate"
    assert slack.socket.missing_acks() == []


def test_disconnect_message_makes_the_client_reconnect(
    bolt: BoltOverSocket, slack: SlackStandIn
) -> None:
    before = slack.socket.connects
    slack.socket.ask_reconnect()
    assert slack.socket.wait_connects(before + 1, timeout=30)
    assert Driver(slack).slash("/migrate", "status", user="U_ALICE", channel="C_OPS").acked


def test_a_dropped_connection_is_reopened(bolt: BoltOverSocket, slack: SlackStandIn) -> None:
    before = slack.socket.connects
    slack.socket.drop()
    assert slack.socket.wait_connects(before + 1, timeout=60)
    assert Driver(slack).slash("/migrate", "status", user="U_ALICE", channel="C_OPS").acked


def test_envelopes_have_slacks_shape_and_missing_acks_are_recorded(
    slack: SlackStandIn,
) -> None:
    slack.socket.ack_timeout = 0.5
    received: list[SocketModeRequest] = []
    client = SocketModeClient(
        app_token=slack.tokens.app,
        web_client=WebClient(base_url=slack.api_url),
        auto_reconnect_enabled=False,
    )

    def listener(sock: BaseSocketModeClient, request: SocketModeRequest) -> None:
        received.append(request)
        if request.type == "slash_commands":
            sock.send_socket_mode_response(
                SocketModeResponse(envelope_id=request.envelope_id, payload={"text": "hi"})
            )

    client.socket_mode_request_listeners.append(listener)
    client.connect()
    try:
        assert slack.socket.wait_connected(timeout=20)
        driver = Driver(slack, event_retry_delays=(0.0,))
        slash = driver.slash("/migrate", "status", user="U_ALICE", channel="C_OPS")
        assert slash.acked
        mention = driver.mention("status", channel="C_OPS", user="U_ALICE")
        assert not mention.acked
    finally:
        client.close()
    assert received[0].type == "slash_commands"
    assert received[0].accepts_response_payload is True
    assert received[0].payload["text"] == "status"
    assert [r.retry_attempt for r in received[1:]] == [0, 1]
    assert received[2].retry_reason == "timeout"
    assert [m.type for m in slack.socket.missing_acks()] == ["events_api", "events_api"]
    [shown] = slack.workspace.ephemerals("C_OPS", "U_ALICE")
    assert shown.text == "hi"
