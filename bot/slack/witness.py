"""The audit log's witness in Slack: with `[audit] slack_channel` set, the chain head (event
count and hash) is posted there after every final state of a request, so that the log's
history has a copy outside the database and outside the bot's machine.

The store hands the head over while it holds its lock (bot.store.anchors): the post is only
queued here, and made by the pacer like every other Slack write (retried through rate
limits). A post that fails is logged; `hvbot audit verify` then finds that head unwitnessed.

`witnessed_heads` reads the channel back for `hvbot audit verify`: every head the bot posted
there (conversations.history, page by page), to compare with the database. Only the bot's
own messages count: anyone in the channel can post text that looks like a head.
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import Future
from typing import Any, Protocol

from slack_sdk import WebClient

from bot.slack.pacing import Call, Pacer
from bot.store.anchors import WitnessedHead

log = logging.getLogger(__name__)

JOB = "audit-witness"


class Head(Protocol):
    """The chain head as the store hands it over (bot.store.anchors.ChainHead)."""

    @property
    def seq(self) -> int:
        """How many events the chain holds up to this head."""
        ...

    @property
    def hash(self) -> str:
        """The head event's hash."""
        ...

    @property
    def at(self) -> str:
        """When the head event was written."""
        ...

    @property
    def request_id(self) -> int | None:
        """The request whose final state this head follows, if any."""
        ...

    @property
    def state(self) -> str | None:
        """That request's final state."""
        ...


def head_text(head: Head) -> str:
    """One line a person (and a script) can read back: `audit head: event 120, sha256 …`."""
    about = f" after request #{head.request_id} {head.state}" if head.request_id else ""
    return f"audit head: event {head.seq}, hash {head.hash}, at {head.at}{about}"


_HEAD = re.compile(r"audit head: event (?P<seq>\d+), hash (?P<hash>[0-9a-f]+), at (?P<at>\S+)")
# conversations.history's largest page (Slack suggests no more than 200).
_PAGE = 200


def witnessed_heads(client: WebClient, channel: str) -> list[WitnessedHead]:
    """Every head the bot posted to `channel`, oldest first. Raises SlackApiError (or a
    connection error) when the channel cannot be read."""
    me = client.auth_test().get("bot_id")
    heads: list[WitnessedHead] = []
    cursor: str | None = None
    while True:
        page = client.conversations_history(channel=channel, limit=_PAGE, cursor=cursor)
        for message in page.get("messages") or ():
            found = _HEAD.match(str(message.get("text", "")))
            if found is None or me is None or message.get("bot_id") != me:
                continue
            where = f"Slack channel {channel}, message {message.get('ts')}"
            heads.append(WitnessedHead(int(found["seq"]), found["hash"], found["at"], where))
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if cursor is None:
            return sorted(heads, key=lambda head: head.seq)


class SlackWitness:
    """A `HeadWitness` that posts each head to one Slack channel."""

    def __init__(self, client: WebClient, channel: str, pacer: Pacer) -> None:
        self._client = client
        self._channel = channel
        self._pacer = pacer

    @property
    def name(self) -> str:
        """`Slack channel C…`."""
        return f"Slack channel {self._channel}"

    def witness(self, head: Head) -> None:
        """Queues the post of `head`; never blocks the store."""
        text = head_text(head)

        def send() -> None:
            self._client.chat_postMessage(channel=self._channel, text=text)

        future = self._pacer.submit(JOB, Call(send=send, channel=self._channel))
        future.add_done_callback(lambda done: _logged(done, head.seq))


def _logged(done: Future[Any], seq: int) -> None:
    if not done.cancelled() and done.exception() is not None:
        log.error(
            "chain head not witnessed in Slack",
            extra={"seq": seq, "error": type(done.exception()).__name__},
        )
