"""Between the lab contract's plain values and psrpcore's CLIXML objects, both ways.

Outgoing: `LabObject` becomes an object whose properties are *adapted* (like a real .NET
object, so pypsrp puts them in `adapted_properties`), `LabEnum` an enum with its value and
string, `LabError` an ErrorRecord. Incoming: a CreatePipeline's commands become `CommandCall`s.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from psrpcore.types import (
    CommandOrigin,
    CommandTypes,
    ErrorCategory,
    ErrorCategoryInfo,
    ErrorRecord,
    InvocationInfo,
    NETException,
    PSChar,
    PSDateTime,
    PSDict,
    PSDouble,
    PSDuration,
    PSGuid,
    PSInt,
    PSInt64,
    PSList,
    PSNoteProperty,
    PSObject,
    PSString,
    PSUInt,
    PSUInt64,
    PSVersion,
    SessionStateEntryVisibility,
    add_note_property,
)
from psrpcore.types._base import PSObjectMeta
from psrpcore.types._enum import PSEnumBase, PSEnumMeta

from lab.pipeline import (
    Char,
    CommandCall,
    Int64,
    LabEnum,
    LabError,
    LabObject,
    LabValue,
    UInt32,
    UInt64,
    Version,
)
from lab.winrm import psrpcore_fixes

# Every reply the lab serializes goes through psrpcore: correct its TimeSpans first.
psrpcore_fixes.install()

_ENUM_BASE_TYPES = ("System.Enum", "System.ValueType", "System.Object")
_EXCEPTION_BASE_TYPES = ("System.Exception", "System.Object")
_INT32 = range(-(2**31), 2**31)


@functools.lru_cache(maxsize=1024)
def _enum_class(type_names: tuple[str, ...], name: str, value: int) -> Any:
    """A one-member psrpcore enum type, so the value serializes with its .NET type and name."""
    namespace: Any = PSEnumMeta.__prepare__("LabEnumValue", (PSEnumBase,))
    namespace[name] = value
    cls: Any = PSEnumMeta("LabEnumValue", (PSEnumBase,), namespace)
    names = [*type_names, *(t for t in _ENUM_BASE_TYPES if t not in type_names)]
    cls.PSObject = PSObjectMeta(names)
    return cls


# PowerShell remoting serializes output at depth 1 (`SerializationDepthForRemoting`,
# PowerShell's engine/remoting/common/fragmentor.cs).
REMOTING_DEPTH = 1


def to_clixml(value: LabValue, depth: int = REMOTING_DEPTH) -> Any:
    """The psrpcore value that serializes `value` the way PowerShell's serializer would at `depth`.

    From PowerShell's engine/serialization.cs (`InternalSerializer.WriteOneObject`): a known
    primitive keeps its own tag at any depth; a CimInstance is always written at depth 1;
    containers cost no depth (their items are written at the container's depth); at depth 0
    anything else (an enum, a nested object) is written as `<S>` holding its ToString; above
    it an object's adapted properties are written one level deeper and its notes (instance
    members) at its own depth.
    """
    if value is None or isinstance(value, bool):
        return value
    primitive = _primitive(value)
    if primitive is not None:
        return primitive
    if isinstance(value, LabObject) and value.is_cim:
        depth = 1
    if isinstance(value, LabEnum):
        if depth == 0:
            return PSString(value.name)
        return _enum_class(value.type_names, value.name, value.value)(value.value)
    if isinstance(value, LabObject):
        return PSString(value.text()) if depth == 0 else _object(value, depth)
    if isinstance(value, Mapping):
        return PSDict({PSString(k): to_clixml(v, depth) for k, v in value.items()})
    if isinstance(value, Sequence):
        return PSList([to_clixml(item, depth) for item in value])
    return PSString(str(value))


def _primitive(value: LabValue) -> Any:
    """The tagged primitive for a value of one of PowerShell's known primitive types, or None."""
    tagged: Any = None
    if isinstance(value, Char):
        tagged = PSChar(value)
    elif isinstance(value, Version):
        tagged = PSVersion(value)
    elif isinstance(value, str):
        tagged = PSString(value)
    elif isinstance(value, Int64):
        tagged = PSInt64(value)
    elif isinstance(value, UInt32):
        tagged = PSUInt(value)
    elif isinstance(value, UInt64):
        tagged = PSUInt64(value)
    elif isinstance(value, int):
        tagged = PSInt(value) if value in _INT32 else PSInt64(value)
    elif isinstance(value, float):
        tagged = PSDouble(value)
    elif isinstance(value, uuid.UUID):
        tagged = PSGuid(str(value))
    elif isinstance(value, dt.datetime):
        tagged = PSDateTime(value)
    elif isinstance(value, dt.timedelta):
        tagged = PSDuration(value)
    return tagged


