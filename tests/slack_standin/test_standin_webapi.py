"""The stand-in's Web API, driven by the real slack_sdk WebClient over HTTP."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from lab.slack import BOT_USER_ID, Limit, SlackStandIn
from lab.slack.workspace import Json

CARD: list[Json] = [
    {"type": "section", "block_id": "summary", "text": {"type": "mrkdwn", "text": "*Move*"}},
    {
        "type": "actions",
        "block_id": "decide",
        "elements": [
            {
                "type": "button",
                "action_id": "approve",
                "text": {"type": "plain_text", "text": "Approve"},
                "value": "42:1",
                "style": "primary",
            }
        ],
    },
]


def error_of(call: object) -> str:
    with pytest.raises(SlackApiError) as caught:
        call()  # type: ignore[operator]
    return str(caught.value.response["error"])


def test_auth_test_names_the_bot(client: WebClient) -> None:
    answer = client.auth_test()
    assert answer["user_id"] == BOT_USER_ID
    assert answer["bot_id"].startswith("B")


def test_wrong_or_missing_token_is_refused(slack: SlackStandIn) -> None:
    wrong = WebClient(token="xoxb-not-ours", base_url=slack.api_url)
    assert error_of(wrong.auth_test) == "invalid_auth"
    nobody = WebClient(base_url=slack.api_url)
    assert error_of(lambda: nobody.chat_postMessage(channel="C_OPS", text="x")) == "not_authed"
    app = WebClient(token=slack.tokens.app, base_url=slack.api_url)
    posted = lambda: app.chat_postMessage(channel="C_OPS", text="x")  # noqa: E731
    assert error_of(posted) == "not_allowed_token_type"
    assert slack.workspace.history("C_OPS") == []


def test_messages_are_kept_by_channel_and_ts_with_threads(client: WebClient) -> None:
    parent = client.chat_postMessage(channel="C_OPS", text="card", blocks=CARD)
    assert parent["message"]["blocks"] == CARD
    reply = client.chat_postMessage(channel="C_OPS", text="progress", thread_ts=parent["ts"])
    client.chat_postMessage(
        channel="C_OPS", text="done", thread_ts=parent["ts"], reply_broadcast=True
    )
    client.chat_postMessage(channel="C_OTHER", text="elsewhere")

    history = client.conversations_history(channel="C_OPS")["messages"]
    assert [m["text"] for m in history] == ["done", "card"]  # newest first; the broadcast shows
    assert history[0]["subtype"] == "thread_broadcast"
    assert history[1]["reply_count"] == 2
    thread = client.conversations_replies(channel="C_OPS", ts=parent["ts"])["messages"]
    assert [m["text"] for m in thread] == ["card", "progress", "done"]
    assert all(m["thread_ts"] == parent["ts"] for m in thread)
    # A reply's ts names the same thread.
    again = client.conversations_replies(channel="C_OPS", ts=reply["ts"])["messages"]
    assert [m["ts"] for m in again] == [m["ts"] for m in thread]


def test_update_replaces_blocks_and_keeps_the_history(
    client: WebClient, slack: SlackStandIn
) -> None:
    posted = client.chat_postMessage(channel="C_OPS", text="card", blocks=CARD)
    decided = [{"type": "section", "text": {"type": "mrkdwn", "text": "Approved by <@U_BOB>"}}]
    updated = client.chat_update(channel="C_OPS", ts=posted["ts"], text="approved", blocks=decided)
    assert updated["message"]["blocks"] == decided
    assert "edited" in updated["message"]
    stored = slack.workspace.message("C_OPS", posted["ts"])
    assert stored.text == "approved"
    assert [v.blocks for v in stored.edits] == [CARD]
    # Text alone keeps the blocks, as Slack does.
    client.chat_update(channel="C_OPS", ts=posted["ts"], text="approved!")
    assert slack.workspace.message("C_OPS", posted["ts"]).blocks == decided


def test_unknown_ts_is_message_not_found(client: WebClient) -> None:
    client.chat_postMessage(channel="C_OPS", text="x")
    update = lambda: client.chat_update(channel="C_OPS", ts="1.000001", text="y")  # noqa: E731
    assert error_of(update) == "message_not_found"
    assert error_of(lambda: client.conversations_replies(channel="C_OPS", ts="1.2")) == (
        "thread_not_found"
    )
    assert error_of(lambda: client.chat_postMessage(channel="nope", text="x")) == (
        "channel_not_found"
    )


def test_ephemeral_messages_are_not_in_history_nor_editable(
    client: WebClient, slack: SlackStandIn
) -> None:
    answer = client.chat_postEphemeral(channel="C_OPS", user="U_ALICE", text="only you")
    assert client.conversations_history(channel="C_OPS")["messages"] == []
    update = lambda: client.chat_update(  # noqa: E731
        channel="C_OPS", ts=answer["message_ts"], text="changed"
    )
    assert error_of(update) == "message_not_found"
    [shown] = slack.workspace.ephemerals("C_OPS", "U_ALICE")
    assert shown.text == "only you"


def test_users_and_channels_are_known_on_first_sight(client: WebClient) -> None:
    user = client.users_info(user="U_ALICE")["user"]
    assert user["name"] == "alice"
    assert user["profile"]["email"] == "alice@lab.local"
    assert client.users_info(user="W012AB")["user"]["profile"]["email"] == "w012ab@lab.local"
    assert error_of(lambda: client.users_info(user="alice")) == "user_not_found"


def test_usergroups_are_configurable(client: WebClient, slack: SlackStandIn) -> None:
    slack.workspace.set_usergroup("S_APPROVERS", ["U_BOB", "U_CAROL"])
    assert client.usergroups_users_list(usergroup="S_APPROVERS")["users"] == ["U_BOB", "U_CAROL"]
    unknown = lambda: client.usergroups_users_list(usergroup="S_NOPE")  # noqa: E731
    assert error_of(unknown) == "no_such_subteam"


def test_blocks_over_slacks_limits_are_refused(client: WebClient, slack: SlackStandIn) -> None:
    long_label = [
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "a",
                    "text": {"type": "plain_text", "text": "x" * 76},
                }
            ],
        }
    ]
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="C_OPS", text="x", blocks=long_label)
    assert caught.value.response["error"] == "invalid_blocks"
    assert "text/text" in caught.value.response["response_metadata"]["messages"][0]
    too_many = [{"type": "divider"}] * 51
    post = lambda: client.chat_postMessage(channel="C_OPS", text="x", blocks=too_many)  # noqa: E731
    assert error_of(post) == "invalid_blocks"
    assert slack.workspace.history("C_OPS") == []


def test_history_pages_with_a_cursor(client: WebClient, slack: SlackStandIn) -> None:
    slack.limits.enabled = False
    for n in range(12):
        client.chat_postMessage(channel="C_OPS", text=str(n))
    first = client.conversations_history(channel="C_OPS", limit=2)
    assert [m["text"] for m in first["messages"]] == ["11", "10"]
    assert first["has_more"]
    cursor = first["response_metadata"]["next_cursor"]
    second = client.conversations_history(channel="C_OPS", limit=10, cursor=cursor)
    assert [m["text"] for m in second["messages"]] == [str(n) for n in range(9, -1, -1)]
    assert not second["has_more"]


def test_permalink_points_at_the_web_page(client: WebClient, slack: SlackStandIn) -> None:
    posted = client.chat_postMessage(channel="C_OPS", text="x")
    link = client.chat_getPermalink(channel="C_OPS", message_ts=posted["ts"])["permalink"]
    assert link.startswith(slack.page_url + "archives/C_OPS/p")


def test_over_the_limit_answers_429_with_retry_after(
    client: WebClient, slack: SlackStandIn
) -> None:
    slack.limits.set_method("chat.update", Limit(per_minute=1, burst=2))
    posted = client.chat_postMessage(channel="C_OPS", text="0")
    client.chat_update(channel="C_OPS", ts=posted["ts"], text="1")
    client.chat_update(channel="C_OPS", ts=posted["ts"], text="2")
    with pytest.raises(SlackApiError) as caught:
        client.chat_update(channel="C_OPS", ts=posted["ts"], text="3")
    assert caught.value.response.status_code == 429
    assert caught.value.response["error"] == "ratelimited"
    assert int(caught.value.response.headers["Retry-After"]) >= 1
    assert slack.workspace.message("C_OPS", posted["ts"]).text == "2"
    assert [c.status for c in slack.calls("chat.update")] == [200, 200, 429]


def test_posting_is_limited_per_channel(client: WebClient, slack: SlackStandIn) -> None:
    slack.limits.set_channel(Limit(per_minute=60, burst=2))
    client.chat_postMessage(channel="C_OPS", text="1")
    client.chat_postMessage(channel="C_OPS", text="2")
    assert error_of(lambda: client.chat_postMessage(channel="C_OPS", text="3")) == "ratelimited"
    client.chat_postMessage(channel="C_OTHER", text="another channel has its own budget")
    slack.clock.advance(1.0)
    client.chat_postMessage(channel="C_OPS", text="a second later")


def test_slack_sdk_retry_handler_obeys_retry_after(slack: SlackStandIn) -> None:
    client = WebClient(
        token=slack.tokens.bot,
        base_url=slack.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
    )
    slack.faults.fail("chat.postMessage", "ratelimited", times=1, retry_after=1)
    posted = client.chat_postMessage(channel="C_OPS", text="after the storm")
    assert posted["ok"]
    assert [c.error for c in slack.calls("chat.postMessage")] == ["ratelimited", None]


def test_faults_are_injected_per_method_and_counted(client: WebClient, slack: SlackStandIn) -> None:
    slack.faults.fail("chat.postMessage", "channel_not_found", times=2)
    slack.faults.delay("users.info", seconds=0.2)
    for _ in range(2):
        assert error_of(lambda: client.chat_postMessage(channel="C_OPS", text="x")) == (
            "channel_not_found"
        )
    assert client.chat_postMessage(channel="C_OPS", text="x")["ok"]
    assert client.users_info(user="U_ALICE")["ok"]
    slack.faults.fail_http("auth.test", status=503)
    with pytest.raises(SlackApiError) as caught:
        client.auth_test()
    assert caught.value.response.status_code == 503


def test_the_call_log_keeps_every_call_in_order(client: WebClient, slack: SlackStandIn) -> None:
    client.auth_test()
    client.chat_postMessage(channel="C_OPS", text="hello")
    calls = slack.calls()
    assert [c.method for c in calls] == ["auth.test", "chat.postMessage"]
    assert calls[1].params["text"] == "hello"
    assert "token" not in calls[1].params
