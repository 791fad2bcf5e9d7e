"""The driver: plays users against the bot, as Slack delivers what they do.

    driver = Driver(slack, bot_url="http://127.0.0.1:3000/slack/events")   # HTTP mode
    driver = Driver(slack)                                                 # Socket Mode
    driver.slash("/migrate", "SRV-APP01 to HV-SRV02", user="U_ALICE", channel="C_OPS")
    driver.click("C_OPS", card_ts, "approve", user="U_BOB")
    driver.mention("migrate SRV-APP01 to HV-SRV02", channel="C_OPS", thread_ts=ts, user="U_ALICE")

Over HTTP every request is signed (`v0=` HMAC-SHA256 of `v0:{timestamp}:{body}`) and bodies are
encoded exactly as Slack sends them: slash commands and interactions form-encoded (the latter
as one `payload` field of JSON), events as JSON. Over Socket Mode the same payloads travel in
envelopes. Clicks are built from the buttons present in the stored message, so a test can only
click what a person could see. What the bot answers in its ack is shown the way Slack shows it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

import requests

from lab.slack.blocks import Button, buttons
from lab.slack.server import SlackStandIn
from lab.slack.workspace import (
    APP_ID,
    BOT_USER_ID,
    TEAM_DOMAIN,
    TEAM_ID,
    Channel,
    Json,
    Message,
    User,
)

ACK_TIMEOUT_SECONDS = 3.0
_FORM = "application/x-www-form-urlencoded"
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's request signature: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(
    secret: str, body: bytes, content_type: str, timestamp: int | None = None
) -> dict[str, str]:
    """The headers Slack puts on a request it sends to an app."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": content_type,
        "User-Agent": USER_AGENT,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature(secret, stamp, body),
    }


@dataclass(frozen=True)
class Delivery:
    """What happened to one thing delivered to the bot."""

    kind: str
    payload: Json
    acked: bool
    status: int
    body: str
    seconds: float
    # The bot's answer headers, names in lower case.
    headers: dict[str, str] = field(default_factory=dict)
    retry_num: int = 0

    @property
    def response_url(self) -> str | None:
        """The response URL that came with a slash command or a click."""
        value = self.payload.get("response_url")
        return str(value) if value else None

    @property
    def event_id(self) -> str | None:
        """The event id of an Events API delivery."""
        value = self.payload.get("event_id")
        return str(value) if value else None


class ButtonNotFound(LookupError):
    """The message has no such button or input (a person could not click or type there)."""


