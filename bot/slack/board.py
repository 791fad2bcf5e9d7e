"""A place's running-migrations board: when many migrations run in one channel (or incident
thread), their progress goes into one message edited in place, a line per move, instead of a
message per move.

Why: Slack posts about one message per second per channel and edits about 50 messages a
minute in the whole workspace. A progress message per move costs a post and an edit every few
seconds each: past a handful of moves the posts queue behind the cards and the final words,
and the edit budget shared by N moves shows each bar only every 1.5·N seconds (40 edits/min).
A board costs one post, then one edit refreshes every move on it.

When: a move's first reading goes to its place's board when that place already has a board,
or when it already shows `OWN_PER_PLACE` moves with their own message, or the workspace
`OWN_IN_WORKSPACE`: each own message refreshed every 10 s costs 6 edits/min, so 6 of them
take 36 of the 40 edits/min the pacer allows, and fewer than 4 in one channel keep its posts
(≈ 5 per request) within a few seconds of each other. Below that, a move keeps its own
message in its card's thread, with its Cancel button; once a board is up in its place, its
next reading moves it there too (its message says so once and keeps the Cancel button), so
the board's one edit serves every move of the place and cards keep the rest of the budget.

One board message holds as many moves as fit in `PAGE_BUDGET` characters of JSON (Slack
refuses a message whose blocks exceed about 13,000; the headline, the sections and the footer
take the rest): each line reserves its JSON length (escapes included) and `LINE_GROWTH` for
what it may gain later (a rate, a longer elapsed time or phase, 100%). About a hundred moves
of usual names fit in one message; more open a second. A move on a board stores
`board:<ts>` as its progress reference, so a bot that takes over edits the same message.
When a board's last move ends, the board says so once and is left alone; the next busy
spell posts a new one. Each move's thread still gets its own news and its final word.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot.slack.pacing import Call, Pacer
from commands.workflow.notify import MessageRef
from commands.workflow.records import Place, RequestRecord

log = logging.getLogger(__name__)

BOARD_REF = "board:"
"""How a move on a board records where its progress is shown: `board:<ts>`."""
OWN_PER_PLACE = 4
OWN_IN_WORKSPACE = 6
PAGE_BUDGET = 12_000
LINE_GROWTH = 26
_LINES_PER_SECTION = 15


@dataclass
class _Page:
    """One board message and the moves it shows. Guarded by `Boards._lock`."""

    place: Place
    number: int
    ts: str | None = None
    lines: dict[int, str] = field(default_factory=dict)
    widths: dict[int, int] = field(default_factory=dict)
    ended: int = 0
    posting: bool = False
    stale: bool = False
    closed: bool = False

    @property
    def job(self) -> tuple[str, str, str, int]:
        """The pacer's key for this message's writes."""
        return ("board", self.place.channel, self.place.thread_ts or "", self.number)


class Boards:
    """Every board the bot keeps. Thread-safe; each write goes through the pacer and shows
    the lines as they are when the pacer makes it (latest wins)."""

    def __init__(self, client: WebClient, pacer: Pacer) -> None:
        self._client = client
        self._pacer = pacer
        self._lock = threading.Lock()
        self._pages: dict[Place, list[_Page]] = {}
        self._where: dict[int, _Page] = {}
        self._numbers = 0

    def holds(self, record: RequestRecord) -> bool:
        """Whether `record`'s progress is shown on a board (here, or before a takeover)."""
        with self._lock:
            return record.id in self._where or board_ts(record.progress_ts) is not None

    def busy(self, place: Place) -> bool:
        """Whether `place` has a board up."""
        with self._lock:
            return bool(self._pages.get(place))

    def show(self, record: RequestRecord, line: str) -> MessageRef | None:
        """Puts `line` on the record's board (its own page, or one with room); the board's
        reference once its message exists and the record does not hold it yet."""
        with self._lock:
            page = self._where.get(record.id) or self._page_for(record, line)
            page.lines[record.id] = line
            page.widths.setdefault(record.id, width(line))
            self._where[record.id] = page
            self._refresh(page)
            if page.ts is None or record.progress_ts is not None:
                return None
            return BOARD_REF + page.ts

    def remove(self, record: RequestRecord) -> None:
        """The move ended: its line leaves the board (its thread has the final word)."""
        with self._lock:
            page = self._where.pop(record.id, None)
            if page is None or page.lines.pop(record.id, None) is None:
                return
            page.widths.pop(record.id, None)
            page.ended += 1
            if not page.lines:
                page.closed = True
                pages = self._pages.get(page.place, [])
                if page in pages:
                    pages.remove(page)
                if not pages:
                    self._pages.pop(page.place, None)
            self._refresh(page)

    # --- inside (lock held) -----------------------------------------------------------

    def _page_for(self, record: RequestRecord, line: str) -> _Page:
        pages = self._pages.setdefault(record.place, [])
        ts = board_ts(record.progress_ts)
        for page in pages:
            room = sum(page.widths.values()) + width(line) <= PAGE_BUDGET
            if (ts is not None and page.ts == ts) or (ts is None and room):
                return page
        self._numbers += 1
        page = _Page(record.place, self._numbers, ts=ts)
        pages.append(page)
        return page

    def _refresh(self, page: _Page) -> None:
        if page.ts is None:
            if page.posting:
                page.stale = True
            elif not page.closed:
                page.posting = True
                post = Call(send=lambda: self._post(page), paced=True, channel=page.place.channel)
                self._submit(page, post)
            return
        ts = page.ts
        self._submit(
            page,
            Call(send=lambda: self._edit(page, ts), slot="board", edit=True, paced=True),
        )

    def _submit(self, page: _Page, call: Call) -> None:
        future = self._pacer.submit(page.job, call)
        future.add_done_callback(_logged(page.place.channel))

    # --- the writes (on the pacer's thread) -----------------------------------------------

    def _post(self, page: _Page) -> str | None:
        text, body = self._render(page)
        arguments: dict[str, Any] = {"channel": page.place.channel, "text": text, "blocks": body}
        if page.place.thread_ts is not None:
            arguments["thread_ts"] = page.place.thread_ts
        try:
            ts = str(self._client.chat_postMessage(**arguments)["ts"])
        except BaseException:
            with self._lock:
                page.posting = False
            raise
        with self._lock:
            page.ts, page.posting = ts, False
            if page.stale or page.closed:
                page.stale = False
                self._refresh(page)
        return ts

    def _edit(self, page: _Page, ts: str) -> None:
        text, body = self._render(page)
        self._client.chat_update(channel=page.place.channel, ts=ts, text=text, blocks=body)

    def _render(self, page: _Page) -> tuple[str, list[Block]]:
        with self._lock:
            lines = list(page.lines.values())
            ended, closed = page.ended, page.closed
        return board_blocks(lines, ended, closed=closed)


