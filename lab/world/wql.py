"""The small WQL subset Get-CimInstance -Filter/-Query and Invoke-CimMethod -Query accept."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lab.pipeline import LabValue

_CONDITION = re.compile(
    r"\s*(\w+)\s*(=|!=|<>|<=|>=|<|>)\s*('(?:[^']|'')*'|\"[^\"]*\"|-?\d+|true|false)\s*",
    re.IGNORECASE,
)
_QUERY = re.compile(r"\s*select\s+\*\s+from\s+(\w+)(?:\s+where\s+(.+))?\s*$", re.IGNORECASE)
_OPERATORS: Mapping[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<>": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}


class WqlError(ValueError):
    """The text is not WQL the lab understands (WMI says: Invalid query)."""


@dataclass(frozen=True)
class Condition:
    """`Property op literal`."""

    prop: str
    op: str
    value: str | int | bool

    def matches(self, properties: Mapping[str, LabValue]) -> bool:
        """Compare like WMI: strings without regard to case."""
        actual = next((v for k, v in properties.items() if k.lower() == self.prop.lower()), None)
        expected: object = self.value
        if isinstance(actual, str) and isinstance(expected, str):
            actual, expected = actual.lower(), expected.lower()
        try:
            return bool(_OPERATORS[self.op](actual, expected))
        except TypeError:
            return False


def parse_filter(text: str) -> list[Condition]:
    """Conditions joined by AND."""
    conditions: list[Condition] = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        found = _CONDITION.fullmatch(part)
        if found is None:
            raise WqlError(text)
        prop, op, literal = found.groups()
        conditions.append(Condition(prop, op, _literal(literal)))
    return conditions


def parse_query(text: str) -> tuple[str, list[Condition]]:
    """`SELECT * FROM Class [WHERE ...]` → class name and conditions."""
    found = _QUERY.match(text)
    if found is None:
        raise WqlError(text)
    cls, where = found.groups()
    return cls, parse_filter(where) if where else []


def _literal(text: str) -> str | int | bool:
    if text[0] in "'\"":
        return text[1:-1].replace("''", "'")
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return int(text)
