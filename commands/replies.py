"""What the bot answers to one `/migrate` text: a `Reply`, rendered by each front end.

The core decides what is said; front ends only decide how it looks. The terminal prints
`Reply.text()`; Slack turns the same parts into Block Kit (a header from `title`, a section
per line, the card's fields and Approve/Reject/Cancel buttons) and posts it ephemerally when
`ephemeral` is set. Users appear as chat mentions (`<@U123>`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from commands.workflow.cards import ApprovalCard


class Outcome(IntEnum):
    """How the request went; the value is the command line's exit code."""

    ANSWERED = 0
    FAILED = 1
    REFUSED = 2


class ReplyKind(StrEnum):
    """What the reply is about, so a renderer can lay it out (a table, a card...)."""

    HELP = "help"
    STATUS = "status"
    HISTORY = "history"
    HOST = "host"
    DIAGNOSIS = "diagnosis"
    DELEGATION = "delegation"
    DRAIN = "drain"
    CHECK = "check"
    RECORDED = "recorded"
    CARD = "card"
    CANCELLED = "cancelled"
    REFUSAL = "refusal"
    FAILURE = "failure"


@dataclass(frozen=True)
class Reply:
    """`title` is the first line (a whole answer for short ones); `lines` the rest, each a
    line of text; `card` an approval card to show with its buttons; `request_id` the request
    the reply is about, if any; `ephemeral` when only the person who asked should see it."""

    kind: ReplyKind
    title: str
    lines: tuple[str, ...] = ()
    outcome: Outcome = Outcome.ANSWERED
    card: ApprovalCard | None = None
    request_id: int | None = None
    ephemeral: bool = False

    def text(self) -> str:
        """The whole reply as plain text (the terminal's rendering, Slack's fallback)."""
        card = self.card.lines() if self.card else []
        return "\n".join([self.title, *self.lines, *card])


def refused(line: str) -> Reply:
    """A refusal: one line, for the person who asked only."""
    return Reply(ReplyKind.REFUSAL, line, outcome=Outcome.REFUSED, ephemeral=True)
