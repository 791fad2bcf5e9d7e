"""Structured logging: JSON lines in production, readable text in a terminal, with request ids.

A request id (the Slack request, the workflow request, a short incident reference) is bound
to the current context with `bind()`; every record logged inside carries it. Known secret
values are masked in every record, whatever logged them.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import os
import secrets
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from bot.redaction import Redactor

_context: contextvars.ContextVar[dict[str, str | int]] = contextvars.ContextVar("hvbot_log_context")

# Attributes every LogRecord has; anything else came from `extra=` and is a structured field.
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def new_reference() -> str:
    """A short reference id people can quote ("ref 7f3a2c") to find the full detail in logs."""
    return secrets.token_hex(3)


@contextlib.contextmanager
def bind(**fields: str | int) -> Iterator[None]:
    """Attach fields (request_id=..., user=...) to every record logged inside the block.
    A request id is an int, as the workflow's own `extra={"request_id": ...}` has it, so that
    JSON lines carry one type per field."""
    token = _context.set({**_context.get({}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = dict(_context.get({}))
    out.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS})
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, process id, message, context and extra
    fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            # Several `hvbot` processes (approve, recover, the bot) may share one file.
            "pid": record.process,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """`HH:MM:SS LEVEL [pid] logger: message key=value ...` for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        time = dt.datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        extra = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        line = (
            f"{time} {record.levelname:<7} [{record.process}] {record.name}: {record.getMessage()}"
        )
        line = f"{line}  {extra}" if extra else line
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class SecretMask(logging.Filter):
    """Replaces known secret values by *** in the rendered message and fields of every record."""

    def __init__(self, values: Iterable[str]) -> None:
        super().__init__()
        self._redact = Redactor(values)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._redact.active:
            record.msg = self._redact(record.getMessage())
            record.args = None
            for key, value in list(record.__dict__.items()):
                if key not in _STANDARD_ATTRS and isinstance(value, str):
                    setattr(record, key, self._redact(value))
        return True


def configure(
    fmt: str = "json",
    level: str = "INFO",
    secret_values: Iterable[str] = (),
    stream: TextIO | None = None,
    path: Path | None = None,
) -> logging.Handler:
    """Install one root handler with the chosen format and secret masking; returns it.
    With `path`, records are appended to that file (created on the first record);
    otherwise they go to `stream` (default stderr)."""
    handler: logging.Handler = (
        logging.FileHandler(path, encoding="utf-8", delay=True)
        if path is not None
        else logging.StreamHandler(stream or sys.stderr)
    )
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(SecretMask(secret_values))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def user_log_dir() -> Path | None:
    """The per-user place for the command line's own log, created private (0700):
    `$XDG_STATE_HOME/hvbot`, else `~/.local/state/hvbot` (where the XDG base directory spec
    puts logs); None when there is no home to put it in. Never a shared folder such as /tmp,
    where another user could read the detail or plant the file first."""
    base = os.environ.get("XDG_STATE_HOME", "")
    try:
        root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
        path = root / "hvbot"
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except (OSError, RuntimeError):
        return None
    return path


@contextlib.contextmanager
def logging_to(
    fmt: str,
    level: str,
    secret_values: Iterable[str] = (),
    path: Path | None = None,
) -> Iterator[logging.Handler]:
    """`configure` for the duration of a block, then the root logger as it was: a command run
    in-process (tests, the demo) leaves no handler pointing at its file behind."""
    root = logging.getLogger()
    handlers, old_level = list(root.handlers), root.level
    handler = configure(fmt, level, secret_values, path=path)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        handler.close()
        for old in handlers:
            root.addHandler(old)
        root.setLevel(old_level)
