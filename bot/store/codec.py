"""How values become stored text: UTC timestamps, JSON-safe values, canonical JSON, hashes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import json
import math
from collections.abc import Mapping
from json.encoder import encode_basestring
from pathlib import PurePath
from typing import Any

GENESIS_HASH = "0" * 64


def utc_text(moment: dt.datetime) -> str:
    """ISO-8601 in UTC with microseconds, so that text order is time order.

    A naive datetime is taken to be UTC already (the workflow speaks UTC everywhere).
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def parse_utc(text: str | None) -> dt.datetime | None:
    """The inverse of `utc_text` (None stays None)."""
    return None if text is None else dt.datetime.fromisoformat(text)


def jsonable(value: Any) -> Any:
    """`value` as plain JSON types: datetimes as UTC text, enums as values, tuples as lists.

    Non-finite floats become text because canonical JSON has no spelling for them.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dt.datetime):
        return utc_text(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, PurePath):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=canonical_json) if isinstance(value, set | frozenset) else items
    return str(value)


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8 text kept as is."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def dumps_or_none(value: Any) -> str | None:
    """Canonical JSON text of `value`, or None for None (a NULL column)."""
    return None if value is None else canonical_json(value)


def loads_or_none(text: str | None) -> Any:
    """Parse a JSON column (NULL stays None)."""
    return None if text is None else json.loads(text)


def event_hash(content: Mapping[str, Any]) -> str:
    """sha256 (hex) of the canonical JSON of an event's content, `prev_hash` included."""
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def _scalar(value: Any) -> str:
    if isinstance(value, bytes):
        return canonical_json(value.decode("utf-8", errors="replace"))
    return canonical_json(value)


def chain_text(row: tuple[Any, ...]) -> str:
    """The canonical JSON of an event's hashed content, built from its stored columns in
    `CHAIN_COLUMNS` order without parsing `data` and `changes` again.

    Both are stored as canonical JSON already, so the text is the same as `canonical_json`
    of the parsed content (`hashed_content`): verifying a million events is then one pass of
    string formatting instead of a JSON parse and dump per event. `changes` and `key_id` are
    left out when NULL, so events written before they existed keep their hashes.
    """
    (seq, request_id, kind, slack, account, name, at, state_from, state_to, data, prev_hash,
     key_id, changes) = row  # fmt: skip
    try:
        # The columns' usual types, inline: this runs once per event of the whole log.
        return _CHAIN_FORMAT % (
            "null" if account is None else _quote(account),
            "null" if name is None else _quote(name),
            _quote(slack),
            _quote(at),
            "" if changes is None else ',"changes":' + changes,
            "null" if data is None else data,
            "" if key_id is None else ',"key_id":' + _quote(key_id),
            _quote(kind),
            _quote(prev_hash),
            "null" if request_id is None else f"{request_id:d}",
            f"{seq:d}",
            "null" if state_from is None else _quote(state_from),
            "null" if state_to is None else _quote(state_to),
        )
    except (TypeError, ValueError):
        return _chain_text_any(row)


def _chain_text_any(row: tuple[Any, ...]) -> str:
    """`chain_text` for columns holding unusual types (a number in a text column, a blob)."""
    (seq, request_id, kind, slack, account, name, at, state_from, state_to, data, prev_hash,
     key_id, changes) = row  # fmt: skip
    return _CHAIN_FORMAT % (
        _scalar(account),
        _scalar(name),
        _scalar(slack),
        _scalar(at),
        "" if changes is None else ',"changes":' + str(changes),
        "null" if data is None else str(data),
        "" if key_id is None else ',"key_id":' + _scalar(key_id),
        _scalar(kind),
        _scalar(prev_hash),
        _scalar(request_id),
        _scalar(seq),
        _scalar(state_from),
        _scalar(state_to),
    )


_quote = encode_basestring
_CHAIN_FORMAT = (
    '{"actor":{"directory_account":%s,"display_name":%s,"slack_user_id":%s},"at":%s%s'
    ',"data":%s%s,"kind":%s,"prev_hash":%s,"request_id":%s,"seq":%s,"state_from":%s'
    ',"state_to":%s}'
)


CHAIN_COLUMNS = (
    "seq",
    "request_id",
    "kind",
    "actor_slack_id",
    "actor_account",
    "actor_name",
    "at",
    "state_from",
    "state_to",
    "data",
    "prev_hash",
    "key_id",
    "changes",
)
"""The `events` columns `chain_text` takes, in its order."""