def width(line: str) -> int:
    """What a board line may take of its message at most: its JSON now, and what it may gain."""
    return len(json.dumps(line)) + LINE_GROWTH


def board_ts(ref: MessageRef | None) -> str | None:
    """The board message a stored progress reference names; None for a move's own message."""
    if ref is None or not ref.startswith(BOARD_REF):
        return None
    return ref[len(BOARD_REF) :]


def board_blocks(lines: list[str], ended: int, *, closed: bool) -> tuple[str, list[Block]]:
    """A board's plain text and blocks: a headline, the lines in sections of a few lines
    each (a section holds 3,000 characters), how to stop one move."""
    if closed:
        text = (
            f"No migration running on this board any more: {ended} ended; "
            "each result is in its request's thread."
        )
        return text, [SectionBlock(text=_mrkdwn(text))]
    head = f"*Running migrations: {len(lines)}*"
    if ended:
        head += f" · {ended} ended (each result is in its request's thread)"
    blocks: list[Block] = [SectionBlock(text=_mrkdwn(head))]
    for start in range(0, len(lines), _LINES_PER_SECTION):
        chunk = "\n".join(lines[start : start + _LINES_PER_SECTION])
        blocks.append(SectionBlock(text=_mrkdwn(chunk)))
    blocks.append(
        ContextBlock(
            elements=[_mrkdwn("Refreshed every few seconds. To stop one: `/migrate cancel #id`.")]
        )
    )
    return f"Running migrations: {len(lines)}", blocks


def _mrkdwn(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text, verbatim=True)


def _logged(channel: str) -> Callable[[Future[Any]], None]:
    def done(future: Future[Any]) -> None:
        if not future.cancelled() and future.exception() is not None:
            log.warning(
                "board write failed",
                extra={"channel": channel, "error": type(future.exception()).__name__},
            )

    return done
