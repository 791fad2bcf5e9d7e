"""Typed requests and invocations to and from the JSON the audit store keeps.

A stored request must come back as the same typed request after a restart (recovery repeats
its preflight). Hosts are stored by name and resolved again through the inventory, so a host
removed from the configuration is refused rather than contacted.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from enum import Enum
from typing import Any

from commands.inventory import Host, Inventory
from commands.invocation import Invocation, Parameter, ParameterValue
from commands.language import to_dict
from commands.requests import (
    DelegationRequest,
    DrainRequest,
    HostNetworkAddRequest,
    HostNetworkRemoveRequest,
    HostSetRequest,
    HostToggleRequest,
    MigrateRequest,
    Request,
    StorageRequest,
    VmCompatibilityRequest,
)
from commands.workflow.machine import WorkflowError
from commands.workflow.records import RequestKind, RequestRecord

_TYPES: dict[str, type[Any]] = {cls.__name__: cls for cls in typing.get_args(Request)}

DRAIN_KEY = "drain"


@dataclasses.dataclass(frozen=True)
class Subject:
    """What a request changes, as the record columns describe it."""

    kind: RequestKind
    vm: str | None
    host: Host | None
    destination: Host | None
    reason: str | None


def subject_of(request: Request) -> Subject:
    """The workflow kind and subject of a request that changes something; refuses the others."""
    match request:
        case MigrateRequest(move=move):
            return Subject(
                RequestKind.MIGRATION, move.vm, move.source, move.destination, move.reason
            )
        case StorageRequest():
            return Subject(RequestKind.STORAGE_MIGRATION, request.vm, None, None, request.reason)
        case VmCompatibilityRequest():
            return Subject(RequestKind.VM_CHANGE, request.vm, None, None, None)
        case DrainRequest(drain=drain):
            return Subject(RequestKind.DRAIN, None, drain.source, None, drain.reason)
        case DelegationRequest(first=first, second=second, fix=True):
            return Subject(RequestKind.DIRECTORY_CHANGE, None, first, second, None)
        case (
            HostToggleRequest()
            | HostSetRequest()
            | HostNetworkAddRequest()
            | HostNetworkRemoveRequest()
        ):
            return Subject(RequestKind.HOST_CHANGE, None, request.host, None, None)
    raise WorkflowError(
        f"`/migrate {to_dict(request)['action']}` needs no approval: send it on its own and the "
        "bot answers at once. Approval is for changes: `/migrate <vm> to <host>`, "
        "`/migrate storage <vm> to <path>`, `/migrate host <host> enable|disable|set ...`, "
        "`/migrate vm <vm> compatibility on|off`, `/migrate drain <host>` and "
        "`/migrate delegation <host> <host> fix`."
    )


def encode_request(request: Request) -> dict[str, Any]:
    """A JSON-ready form of `request`, tagged with its type."""
    encoded = _encode(request)
    assert isinstance(encoded, dict)
    return {"type": type(request).__name__, **encoded}


def drain_of(record: RequestRecord) -> int | None:
    """The id of the drain a migration record is one move of, or None for a request of its own."""
    parent = record.request.get(DRAIN_KEY)
    return parent if isinstance(parent, int) and not isinstance(parent, bool) else None


def decode_request(data: Mapping[str, Any], inventory: Inventory) -> Request:
    """The typed request `encode_request` stored; hosts must still be in `inventory`."""
    cls = _TYPES.get(str(data.get("type")))
    if cls is None:
        raise WorkflowError(f"Stored request has an unknown type {data.get('type')!r}.")
    return typing.cast(Request, _decode(cls, data, inventory))


def invocation_from_json(data: Mapping[str, Any]) -> Invocation:
    """The `Invocation` behind `Invocation.to_json()`."""
    return Invocation(
        cmdlet=str(data["cmdlet"]),
        parameters=tuple(
            Parameter(name=str(p["name"]), value=_parameter_value(p["value"]))
            for p in data["parameters"]
        ),
    )


def invocations_from_record(invocation: Mapping[str, Any] | None) -> tuple[Invocation, ...]:
    """The exact invocations stored on a record by the preflight (empty before it ran)."""
    if not invocation:
        return ()
    return tuple(invocation_from_json(item) for item in invocation.get("invocations", ()))


def _parameter_value(value: Any) -> ParameterValue:
    if isinstance(value, list):
        return tuple({str(k): str(v) for k, v in table.items()} for table in value)
    return typing.cast(ParameterValue, value)


def _encode(value: Any) -> Any:
    if isinstance(value, Host):
        return value.name
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [_encode(item) for item in value]
    return value


def _decode(hint: Any, value: Any, inventory: Inventory) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _decode_union(typing.get_args(hint), value, inventory)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return tuple(_decode(item, v, inventory) for v in value)
    if hint is Host:
        host = inventory.find(str(value))
        if host is None:
            raise WorkflowError(f"Host {value} is no longer in the inventory.")
        return host
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        return hint(
            **{
                f.name: _decode(hints[f.name], value[f.name], inventory)
                for f in dataclasses.fields(hint)
                if f.name in value
            }
        )
    return value


def _decode_union(options: tuple[Any, ...], value: Any, inventory: Inventory) -> Any:
    candidates = [o for o in options if o is not type(None)]
    if len(candidates) == 1:
        return _decode(candidates[0], value, inventory)
    # A JSON scalar keeps its type (bool, int, str); only strings need an enum chosen.
    for option in candidates:
        if isinstance(option, type) and issubclass(option, Enum):
            try:
                return option(value)
            except ValueError:
                continue
    return value
