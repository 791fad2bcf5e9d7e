"""Request → plain data: the stable JSON shape of `hvbot parse --json`, and a readable summary."""

from __future__ import annotations

from enum import Enum

from commands.inventory import Host
from commands.language.render import render
from commands.requests import (
    CancelRequest,
    CheckRequest,
    DelegationRequest,
    DiagnoseRequest,
    Drain,
    DrainCancelRequest,
    DrainCheckRequest,
    DrainRequest,
    HelpRequest,
    HistoryRequest,
    HostNetworkAddRequest,
    HostNetworkRemoveRequest,
    HostSetRequest,
    HostShowRequest,
    HostToggleRequest,
    MigrateRequest,
    Move,
    Request,
    StatusRequest,
    StorageRequest,
    VmCompatibilityRequest,
)

JsonValue = str | int | bool | None | list[dict[str, str]] | list[str]


def _fqdn(host: Host | None) -> str | None:
    return None if host is None else host.fqdn


def _move(action: str, move: Move) -> dict[str, JsonValue]:
    return {
        "action": action,
        "vm": move.vm,
        "destination": _fqdn(move.destination),
        "source": _fqdn(move.source),
        "include_storage": move.include_storage,
        "storage_path": move.storage_path,
        "vm_path": move.vm_path,
        "reason": move.reason,
        "vhds": [],
    }


def _drain(operation: str, drain: Drain) -> dict[str, JsonValue]:
    return {
        "action": "drain",
        "operation": operation,
        "host": drain.source.fqdn,
        "destinations": [h.fqdn for h in drain.destinations],
        "include_storage": drain.include_storage,
        "include_stopped": drain.include_stopped,
        "reason": drain.reason,
    }


def to_dict(request: Request) -> dict[str, JsonValue]:
    """The request as JSON-ready data; `action` names the subcommand, hosts are FQDNs.

    Scripts depend on this shape: add keys, never rename or remove them.
    """
    data = _fields(request)
    data["canonical"] = render(request)
    return data


def _fields(request: Request) -> dict[str, JsonValue]:
    match request:
        case MigrateRequest(move=move):
            return _move("migrate", move)
        case CheckRequest(move=move):
            return _move("check", move)
        case StorageRequest():
            return {
                "action": "storage",
                "vm": request.vm,
                "destination": None,
                "source": None,
                "include_storage": True,
                "storage_path": request.storage_path,
                "vm_path": request.vm_path,
                "reason": request.reason,
                "vhds": [{"source": v.source, "destination": v.destination} for v in request.vhds],
            }
        case StatusRequest():
            return {"action": "status", "request_id": request.request_id, "vm": request.vm}
        case CancelRequest():
            return {"action": "cancel", "request_id": request.request_id}
        case HistoryRequest():
            return {
                "action": "history",
                "vm": request.vm,
                "host": _fqdn(request.host),
                "last": request.last,
            }
        case DiagnoseRequest():
            return {
                "action": "diagnose",
                "request_id": request.request_id,
                "vm": request.vm,
                "destination": _fqdn(request.destination),
            }
        case HostShowRequest():
            return {"action": "host", "operation": "show", "host": request.host.fqdn}
        case HostToggleRequest():
            return {
                "action": "host",
                "operation": "enable" if request.enabled else "disable",
                "host": request.host.fqdn,
                "enabled": request.enabled,
            }
        case HostSetRequest():
            value = request.value
            return {
                "action": "host",
                "operation": "set",
                "host": request.host.fqdn,
                "setting": request.setting.value,
                "value": value.value if isinstance(value, Enum) else value,
            }
        case HostNetworkAddRequest():
            return {
                "action": "host",
                "operation": "network-add",
                "host": request.host.fqdn,
                "subnet": request.subnet,
                "priority": request.priority,
            }
        case HostNetworkRemoveRequest():
            return {
                "action": "host",
                "operation": "network-remove",
                "host": request.host.fqdn,
                "subnet": request.subnet,
            }
        case VmCompatibilityRequest():
            return {
                "action": "vm",
                "vm": request.vm,
                "setting": "compatibility",
                "enabled": request.enabled,
            }
        case DelegationRequest():
            return {
                "action": "delegation",
                "hosts": [request.first.fqdn, request.second.fqdn],
                "fix": request.fix,
            }
        case DrainRequest(drain=drain):
            return _drain("start", drain)
        case DrainCheckRequest(drain=drain):
            return _drain("check", drain)
        case DrainCancelRequest():
            return {"action": "drain", "operation": "cancel", "request_id": request.request_id}
        case HelpRequest():
            return {"action": "help", "topic": request.topic}


def summary(request: Request) -> str:
    """A few readable lines: the canonical command, then each field that is set."""
    data = to_dict(request)
    lines = [str(data.pop("canonical"))]
    for key, value in data.items():
        if value is None or value == []:
            continue
        if isinstance(value, list):
            shown = ", ".join(
                f"{v['source']} -> {v['destination']}" if isinstance(v, dict) else v for v in value
            )
        else:
            shown = str(value).lower() if isinstance(value, bool) else str(value)
        lines.append(f"  {key}: {shown}")
    return "\n".join(lines)
