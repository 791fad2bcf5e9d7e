"""The Web API methods the bot calls, answered from the workspace as Slack answers them.

Every call goes through `WebApi.call`: injected faults first, then the token, then the rate
limits, then the method; each is written to the call log. Shapes follow Slack's method
pages (ok/error JSON, `response_metadata.next_cursor`, 429 with `Retry-After`).
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lab.slack.blocks import check_message, parse_blocks
from lab.slack.limits import Faults, RateLimits
from lab.slack.workspace import (
    APP_ID,
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    TEAM_DOMAIN,
    TEAM_ID,
    Json,
    Message,
    SlackError,
    Workspace,
)

BOT = "bot"
APP = "app"
ANY = "any"


@dataclass(frozen=True)
class Tokens:
    """The throw-away credentials of one stand-in."""

    bot: str
    app: str
    signing_secret: str
    verification: str

    @classmethod
    def generate(cls) -> Tokens:
        """Fresh random values in Slack's formats."""
        return cls(
            bot=f"xoxb-{TEAM_ID}-{secrets.token_hex(12)}",
            app=f"xapp-1-{APP_ID}-{secrets.token_hex(12)}",
            signing_secret=secrets.token_hex(16),
            verification=secrets.token_urlsafe(18),
        )


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, JSON body, extra headers."""

    status: int
    body: Json
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def error(cls, code: str, *details: str) -> Answer:
        """`{"ok": false, "error": code}`, with Slack's detail messages when there are some."""
        body: Json = {"ok": False, "error": code}
        if details:
            body["response_metadata"] = {"messages": [f"[ERROR] {d}" for d in details]}
        return cls(200, body)


@dataclass(frozen=True)
class Call:
    """One request the stand-in received, as the call log keeps it."""

    method: str
    params: Json
    status: int
    error: str | None
    at: float


