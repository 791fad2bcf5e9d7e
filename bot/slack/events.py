"""Events: `@hvbot …` mentions, the way to use hvbot in an incident thread (slash commands
cannot be used in threads). The text after the mention is a `/migrate` text; the answer and,
for a change, the card and the progress go to the thread (a mention outside a thread starts
one under it).

Slack redelivers an event it thinks was lost (`X-Slack-Retry-Num`), possibly to another
process after a takeover: an event id is handled once per database (bot.slack.coordination).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, App

from bot.slack.context import SlackContext
from bot.slack.replies import answer_in_thread
from commands.workflow.records import Actor, Place

log = logging.getLogger(__name__)

_LEADING_MENTION = re.compile(r"^\s*<@[A-Z0-9]+(?:\|[^>]*)?>[\s,:]*")
_LEADING_VERB = re.compile(r"^/?migrate(?:\s+|$)", re.IGNORECASE)


def mention_text(text: str) -> str:
    """The command in a mention: the text after the leading `<@BOT>`, and after `migrate` (or
    `/migrate`) when people write `@hvbot migrate SRV-APP01 to HV-SRV02`."""
    rest = _LEADING_MENTION.sub("", text, count=1).strip()
    return _LEADING_VERB.sub("", rest, count=1).strip()


def register(app: App, context: SlackContext) -> None:
    """Listens to `app_mention`."""

    def on_mention(ack: Ack, body: dict[str, Any], event: dict[str, Any]) -> None:
        ack()
        channel = str(event.get("channel", ""))
        thread = str(event.get("thread_ts") or event.get("ts") or "") or None
        place = Place(channel, thread)
        actor = Actor(str(event.get("user", "")))
        event_id = str(body.get("event_id", ""))
        text = mention_text(str(event.get("text", "")))
        client = app.client

        def tell(line: str) -> None:
            client.chat_postEphemeral(
                channel=channel, user=actor.slack_user_id, thread_ts=thread, text=line
            )

        def work() -> None:
            seen = context.coordination
            if event_id and seen is not None and not seen.first_sight(event_id):
                log.info("slack event already handled", extra={"event_id": event_id})
                return
            refusal = context.place_refusal(channel, actor.slack_user_id)
            if refusal is not None:
                tell(refusal)
                return
            reply = context.services.handler.handle(text, actor, place)
            answer_in_thread(reply, client, actor, place)

        context.run(work, tell, "@hvbot")

    app.event("app_mention")(on_mention)
