"""Parameter binding as PowerShell does it: names, prefixes, aliases, positions, sets, types."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lab.pipeline import LabEnum, LabObject, LabValue, TerminatingError
from lab.world import errors

ALL_SETS = "__AllParameterSets"


class Kind(enum.Enum):
    """The .NET type of a parameter, as far as conversion is concerned."""

    STRING = "System.String"
    STRINGS = "System.String[]"
    INT = "System.Int32"
    UINT = "System.UInt32"
    LONG = "System.Int64"
    BOOL = "System.Boolean"
    SWITCH = "System.Management.Automation.SwitchParameter"
    ENUM = "enum"
    HASHTABLE = "System.Collections.Hashtable"
    HASHTABLES = "System.Collections.Hashtable[]"
    OBJECT = "System.Object"


@dataclass(frozen=True)
class EnumType:
    """A .NET enum: its full name and members."""

    name: str
    members: Mapping[str, int]

    def value(self, name: str) -> LabEnum:
        """The LabEnum for member `name`."""
        return LabEnum(
            (self.name, "System.Enum", "System.ValueType", "System.Object"),
            self.members[name],
            name,
        )


@dataclass(frozen=True)
class Param:
    """One parameter: its sets (None = all), mandatory sets, position, aliases."""

    name: str
    kind: Kind
    sets: tuple[str, ...] | None = None
    mandatory: tuple[str, ...] = ()
    position: int | None = None
    aliases: tuple[str, ...] = ()
    enum_type: EnumType | None = None
    from_pipeline: bool = False
    minimum: int | None = None
    object_type: str | None = None

    def in_set(self, set_name: str) -> bool:
        """True if the parameter belongs to `set_name`."""
        return self.sets is None or set_name in self.sets


def set_key(
    name: str,
    kind: Kind,
    set_name: str,
    *,
    position: int | None = None,
    aliases: tuple[str, ...] = (),
    from_pipeline: bool = False,
    object_type: str | None = None,
) -> Param:
    """A parameter of one set only, mandatory there: naming it selects that set."""
    return Param(
        name,
        kind,
        sets=(set_name,),
        mandatory=(set_name,),
        position=position,
        aliases=aliases,
        from_pipeline=from_pipeline,
        object_type=object_type,
    )


@dataclass(frozen=True)
class CmdletSpec:
    """What the engine knows of a cmdlet's parameters."""

    name: str
    fqid_suffix: str
    params: tuple[Param, ...]
    sets: tuple[str, ...] = (ALL_SETS,)
    default_set: str = ALL_SETS
    should_process: bool = False
    # Tie-break after the default set when several sets still fit (see lab/world/NOTES.md).
    fallback_sets: tuple[str, ...] = ()

    def param(self, name: str) -> Param:
        """The parameter with canonical name `name`."""
        return next(p for p in self.params if p.name == name)


COMMON_PARAMETERS: Mapping[str, tuple[str, ...]] = {
    "Verbose": ("vb",),
    "Debug": ("db",),
    "ErrorAction": ("ea",),
    "WarningAction": ("wa",),
    "InformationAction": ("infa",),
    "ErrorVariable": ("ev",),
    "WarningVariable": ("wv",),
    "InformationVariable": ("iv",),
    "OutVariable": ("ov",),
    "OutBuffer": ("ob",),
    "PipelineVariable": ("pv",),
}
SHOULD_PROCESS_PARAMETERS: Mapping[str, tuple[str, ...]] = {"WhatIf": ("wi",), "Confirm": ("cf",)}


@dataclass
class Bound:
    """The result of binding: values by canonical name, the chosen set, common parameters."""

    values: dict[str, LabValue]
    parameter_set: str
    common: dict[str, LabValue] = field(default_factory=dict)

    def get(self, name: str, default: LabValue = None) -> LabValue:
        """The bound value of `name`, or `default`."""
        return self.values.get(name, default)

    def has(self, name: str) -> bool:
        """True if `name` was bound."""
        return name in self.values

    def flag(self, name: str) -> bool:
        """True if switch `name` was given and not `-Name:$false`."""
        return bool(self.values.get(name, False))

    @property
    def what_if(self) -> bool:
        """True when -WhatIf was given: ShouldProcess cmdlets then change nothing."""
        return bool(self.common.get("WhatIf", False))

    def text(self, name: str) -> str | None:
        """A string parameter, or None when absent."""
        value = self.values.get(name)
        return value if isinstance(value, str) else None

    def member(self, name: str) -> str | None:
        """The member name of an enum parameter, or None when absent."""
        value = self.values.get(name)
        return value.name if isinstance(value, LabEnum) else None

    def integer(self, name: str) -> int | None:
        """An integer parameter, or None when absent."""
        value = self.values.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def texts(self, name: str) -> list[str]:
        """A string array parameter, [] when absent."""
        value = self.values.get(name)
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