class Driver:
    """Plays users in the stand-in, against a bot reached over HTTP or Socket Mode."""

    def __init__(
        self,
        slack: SlackStandIn,
        bot_url: str | None = None,
        signing_secret: str | None = None,
        ack_timeout: float = ACK_TIMEOUT_SECONDS,
        event_retry_delays: tuple[float, ...] = (0.0, 1.0, 5.0),
    ) -> None:
        self.slack = slack
        self.bot_url = bot_url
        self.signing_secret = signing_secret or slack.tokens.signing_secret
        self.ack_timeout = ack_timeout
        self.event_retry_delays = event_retry_delays

    # -- what users do -------------------------------------------------------------------

    def slash(self, command: str, text: str, user: str, channel: str) -> Delivery:
        """Type `command text` in `channel` as `user` (slash commands are never in threads)."""
        person, room = self._user(user), self._channel(channel)
        sender, place = person.id, room.id
        self.slack.workspace.record_activity(place, sender, "command", f"{command} {text}")
        form = {
            "token": self.slack.tokens.verification,
            "team_id": TEAM_ID,
            "team_domain": TEAM_DOMAIN,
            "channel_id": place,
            "channel_name": room.name,
            "user_id": sender,
            "user_name": person.name,
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self.slack.responses.issue(place, sender, None),
            "trigger_id": _trigger_id(),
        }
        delivery = self._deliver("slash_commands", form, urlencode(form).encode(), _FORM)
        self._show_ack(delivery, place, sender)
        return delivery

    def mention(self, text: str, channel: str, user: str, thread_ts: str | None = None) -> Delivery:
        """Post `@hvbot text` (in a thread when `thread_ts`), then deliver its `app_mention`."""
        sender, place = self._user(user).id, self._channel(channel).id
        mention = f"<@{BOT_USER_ID}>"
        full = text if mention in text else f"{mention} {text}"
        message = self.slack.workspace.post(
            place, sender, full, [_rich_text(full)], thread_ts=thread_ts
        )
        event: Json = {
            "client_msg_id": str(uuid.uuid4()),
            "type": "app_mention",
            "text": full,
            "user": sender,
            "ts": message.ts,
            "blocks": message.blocks,
            "team": TEAM_ID,
            "channel": place,
            "event_ts": message.ts,
        }
        if message.thread_ts is not None:
            event["thread_ts"] = message.thread_ts
        return self.send_event(event)

    def send_event(self, event: Json) -> Delivery:
        """Deliver an Events API callback; retried as Slack does while it is not acked."""
        callback = {
            "token": self.slack.tokens.verification,
            "team_id": TEAM_ID,
            "context_team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": "Ev" + secrets.token_hex(5).upper(),
            "event_time": int(self.slack.clock.now()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": TEAM_ID,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
        delivery = self._deliver_event(callback, 0, "")
        for attempt, delay in enumerate(self.event_retry_delays, start=1):
            if delivery.acked or delivery.headers.get("x-slack-no-retry") == "1":
                break
            time.sleep(delay)
            delivery = self._deliver_event(callback, attempt, self._retry_reason(delivery))
        return delivery

    def redeliver(self, delivery: Delivery, reason: str = "http_timeout") -> Delivery:
        """Deliver an event again as Slack's next retry (same event_id, next retry number)."""
        return self._deliver_event(delivery.payload, delivery.retry_num + 1, reason)

    def click(
        self,
        channel: str,
        ts: str,
        action_id: str,
        user: str,
        value: str | None = None,
        typed: Mapping[str, str] | None = None,
    ) -> Delivery:
        """Click a button of a stored message (the one with `value`, when several match),
        after typing `typed` (input action_id → text) into the message's input blocks."""
        payload = self.build_click(channel, ts, action_id, user, value, typed)
        return self.send_interaction(payload)

    def build_click(
        self,
        channel: str,
        ts: str,
        action_id: str,
        user: str,
        value: str | None = None,
        typed: Mapping[str, str] | None = None,
    ) -> Json:
        """The `block_actions` payload of a click, for a test that wants to alter it first.
        What was `typed` into the message's inputs arrives in `state.values`, keyed by block
        and action, as Slack sends it; an input the message does not have is refused."""
        person = self._user(user)
        sender = person.id
        message = self.slack.workspace.message(self._channel(channel).id, ts)
        if message.ephemeral_to is not None and message.ephemeral_to != sender:
            raise ButtonNotFound(f"{user} cannot see the ephemeral message {ts}")
        button = _pick_button(message, action_id, value)
        values = _typed_values(message, typed or {})
        self.slack.workspace.record_activity(
            message.channel, sender, "click", f"[{button.text}]", message.thread_ts
        )
        now = f"{self.slack.clock.now():.6f}"
        container: Json = {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": message.channel,
            "is_ephemeral": message.ephemeral_to is not None,
        }
        if message.thread_ts is not None:
            container["thread_ts"] = message.thread_ts
        action: Json = {
            "action_id": button.action_id,
            "block_id": button.block_id,
            "text": {"type": "plain_text", "text": button.text, "emoji": True},
            "type": "button",
            "action_ts": now,
        }
        if button.value is not None:
            action["value"] = button.value
        if button.style is not None:
            action["style"] = button.style
        payload: Json = {
            "type": "block_actions",
            "user": {
                "id": sender,
                "username": person.name,
                "name": person.name,
                "team_id": TEAM_ID,
            },
            "api_app_id": APP_ID,
            "token": self.slack.tokens.verification,
            "container": container,
            "trigger_id": _trigger_id(),
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": message.channel, "name": self._channel(message.channel).name},
            "state": {"values": values},
            "response_url": self.slack.responses.issue(
                message.channel, sender, message.ts, message.thread_ts
            ),
            "actions": [action],
        }
        if message.ephemeral_to is None:
            payload["message"] = self.slack.api.render(message)
        return payload

    def send_interaction(self, payload: Json) -> Delivery:
        """Deliver an interaction payload (a click, possibly altered by a test)."""
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self._deliver("interactive", payload, body, _FORM)

    def post_signed(
        self,
        body: bytes,
        content_type: str = _FORM,
        timestamp: int | None = None,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """POST raw bytes to the bot over HTTP, signed (with another secret or time if asked)."""
        all_headers = signed_headers(secret or self.signing_secret, body, content_type, timestamp)
        all_headers.update(headers or {})
        # One connection per request, as Slack's deliveries are: safe from many threads at once.
        return requests.post(
            self._bot_url(), data=body, headers=all_headers, timeout=self.ack_timeout
        )

    # -- delivery ------------------------------------------------------------------------

    def _deliver_event(self, callback: Json, retry_num: int, reason: str) -> Delivery:
        headers = {}
        if retry_num:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": reason}
        body = json.dumps(callback).encode()
        return self._deliver(
            "events_api", callback, body, "application/json", retry_num, reason, headers
        )

    def _deliver(
        self,
        kind: str,
        payload: Json,
        body: bytes,
        content_type: str,
        retry_num: int = 0,
        reason: str = "",
        headers: dict[str, str] | None = None,
    ) -> Delivery:
        started = time.monotonic()
        if self.bot_url is None:
            ack = self.slack.socket.deliver(kind, payload, retry_num, reason)
            content = ack.get("payload") if ack else None
            return Delivery(
                kind,
                payload,
                acked=ack is not None,
                status=200 if ack is not None else 0,
                body=json.dumps(content) if content else "",
                seconds=time.monotonic() - started,
                retry_num=retry_num,
            )
        try:
            response = self.post_signed(body, content_type, headers=headers)
        except requests.Timeout:
            return Delivery(kind, payload, False, 0, "", time.monotonic() - started, {}, retry_num)
        except requests.ConnectionError:
            return Delivery(kind, payload, False, -1, "", time.monotonic() - started, {}, retry_num)
        return Delivery(
            kind,
            payload,
            acked=200 <= response.status_code < 300,
            status=response.status_code,
            body=response.text,
            seconds=time.monotonic() - started,
            headers={k.lower(): v for k, v in response.headers.items()},
            retry_num=retry_num,
        )

    def _show_ack(self, delivery: Delivery, channel: str, user: str) -> None:
        """Show a slash command's ack as Slack does: its content, or Slack's own error."""
        workspace = self.slack.workspace
        if not delivery.acked:
            command = delivery.payload.get("command", "")
            failure = "operation_timeout" if delivery.status == 0 else "dispatch_failed"
            workspace.post_ephemeral(
                channel, user, f'{command} failed with the error "{failure}"', author="USLACKBOT"
            )
            return
        if not delivery.body.strip():
            return
        try:
            content = json.loads(delivery.body)
        except ValueError:
            content = {"text": delivery.body}
        if not isinstance(content, dict):
            content = {"text": delivery.body}
        text = str(content.get("text") or "")
        blocks = content.get("blocks") if isinstance(content.get("blocks"), list) else None
        if content.get("response_type") == "in_channel":
            workspace.post(channel, BOT_USER_ID, text, blocks)
        elif text or blocks:
            workspace.post_ephemeral(channel, user, text, blocks)

    def _retry_reason(self, delivery: Delivery) -> str:
        # Socket Mode envelopes say "timeout"; HTTP retries use X-Slack-Retry-Reason's names.
        return "timeout" if self.bot_url is None else _http_retry_reason(delivery)

    def _bot_url(self) -> str:
        if self.bot_url is None:
            raise RuntimeError("this driver delivers over Socket Mode; it has no bot URL")
        return self.bot_url

    def _user(self, user: str) -> User:
        found = self.slack.workspace.user(user)
        if found is None:
            raise ValueError(f"not a Slack user id: {user!r} (U… or W…)")
        return found

    def _channel(self, channel: str) -> Channel:
        found = self.slack.workspace.channel(channel)
        if found is None:
            raise ValueError(f"not a Slack channel id: {channel!r} (C…, G… or D…)")
        return found


def _pick_button(message: Message, action_id: str, value: str | None) -> Button:
    candidates = [
        b
        for b in buttons(message.blocks)
        if b.action_id == action_id and (value is None or b.value == value)
    ]
    if not candidates:
        present = ", ".join(f"{b.action_id}={b.value!r}" for b in buttons(message.blocks))
        raise ButtonNotFound(
            f"message {message.ts} has no button {action_id!r}"
            + (f" with value {value!r}" if value is not None else "")
            + f" (buttons: {present or 'none'})"
        )
    return candidates[0]


def _rich_text(text: str) -> Json:
    """The rich_text block Slack's client attaches to a typed message (mentions as users)."""
    elements: list[Json] = []
    for index, part in enumerate(re.split(r"<@([UW][A-Z0-9_]+)>", text)):
        if index % 2:
            elements.append({"type": "user", "user_id": part})
        elif part:
            elements.append({"type": "text", "text": part})
    return {
        "type": "rich_text",
        "block_id": secrets.token_hex(3),
        "elements": [{"type": "rich_text_section", "elements": elements}],
    }


def _trigger_id() -> str:
    return f"{secrets.randbelow(10**13)}.{secrets.randbelow(10**13)}.{secrets.token_hex(16)}"


def _http_retry_reason(delivery: Delivery) -> str:
    if delivery.status == 0:
        return "http_timeout"
    if delivery.status < 0:
        return "connection_failed"
    return "http_error"


def _typed_values(message: Message, typed: Mapping[str, str]) -> Json:
    """`state.values` for text typed into the message's plain-text inputs."""
    values: Json = {}
    for action_id, text in typed.items():
        block_id = next(
            (
                str(block.get("block_id"))
                for block in message.blocks
                if block.get("type") == "input"
                and (block.get("element") or {}).get("action_id") == action_id
            ),
            None,
        )
        if block_id is None:
            raise ButtonNotFound(f"message {message.ts} has no input {action_id!r}")
        values.setdefault(block_id, {})[action_id] = {"type": "plain_text_input", "value": text}
    return values
