"""A channel of the stand-in as readable text, for `hvbot demo` and for test failures.

Threads are indented under their parents; a message edited in place (a card decided, a
progress bar) is shown as first posted, then compactly: `edited ×N, last: …`.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

from lab.slack.blocks import block_lines
from lab.slack.timeline import Entry, channel_timeline
from lab.slack.workspace import Json, Message, Workspace

THREAD_INDENT = "    ↳ "
_LINK = re.compile(r"<([^<>|]+)\|([^<>]+)>|<([^<>]+)>")


def transcript(workspace: Workspace, channel: str) -> str:
    """The channel as text, oldest first, threads indented."""
    found = workspace.channel(channel)
    if found is None:
        raise ValueError(f"no channel {channel!r}")
    lines = [f"#{found.name}"]
    for entry in channel_timeline(workspace, found.id):
        lines.extend(_entry_lines(workspace, entry))
    return "\n".join(lines) + "\n"


def clock_time(ts: str) -> str:
    """`HH:MM:SS` (UTC) of a Slack timestamp."""
    return datetime.fromtimestamp(float(ts), UTC).strftime("%H:%M:%S")


def readable(workspace: Workspace, text: str) -> str:
    """Slack markup made readable: `<@U…>` → `@name`, links → their label, entities decoded."""

    def replace(match: re.Match[str]) -> str:
        target = match.group(1) or match.group(3)
        label = match.group(2)
        if target.startswith("@"):
            user = workspace.user(target[1:])
            return f"@{user.name}" if user else target
        if target.startswith("#"):
            return "#" + (label or target[1:].split("|")[0])
        if target.startswith("!"):
            return "@" + target[1:]
        return label or target

    return html.unescape(_LINK.sub(replace, text))


def content_lines(workspace: Workspace, text: str, blocks: list[Json]) -> list[str]:
    """What a message shows: its blocks if it has some, else its text; made readable."""
    raw = block_lines(blocks) if blocks else text.splitlines()
    return [readable(workspace, line) for line in raw if line.strip()] or ["(empty)"]


def author(workspace: Workspace, user_id: str) -> str:
    """`@name` of a message's author."""
    if user_id == "USLACKBOT":
        return "Slackbot"
    user = workspace.user(user_id)
    return f"@{user.name}" if user else user_id


def _entry_lines(workspace: Workspace, entry: Entry) -> list[str]:
    prefix = THREAD_INDENT if entry.depth else ""
    head = f"{prefix}{clock_time(entry.ts)}  "
    pad = " " * len(head)
    if entry.activity is not None:
        item = entry.activity
        verb = "clicked" if item.kind == "click" else "typed"
        return [f"{head}{author(workspace, item.user)} {verb} {item.text}"]
    assert entry.message is not None
    message = entry.message
    text, blocks = first_version(message)
    shown = content_lines(workspace, text, blocks)
    who = author(workspace, message.user)
    if message.ephemeral_to is not None:
        who += f" (only {author(workspace, message.ephemeral_to)} sees this)"
    if message.broadcast:
        who += " (also sent to the channel)"
    lines = [f"{head}{who}: {shown[0]}", *(pad + line for line in shown[1:])]
    if message.edits:
        last = content_lines(workspace, message.text, message.blocks)
        lines.append(f"{pad}edited ×{len(message.edits)}, last: {last[0]}")
        lines.extend(pad + "  " + line for line in last[1:])
    return lines


def first_version(message: Message) -> tuple[str, list[Json]]:
    """The text and blocks a message had when it was posted."""
    if message.edits:
        return message.edits[0].text, message.edits[0].blocks
    return message.text, message.blocks