class _Binder:
    def __init__(self, spec: CmdletSpec) -> None:
        self.spec = spec
        self.names: dict[str, str] = {}
        for p in spec.params:
            for n in (p.name, *p.aliases):
                self.names[n.lower()] = p.name
        common = dict(COMMON_PARAMETERS)
        if spec.should_process:
            common.update(SHOULD_PROCESS_PARAMETERS)
        self.common: dict[str, str] = {}
        for name, aliases in common.items():
            for n in (name, *aliases):
                self.common[n.lower()] = name

    def fail(self, reason: str, message: str) -> TerminatingError:
        return TerminatingError(
            errors.binding_error(self.spec.name, self.spec.fqid_suffix, reason, message)
        )

    def resolve(self, given: str) -> tuple[str, bool]:
        """Canonical name of `given` and whether it is a common parameter."""
        key = given.lstrip("-").lower()
        if key in self.names:
            return self.names[key], False
        if key in self.common:
            return self.common[key], True
        matches = sorted({v for k, v in self.names.items() if k.startswith(key)})
        commons = sorted({v for k, v in self.common.items() if k.startswith(key)})
        if len(matches) + len(commons) == 1:
            return (matches[0], False) if matches else (commons[0], True)
        if not matches and not commons:
            raise self.fail(
                "NamedParameterNotFound",
                f"A parameter cannot be found that matches parameter name '{given.lstrip('-')}'.",
            )
        listed = " ".join(f"-{m}" for m in [*matches, *commons])
        raise self.fail(
            "AmbiguousParameter",
            f"Parameter cannot be processed because the parameter name '{given.lstrip('-')}' "
            f"is ambiguous. Possible matches include: {listed}.",
        )

    def convert(self, param: Param, value: LabValue) -> LabValue:
        try:
            converted = _convert(param, value)
        except ValueError as exc:
            raise self.fail(
                "CannotConvertArgumentNoMessage",
                f"Cannot bind parameter '{param.name}'. Cannot convert value \"{_show(value)}\" "
                f'to type "{_type_name(param)}". Error: "{exc}"',
            ) from exc
        if param.minimum is not None and isinstance(converted, int) and converted < param.minimum:
            raise TerminatingError(
                errors.validation_error(
                    self.spec.name,
                    self.spec.fqid_suffix,
                    param.name,
                    f"The {converted} argument is less than the minimum allowed range of "
                    f"{param.minimum}. Supply an argument that is greater than or equal to "
                    f"{param.minimum} and then try the command again.",
                )
            )
        return converted


def parameter_name(spec: CmdletSpec, given: str) -> str:
    """The canonical name PowerShell binds `given` to (prefixes, aliases, any case)."""
    return _Binder(spec).resolve(given)[0]


def bind(
    spec: CmdletSpec,
    parameters: Sequence[tuple[str | None, LabValue]],
    pipeline_param: str | None = None,
) -> Bound:
    """Bind `parameters` to `spec`, raising PowerShell's own binding errors.

    `pipeline_param` names a parameter that pipeline input will fill for each input object;
    it counts as bound when the parameter set is chosen.
    """
    binder = _Binder(spec)
    values: dict[str, LabValue] = {}
    common: dict[str, LabValue] = {}
    positional: list[LabValue] = []
    for given, value in parameters:
        if given is None:
            positional.append(value)
            continue
        name, is_common = binder.resolve(given)
        target = common if is_common else values
        if name in target:
            raise binder.fail(
                "ParameterAlreadyBound",
                f"Cannot bind parameter because parameter '{name}' is specified more than once. "
                "To provide multiple values to parameters that can accept multiple values, use "
                'the array syntax. For example, "-parameter value1,value2,value3".',
            )
        target[name] = True if value is None and is_common else value
        if not is_common:
            values[name] = binder.convert(spec.param(name), value)
    candidates = _sets_holding(spec, values)
    if not candidates:
        raise _ambiguous(binder)
    for value in positional:
        param = _next_positional(spec, values, candidates)
        if param is None:
            raise binder.fail(
                "PositionalParameterNotFound",
                f"A positional parameter cannot be found that accepts argument '{_show(value)}'.",
            )
        values[param.name] = binder.convert(param, value)
        candidates = [s for s in candidates if param.in_set(s)]
    bound_names = set(values) | ({pipeline_param} if pipeline_param else set())
    if pipeline_param:
        with_pipe = [s for s in candidates if spec.param(pipeline_param).in_set(s)]
        candidates = with_pipe or candidates
    chosen = _choose_set(spec, candidates, bound_names, binder)
    missing = [p.name for p in spec.params if chosen in p.mandatory and p.name not in bound_names]
    if missing:
        raise binder.fail(
            "MissingMandatoryParameter",
            "Cannot process command because of one or more missing mandatory parameters: "
            f"{' '.join(missing)}.",
        )
    return Bound(values=values, parameter_set=chosen, common=common)


