"""The workflow's notifier, in Slack: the approval card, its thread, one progress message kept
up to date, the final word broadcast to the channel.

Where things go: the card is posted where the request was made (the channel, or the incident
thread an @mention came from); everything after it goes to the card's thread (or that incident
thread). Every write goes through the pacer (bot.slack.pacing): one line per request, so a
request's messages arrive in the order they were asked for, under the workspace's budget.
Progress edits are coalesced there (latest value wins). When many moves run in one place,
their progress goes to the place's board instead of a message each (bot.slack.board).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from slack_sdk import WebClient
from slack_sdk.models.blocks import Block

from bot.slack import blocks as ui
from bot.slack.board import OWN_IN_WORKSPACE, OWN_PER_PLACE, Boards
from bot.slack.pacing import Call, Pacer
from commands.hyperv import MigrationOutcome, MigrationProgress
from commands.workflow.cards import ApprovalCard, approval_card, recorded_findings
from commands.workflow.notify import MessageRef
from commands.workflow.records import Place, RequestRecord
from commands.workflow.store import AuditStore

log = logging.getLogger(__name__)

# How long a notifier call waits for a message it must know the ts of (the card, the
# progress message): long enough to ride out a few rate limits, short of hanging the workflow.
POST_TIMEOUT = 120.0


class SlackNotifier:
    """A `Notifier` that talks to Slack. Thread-safe. It reads the audit log (`attach` it once
    the store exists) to redraw a card with its decisions; it never calls the workflow."""

    def __init__(self, client: WebClient, pacer: Pacer) -> None:
        self._client = client
        self._pacer = pacer
        self._store: AuditStore | None = None
        self._lock = threading.Lock()
        self._record_locks: dict[int, threading.Lock] = {}
        # Moves shown in a message of their own: their last line and their place.
        self._progress_lines: dict[int, str] = {}
        self._own: dict[int, Place] = {}
        self.boards = Boards(client, pacer)
        # A drain's summary message until its record holds it (`progress_ts`).
        self._summaries: dict[int, str] = {}

    def attach(self, store: AuditStore) -> None:
        """Gives the notifier the audit log it reads decisions and findings from."""
        self._store = store

    # --- the Notifier port ------------------------------------------------------------

    def approval_needed(self, record: RequestRecord, card: ApprovalCard) -> MessageRef | None:
        """Posts the card where the request was made, and in its thread the PowerShell that
        did not fit in it (a large drain's); the card's ts."""
        with self._record_lock(record.id):
            body = ui.card_blocks(card, record, ())
            ts = self._wait(self._post(record, ui.card_text(card, record), body, thread=None))
            if ts is not None:
                for text in ui.drain_parts(card)[1]:
                    self._post(record, text, None, thread=record.place.thread_ts or ts)
            return ts

    def request_updated(self, record: RequestRecord, message: str) -> None:
        """Redraws the card (new approvals, the decision) and says `message` in the request's
        thread. Before there is a card or a thread, the person who asked has had their answer
        and the card will say the rest: only a refusal (the request ended) is said then."""
        with self._record_lock(record.id):
            if record.state.terminal:
                self._summaries.pop(record.id, None)
            elif record.card_ts is None:
                return
            if record.card_ts is not None:
                self._edit_card(record)
            self._post(record, message, None, thread=_thread(record))

    def progress(self, record: RequestRecord, progress: MigrationProgress) -> MessageRef | None:
        """Posts the progress message on the first reading (its ts), then edits it (paced);
        or puts the reading on the place's board (its reference once the board is up)."""
        if self._on_board(record):
            return self.boards.show(record, ui.board_line(record, progress))
        line = ui.progress_text(record, progress)
        with self._record_lock(record.id):
            self._progress_lines[record.id] = line
            body = ui.progress_blocks(record, line, running=ui.job_phase(progress))
            if record.progress_ts is None:
                return self._wait(self._post(record, line, body, thread=_thread(record)))
            self._update(record, record.progress_ts, line, body, slot="progress", paced=True)
            return None

    def summary(self, record: RequestRecord, text: str) -> MessageRef | None:
        """A drain's one summary message in its thread: posted once (its ts, which the record
        keeps, so a bot taking over edits the same message), then edited (paced)."""
        body = ui.summary_blocks(text)
        with self._record_lock(record.id):
            ts = record.progress_ts or self._summaries.get(record.id)
            if ts is None:
                posted = self._wait(self._post(record, text, body, thread=_thread(record)))
                if posted is not None:
                    self._summaries[record.id] = posted
                return posted
            self._update(record, ts, text, body, slot="summary", paced=True)
            return None

    def finished(self, record: RequestRecord, outcome: MigrationOutcome | None) -> None:
        """Ends the progress message, finalises the card and broadcasts the result."""
        self.boards.remove(record)
        with self._record_lock(record.id):
            last = self._progress_lines.pop(record.id, None)
            with self._lock:
                self._own.pop(record.id, None)
            if record.progress_ts is not None and last is not None:
                line = ui.ended_progress(record, outcome, last)
                body = ui.progress_blocks(record, line, running=False)
                self._update(record, record.progress_ts, line, body, slot="progress")
            if record.card_ts is not None:
                self._edit_card(record)
            text = ui.final_text(record, outcome)
            self._post(record, text, None, thread=_thread(record), broadcast=True)
        with self._lock:
            self._record_locks.pop(record.id, None)
            self._summaries.pop(record.id, None)

    # --- inside -----------------------------------------------------------------------

    def _on_board(self, record: RequestRecord) -> bool:
        """Whether the move's progress goes to its place's board: it is there already (here
        or before a takeover); it had its own message but a board is up in its place now (one
        edit of the board then serves it, instead of a budget of its own); or it is new here
        and its place or the workspace has enough moves shown in their own messages
        (bot.slack.board says why these numbers)."""
        if self.boards.holds(record):
            return True
        with self._lock:
            if record.id in self._own:
                if not self.boards.busy(record.place):
                    return False
                del self._own[record.id]
                handed_over = True
            else:
                handed_over = False
        if handed_over:
            self._hand_over(record)
            return True
        with self._lock:
            if record.progress_ts is None:
                here = sum(place == record.place for place in self._own.values())
                if (
                    self.boards.busy(record.place)
                    or here >= OWN_PER_PLACE
                    or len(self._own) >= OWN_IN_WORKSPACE
                ):
                    return True
            self._own[record.id] = record.place
            return False

    def _hand_over(self, record: RequestRecord) -> None:
        """The move's own message says once that its progress goes on the board now; it keeps
        its Cancel button, and gets its last form when the move ends."""
        with self._record_lock(record.id):
            last = self._progress_lines.get(record.id)
            if record.progress_ts is None or last is None:
                return
            line = f"{last}\n_From here on, its progress is on the running-migrations board._"
            self._progress_lines[record.id] = line
            body = ui.progress_blocks(record, line, running=True)
            self._update(record, record.progress_ts, line, body, slot="progress")

    def _record_lock(self, request_id: int) -> threading.Lock:
        with self._lock:
            return self._record_locks.setdefault(request_id, threading.Lock())

    def _edit_card(self, record: RequestRecord) -> None:
        assert record.card_ts is not None
        if self._store is None:
            raise RuntimeError("SlackNotifier used before attach(store)")
        events = self._store.events(record.id)
        card = approval_card(record, recorded_findings(events))
        body = ui.card_blocks(card, record, events)
        self._update(record, record.card_ts, ui.card_text(card, record), body, slot="card")

    def _post(
        self,
        record: RequestRecord,
        text: str,
        body: Sequence[Block] | None,
        *,
        thread: str | None,
        broadcast: bool = False,
    ) -> Future[Any]:
        arguments: dict[str, Any] = {"channel": record.place.channel, "text": text}
        if body is not None:
            arguments["blocks"] = list(body)
        if thread is not None:
            arguments["thread_ts"] = thread
            if broadcast:
                arguments["reply_broadcast"] = True
        elif record.place.thread_ts is not None:
            arguments["thread_ts"] = record.place.thread_ts

        def send() -> str | None:
            response = self._client.chat_postMessage(**arguments)
            ts = response.get("ts")
            return str(ts) if ts else None

        return self._submit(record, Call(send=send, channel=record.place.channel))

    def _update(
        self,
        record: RequestRecord,
        ts: str,
        text: str,
        body: Sequence[Block],
        *,
        slot: str,
        paced: bool = False,
    ) -> None:
        channel = record.place.channel

        def send() -> None:
            self._client.chat_update(channel=channel, ts=ts, text=text, blocks=list(body))

        self._submit(record, Call(send=send, slot=f"{slot}:{ts}", edit=True, paced=paced))

    def _submit(self, record: RequestRecord, call: Call) -> Future[Any]:
        future = self._pacer.submit(record.id, call)
        future.add_done_callback(lambda done: _log_failure(done, record.id))
        return future

    def _wait(self, future: Future[Any]) -> str | None:
        try:
            value = future.result(timeout=POST_TIMEOUT)
        except Exception:
            return None
        return str(value) if value else None


def _thread(record: RequestRecord) -> str | None:
    """Where the request's messages go after its card: the incident thread it came from, or
    the card's own thread."""
    return record.place.thread_ts or record.card_ts


def _log_failure(done: Future[Any], request_id: int) -> None:
    if done.cancelled():
        return
    error = done.exception()
    if error is not None:
        log.warning(
            "slack call failed",
            extra={"request_id": request_id, "error": type(error).__name__},
        )
