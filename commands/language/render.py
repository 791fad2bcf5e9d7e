"""Request → canonical `/migrate` text, which parses back to the same request.

The text is in the form Slack delivers (`&` before an entity name and `<` escaped), so that
`parse(render(r)) == r` holds for every request the parser can produce.
"""

from __future__ import annotations

import itertools
import re

from commands.language.admin import HOST_ACTIONS
from commands.language.drain import DRAIN_OPTIONS
from commands.language.moves import MOVE_OPTIONS, STORAGE_OPTIONS
from commands.language.registry import BY_WORD
from commands.language.tokens import DOUBLE_QUOTES, SINGLE_QUOTES, Token
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

_OTHER_KEYWORDS = (
    "/migrate",
    "last",
    "fix",
    "compatibility",
    "add",
    "remove",
    "priority",
    "on",
    "off",
)
_KEYWORDS = frozenset(
    (*BY_WORD, *MOVE_OPTIONS, *STORAGE_OPTIONS, *HOST_ACTIONS, *DRAIN_OPTIONS, *_OTHER_KEYWORDS)
)
_ID_LIKE = re.compile(r"^#?[0-9]+$")
_ENTITY_LIKE = re.compile(r"&(?=amp;|lt;|gt;)")


def quote(value: str, force: bool = False, free_text: bool = False) -> str:
    """`value` as one token, escaped where Slack's entities or links would change it.

    Quoted when it holds spaces or starts with a quote, and (unless `free_text`, where no
    keyword is read) when it reads as a keyword or a request id.
    """
    escaped = _ENTITY_LIKE.sub("&amp;", value).replace("<", "&lt;")
    needs = (
        force
        or not value
        or any(c.isspace() for c in value)
        or value[0] in DOUBLE_QUOTES | SINGLE_QUOTES
        or (not free_text and Token(value).keyword() in _KEYWORDS)
        or (not free_text and _ID_LIKE.match(value) is not None)
    )
    if not needs:
        return escaped
    # A quoted value ends at a quote of its family followed by a space, so pick the family
    # that never appears that way inside the value.
    for family, mark in ((DOUBLE_QUOTES, '"'), (SINGLE_QUOTES, "'")):
        if not any(a in family and b.isspace() for a, b in itertools.pairwise(value)):
            return f"{mark}{escaped}{mark}"
    raise ValueError(f"{value!r} cannot be written as one token")


def render(request: Request) -> str:
    """The canonical `/migrate ...` text of `request`."""
    return " ".join(["/migrate", *_words(request)])


def _words(request: Request) -> list[str]:
    match request:
        case MigrateRequest(move=move):
            return _move(move)
        case CheckRequest(move=move):
            return ["check", *_move(move)]
        case StorageRequest():
            words = ["storage", quote(request.vm)]
            if request.storage_path is not None:
                words += ["to", quote(request.storage_path)]
            for vhd in request.vhds:
                words += ["vhd", quote(vhd.source), "to", quote(vhd.destination)]
            if request.vm_path is not None:
                words += ["vm-path", quote(request.vm_path)]
            return words + _reason(request.reason)
        case StatusRequest():
            return ["status", *_id_or_vm(request.request_id, request.vm)]
        case CancelRequest():
            return ["cancel", f"#{request.request_id}"]
        case HistoryRequest():
            words = ["history"]
            if request.host is not None:
                words.append(request.host.name)
            if request.vm is not None:
                # Quoted so that a VM named like an inventory host stays a VM.
                words.append(quote(request.vm, force=True))
            return words + ([] if request.last is None else ["last", str(request.last)])
        case DiagnoseRequest():
            words = ["diagnose", *_id_or_vm(request.request_id, request.vm)]
            return words + ([] if request.destination is None else ["to", request.destination.name])
        case HostShowRequest():
            return ["host", request.host.name]
        case HostToggleRequest():
            return ["host", request.host.name, "enable" if request.enabled else "disable"]
        case HostSetRequest():
            value = request.value
            text = ("on" if value else "off") if isinstance(value, bool) else str(value).casefold()
            return ["host", request.host.name, "set", request.setting.value, text]
        case HostNetworkAddRequest():
            words = ["host", request.host.name, "network", "add", request.subnet]
            return words + ([] if request.priority is None else ["priority", str(request.priority)])
        case HostNetworkRemoveRequest():
            return ["host", request.host.name, "network", "remove", request.subnet]
        case VmCompatibilityRequest():
            return ["vm", quote(request.vm), "compatibility", "on" if request.enabled else "off"]
        case DelegationRequest():
            words = ["delegation", request.first.name, request.second.name]
            return words + (["fix"] if request.fix else [])
        case DrainRequest(drain=drain):
            return ["drain", *_drain(drain)]
        case DrainCheckRequest(drain=drain):
            return ["drain", "check", *_drain(drain)]
        case DrainCancelRequest():
            return ["drain", "cancel", f"#{request.request_id}"]
        case HelpRequest():
            return ["help"] + ([] if request.topic is None else [request.topic])


def _move(move: Move) -> list[str]:
    words = [quote(move.vm), "to", move.destination.name]
    if move.source is not None:
        words += ["from", move.source.name]
    if move.include_storage and move.storage_path is None:
        words.append("include-storage")
    if move.storage_path is not None:
        words += ["storage-path", quote(move.storage_path)]
    if move.vm_path is not None:
        words += ["vm-path", quote(move.vm_path)]
    return words + _reason(move.reason)


def _drain(drain: Drain) -> list[str]:
    words = [drain.source.name]
    if drain.destinations:
        words += ["to", *(h.name for h in drain.destinations)]
    if drain.include_storage:
        words.append("include-storage")
    if drain.include_stopped:
        words.append("include-stopped")
    return words + _reason(drain.reason)


def _id_or_vm(request_id: int | None, vm: str | None) -> list[str]:
    if request_id is not None:
        return [f"#{request_id}"]
    return [] if vm is None else [quote(vm)]


def _reason(reason: str | None) -> list[str]:
    # Word by word: `reason` takes the rest of the line, and a word never holds a space.
    return (
        [] if reason is None else ["reason", *(quote(w, free_text=True) for w in reason.split(" "))]
    )
