"""Exact cmdlet invocations: what approvers see, what the WinRM adapter sends, what the audit keeps.

An invocation is data (cmdlet name + ordered named parameters), never script text. The WinRM
adapter sends it with `add_cmdlet`/`add_parameter`; `render()` shows the same call as the
PowerShell a human would type, with every value quoted so nothing in it can be interpreted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

Hashtable = Mapping[str, str | int]
ParameterValue = str | int | bool | Hashtable | tuple[Hashtable, ...] | tuple[str, ...] | None
"""None means a switch parameter that is present (`-IncludeStorage`); a Mapping is one
hashtable (`-Arguments @{...}`), a tuple of them an array (`-Vhds @(@{...})`), a tuple of
strings a string array (`-Paths @('a', 'b')`)."""

# PowerShell treats the typographic single quotes as quote characters too; doubling every
# one of them keeps a value from closing the literal early.
_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"


@dataclass(frozen=True)
class Parameter:
    """One named parameter. `value=None` is a switch."""

    name: str
    value: ParameterValue = None


@dataclass(frozen=True)
class Invocation:
    """One cmdlet call with named parameters, in the order they are sent."""

    cmdlet: str
    parameters: tuple[Parameter, ...] = ()

    def parameter(self, name: str) -> ParameterValue:
        """The value of parameter `name` (case-insensitive); KeyError when absent."""
        for p in self.parameters:
            if p.name.casefold() == name.casefold():
                return p.value
        raise KeyError(name)

    def has(self, name: str) -> bool:
        """Whether the invocation carries parameter `name`."""
        return any(p.name.casefold() == name.casefold() for p in self.parameters)

    def render(self) -> str:
        """The invocation as one line of PowerShell, every value a quoted literal."""
        parts = [self.cmdlet]
        for p in self.parameters:
            parts.append(f"-{p.name}" if p.value is None else f"-{p.name} {quote(p.value)}")
        return " ".join(parts)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form for the audit log and `--json` output."""
        return {
            "cmdlet": self.cmdlet,
            "parameters": [
                {"name": p.name, "value": _json_value(p.value)} for p in self.parameters
            ],
        }


def quote(value: str | int | bool | Hashtable | tuple[Hashtable, ...] | tuple[str, ...]) -> str:
    """A PowerShell literal for `value`: 'single-quoted' strings, $true/$false, @(@{...})."""
    if isinstance(value, bool):
        return "$true" if value else "$false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        escaped = "".join(c + c if c in _SINGLE_QUOTES else c for c in value)
        return f"'{escaped}'"
    if isinstance(value, Mapping):
        return _table(value)
    return "@(" + ", ".join(quote(item) for item in value) + ")"


def _table(table: Hashtable) -> str:
    return "@{" + "; ".join(f"{k} = {quote(v)}" for k, v in table.items()) + "}"


def _json_value(value: ParameterValue) -> object:
    if isinstance(value, tuple):
        return [item if isinstance(item, str) else dict(item) for item in value]
    if isinstance(value, Mapping):
        return dict(value)
    return value