def _object(value: LabObject, depth: int) -> PSObject:
    obj = PSObject()
    names = list(value.type_names)
    if "System.Object" not in names:
        names.append("System.Object")
    obj.PSObject.type_names = names
    # A property bag has no ToString of its own, so none is written (HandleComplexTypePSObject).
    if value.to_string is not None:
        obj.PSObject.to_string = value.to_string
    obj.PSObject.adapted_properties = [
        PSNoteProperty(name, to_clixml(prop, depth - 1)) for name, prop in value.properties.items()
    ]
    obj.PSObject.extended_properties = [
        PSNoteProperty(name, to_clixml(prop, depth)) for name, prop in value.notes.items()
    ]
    return obj


def error_record(error: LabError) -> ErrorRecord:
    """The ErrorRecord PowerShell would send for `error`."""
    exception = NETException(Message=error.message, HResult=_signed32(error.hresult))
    exception.PSObject.type_names = [
        error.exception_type,
        *(t for t in _EXCEPTION_BASE_TYPES if t != error.exception_type),
    ]
    category = (
        ErrorCategory[error.category] if error.category in ErrorCategory.__members__ else None
    )
    record = ErrorRecord(
        Exception=exception,
        CategoryInfo=ErrorCategoryInfo(
            Category=category if category is not None else ErrorCategory.NotSpecified,
            Activity=error.command_name or None,
            Reason=error.exception_type.rsplit(".", 1)[-1],
            TargetName=error.target_name or None,
            TargetType=error.target_type or None,
        ),
        TargetObject=error.target_name or None,
        FullyQualifiedErrorId=error.fully_qualified_error_id,
        InvocationInfo=_invocation_info(error.command_name) if error.command_name else None,
    )
    # pypsrp asks for AddInvocationInfo, so Windows sends the cmdlet's InvocationInfo along.
    record.serialize_extended_info = record.InvocationInfo is not None
    return record


def _invocation_info(command_name: str) -> InvocationInfo:
    """How a cmdlet invoked on its own from a remote pipeline looks to PowerShell."""
    command = PSObject()
    add_note_property(command, "CommandType", CommandTypes.Cmdlet)
    add_note_property(command, "Definition", command_name)
    add_note_property(command, "Name", command_name)
    add_note_property(command, "Visibility", SessionStateEntryVisibility.Public)
    return InvocationInfo(
        BoundParameters=PSDict(),
        CommandOrigin=CommandOrigin.Runspace,
        DisplayScriptPosition=None,
        ExpectingInput=False,
        HistoryId=1,
        InvocationName=command_name,
        Line="",
        MyCommand=command,
        OffsetInLine=0,
        PipelineLength=1,
        PipelinePosition=1,
        PositionMessage="",
        PSCommandPath=None,
        PSScriptRoot="",
        ScriptLineNumber=0,
        ScriptName="",
        UnboundArguments=PSList(),
    )


def _signed32(hresult: int | None) -> int | None:
    """HRESULTs are often written unsigned (0x80070002); .NET's Exception.HResult is an Int32."""
    if hresult is None:
        return None
    hresult &= 0xFFFFFFFF
    return hresult - 2**32 if hresult >= 2**31 else hresult


def from_clixml(value: Any) -> LabValue:
    """A plain Python value from a deserialized CLIXML parameter value."""
    if value is None or isinstance(value, bool | str | float):
        return str(value) if isinstance(value, str) else value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, dt.datetime | dt.timedelta):
        return value
    if isinstance(value, Mapping):
        return {str(k): from_clixml(v) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [from_clixml(item) for item in value]
    if isinstance(value, PSObject):
        props = [*value.PSObject.adapted_properties, *value.PSObject.extended_properties]
        return {p.name: from_clixml(p.get_value(value)) for p in props}
    return str(value)


def command_calls(pipeline: Any) -> list[CommandCall]:
    """The `CommandCall`s of a psrpcore `PowerShell` pipeline, in order."""
    return [
        CommandCall(
            name=str(command.command_text),
            parameters=[
                (str(name) if name is not None else None, from_clixml(value))
                for name, value in command.parameters
            ],
            is_script=bool(command.is_script),
        )
        for command in pipeline.commands
    ]
