"""The notifier port: how the workflow tells people what happens, without knowing about Slack.

`bot/` implements it with Slack (the approval card, the thread, the one progress message kept
up to date, using `record.place`, `record.card_ts` and `record.progress_ts`). Calls come from
the workflow's executor threads; an implementation must be thread-safe and should not block
for long. The workflow survives a notifier that raises: the audit log has the facts.
"""

from __future__ import annotations

from typing import Protocol

from commands.hyperv import MigrationOutcome, MigrationProgress
from commands.workflow.records import RequestRecord


class Notifier(Protocol):
    """Receives every change people should hear about."""

    def request_updated(self, record: RequestRecord, message: str) -> None:
        """`record` changed (checked, awaiting approval, approved, queued, void, refused...)."""
        ...

    def progress(self, record: RequestRecord, progress: MigrationProgress) -> None:
        """A fresh reading of a running migration."""
        ...

    def finished(self, record: RequestRecord, outcome: MigrationOutcome | None) -> None:
        """`record` reached a final state after running; `outcome` is None for setting changes."""
        ...

    def summary(self, record: RequestRecord, text: str) -> None:
        """A drain's one summary message, replaced by `text` (edited in place; the caller
        coalesces, so each call is worth sending)."""
        ...


class SilentNotifier:
    """A notifier that tells nobody (CLI runs and tests that only read the audit log)."""

    def request_updated(self, record: RequestRecord, message: str) -> None:
        """Ignores the update."""

    def progress(self, record: RequestRecord, progress: MigrationProgress) -> None:
        """Ignores the reading."""

    def finished(self, record: RequestRecord, outcome: MigrationOutcome | None) -> None:
        """Ignores the outcome."""

    def summary(self, record: RequestRecord, text: str) -> None:
        """Ignores the summary."""
