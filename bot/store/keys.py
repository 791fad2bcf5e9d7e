"""The audit key: a secret kept outside the database that keys the event chain (HMAC-SHA256).

Without it anyone who can write the database file can rewrite the chain and recompute every
sha256; with it they cannot produce a valid link without also reading the key. The key comes
from an environment variable or a key file the configuration names, never from the database.
Only a short fingerprint of it (`key_id`) is stored, so that `verify` can tell "no key" and
"another key" apart from "edited".
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Shorter keys can be guessed offline from one event; 16 bytes is the floor NIST gives for
# HMAC keys (SP 800-107), 32 is what `openssl rand -hex 32` prints.
MIN_KEY_BYTES = 16
_BLOCK = 64  # sha256's block size in bytes


class AuditKeyError(ValueError):
    """A key that exists but cannot be used (unreadable file, too short); one line."""


@dataclass(frozen=True)
class AuditKey:
    """The secret bytes and where they came from (for messages; the bytes are never shown)."""

    secret: bytes = field(repr=False)
    source: str

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_KEY_BYTES:
            raise AuditKeyError(
                f"the audit key from {self.source} is {len(self.secret)} bytes; use at least "
                f"{MIN_KEY_BYTES} (e.g. `openssl rand -hex 32`)"
            )

    @functools.cached_property
    def key_id(self) -> str:
        """A public fingerprint of the key: names which key signed an event, proves nothing."""
        return hmac.digest(self.secret, b"hvbot audit key id", "sha256").hex()[:16]

    @functools.cached_property
    def _pads(self) -> tuple[Any, Any]:
        # HMAC as RFC 2104 defines it, with the two keyed sha256 states computed once: half
        # the cost of `hmac.digest` per event, which counts when verifying a million.
        secret = self.secret
        if len(secret) > _BLOCK:
            secret = hashlib.sha256(secret).digest()
        secret = secret.ljust(_BLOCK, b"\0")
        inner = hashlib.sha256(bytes(b ^ 0x36 for b in secret))
        outer = hashlib.sha256(bytes(b ^ 0x5C for b in secret))
        return inner, outer

    def mac(self, text: str) -> str:
        """HMAC-SHA256 of `text` (UTF-8) in hex."""
        inner, outer = self._pads
        first = inner.copy()
        first.update(text.encode("utf-8"))
        second = outer.copy()
        second.update(first.digest())
        return str(second.hexdigest())

    @classmethod
    def from_text(cls, text: str, source: str) -> AuditKey:
        """The key written as text (surrounding blanks and the final newline do not count)."""
        return cls(text.strip().encode("utf-8"), source)

    @classmethod
    def from_file(cls, path: Path) -> AuditKey:
        """The key in `path`; AuditKeyError naming the file when it cannot be read."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise AuditKeyError(f"audit key file {path}: cannot read it ({why})") from None
        return cls.from_text(text, f"key file {path}")


def digest(text: str, key: AuditKey | None) -> str:
    """An event's link: HMAC-SHA256 with the key, plain sha256 without (hex either way)."""
    if key is None:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
    return key.mac(text)
