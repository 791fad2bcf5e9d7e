"""The one error the command language raises: a refusal the user can act on."""

from __future__ import annotations


class ParseError(Exception):
    """A refused command: `message` says what was wrong and what would work; `usage` the form.

    Both are single lines, so chat replies and the CLI can show them without a stack trace.
    """

    def __init__(self, message: str, usage: str) -> None:
        self.message = _one_line(message)
        self.usage = _one_line(usage)
        super().__init__(self.line())

    def line(self) -> str:
        """The refusal as one line: the reason, then the usage."""
        return f"{self.message.rstrip('.')}. Usage: {self.usage}"


def _one_line(text: str) -> str:
    # User text ends up in messages (a bad VM name, say); a newline in it must not split the reply.
    return " ".join(text.split())


def shown(text: str, limit: int = 60) -> str:
    """`text` quoted for a refusal: control characters made visible, long values shortened."""
    visible = "".join(
        c if c.isprintable() or c == " " else f"\\u{ord(c):04x}" for c in text[:limit]
    )
    return f"'{visible}…'" if len(text) > limit else f"'{visible}'"