class CallLog:
    """Every Web API and response_url call, in arrival order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[Call] = []

    def add(self, call: Call) -> None:
        """Record one call."""
        with self._lock:
            self._calls.append(call)

    def calls(self, method: str | None = None) -> list[Call]:
        """The calls so far, all or only those of `method`."""
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]


Handler = Callable[[Json], Json]


class WebApi:
    """Slack's Web API over one workspace."""

    def __init__(
        self,
        workspace: Workspace,
        tokens: Tokens,
        limits: RateLimits,
        faults: Faults,
        log: CallLog,
        page_url: Callable[[], str],
        socket_url: Callable[[], str],
    ) -> None:
        self.workspace = workspace
        self.tokens = tokens
        self.limits = limits
        self.faults = faults
        self.log = log
        self._page_url = page_url
        self._socket_url = socket_url
        self._methods: dict[str, tuple[str, Handler]] = {
            "auth.test": (ANY, self.auth_test),
            "chat.postMessage": (BOT, self.chat_post_message),
            "chat.update": (BOT, self.chat_update),
            "chat.postEphemeral": (BOT, self.chat_post_ephemeral),
            "chat.getPermalink": (BOT, self.chat_get_permalink),
            "users.info": (BOT, self.users_info),
            "usergroups.users.list": (BOT, self.usergroups_users_list),
            "conversations.history": (BOT, self.conversations_history),
            "conversations.replies": (BOT, self.conversations_replies),
            "apps.connections.open": (APP, self.apps_connections_open),
        }

    def call(self, method: str, params: Json, token: str | None) -> Answer:
        """Answer one Web API call and log it."""
        answer = self._answer(method, params, token)
        error = None if answer.body.get("ok") else str(answer.body.get("error"))
        self.log.add(Call(method, params, answer.status, error, self.workspace.clock.now()))
        return answer

    def _answer(self, method: str, params: Json, token: str | None) -> Answer:
        fault = self.faults.take(method)
        if fault is not None:
            time.sleep(fault.delay)
            if fault.error == "ratelimited":
                return ratelimited(fault.retry_after)
            if fault.error is not None:
                return Answer(fault.status, {"ok": False, "error": fault.error})
        entry = self._methods.get(method)
        if entry is None:
            return Answer(404, {"ok": False, "error": "unknown_method", "req_method": method})
        kind, handler = entry
        refused = self._check_token(kind, token)
        if refused is not None:
            return Answer.error(refused)
        channel = params.get("channel")
        wait = self.limits.check(method, channel if isinstance(channel, str) else None)
        if wait is not None:
            return ratelimited(wait)
        try:
            return Answer(200, {"ok": True, **handler(params)})
        except SlackError as exc:
            return Answer.error(exc.code, *exc.details)

    def _check_token(self, kind: str, token: str | None) -> str | None:
        if not token:
            return "not_authed"
        if token not in (self.tokens.bot, self.tokens.app):
            return "invalid_auth"
        wanted = {BOT: self.tokens.bot, APP: self.tokens.app}.get(kind)
        if wanted is not None and token != wanted:
            return "not_allowed_token_type"
        return None

    # -- methods -------------------------------------------------------------------------

    def auth_test(self, params: Json) -> Json:
        """Who the token belongs to; bolt calls this when its App is built."""
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": "hvbot lab",
            "user": BOT_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "is_enterprise_install": False,
        }

    def chat_post_message(self, params: Json) -> Json:
        """Post to a channel or, with `thread_ts`, to a thread (`reply_broadcast` too)."""
        channel, text, blocks = self._content(params)
        if not text and not blocks and not params.get("attachments"):
            raise SlackError("no_text")
        message = self.workspace.post(
            channel,
            BOT_USER_ID,
            text,
            blocks,
            thread_ts=_optional_str(params, "thread_ts"),
            broadcast=_flag(params.get("reply_broadcast")),
        )
        return {"channel": message.channel, "ts": message.ts, "message": self.render(message)}

    def chat_update(self, params: Json) -> Json:
        """Replace a message's text and/or blocks; the earlier version goes to its history."""
        channel, text, blocks = self._content(params)
        ts = _optional_str(params, "ts")
        if ts is None:
            raise SlackError("message_not_found")
        if "text" not in params and blocks is None:
            raise SlackError("no_text")
        current = self.workspace.message(channel, ts)
        if current.ephemeral_to is None and current.user != BOT_USER_ID:
            raise SlackError("cant_update_message")
        updated = self.workspace.update(channel, ts, text if "text" in params else None, blocks)
        return {
            "channel": updated.channel,
            "ts": updated.ts,
            "text": updated.text,
            "message": self.render(updated),
        }

    def chat_post_ephemeral(self, params: Json) -> Json:
        """A message only `user` sees; it cannot be edited with chat.update later."""
        channel, text, blocks = self._content(params)
        user = _optional_str(params, "user")
        if user is None:
            raise SlackError("user_not_found")
        if not text and not blocks:
            raise SlackError("no_text")
        message = self.workspace.post_ephemeral(
            channel, user, text, blocks, thread_ts=_optional_str(params, "thread_ts")
        )
        return {"message_ts": message.ts}

    def chat_get_permalink(self, params: Json) -> Json:
        """A link to the message on the stand-in's web page."""
        channel = str(params.get("channel", ""))
        message = self.workspace.message(channel, str(params.get("message_ts", "")))
        anchor = "p" + message.ts.replace(".", "")
        link = f"{self._page_url()}archives/{message.channel}/{anchor}"
        if message.is_reply:
            link += f"?thread_ts={message.thread_ts}&cid={message.channel}"
        return {"channel": message.channel, "permalink": link}

    def users_info(self, params: Json) -> Json:
        """A user with `profile.email` (users:read.email)."""
        user = self.workspace.user(str(params.get("user", "")))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user.to_api()}

    def usergroups_users_list(self, params: Json) -> Json:
        """The members of a user group."""
        return {"users": self.workspace.usergroup_members(str(params.get("usergroup", "")))}

    def conversations_history(self, params: Json) -> Json:
        """The channel's messages, newest first, paginated with a cursor."""
        messages = self.workspace.history(str(params.get("channel", "")))
        oldest = _ts_param(params, "oldest")
        latest = _ts_param(params, "latest")
        inclusive = _flag(params.get("inclusive"))
        kept = [m for m in messages if _within(m.ts, oldest, latest, inclusive)]
        return self._page(list(reversed(kept)), params)

    def conversations_replies(self, params: Json) -> Json:
        """A thread: its parent, then its replies, oldest first."""
        ts = _optional_str(params, "ts")
        if ts is None:
            raise SlackError("thread_not_found")
        thread = self.workspace.replies(str(params.get("channel", "")), ts)
        return self._page(thread, params)

    def apps_connections_open(self, params: Json) -> Json:
        """A fresh Socket Mode URL (one ticket per call)."""
        return {"url": self._socket_url()}

    # -- shapes --------------------------------------------------------------------------

    def render(self, message: Message) -> Json:
        """A stored message as the Web API shows it."""
        out: Json = {
            "type": "message",
            "user": message.user,
            "text": message.text,
            "ts": message.ts,
            "team": TEAM_ID,
        }
        if message.blocks:
            out["blocks"] = message.blocks
        if message.bot:
            out["bot_id"] = BOT_ID
            out["app_id"] = APP_ID
        if message.thread_ts is not None:
            out["thread_ts"] = message.thread_ts
        if message.broadcast:
            out["subtype"] = "thread_broadcast"
        if message.edited_ts is not None:
            out["edited"] = {"user": message.user, "ts": message.edited_ts}
        out.update(self.workspace.thread_summary(message))
        return out

    def _content(self, params: Json) -> tuple[str, str, list[Json] | None]:
        channel = str(params.get("channel") or "")
        if self.workspace.channel(channel) is None:
            raise SlackError("channel_not_found")
        text = str(params.get("text") or "")
        blocks = parse_blocks(params.get("blocks"))
        check_message(text, blocks)
        return channel, text, blocks

    def _page(self, items: list[Message], params: Json) -> Json:
        limit = _int_param(params, "limit", 100, 1, 999)
        start = _decode_cursor(params.get("cursor"))
        chunk = items[start : start + limit]
        more = start + limit < len(items)
        return {
            "messages": [self.render(m) for m in chunk],
            "has_more": more,
            "response_metadata": {"next_cursor": _encode_cursor(start + limit) if more else ""},
        }


