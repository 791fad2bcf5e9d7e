"""Defensive removal of secrets from anything about to be written to the audit log.

The workflow is meant never to hand a secret to the store; this is the second line of
defence. It redacts values under secret-looking keys, Slack and bearer tokens wherever they
appear in text, and the literal values of the secrets the configuration names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[redacted]"

_SECRET_KEY = re.compile(
    r"password|passwd|passphrase|secret|token|authori[sz]ation|credential|api[-_]?key"
    r"|private[-_]?key|cookie",
    re.IGNORECASE,
)
_TOKEN_TEXT = re.compile(
    r"\bxox[abeoprs]-[A-Za-z0-9-]+|\bxapp-[A-Za-z0-9-]+|\bBearer\s+[A-Za-z0-9._~+/=-]+",
    re.IGNORECASE,
)
# Shorter "secrets" would redact ordinary words everywhere; such a password is no secret.
_MIN_LITERAL = 4


class Scrubber:
    """Callable that returns a copy of a JSON-like value with secrets replaced by `[redacted]`."""

    def __init__(self, secret_values: Iterable[str] = ()) -> None:
        literals = sorted(
            {v for v in secret_values if len(v) >= _MIN_LITERAL}, key=len, reverse=True
        )
        self._literals = re.compile("|".join(re.escape(v) for v in literals)) if literals else None

    def text(self, value: str) -> str:
        """`value` with tokens and known secret values replaced."""
        value = _TOKEN_TEXT.sub(REDACTED, value)
        if self._literals is not None:
            value = self._literals.sub(REDACTED, value)
        return value

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {
                key: REDACTED
                if isinstance(key, str) and _SECRET_KEY.search(key) and item is not None
                else self(item)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            return [self(item) for item in value]
        return value
