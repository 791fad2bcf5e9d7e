"""Refusals that guess what the user meant: the common slips of a command typed in a hurry.

Each function is called where the grammar already knows the text is wrong; it only picks the
most helpful one-line refusal (and never accepts anything the grammar refuses).
"""

from __future__ import annotations

import difflib
import re
from typing import NoReturn

from commands.inventory import Host
from commands.language.cursor import Cursor
from commands.language.errors import ParseError, shown
from commands.language.tokens import Token

# `Move-VM`, `Move-VMStorage`, `Get-VM`…: a PowerShell line pasted instead of a command.
# Only Hyper-V's own verbs, so that a VM named `web-vm` is not taken for a cmdlet.
_CMDLET = re.compile(
    r"^(?:move|get|set|start|stop|restart|compare|measure|enable|disable|new|remove)-vm[a-z]*$",
    re.IGNORECASE,
)
_MOVE_CMDLETS = ("move-vm", "move-vmstorage")
# Words people put before the VM although `/migrate` already says it.
_VERBS = ("migrate", "move", "mv", "live-migrate")
_DRIVE_OR_UNC = re.compile(r"^(?:[a-z]:[\\/]|\\\\)", re.IGNORECASE)
_BULLETS = ("\u2022", "\u00b7", "-", "\u2013")
_JOINERS = ("to", "and", "&", "<->", "-")
_NETMASK = re.compile(r"^[0-9]{1,3}(?:\.[0-9]{1,3}){3}$")


def written(text: str) -> str:
    """`text` as the user should type it: quoted when it holds a space."""
    return f'"{text}"' if " " in text else text


def looks_like_path(token: Token) -> bool:
    """Whether `token` starts like an absolute Windows path (`D:\\`, `D:/` or `\\\\server`)."""
    return _DRIVE_OR_UNC.match(token.text) is not None


def refuse_missing_to(cursor: Cursor, vm: str, options: tuple[str, ...]) -> NoReturn:
    """Refuse `<vm> <something>` where `to <host>` should follow, saying what to write.

    `options` are the words that may follow `to <host>` (options written too early).
    """
    ahead = cursor.ahead()
    if _CMDLET.match(vm):
        _refuse_powershell(cursor, vm, ahead)
    if not ahead:
        cursor.fail(f"missing 'to <host>' after the VM name {shown(vm)}")
    first = ahead[0]
    later_to = next((i for i, t in enumerate(ahead) if t.is_keyword("to")), None)
    if later_to is not None and later_to > 0:
        _refuse_words_before_to(cursor, vm, ahead, later_to, options)
    host = cursor.names_host(first)
    if host is not None and vm.casefold() == "to":
        cursor.fail(f"missing the VM name: write <vm> to {host.name}")
    if host is not None:
        cursor.fail(f"missing 'to' before {shown(first.text)}: write {written(vm)} to {host.name}")
    host = cursor.names_host(ahead[1] if len(ahead) > 1 else None)
    if host is not None:
        cursor.fail(f"write 'to' instead of {shown(first.text)}: {written(vm)} to {host.name}")
    cursor.fail(f"expected 'to <host>' after the VM name {shown(vm)}, not {shown(first.text)}")


def _refuse_words_before_to(
    cursor: Cursor, vm: str, ahead: list[Token], at: int, options: tuple[str, ...]
) -> NoReturn:
    between = [t.text for t in ahead[:at]]
    destination = ahead[at + 1].text if at + 1 < len(ahead) else "<host>"
    after = "".join(f" {t.text}" for t in ahead[at + 2 :])
    if ahead[0].is_keyword(*options):
        cursor.fail(
            f"options come after 'to <host>': write {written(vm)} to {destination} "
            f"{' '.join(between)}{after}"
        )
    if at == 1 and vm.casefold() in _VERBS:
        cursor.fail(
            f"drop {shown(vm)}, /migrate already says it: write {written(between[0])} "
            f"to {destination}{after}"
        )
    words = [vm, *between]
    names = [n for w in words if w.casefold() not in ("and", "&") and (n := w.strip(","))]
    if len(names) > 1 and (len(names) < len(words) or any(w.endswith(",") for w in words)):
        cursor.fail(
            f"one VM per command: write {names[0]} to {destination}, "
            f"then {names[1]} to {destination}"
        )
    name = " ".join([vm, *between])
    cursor.fail(
        f'a VM name with spaces needs quotes: write "{name}" to {destination}{after} '
        "(one VM per command)"
    )


