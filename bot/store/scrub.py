"""Defensive removal of secrets from anything about to be written to the audit log.

The workflow is meant never to hand a secret to the store; this is the second line of
defence. It redacts values under secret-looking keys, Slack and bearer tokens wherever they
appear in text, and the literal values of the secrets the configuration names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from bot.redaction import Redactor

REDACTED = "[redacted]"

_SECRET_KEY = re.compile(
    r"password|passwd|passphrase|secret|token|authori[sz]ation|credential|api[-_]?key"
    r"|private[-_]?key|cookie",
    re.IGNORECASE,
)


class Scrubber:
    """Callable that returns a copy of a JSON-like value with secrets replaced by `[redacted]`."""

    def __init__(self, secret_values: Iterable[str] = ()) -> None:
        self._redact = Redactor(secret_values, marker=REDACTED, tokens=True)

    def text(self, value: str) -> str:
        """`value` with tokens and known secret values replaced."""
        return self._redact(value)

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
