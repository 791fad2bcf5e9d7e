"""`/migrate drain`: empty a host for maintenance, check that plan, or stop a drain."""

from __future__ import annotations

import difflib
from typing import NoReturn

from commands.inventory import Host
from commands.language.cursor import Cursor
from commands.language.errors import shown
from commands.language.queries import cancelled_id
from commands.language.tokens import Token
from commands.requests import Drain, DrainCancelRequest, DrainCheckRequest, DrainRequest

DRAIN_OPTIONS = ("to", "include-storage", "include-stopped", "reason")
DRAIN_FORMS = ("check", "cancel")
# Options of a single move that a drain has no place for: each VM keeps its own paths.
_SINGLE_MOVE_OPTIONS = ("from", "storage-path", "vm-path")


def parse_drain(cursor: Cursor) -> DrainRequest | DrainCheckRequest | DrainCancelRequest:
    """`drain <host> [options]`, `drain check <host> [options]` or `drain cancel #<id>`."""
    if cursor.take_if("cancel"):
        return DrainCancelRequest(request_id=cancelled_id(cursor, "drain cancel"))
    if cursor.take_if("check"):
        return DrainCheckRequest(_parse(cursor))
    return DrainRequest(_parse(cursor))


def _parse(cursor: Cursor) -> Drain:
    """The host to empty, then `to <host>...` and the flags, in any order."""
    source = cursor.host("the host to drain")
    destinations: tuple[Host, ...] = ()
    flags: set[str] = set()
    reason: str | None = None
    seen: set[str] = set()
    while not cursor.at_end():
        token = cursor.take("an option")
        word = token.keyword()
        if word is None or word not in DRAIN_OPTIONS:
            _refuse_option(cursor, source, token)
        if word in seen:
            cursor.fail(f"{word} is given twice; give it once")
        seen.add(word)
        if word == "to":
            destinations = _destinations(cursor, source)
        elif word == "reason":
            reason = cursor.reason()
        else:
            flags.add(word)
    return Drain(
        source=source,
        destinations=destinations,
        include_storage="include-storage" in flags,
        include_stopped="include-stopped" in flags,
        reason=reason,
    )


def _destinations(cursor: Cursor, source: Host) -> tuple[Host, ...]:
    # `to` takes hosts until the next option word: `to HV-SRV02 HV-SRV03 include-storage`.
    chosen: list[Host] = []
    while True:
        host = cursor.host("a destination host after 'to'")
        if host == source:
            cursor.fail(
                f"{source.name} is the host being drained; name other hosts after 'to' "
                "(or leave 'to' out to use every other host)"
            )
        if host in chosen:
            cursor.fail(f"{host.name} is listed twice after 'to'; list each host once")
        chosen.append(host)
        following = cursor.peek()
        if following is None or following.keyword() in DRAIN_OPTIONS:
            return tuple(chosen)
        if cursor.names_host(following) is None and _near_option(following.keyword()):
            return tuple(chosen)


def _near_option(word: str | None) -> bool:
    # A misspelt flag after the hosts (`include-storag`) is refused as an option, not a host.
    return word is not None and bool(difflib.get_close_matches(word, DRAIN_OPTIONS, n=1))


def _refuse_option(cursor: Cursor, source: Host, token: Token) -> NoReturn:
    """Refuse a word that is no drain option, with the likeliest fix."""
    host = cursor.names_host(token)
    if host is not None:
        cursor.fail(
            f"missing 'to' before {shown(token.text)}: write drain {source.name} to {host.name}"
        )
    word = token.keyword()
    if word in _SINGLE_MOVE_OPTIONS:
        cursor.fail(
            f"{word} does not apply to a drain (each VM keeps its own paths); "
            "move that VM on its own with /migrate <vm> to <host> " + word
        )
    cursor.unknown(token, DRAIN_OPTIONS, f"after drain {source.name}")
