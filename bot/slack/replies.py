"""A `Reply` of the core (commands.replies) as a Slack message, and where it goes.

Slash commands are answered through their `response_url`, ephemerally: only the person who
typed sees the answer (a change's card is posted for everyone by the notifier). Mentions are
answered in their thread; a refusal or a failure there is shown to the person alone.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.models.blocks import Block, MarkdownTextObject, SectionBlock

from commands.replies import Reply, ReplyKind
from commands.workflow.records import Actor, Place

# Slack cuts a section at 3000 characters and a message at 50 blocks.
_SECTION_LIMIT = 3000
_MAX_SECTIONS = 45
_PRIVATE_IN_THREADS = frozenset({ReplyKind.REFUSAL, ReplyKind.FAILURE})


def _line(text: str) -> str:
    # PowerShell is shown as code, so that Slack leaves its quotes and backslashes alone.
    stripped = text.lstrip()
    if stripped.startswith("PS> "):
        return f"{text[: len(text) - len(stripped)]}`{stripped}`"
    return text


def reply_blocks(reply: Reply) -> list[Block]:
    """The reply as sections: its title in bold, then its lines, split to fit Slack."""
    sections: list[str] = [f"*{reply.title}*"]
    for line in reply.lines:
        text = _line(line)
        if len(sections[-1]) + len(text) + 1 > _SECTION_LIMIT:
            sections.append(text[:_SECTION_LIMIT])
        else:
            sections[-1] += "\n" + text
    if len(sections) > _MAX_SECTIONS:
        sections = [*sections[: _MAX_SECTIONS - 1], "_…cut: the rest does not fit a message._"]
    return [SectionBlock(text=MarkdownTextObject(text=s, verbatim=True)) for s in sections]


def message_of(reply: Reply) -> dict[str, Any]:
    """`text` (notifications, the plain fallback) and `blocks` of a reply."""
    return {"text": reply.text()[:_SECTION_LIMIT], "blocks": reply_blocks(reply)}


def answer_privately(reply: Reply, respond: Respond) -> None:
    """Answers a slash command for the person who typed it only."""
    respond(response_type="ephemeral", **message_of(reply))


def answer_in_thread(reply: Reply, client: WebClient, actor: Actor, place: Place) -> None:
    """Answers a mention in its thread; refusals and failures to its author alone."""
    message = {"channel": place.channel, "thread_ts": place.thread_ts, **message_of(reply)}
    if reply.kind in _PRIVATE_IN_THREADS:
        client.chat_postEphemeral(user=actor.slack_user_id, **message)
    else:
        client.chat_postMessage(**message)
