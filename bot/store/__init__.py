"""The SQLite audit store: requests and the hash-chained audit log (sqlite-utils migrations)."""

from __future__ import annotations

from pathlib import Path

from bot.config import Config, Secrets
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


def configured_secrets(config: Config, secrets: Secrets) -> tuple[str, ...]:
    """The values of every secret the configuration names, for the store to redact."""
    names = (
        config.slack.bot_token_env,
        config.slack.app_token_env,
        config.slack.signing_secret_env,
        config.winrm.password_env,
        config.directory.password_env,
    )
    return tuple(value for name in names if (value := secrets.get(name)))


def open_store(config: Config, secrets: Secrets) -> SqliteAuditStore:
    """The audit store the configuration names, redacting every configured secret."""
    return SqliteAuditStore(
        database_path(config), secret_values=configured_secrets(config, secrets)
    )
