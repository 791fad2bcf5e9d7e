"""Reading values out of deserialized PowerShell objects.

Real .NET objects carry their properties as *adapted* properties; `Select-Object` and
custom objects carry *extended* ones (architecture §6): every read looks in both. The bot's own
scripts send plain text and numbers, but a value may arrive in any form Windows can send
it: an enum as its text (below the top level) or as an object whose ToString is the name
(in a note property), a Guid as `uuid.UUID`, a Char as a one-character string (`"\x00"`
when empty), datetimes and timespans as their XML text.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

_DURATION = re.compile(
    r"^(?P<sign>-)?P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
_FRACTION = re.compile(r"\.(\d+)")


def prop(obj: Any, name: str) -> Any:
    """Property `name` of `obj` (adapted, then extended; case-insensitive), or None."""
    if obj is None:
        return None
    for table_name in ("adapted_properties", "extended_properties"):
        table = getattr(obj, table_name, None)
        if not isinstance(table, dict):
            continue
        if name in table:
            return table[name]
        folded = name.casefold()
        for key, value in table.items():
            if isinstance(key, str) and key.casefold() == folded:
                return value
    if isinstance(obj, dict):
        return obj.get(name)
    return None


def text_of(value: Any) -> str | None:
    """The text of a value: strings as they are, objects (enums, versions) by their ToString."""
    if value is None:
        return None
    if isinstance(value, str):
        # .NET's empty Char ([char]0) arrives as "\x00": it means no value.
        return "" if value == "\x00" else value
    if isinstance(value, bool | int | float):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    to_string = getattr(value, "to_string", None) or getattr(value, "_to_string", None)
    if isinstance(to_string, str):
        return to_string
    return None


def text(obj: Any, name: str, default: str = "") -> str:
    """Property `name` as text."""
    value = text_of(prop(obj, name))
    return default if value is None else value


def number(obj: Any, name: str, default: int = 0) -> int:
    """Property `name` as an integer (enums give their value, text is parsed)."""
    return as_int(prop(obj, name), default)


def as_int(value: Any, default: int = 0) -> int:
    """An integer from an int, a numeric string or an enum object; `default` otherwise."""
    result = _int_or_none(value)
    return default if result is None else result


def optional_int(obj: Any, name: str) -> int | None:
    """Property `name` as an integer, or None when absent or not a number."""
    return _int_or_none(prop(obj, name))


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool | int):
        return int(value)
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    sets = getattr(value, "property_sets", None)
    if isinstance(sets, list) and sets and isinstance(sets[0], int):
        return sets[0]
    return None


def flag(obj: Any, name: str) -> bool:
    """Property `name` as a boolean (PowerShell's `True`/`False` text accepted)."""
    value = prop(obj, name)
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().casefold() == "true"
    return bool(as_int(value))


def items(value: Any) -> list[Any]:
    """A property holding a collection as a list (a single object becomes a one-item list)."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def texts(value: Any) -> tuple[str, ...]:
    """A collection property as its non-empty texts."""
    return tuple(t for t in (text_of(item) for item in items(value)) if t)


def timestamp(value: Any) -> dt.datetime | None:
    """A CLIXML DateTime (`2026-11-25T21:03:04.1234567+00:00`, or `Z`) as an aware datetime.

    .NET writes seven fractional digits, Python reads six: cut the extra ones. A value with
    no offset is taken as UTC (how the bot's hosts are compared).
    """
    raw = text_of(value)
    if not raw:
        return None
    cleaned = _FRACTION.sub(lambda m: "." + m.group(1)[:6], raw.strip()).replace("Z", "+00:00")
    try:
        parsed = dt.datetime.fromisoformat(cleaned)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def seconds(value: Any) -> float:
    """A duration in seconds from an xs:duration (`PT1M2.5S`), a CIM interval or a number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raw = text_of(value) or ""
    match = _DURATION.match(raw.strip())
    if match:
        total = (
            int(match["d"] or 0) * 86400
            + int(match["h"] or 0) * 3600
            + int(match["m"] or 0) * 60
            + float(match["s"] or 0)
        )
        return -total if match["sign"] else total
    # CIM datetime interval: ddddddddhhmmss.mmmmmm:000
    cim = re.match(r"^(\d{8})(\d{2})(\d{2})(\d{2})\.(\d{6}):000$", raw.strip())
    if cim:
        d, h, m, s, us = (int(g) for g in cim.groups())
        return d * 86400 + h * 3600 + m * 60 + s + us / 1e6
    try:
        return float(raw)
    except ValueError:
        return 0.0
