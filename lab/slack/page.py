"""The stand-in's read-only web page: its channels as a person would watch them in Slack.

Threads are indented under their parents, cards drawn from their blocks with their buttons
(shown, not clickable: the driver clicks), edited messages carry their earlier versions.
The page reloads itself every few seconds so a person can watch a story unfold.
"""

from __future__ import annotations

import html
import re
from urllib.parse import unquote

from lab.slack.blocks import buttons
from lab.slack.timeline import Entry, channel_timeline
from lab.slack.transcript import author, clock_time, readable
from lab.slack.workspace import Channel, Json, Message, Workspace

REFRESH_SECONDS = 3
_STYLE = """
body { font-family: sans-serif; margin: 1.5em; max-width: 60em; color: #1d1c1d; }
nav a { margin-right: 1em; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; }
.entry { margin: .6em 0; }
.thread { margin-left: 2.5em; border-left: 3px solid #ddd; padding-left: .8em; }
.who { font-weight: bold; }
.when { color: #616061; font-size: .85em; margin-left: .5em; }
.note { color: #616061; font-size: .85em; font-style: italic; }
.ephemeral { background: #f8f8f8; border: 1px dashed #bbb; padding: .3em; }
.activity { color: #616061; font-style: italic; }
.card { border-left: 4px solid #1264a3; padding-left: .6em; margin-top: .3em; }
.fields { display: grid; grid-template-columns: 1fr 1fr; gap: .2em 1em; }
.context { color: #616061; font-size: .85em; }
button { margin: .2em .3em .2em 0; padding: .2em .8em; border: 1px solid #bbb;
         border-radius: 4px; background: #fff; }
button.primary { background: #007a5a; color: #fff; }
button.danger { background: #e01e5a; color: #fff; }
pre { background: #f6f6f6; padding: .4em; white-space: pre-wrap; }
details { margin-top: .3em; font-size: .9em; }
"""


def render(workspace: Workspace, path: str) -> str | None:
    """The page for `path` (`/`, `/channels/<id>`, a permalink), or None if there is none."""
    path = unquote(path)
    if path in ("/", ""):
        return _page("Slack stand-in", workspace, workspace.channels())
    match = re.fullmatch(r"/(?:channels|archives)/([^/]+)(?:/p\d+)?/?", path)
    if match is None:
        return None
    channel = workspace.channel(match.group(1))
    if channel is None:
        return None
    return _page(f"#{channel.name}", workspace, [channel])


def _page(title: str, workspace: Workspace, channels: list[Channel]) -> str:
    nav = " ".join(
        f'<a href="/channels/{html.escape(c.id)}">#{html.escape(c.name)}</a>'
        for c in workspace.channels()
    )
    body = "\n".join(_channel(workspace, c) for c in channels) or "<p>No messages yet.</p>"
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<meta http-equiv='refresh' content='{REFRESH_SECONDS}'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n"
        f"<body><nav><a href='/'>All channels</a> {nav}</nav>\n{body}\n</body></html>\n"
    )


def _channel(workspace: Workspace, channel: Channel) -> str:
    entries = channel_timeline(workspace, channel.id)
    items = "\n".join(_entry(workspace, e) for e in entries)
    return (
        f"<section class='channel' id='{html.escape(channel.id)}'>"
        f"<h2>#{html.escape(channel.name)}</h2>\n{items}</section>"
    )


def _entry(workspace: Workspace, entry: Entry) -> str:
    classes = ["entry"] + (["thread"] if entry.depth else [])
    when = f"<span class='when'>{clock_time(entry.ts)}</span>"
    if entry.activity is not None:
        item = entry.activity
        verb = "clicked" if item.kind == "click" else "typed"
        who = html.escape(author(workspace, item.user))
        return (
            f"<div class='{' '.join([*classes, 'activity'])}'>{who} {verb} "
            f"<code>{html.escape(item.text)}</code>{when}</div>"
        )
    assert entry.message is not None
    message = entry.message
    notes = []
    if message.ephemeral_to is not None:
        classes.append("ephemeral")
        notes.append(f"only {author(workspace, message.ephemeral_to)} sees this")
    if message.broadcast:
        notes.append("also sent to the channel")
    if message.edits:
        notes.append(f"edited ×{len(message.edits)}")
    note = "".join(f" <span class='note'>({html.escape(n)})</span>" for n in notes)
    anchor = "p" + message.ts.replace(".", "")
    return (
        f"<div class='{' '.join(classes)}' id='{anchor}' data-ts='{message.ts}'>"
        f"<span class='who'>{html.escape(author(workspace, message.user))}</span>{when}{note}"
        f"{_content(workspace, message.text, message.blocks, message.bot)}"
        f"{_history(workspace, message)}</div>"
    )


def _history(workspace: Workspace, message: Message) -> str:
    if not message.edits:
        return ""
    versions = "".join(
        f"<li>replaced at {clock_time(v.replaced_at)}:"
        f"{_content(workspace, v.text, v.blocks, message.bot)}</li>"
        for v in message.edits
    )
    return f"<details><summary>edit history</summary><ol>{versions}</ol></details>"


def _content(workspace: Workspace, text: str, blocks: list[Json], bot: bool) -> str:
    # A person's typed message carries a rich_text copy of its text: show the text.
    if not blocks or not bot:
        return f"<div class='text'>{_mrkdwn(workspace, text)}</div>"
    return "<div class='card'>" + "".join(_block(workspace, b) for b in blocks) + "</div>"


def _block(workspace: Workspace, block: Json) -> str:
    kind = block.get("type")
    if kind == "divider":
        return "<hr>"
    if kind == "header":
        return f"<h3>{_mrkdwn(workspace, _text(block.get('text')))}</h3>"
    if kind == "context":
        parts = [_mrkdwn(workspace, _text(e)) for e in block.get("elements") or []]
        return f"<div class='context'>{' '.join(parts)}</div>"
    if kind == "section":
        out = f"<div class='section'>{_mrkdwn(workspace, _text(block.get('text')))}</div>"
        fields = block.get("fields") or []
        if fields:
            cells = "".join(f"<div>{_mrkdwn(workspace, _text(f))}</div>" for f in fields)
            out += f"<div class='fields'>{cells}</div>"
        return out + _buttons(block)
    if kind == "actions":
        return f"<div class='actions'>{_buttons(block)}</div>"
    return ""


def _buttons(block: Json) -> str:
    return "".join(
        f"<button disabled class='{html.escape(b.style or 'default')}' "
        f"data-action-id='{html.escape(b.action_id)}'>{html.escape(b.text)}</button>"
        for b in buttons([block])
    )


def _text(obj: object) -> str:
    if isinstance(obj, dict) and isinstance(obj.get("text"), str):
        return str(obj["text"])
    return ""


def _mrkdwn(workspace: Workspace, text: str) -> str:
    """Slack's mrkdwn, lightly: ```pre```, `code`, *bold*, _italic_, ~strike~, line breaks."""
    escaped = html.escape(readable(workspace, text))
    escaped = re.sub(r"```(.+?)```", r"<pre>\1</pre>", escaped, flags=re.S)
    escaped = re.sub(r"`([^`\n]+)`", r"<code>\1</code>", escaped)
    escaped = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"<b>\1</b>", escaped)
    escaped = re.sub(r"(?<![\w_])_([^_\n]+)_(?![\w_])", r"<i>\1</i>", escaped)
    escaped = re.sub(r"(?<![\w~])~([^~\n]+)~(?![\w~])", r"<s>\1</s>", escaped)
    return escaped.replace("\n", "<br>")
