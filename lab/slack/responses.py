"""`response_url`: the one-off webhooks Slack hands out with each slash command and click.

Each URL may be used 5 times within 30 minutes (architecture §4). What a use does follows Slack:
`delete_original` removes the message the interaction came from, `replace_original` replaces
it (the only way to change an ephemeral message), otherwise a new message is posted —
ephemeral to the user unless `response_type` is `in_channel`. For a slash command, the
"original" is the last message posted through the same URL.
What Slack answers past the limit is not documented: a 404 with `expired_url` (unverified).
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass

from lab.slack.blocks import check_message, parse_blocks
from lab.slack.webapi import Answer, Call, CallLog
from lab.slack.workspace import BOT_USER_ID, Json, SlackError, Workspace

MAX_USES = 5
LIFETIME_SECONDS = 30 * 60
PATH_PREFIX = "/response/"


@dataclass
class _Hook:
    channel: str
    user: str
    created: float
    original_ts: str | None
    thread_ts: str | None
    from_command: bool
    uses: int = 0


class ResponseUrls:
    """Issues response URLs and answers their uses."""

    def __init__(self, workspace: Workspace, log: CallLog, base_url: str = "") -> None:
        self.workspace = workspace
        self.log = log
        self.base_url = base_url
        self._lock = threading.Lock()
        self._hooks: dict[str, _Hook] = {}

    def issue(
        self, channel: str, user: str, original_ts: str | None, thread_ts: str | None = None
    ) -> str:
        """A new response URL for an interaction by `user` in `channel`.

        `original_ts` is the message clicked; None for a slash command.
        """
        key = f"{secrets.token_hex(4)}/{secrets.token_urlsafe(18)}"
        with self._lock:
            self._hooks[key] = _Hook(
                channel,
                user,
                self.workspace.clock.now(),
                original_ts,
                thread_ts,
                from_command=original_ts is None,
            )
        return f"{self.base_url}{PATH_PREFIX}{key}"

    def use(self, key: str, body: object) -> Answer:
        """Answer one POST to a response URL, and log it as method `response_url`."""
        answer = self._use(key, body)
        error = None if answer.body.get("ok") else str(answer.body.get("error"))
        params = body if isinstance(body, dict) else {}
        self.log.add(Call("response_url", params, answer.status, error, self.workspace.clock.now()))
        return answer

    def _use(self, key: str, body: object) -> Answer:
        with self._lock:
            hook = self._hooks.get(key)
            if hook is None:
                return Answer(404, {"ok": False, "error": "invalid_url"})
            age = self.workspace.clock.now() - hook.created
            if hook.uses >= MAX_USES or age > LIFETIME_SECONDS:
                return Answer(404, {"ok": False, "error": "expired_url"})
            if not isinstance(body, dict):
                return Answer(400, {"ok": False, "error": "invalid_payload"})
            hook.uses += 1
        try:
            self._apply(hook, body)
        except SlackError as exc:
            return Answer(400, {"ok": False, "error": exc.code})
        return Answer(200, {"ok": True})

    def _apply(self, hook: _Hook, body: Json) -> None:
        text = str(body.get("text") or "")
        blocks = parse_blocks(body.get("blocks"))
        check_message(text, blocks)
        original = hook.original_ts
        if body.get("delete_original") is True:
            if original is None:
                raise SlackError("message_not_found")
            self.workspace.delete(hook.channel, original)
            return
        if body.get("replace_original") is True and original is not None:
            self.workspace.update(
                hook.channel, original, text, blocks if blocks is not None else [], True
            )
            return
        if not text and not blocks:
            raise SlackError("no_text")
        thread_ts = str(body["thread_ts"]) if body.get("thread_ts") else hook.thread_ts
        if body.get("response_type") == "in_channel":
            posted = self.workspace.post(hook.channel, BOT_USER_ID, text, blocks, thread_ts)
        else:
            posted = self.workspace.post_ephemeral(hook.channel, hook.user, text, blocks, thread_ts)
        if hook.from_command:
            with self._lock:
                hook.original_ts = posted.ts
