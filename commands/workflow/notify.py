"""The notifier port: how the workflow tells people what happens, without knowing about Slack.

Every front end (Slack, the terminal, the demo) implements `Notifier`; the workflow calls it
from its executor threads, so an implementation must be thread-safe and should not block for
long. Everything a message shows is decided here in the core, so each front end says the same
thing at the same moments:

- `approval_needed(record, card)` once a request is checked and waits for approval. The card is
  built by the core (`commands.workflow.cards.ApprovalCard`). Returns a reference to the posted
  card (for Slack, the message `ts`); the workflow stores it as `record.card_ts`, so later
  updates (approvals, the end) can edit the same message, even after a restart.
- `request_updated(record, message)`: one line for the request's thread (recorded, approved,
  queued, refused, expired...). Mentions are written `<@U123>`.
- `progress(record, progress)`: a reading of a running migration, already throttled by
  `ProgressCadence` (state changes, or every `percent_step` points at most every
  `min_seconds`). The first call for a request has `record.progress_ts` None: post a message
  and return its reference, which the workflow stores; later calls get it back in
  `record.progress_ts` and should edit that message (their return value is ignored).
- `finished(record, outcome)`: the final state after running; `outcome` is None for setting
  changes.

A notifier that raises never stops the workflow (the audit log has the facts); the error is
logged. No method calls back into the workflow.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Protocol

from commands.hyperv import JobState, MigrationOutcome, MigrationProgress
from commands.workflow.cards import ApprovalCard
from commands.workflow.records import RequestRecord

# Slack allows about one edit of a message per second; people need no more than this.
PROGRESS_SECONDS = 5.0

MessageRef = str
"""Where a front end posted a message, as it finds it again (for Slack, the message `ts`)."""


class Notifier(Protocol):
    """Receives every change people should hear about (see the module docstring)."""

    def approval_needed(self, record: RequestRecord, card: ApprovalCard) -> MessageRef | None:
        """`record` waits for approval: show `card` with Approve/Reject/Cancel; its reference."""
        ...

    def request_updated(self, record: RequestRecord, message: str) -> None:
        """`record` changed (recorded, approved, queued, void, refused...)."""
        ...

    def progress(self, record: RequestRecord, progress: MigrationProgress) -> MessageRef | None:
        """A reading worth showing; the reference of a newly posted progress message."""
        ...

    def finished(self, record: RequestRecord, outcome: MigrationOutcome | None) -> None:
        """`record` reached a final state after running."""
        ...

    def summary(self, record: RequestRecord, text: str) -> MessageRef | None:
        """A drain's one summary message, replaced by `text` (edited in place; the caller
        coalesces, so each call is worth sending); the reference of a newly posted one, which
        the drain's record keeps as its `progress_ts`."""
        ...


def outcome_report(record: RequestRecord) -> list[str]:
    """The lines the core wrote for people at the end of a change (a directory change's
    changes and when hosts see them, or why not); empty for the others, which front ends
    describe from the outcome's fields."""
    lines = (record.outcome or {}).get("lines")
    return [str(line) for line in lines] if isinstance(lines, list) else []


@dataclass
class _Shown:
    state: JobState
    percent: int
    at: dt.datetime


class ProgressCadence:
    """Decides which progress readings people see, the same for every front end: the first,
    each change of state, and then a move of `percent_step` points, no more often than every
    `min_seconds` (chat services limit how often one message may be edited)."""

    def __init__(self, percent_step: int = 10, min_seconds: float = PROGRESS_SECONDS) -> None:
        self.percent_step = percent_step
        self.min_interval = dt.timedelta(seconds=min_seconds)
        self._shown: dict[int, _Shown] = {}
        self._lock = threading.Lock()

    def due(self, request_id: int, progress: MigrationProgress, now: dt.datetime) -> bool:
        """Whether this reading is shown; if so, it becomes the last one shown."""
        with self._lock:
            last = self._shown.get(request_id)
            show = (
                last is None
                or progress.state is not last.state
                or (
                    progress.percent >= last.percent + self.percent_step
                    and now - last.at >= self.min_interval
                )
            )
            if show:
                self._shown[request_id] = _Shown(progress.state, progress.percent, now)
            return show

    def forget(self, request_id: int) -> None:
        """The request ended: its readings are no longer needed."""
        with self._lock:
            self._shown.pop(request_id, None)
