"""A terminal front end: the workflow's notifications and approval cards as readable text.

Used by the CLI drivers and the demo; the Slack app renders the same facts as Block Kit.
What is said, and when, is decided by the core (`commands.workflow.notify`).
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from commands.hyperv import ErrorKind, MigrationOutcome, MigrationProgress
from commands.workflow.cards import ApprovalCard
from commands.workflow.notify import outcome_report
from commands.workflow.records import RequestRecord

_MENTION = re.compile(r"<@([A-Z0-9]+)>")


def plain_mentions(text: str, names: Callable[[str], str] | None = None) -> str:
    """`text` with chat mentions (`<@U123>`) written as a terminal shows them (`@U123`, or
    `names(user)`)."""
    name = names or (lambda user: f"@{user}")
    return _MENTION.sub(lambda m: name(m.group(1)), text)


def outcome_lines(outcome: MigrationOutcome) -> list[str]:
    """How a migration ended, with cause and fix when it failed."""
    if outcome.succeeded:
        blackout = (
            f", blackout {outcome.blackout_seconds:g} s"
            if outcome.blackout_seconds is not None
            else ""
        )
        return [f"succeeded in {outcome.duration_seconds:.1f} s{blackout}"]
    error = outcome.error
    if error is None:
        return [f"failed after {outcome.duration_seconds:.1f} s"]
    if error.kind is ErrorKind.OUTCOME_UNKNOWN:
        # The evidence, one line each, instead of the cause: people must see what disagreed.
        lines = [f"outcome unknown after {outcome.duration_seconds:.1f} s: {error.summary}"]
        lines += [f"  seen: {line}" for line in outcome.evidence]
        return [*lines, f"  check: {error.fix}"]
    ended = "cancelled" if error.kind is ErrorKind.CANCELLED else "failed"
    first = f"{ended} after {outcome.duration_seconds:.1f} s: {error.summary}"
    return [first, *(f"  {line}" for line in error.details())]


def change_lines(record: RequestRecord) -> list[str]:
    """How a setting change ended: its state, the value before and after, and why not; a
    drain's final sentence."""
    report = outcome_report(record)
    if report:
        return [record.state.value, *report]
    outcome = record.outcome or {}
    if isinstance(outcome.get("summary"), str):
        return [outcome["summary"]]
    line = record.state.value
    if "setting" in outcome:
        after = outcome.get("after", "?")
        line += f" ({outcome['setting']}: {outcome.get('before')!r} -> {after!r})"
    error = outcome.get("error")
    return [line] + ([f"  {error['summary']}"] if isinstance(error, dict) else [])


class ConsoleNotifier:
    """Prints what the workflow reports, one line per fact."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        prefix: str = "hvbot",
        names: Callable[[str], str] | None = None,
    ) -> None:
        self._stream = stream or sys.stdout
        self._prefix = prefix
        self._names = names
        self._lock = threading.Lock()
        self._summaries: dict[int, str] = {}

    def say(self, text: str) -> None:
        """Print one line (or several) as the bot."""
        text = plain_mentions(text, self._names)
        with self._lock:
            for line in text.splitlines() or [""]:
                print(f"{self._prefix}: {line}", file=self._stream, flush=True)

    def approval_needed(self, record: RequestRecord, card: ApprovalCard) -> None:
        """Print the card and the buttons an approver would see; a terminal has no message
        to refer to later."""
        self.say("\n".join([*card.lines(), "[Approve] [Reject] [Cancel]"]))

    def request_updated(self, record: RequestRecord, message: str) -> None:
        """Print the workflow's message."""
        self.say(message)

    def progress(self, record: RequestRecord, progress: MigrationProgress) -> None:
        """Print the reading (the core already chose which readings are shown)."""
        transferred = ""
        if progress.bytes_total:
            done = (progress.bytes_transferred or 0) / 1024**3
            transferred = f", {done:.1f} of {progress.bytes_total / 1024**3:.1f} GiB"
        self.say(
            f"#{record.id} {record.vm}: {progress.state.name.lower()} {progress.percent}% "
            f"after {progress.elapsed_seconds:.1f} s{transferred}"
        )

    def summary(self, record: RequestRecord, text: str) -> None:
        """Print a drain's summary when it changed (a terminal cannot edit what it printed,
        and has no message to refer to later)."""
        with self._lock:
            if self._summaries.get(record.id) == text:
                return
            self._summaries[record.id] = text
        self.say(text)

    def finished(self, record: RequestRecord, outcome: MigrationOutcome | None) -> None:
        """Print the final state and, for migrations, the outcome."""
        lines = outcome_lines(outcome) if outcome else change_lines(record)
        self.say(f"#{record.id} {record.vm or record.source_host}: " + "\n".join(lines))