def ratelimited(retry_after: int) -> Answer:
    """Slack's answer to a call over its limit."""
    return Answer(
        429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(max(1, retry_after))}
    )


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("true", "1")


def _optional_str(params: Json, key: str) -> str | None:
    value = params.get(key)
    return str(value) if value not in (None, "") else None


def _int_param(params: Json, key: str, default: int, low: int, high: int) -> int:
    try:
        value = int(params.get(key) or default)
    except (TypeError, ValueError) as exc:
        raise SlackError("invalid_arguments") from exc
    return min(max(value, low), high)


def _ts_param(params: Json, key: str) -> float | None:
    value = params.get(key)
    if value in (None, ""):
        return None
    try:
        return float(str(value))
    except ValueError as exc:
        raise SlackError("invalid_ts_" + key) from exc


def _within(ts: str, oldest: float | None, latest: float | None, inclusive: bool) -> bool:
    value = float(ts)
    if oldest is not None and (value < oldest or (value == oldest and not inclusive)):
        return False
    return latest is None or value < latest or (value == latest and inclusive)


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_cursor(cursor: Any) -> int:
    if not cursor:
        return 0
    try:
        kind, _, number = base64.urlsafe_b64decode(str(cursor)).decode().partition(":")
        if kind == "offset" and number.isdigit():
            return int(number)
    except ValueError:
        pass
    raise SlackError("invalid_cursor")
