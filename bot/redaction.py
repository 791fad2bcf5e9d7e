"""One way to take secrets out of text, shared by the logs, host error text and the audit log.

A `Redactor` knows the configured secret values and, optionally, two kinds of secret that no
configuration names: Slack and bearer tokens, and the value of a `password=...`-like
assignment. Every match is found in the original text before anything is replaced, so a
secret that overlaps another match (a secret value inside a token, a secret with spaces after
`password:`) is removed whole instead of leaving a tail behind.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

# Shorter "secrets" would redact ordinary words everywhere; such a password is no secret.
MIN_SECRET_LENGTH = 4

TOKEN = re.compile(
    r"\bxox[abeoprs]-[A-Za-z0-9-]+|\bxapp-[A-Za-z0-9-]+|\bBearer\s+[A-Za-z0-9._~+/=-]+",
    re.IGNORECASE,
)
# Only the `value` group is secret: the key and separator stay so the text still says what
# was removed.
ASSIGNMENT = re.compile(
    r"(?i)\b(?:password|passwd|pwd|secret|token|credential|apikey|api_key)\s*[=:]\s*"
    r"(?P<value>\"[^\"]*\"|'[^']*'|\S+)"
)


class Redactor:
    """Callable that returns text with every secret it knows replaced by `marker`."""

    def __init__(
        self,
        secret_values: Iterable[str | None] = (),
        *,
        marker: str = "***",
        tokens: bool = False,
        assignments: bool = False,
    ) -> None:
        self.marker = marker
        literals = sorted(
            {v for v in secret_values if v and len(v) >= MIN_SECRET_LENGTH}, key=len, reverse=True
        )
        # Longest first so that a secret containing another one is removed whole.
        patterns = [re.compile("|".join(re.escape(v) for v in literals))] if literals else []
        patterns += [p for p, wanted in ((TOKEN, tokens), (ASSIGNMENT, assignments)) if wanted]
        self._patterns = tuple(patterns)

    @property
    def active(self) -> bool:
        """Whether any text could change (False without secret values or patterns)."""
        return bool(self._patterns)

    def __call__(self, text: str) -> str:
        pieces: list[str] = []
        end = 0
        for start, stop in _merged(sorted(self._spans(text))):
            pieces += [text[end:start], self.marker]
            end = stop
        return "".join(pieces) + text[end:] if pieces else text

    def _spans(self, text: str) -> Iterator[tuple[int, int]]:
        for pattern in self._patterns:
            group = "value" if "value" in pattern.groupindex else 0
            yield from (match.span(group) for match in pattern.finditer(text))


def _merged(spans: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """Sorted spans with overlapping ones joined; touching ones stay apart, one marker each."""
    if not spans:
        return
    start, stop = spans[0]
    for next_start, next_stop in spans[1:]:
        if next_start < stop:
            stop = max(stop, next_stop)
        else:
            yield start, stop
            start, stop = next_start, next_stop
    yield start, stop
