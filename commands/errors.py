"""The one base of every refusal: the bot will not do what was asked, and says why in one line.

A refusal is not a failure: nothing was tried, or the hosts answered that it cannot be done.
Front ends show `line()` (exit 2 on the command line, an ephemeral reply in chat).
"""

from __future__ import annotations


class Refusal(Exception):
    """`message`: what was wrong (one line, safe to show); `fix`: what would work, if known."""

    def __init__(self, message: str, fix: str = "") -> None:
        self.message = one_line(message)
        self.fix = one_line(fix)
        super().__init__(self.line())

    def line(self) -> str:
        """The refusal as one line: the reason, then the fix."""
        if not self.fix:
            return self.message
        return f"{self.message.rstrip('.')}. {self.fix}"


def one_line(text: str) -> str:
    """`text` on one line: user text ends up in messages, and a newline must not split a reply."""
    return " ".join(text.split())


def sentence(text: str) -> str:
    """`text` ending in a full stop (unless it already ends a sentence)."""
    text = text.strip()
    return text if not text or text[-1] in ".!?" else f"{text}."
