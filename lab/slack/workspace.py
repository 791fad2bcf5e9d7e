"""The stand-in's state: one workspace with its users, channels, messages, threads and groups.

Everything is kept in memory behind one lock; every public method is safe to call from the
HTTP server's threads, the Socket Mode threads and a test at once. Ids that look like Slack
ids are known on first sight, so a test (or a person) can bring its own users and channels.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]

# Slack's ids are capitals and digits; the underscore is accepted so tests can say U_ALICE.
USER_ID = re.compile(r"^[UW][A-Z0-9_]{2,}$")
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9_]{2,}$")
USERGROUP_ID = re.compile(r"^S[A-Z0-9_]{2,}$")

TEAM_ID = "T0LAB0001"
TEAM_DOMAIN = "hvbot-lab"
EMAIL_DOMAIN = "lab.local"
BOT_USER_ID = "U0HVBOT01"
BOT_ID = "B0HVBOT01"
APP_ID = "A0HVBOT01"
BOT_NAME = "hvbot"


class SlackError(Exception):
    """A Web API error code, answered as `{"ok": false, "error": code}`."""

    def __init__(self, code: str, *details: str) -> None:
        super().__init__(code)
        self.code = code
        self.details = details


class Clock:
    """Wall-clock time that a test can move forward (expiry windows, rate limits, ts)."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Seconds since the epoch, including any advance."""
        with self._lock:
            return self._now() + self._offset

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds` (never back)."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds


def name_from_id(entity_id: str) -> str:
    """`U_ALICE` → `alice`, `C_OPS` → `ops`, `U012AB` → `u012ab`: stable and readable."""
    if len(entity_id) > 2 and entity_id[1] == "_":
        return entity_id[2:].lower().replace("_", "-")
    return entity_id.lower()


@dataclass(frozen=True)
class User:
    """A workspace member."""

    id: str
    name: str
    real_name: str
    email: str
    is_bot: bool = False

    def to_api(self) -> Json:
        """The `user` object of `users.info`."""
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "name": self.name,
            "deleted": False,
            "real_name": self.real_name,
            "tz": "Europe/Paris",
            "tz_label": "Central European Time",
            "tz_offset": 3600,
            "is_admin": False,
            "is_owner": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "profile": {
                "real_name": self.real_name,
                "display_name": self.name,
                **({"email": self.email} if self.email else {}),
                "team": TEAM_ID,
            },
        }


@dataclass(frozen=True)
class Channel:
    """A public (C…), private (G…) or direct (D…) conversation."""

    id: str
    name: str


@dataclass(frozen=True)
class Version:
    """One earlier state of an edited message, and when it was replaced."""

    text: str
    blocks: list[Json]
    replaced_at: str


@dataclass
class Message:
    """A message as stored; `ephemeral_to` marks one only that user can see."""

    channel: str
    ts: str
    user: str
    text: str
    blocks: list[Json]
    thread_ts: str | None = None
    broadcast: bool = False
    bot: bool = False
    ephemeral_to: str | None = None
    edits: list[Version] = field(default_factory=list)
    edited_ts: str | None = None

    @property
    def is_reply(self) -> bool:
        """True for a message inside a thread (not its parent)."""
        return self.thread_ts is not None and self.thread_ts != self.ts


@dataclass(frozen=True)
class Activity:
    """Something a user did that leaves no message: a slash command or a click."""

    ts: str
    channel: str
    user: str
    kind: str
    text: str
    thread_ts: str | None = None


class Workspace:
    """All of the stand-in's Slack state."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self._lock = threading.RLock()
        self._users: dict[str, User] = {}
        self._channels: dict[str, Channel] = {}
        self._messages: dict[str, dict[str, Message]] = {}
        self._ephemerals: dict[str, dict[str, Message]] = {}
        self._usergroups: dict[str, list[str]] = {}
        self._activity: list[Activity] = []
        # (channel, parent ts) → ts of its replies, oldest first.
        self._threads: dict[tuple[str, str], list[str]] = {}
        self._last_ts = 0
        self._users[BOT_USER_ID] = User(
            BOT_USER_ID, BOT_NAME, "hvbot", f"{BOT_NAME}@{EMAIL_DOMAIN}", is_bot=True
        )

    # -- people, places, groups --------------------------------------------------------

    def add_user(self, user_id: str, name: str | None = None, email: str | None = None) -> User:
        """Add (or redefine) a user; unspecified fields are derived from the id. `email=""`
        is a person whose profile shows apps no e-mail (`users.info` has none)."""
        if not USER_ID.match(user_id):
            raise ValueError(f"not a Slack user id: {user_id!r} (U… or W…)")
        short = name or name_from_id(user_id)
        address = f"{short}@{EMAIL_DOMAIN}" if email is None else email
        user = User(user_id, short, short.capitalize(), address)
        with self._lock:
            self._users[user_id] = user
        return user

    def user(self, user_id: str) -> User | None:
        """The user with this id, created on first sight if the id is well formed."""
        with self._lock:
            found = self._users.get(user_id)
            if found is None and USER_ID.match(user_id):
                found = self.add_user(user_id)
            return found

    def channel(self, ref: str) -> Channel | None:
        """The channel with this id (created on first sight) or this `#name`, if any."""
        with self._lock:
            found = self._channels.get(ref)
            if found is not None:
                return found
            if CHANNEL_ID.match(ref):
                found = Channel(ref, name_from_id(ref))
                self._channels[ref] = found
                self._messages[ref] = {}
                self._ephemerals[ref] = {}
                return found
            name = ref.removeprefix("#")
            return next((c for c in self._channels.values() if c.name == name), None)

    def channels(self) -> list[Channel]:
        """Every channel seen so far, in order of first sight."""
        with self._lock:
            return list(self._channels.values())

    def set_usergroup(self, group_id: str, members: list[str]) -> None:
        """Define a user group (S…) and its members."""
        if not USERGROUP_ID.match(group_id):
            raise ValueError(f"not a Slack user group id: {group_id!r} (S…)")
        with self._lock:
            for member in members:
                if self.user(member) is None:
                    raise ValueError(f"not a Slack user id: {member!r}")
            self._usergroups[group_id] = list(members)

    def usergroup_members(self, group_id: str) -> list[str]:
        """Members of a user group; `no_such_subteam` if it was never defined."""
        with self._lock:
            if group_id not in self._usergroups:
                raise SlackError("no_such_subteam")
            return list(self._usergroups[group_id])

    # -- messages ----------------------------------------------------------------------

    def next_ts(self) -> str:
        """A fresh message timestamp: epoch seconds and microseconds, strictly increasing."""
        with self._lock:
            micros = max(int(self.clock.now() * 1_000_000), self._last_ts + 1)
            self._last_ts = micros
            return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def post(
        self,
        channel: str,
        user: str,
        text: str,
        blocks: list[Json] | None = None,
        thread_ts: str | None = None,
        broadcast: bool = False,
    ) -> Message:
        """Store a new message (a reply when `thread_ts` is given) and return it."""
        with self._lock:
            found = self._require_channel(channel)
            parent = None
            if thread_ts is not None:
                parent = self._messages[found.id].get(thread_ts)
                if parent is None:
                    raise SlackError("thread_not_found")
            message = self._new(
                found.id,
                user,
                text,
                blocks,
                thread_ts=(parent.thread_ts or parent.ts) if parent else None,
                broadcast=broadcast and parent is not None,
            )
            if parent is not None and parent.thread_ts is None:
                parent.thread_ts = parent.ts
            self._messages[found.id][message.ts] = message
            if message.thread_ts is not None:
                self._threads.setdefault((found.id, message.thread_ts), []).append(message.ts)
            return _snapshot(message)

    def _new(
        self, channel: str, author: str, text: str, blocks: list[Json] | None, **marks: Any
    ) -> Message:
        """A new message by `author`, with its own copy of `blocks` (the caller holds the
        lock); `marks` are its other fields (thread, broadcast, ephemeral)."""
        return Message(
            channel=channel,
            ts=self.next_ts(),
            user=author,
            text=text,
            blocks=copy.deepcopy(blocks or []),
            bot=author == BOT_USER_ID,
            **marks,
        )

    def post_ephemeral(
        self,
        channel: str,
        user: str,
        text: str,
        blocks: list[Json] | None = None,
        thread_ts: str | None = None,
        author: str = BOT_USER_ID,
    ) -> Message:
        """Store a message only `user` sees."""
        with self._lock:
            found = self._require_channel(channel)
            if self.user(user) is None:
                raise SlackError("user_not_found")
            message = self._new(
                found.id, author, text, blocks, thread_ts=thread_ts, ephemeral_to=user
            )
            self._ephemerals[found.id][message.ts] = message
            return _snapshot(message)

    def update(
        self,
        channel: str,
        ts: str,
        text: str | None,
        blocks: list[Json] | None,
        ephemeral_ok: bool = False,
    ) -> Message:
        """Edit a message in place, keeping its earlier version; blocks kept when not given.

        Ephemeral messages can only be replaced through a `response_url` (`ephemeral_ok`);
        to `chat.update` they do not exist.
        """
        with self._lock:
            message = self._find(channel, ts)
            if message.ephemeral_to is not None and not ephemeral_ok:
                raise SlackError("message_not_found")
            when = self.next_ts()
            message.edits.append(Version(message.text, message.blocks, when))
            if text is not None:
                message.text = text
            if blocks is not None:
                message.blocks = copy.deepcopy(blocks)
            message.edited_ts = when
            return _snapshot(message)

    def delete(self, channel: str, ts: str) -> None:
        """Remove a message (channel or ephemeral)."""
        with self._lock:
            found = self._require_channel(channel)
            removed = self._messages[found.id].pop(ts, None)
            if removed is None and self._ephemerals[found.id].pop(ts, None) is None:
                raise SlackError("message_not_found")
            if removed is not None and removed.is_reply and removed.thread_ts is not None:
                self._threads[(found.id, removed.thread_ts)].remove(ts)

    def message(self, channel: str, ts: str) -> Message:
        """A copy of a stored message, channel or ephemeral; `message_not_found` if none."""
        with self._lock:
            return _snapshot(self._find(channel, ts))

    def history(self, channel: str) -> list[Message]:
        """The channel's own timeline, oldest first: parents, plain messages, broadcasts."""
        with self._lock:
            found = self._require_channel(channel)
            return [
                _snapshot(m)
                for m in self._messages[found.id].values()
                if not m.is_reply or m.broadcast
            ]

    def replies(self, channel: str, ts: str) -> list[Message]:
        """A thread, parent first, oldest first; a message without replies alone."""
        with self._lock:
            found = self._require_channel(channel)
            stored = self._messages[found.id]
            parent = stored.get(ts)
            if parent is None:
                raise SlackError("thread_not_found")
            root = parent.thread_ts or parent.ts
            chain = [root, *self._threads.get((found.id, root), [])]
            return [_snapshot(stored[t]) for t in chain if t in stored]

    def ephemerals(self, channel: str, user: str | None = None) -> list[Message]:
        """Ephemeral messages of a channel, oldest first, optionally only those for `user`."""
        with self._lock:
            found = self._require_channel(channel)
            return [
                _snapshot(m)
                for m in self._ephemerals[found.id].values()
                if user is None or m.ephemeral_to == user
            ]

    def all_messages(self, channel: str) -> list[Message]:
        """Every message of a channel, replies and ephemerals included, in ts order."""
        with self._lock:
            found = self._require_channel(channel)
            merged = [*self._messages[found.id].values(), *self._ephemerals[found.id].values()]
            return [_snapshot(m) for m in sorted(merged, key=lambda m: ts_key(m.ts))]

    def thread_summary(self, message: Message) -> Json:
        """`reply_count`, `reply_users`, `latest_reply` of a thread's parent (empty if none)."""
        with self._lock:
            if message.thread_ts != message.ts:
                return {}
            stored = self._messages[message.channel]
            replies = [stored[t] for t in self._threads.get((message.channel, message.ts), [])]
            if not replies:
                return {}
            users = list(dict.fromkeys(m.user for m in replies))
            return {
                "reply_count": len(replies),
                "reply_users_count": len(users),
                "reply_users": users,
                "latest_reply": replies[-1].ts,
            }

    # -- what users did ----------------------------------------------------------------

    def record_activity(
        self, channel: str, user: str, kind: str, text: str, thread_ts: str | None = None
    ) -> Activity:
        """Note a slash command or a click, for the transcript and the web page."""
        with self._lock:
            item = Activity(self.next_ts(), channel, user, kind, text, thread_ts)
            self._activity.append(item)
            return item

    def activity(self, channel: str) -> list[Activity]:
        """What users did in a channel, oldest first."""
        with self._lock:
            return [a for a in self._activity if a.channel == channel]

    def _require_channel(self, channel: str) -> Channel:
        found = self.channel(channel)
        if found is None:
            raise SlackError("channel_not_found")
        return found

    def _find(self, channel: str, ts: str) -> Message:
        found = self._require_channel(channel)
        message = self._messages[found.id].get(ts) or self._ephemerals[found.id].get(ts)
        if message is None:
            raise SlackError("message_not_found")
        return message


def _snapshot(message: Message) -> Message:
    """A copy safe to hand out: its own blocks, the (never changed) versions shared."""
    return dataclasses.replace(
        message, blocks=copy.deepcopy(message.blocks), edits=list(message.edits)
    )


def ts_key(ts: str) -> tuple[int, int]:
    """Sort key of a message timestamp (seconds, microseconds)."""
    seconds, _, micros = ts.partition(".")
    return int(seconds), int(micros or 0)
