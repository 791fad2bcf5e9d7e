"""A channel as a person reads it: the timeline, each thread under its parent.

Shared by the text transcript and the web page. Ephemeral messages and what users did
(slash commands, clicks) are placed where the user saw them: in a thread or in the channel.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.slack.workspace import Activity, Message, Workspace, ts_key


@dataclass(frozen=True)
class Entry:
    """One line of the timeline: a message or an activity, at depth 0 (channel) or 1 (thread)."""

    depth: int
    ts: str
    message: Message | None = None
    activity: Activity | None = None


def channel_timeline(workspace: Workspace, channel: str) -> list[Entry]:
    """Every message, ephemeral and activity of `channel`, threads under their parents."""
    messages = workspace.all_messages(channel)
    parents = {m.ts for m in messages if m.thread_ts == m.ts}
    top: list[Entry] = []
    threads: dict[str, list[Entry]] = {ts: [] for ts in parents}

    def place(thread_ts: str | None, entry: Entry) -> None:
        if thread_ts is not None and thread_ts in threads and thread_ts != entry.ts:
            threads[thread_ts].append(Entry(1, entry.ts, entry.message, entry.activity))
        else:
            top.append(entry)

    for message in messages:
        place(message.thread_ts, Entry(0, message.ts, message=message))
    for item in workspace.activity(channel):
        place(item.thread_ts, Entry(0, item.ts, activity=item))
    ordered: list[Entry] = []
    for entry in sorted(top, key=lambda e: ts_key(e.ts)):
        ordered.append(entry)
        ordered.extend(sorted(threads.get(entry.ts, []), key=lambda e: ts_key(e.ts)))
    return ordered