def _refuse_powershell(cursor: Cursor, cmdlet: str, ahead: list[Token]) -> NoReturn:
    if cmdlet.casefold() not in _MOVE_CMDLETS:
        cursor.fail(
            f"{shown(cmdlet)} is PowerShell, not a /migrate command; /migrate help lists them"
        )
    named: dict[str, str] = {}
    positional: list[str] = []
    flags: set[str] = set()
    i = 0
    while i < len(ahead):
        word = ahead[i].text
        value = ahead[i + 1].text if i + 1 < len(ahead) else None
        if word.startswith("-") and value is not None and not value.startswith("-"):
            named[word[1:].casefold()] = value
            i += 2
            continue
        if word.startswith("-"):
            flags.add(word[1:].casefold())
        else:
            positional.append(word)
        i += 1
    vm = named.get("name") or named.get("vmname") or (positional[0] if positional else None)
    vm_text = "<vm>" if vm is None else written(vm)
    storage_path = named.get("destinationstoragepath")
    if cmdlet.casefold() == "move-vmstorage":
        example = f"/migrate storage {vm_text} to {written(storage_path or '<path>')}"
    else:
        host = named.get("destinationhost") or (positional[1] if len(positional) > 1 else None)
        known = cursor.names_host(None if host is None else Token(host))
        example = f"/migrate {vm_text} to {known.name if known else host or '<host>'}"
        if storage_path is not None:
            example += f" storage-path {written(storage_path)}"
        elif "includestorage" in flags:
            example += " include-storage"
    cursor.fail(f"{shown(cmdlet)} is PowerShell; hvbot runs it for you: write {example}")


def refuse_unquoted_path(
    cursor: Cursor, option: str, path: str, token: Token, options: tuple[str, ...]
) -> None:
    """Refuse a stray word after a path value as the rest of a path with spaces.

    Returns (refusing nothing) when the word is a near-miss of one of `options`: the caller's
    "did you mean" refusal fits better. The suggested quoted path runs up to the next option.
    """
    if difflib.get_close_matches(token.keyword() or "", options, n=1):
        return
    words = [token.text]
    for following in cursor.ahead():
        if following.keyword() in options:
            break
        words.append(following.text)
    cursor.fail(
        f"unexpected {shown(token.text)} after {option} {shown(path)}; "
        f'a path with spaces needs quotes: {option} "{" ".join([path, *words])}"'
    )


def joined_subnet(token: Token, following: Token | None) -> str | None:
    """`10.0.1.0` followed by `/24` or `255.255.255.0`: the subnet written as one word."""
    if "/" in token.text or following is None:
        return None
    if following.text.startswith("/"):
        return token.text + following.text
    if _NETMASK.match(following.text):
        return f"{token.text}/{following.text}"
    return None


def refuse_action_before_host(cursor: Cursor, actions: tuple[str, ...]) -> None:
    """Refuse `host enable HV-SRV01`: an action word where the host belongs, a host after it."""
    ahead = cursor.ahead()
    if len(ahead) < 2 or not ahead[0].is_keyword(*actions) or cursor.names_host(ahead[0]):
        return
    host = cursor.names_host(ahead[1])
    if host is not None:
        words = " ".join(t.text for t in [ahead[0], *ahead[2:]])
        cursor.fail(f"name the host first: host {host.name} {words}")


def refuse_joined_hosts(cursor: Cursor, first: Host) -> None:
    """Refuse `delegation A to B` or `A and B`: the two hosts follow each other directly."""
    ahead = cursor.ahead()
    joiner = ahead[0] if ahead else None
    if joiner is None or not joiner.is_keyword(*_JOINERS) or cursor.names_host(joiner):
        return
    second = ahead[1].text if len(ahead) > 1 else "<host>"
    cursor.fail(
        f"name the two hosts one after the other, without {shown(joiner.text)}: "
        f"delegation {first.name} {second}"
    )


def refuse_slack_formatting(tokens: list[Token], usage: str) -> None:
    """Refuse a command wrapped in Slack code formatting, or behind a quote or bullet mark.

    Only for text the grammar refuses anyway: no VM name may start with a backtick or be `>`,
    and a lone bullet counts only when no `to` follows it (`• to HV-SRV02` moves VM `•`).
    """
    first = tokens[0]
    if first.quoted or len(tokens) < 2:
        return
    last = tokens[-1]
    if first.text.startswith("`") and not first.text.endswith("`") and last.text.endswith("`"):
        retyped = " ".join(_retyped(t) for t in tokens).strip("`").strip()
        raise ParseError(
            f"the command is in Slack code formatting; write it without the backticks: "
            f"/migrate {retyped}",
            usage,
        )
    if first.text == ">" or (first.text in _BULLETS and not tokens[1].is_keyword("to")):
        retyped = " ".join(_retyped(t) for t in tokens[1:])
        raise ParseError(
            f"remove the {shown(first.text)} at the start: /migrate {retyped}",
            usage,
        )


def _retyped(token: Token) -> str:
    return f'"{token.text}"' if token.quoted else token.text
