"""A channel of the stand-in as readable text, for `hvbot demo` and for test failures.

`transcript`: the whole channel at once, threads indented under their parents; a message
edited in place (a card decided, a progress bar) is shown as first posted, then compactly:
`edited ×N, last: …`.

`LiveTranscript`: the channel as it grows, for `hvbot demo`: each flush prints what happened
since the last one in the order it happened (thread replies indented), people with their
role, each message in its last form with its edit count, Slack's markup as a person reads it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TextIO

from lab.slack.blocks import block_lines
from lab.slack.timeline import Entry, channel_timeline
from lab.slack.workspace import Activity, Json, Message, Workspace, ts_key

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
            # `<!date^…|fallback>` reads as its fallback; `<!here>` as `@here`.
            return label or "@" + target[1:]
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


# Slack's markup a terminal would show as it is: a line starting in bold, code fences, `code`.
_MARKUP = re.compile(r"^\*([^\n]+?)\*(?=\s|$)|```|`", re.MULTILINE)
_NAME_WIDTH = 24


class LiveTranscript:
    """Prints what a channel gained since the last `flush` (see the module docstring).
    `roles` says what each person is (`{"U_ALICE": "on call"}`); `hide` drops a message's
    lines that start with one of its prefixes (the card's buttons, say)."""

    def __init__(
        self,
        workspace: Workspace,
        channel: str,
        out: TextIO,
        *,
        roles: Mapping[str, str] | None = None,
        hide: tuple[str, ...] = (),
    ) -> None:
        found = workspace.channel(channel)
        if found is None:
            raise ValueError(f"no channel {channel!r}")
        self._workspace = workspace
        self._channel = found
        self._out = out
        self._roles = dict(roles or {})
        self._hide = hide
        self._shown: set[str] = set()

    def flush(self) -> None:
        """Prints every new activity and message, in the order they happened."""
        workspace, channel = self._workspace, self._channel.id
        entries: list[tuple[str, str, Activity | Message]] = [
            (a.ts, f"a{a.ts}", a) for a in workspace.activity(channel)
        ]
        entries += [(m.ts, f"m{m.ts}", m) for m in workspace.all_messages(channel)]
        for _, key, entry in sorted(entries, key=lambda e: ts_key(e[0])):
            if key in self._shown:
                continue
            self._shown.add(key)
            if isinstance(entry, Message):
                self._message(entry)
            else:
                self._activity(entry)
        self._out.flush()

    def _activity(self, activity: Activity) -> None:
        who = author(self._workspace, activity.user)
        if role := self._roles.get(activity.user):
            who += f" ({role})"
        indent = "    " if activity.thread_ts else ""
        verb = "clicks " if activity.kind == "click" else ""
        print(f"{indent}{who:>{_NAME_WIDTH}} › {verb}{activity.text}", file=self._out)

    def _message(self, message: Message) -> None:
        raw = block_lines(message.blocks) if message.blocks else message.text.splitlines()
        lines = [self._plain(line) for line in raw if not line.startswith(self._hide)] or [""]
        who = "hvbot" if message.bot else author(self._workspace, message.user)
        notes = []
        if message.ephemeral_to:
            notes.append(f"only {author(self._workspace, message.ephemeral_to)} sees this")
        if message.broadcast:
            notes.append(f"also sent to #{self._channel.name}")
        if message.edits:
            notes.append(f"edited {_times(len(message.edits))}; last form")
        indent = "    " if message.is_reply else ""
        said = lines[0] + (f"   ({'; '.join(notes)})" if notes else "")
        print(f"{indent}{who:>{_NAME_WIDTH}} ┃ {said}", file=self._out)
        for line in lines[1:]:
            print(f"{indent}{'':>{_NAME_WIDTH}} ┃ {line}", file=self._out)

    def _plain(self, text: str) -> str:
        return _MARKUP.sub(lambda m: m.group(1) or "", readable(self._workspace, text))


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"
