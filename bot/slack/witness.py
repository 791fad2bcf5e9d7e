"""The audit log's witness in Slack: with `[audit] slack_channel` set, the chain head (event
count and hash) is posted there after every final state of a request, so that the log's
history has a copy outside the database and outside the bot's machine.

The store hands the head over while it holds its lock (bot.store.anchors): the post is only
queued here, and made by the pacer like every other Slack write (retried through rate
limits). A post that fails is logged; `hvbot audit verify` then finds that head unwitnessed.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Any, Protocol

from slack_sdk import WebClient

from bot.slack.pacing import Call, Pacer

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
