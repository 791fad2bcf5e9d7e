"""The SQLite audit store: requests and the hash-chained audit log (sqlite-utils migrations)."""

from __future__ import annotations

from pathlib import Path

from bot.config import Config, Secrets, configured_secrets
from bot.store.chain import BrokenLink, ChainReport
from bot.store.sqlite_store import CHANGEABLE_FIELDS, RequestNotFound, SqliteAuditStore

__all__ = [
    "CHANGEABLE_FIELDS",
    "BrokenLink",
    "ChainReport",
    "RequestNotFound",
    "SqliteAuditStore",
    "configured_secrets",
    "database_path",
    "open_store",
]


def database_path(config: Config) -> Path:
    """Where `[audit] database` points: a relative path is relative to the config file, so
    that the bot and `hvbot audit` find the same file whatever directory they start in."""
    path = Path(config.audit.database).expanduser()
    if path.is_absolute() or config.source is None:
        return path
    return config.source.parent / path


def open_store(config: Config, secrets: Secrets) -> SqliteAuditStore:
    """The audit store the configuration names, redacting every configured secret."""
    return SqliteAuditStore(
        database_path(config), secret_values=configured_secrets(config, secrets)
    )