def _ambiguous(binder: _Binder) -> TerminatingError:
    return binder.fail(
        "AmbiguousParameterSet",
        "Parameter set cannot be resolved using the specified named parameters.",
    )


def _sets_holding(spec: CmdletSpec, values: Mapping[str, LabValue]) -> list[str]:
    return [s for s in spec.sets if all(spec.param(n).in_set(s) for n in values)]


def _next_positional(
    spec: CmdletSpec, values: Mapping[str, LabValue], candidates: Sequence[str]
) -> Param | None:
    free = [
        p
        for p in spec.params
        if p.position is not None and p.name not in values and any(p.in_set(s) for s in candidates)
    ]
    if not free:
        return None
    lowest = min(p.position for p in free if p.position is not None)
    at_lowest = [p for p in free if p.position == lowest]
    preferred = [p for p in at_lowest if p.in_set(spec.default_set)]
    return (preferred or at_lowest)[0]


def _choose_set(
    spec: CmdletSpec, candidates: Sequence[str], bound: set[str], binder: _Binder
) -> str:
    if len(candidates) == 1:
        return candidates[0]
    satisfied = [
        s for s in candidates if all(p.name in bound for p in spec.params if s in p.mandatory)
    ]
    if len(satisfied) == 1:
        return satisfied[0]
    for preferred in (spec.default_set, *spec.fallback_sets):
        if preferred in (satisfied or candidates):
            return preferred
    raise _ambiguous(binder)


def _convert(param: Param, value: LabValue) -> LabValue:
    kind = param.kind
    if kind is Kind.SWITCH:
        if value is None:
            return True
        if isinstance(value, bool):
            return value
        raise ValueError("A switch parameter takes $true or $false only.")
    if kind is Kind.STRING:
        return _scalar_text(value)
    if kind is Kind.STRINGS:
        items = value if isinstance(value, list | tuple) else [value]
        return [_scalar_text(v) for v in items]
    if kind in (Kind.INT, Kind.UINT, Kind.LONG):
        number = _integer(value)
        if kind is Kind.UINT and number < 0:
            raise ValueError("Value was either too large or too small for a UInt32.")
        return number
    if kind is Kind.BOOL:
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        raise ValueError(
            'Cannot convert value "System.String" to type "System.Boolean". Boolean '
            "parameters accept only Boolean values and numbers, such as $True, $False, 1 or 0."
        )
    if kind is Kind.ENUM and param.enum_type is not None:
        return _enum(param.enum_type, value)
    if kind is Kind.HASHTABLE:
        if isinstance(value, Mapping):
            return dict(value)
        raise ValueError("Only hashtables are accepted.")
    if kind is Kind.HASHTABLES:
        items = value if isinstance(value, list | tuple) else [value]
        if not all(isinstance(v, Mapping) for v in items):
            raise ValueError("Only hashtables are accepted.")
        return [dict(v) for v in items if isinstance(v, Mapping)]
    if param.object_type is not None and not isinstance(value, LabObject | Mapping):
        raise ValueError(f"Only {param.object_type} objects are accepted.")
    return value


def _scalar_text(value: LabValue) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, str | int | float | uuid.UUID):
        return str(value)
    if isinstance(value, LabEnum):
        return value.name
    if isinstance(value, LabObject):
        return value.text()
    raise ValueError("Specified method is not supported.")


def _integer(value: LabValue) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise ValueError("Input string was not in a correct format.") from None
    raise ValueError("Input string was not in a correct format.")


def _enum(enum_type: EnumType, value: LabValue) -> LabEnum:
    if isinstance(value, LabEnum):
        value = value.name
    if isinstance(value, int) and not isinstance(value, bool):
        for name, number in enum_type.members.items():
            if number == value:
                return enum_type.value(name)
    if isinstance(value, str):
        for name in enum_type.members:
            if name.lower() == value.strip().lower():
                return enum_type.value(name)
    names = ", ".join(enum_type.members)
    raise ValueError(
        f"Unable to match the identifier name {_show(value)} to a valid enumerator name. "
        f"Specify one of the following enumerator names and try again:\n{names}"
    )


def _type_name(param: Param) -> str:
    if param.kind is Kind.ENUM and param.enum_type is not None:
        return param.enum_type.name
    return param.object_type or param.kind.value


def _show(value: LabValue) -> str:
    if isinstance(value, LabObject):
        return value.text()
    if isinstance(value, LabEnum):
        return value.name
    if isinstance(value, Mapping):
        return "System.Collections.Hashtable"
    return str(value)
