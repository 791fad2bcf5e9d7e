"""The SQLite audit store: requests and the keyed, anchored hash chain (sqlite-utils
migrations)."""

from __future__ import annotations

from pathlib import Path

from bot.config import Config, Secrets, configured_secrets
from bot.store.anchors import AnchorFile, ChainHead, HeadWitness
from bot.store.chain import BrokenLink, ChainReport, Finding
from bot.store.keys import AuditKey, AuditKeyError
from bot.store.sqlite_store import CHANGEABLE_FIELDS, RequestNotFound, SqliteAuditStore

__all__ = [
    "CHANGEABLE_FIELDS",
    "AnchorFile",
    "AuditKey",
    "AuditKeyError",
    "BrokenLink",
    "ChainHead",
    "ChainReport",
    "Finding",
    "HeadWitness",
    "RequestNotFound",
    "SqliteAuditStore",
    "anchor_path",
    "audit_key",
    "configured_secrets",
    "database_path",
    "default_anchor_path",
    "open_store",
]


def _beside_config(config: Config, text: str) -> Path:
    path = Path(text).expanduser()
    if path.is_absolute() or config.source is None:
        return path
    return config.source.parent / path


def database_path(config: Config) -> Path:
    """Where `[audit] database` points: a relative path is relative to the config file, so
    that the bot and `hvbot audit` find the same file whatever directory they start in."""
    return _beside_config(config, config.audit.database)


def default_anchor_path(database: Path) -> Path:
    """The anchor file when none is configured: the database's path with `.anchors` added."""
    return database.with_name(database.name + ".anchors")


def anchor_path(config: Config) -> Path:
    """Where `[audit] anchor_file` points, else beside the database."""
    if config.audit.anchor_file:
        return _beside_config(config, config.audit.anchor_file)
    return default_anchor_path(database_path(config))


def audit_key(config: Config, secrets: Secrets) -> AuditKey | None:
    """The audit key from `[audit] key_env`, else `[audit] key_file`; None when neither is
    set. AuditKeyError when both are set, or the key cannot be read or is too short."""
    from_env = secrets.get(config.audit.key_env)
    if from_env and config.audit.key_file:
        raise AuditKeyError(
            f"the audit key is set twice: ${config.audit.key_env} and [audit] key_file; keep one"
        )
    if from_env:
        return AuditKey.from_text(from_env, f"${config.audit.key_env}")
    if config.audit.key_file:
        return AuditKey.from_file(_beside_config(config, config.audit.key_file))
    return None


def open_store(config: Config, secrets: Secrets) -> SqliteAuditStore:
    """The audit store the configuration names: keyed with the audit key if there is one,
    anchored to the anchor file, redacting every configured secret.

    Witnesses that need more than the configuration (the Slack audit channel) are added later
    with `SqliteAuditStore.add_witness`; see `bot.store.anchors.HeadWitness`.
    """
    key = audit_key(config, secrets)
    witnesses: list[HeadWitness] = [AnchorFile(anchor_path(config), key)]
    hidden = configured_secrets(config, secrets)
    if key is not None:
        hidden += (key.secret.decode("utf-8", errors="replace"),)
    return SqliteAuditStore(
        database_path(config), secret_values=hidden, key=key, witnesses=witnesses
    )
