"""The one error the command language raises: a refusal the user can act on."""

from __future__ import annotations

from commands.errors import Refusal, one_line


class ParseError(Refusal):
    """A refused command: `message` says what was wrong and what would work; `usage` the form,
    which is the refusal's fix. Both are single lines."""

    def __init__(self, message: str, usage: str) -> None:
        self.usage = one_line(usage)
        super().__init__(message, f"Usage: {self.usage}")


def shown(text: str, limit: int = 60) -> str:
    """`text` quoted for a refusal: control characters made visible, long values shortened."""
    visible = "".join(
        c if c.isprintable() or c == " " else f"\\u{ord(c):04x}" for c in text[:limit]
    )
    return f"'{visible}…'" if len(text) > limit else f"'{visible}'"
