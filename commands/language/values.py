"""Validation of the values inside a command: VM names, hosts, Windows paths, numbers, subnets.

Each function returns the clean value or raises `Invalid` with a one-line reason that says
what would work; the parser turns that into a ParseError carrying the subcommand's usage.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

from commands.inventory import Host, Inventory
from commands.language.errors import shown
from commands.language.tokens import DASHES, Token

MAX_VM_NAME = 100
"""Hyper-V refuses longer VM names."""
MAX_PATH = 260
MAX_REASON = 500
MAX_REQUEST_ID = 2**63 - 1
"""Request ids are SQLite integers."""

# `Get-VM -Name` treats its argument as a wildcard pattern: `*` would match every VM, and the
# backtick is the pattern's escape character. `<>` would only come from a Slack link or mention.
_VM_FORBIDDEN = "*?[]`<>"
_PATH_FORBIDDEN = '<>:"|?*'
_RESERVED_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"{p}{n}" for p in ("COM", "LPT") for n in range(1, 10)]
)
_DRIVE = re.compile(r"^[A-Za-z]:\\")
_DIGITS = re.compile(r"^#?([0-9]+)$")
VHD_EXTENSIONS = (".vhdx", ".vhd")


class Invalid(Exception):
    """A value was refused; the message is one line for the user."""


def _control(text: str) -> str | None:
    for char in text:
        if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            return char
    return None


# Format characters (bidirectional overrides such as U+202E, joiners, invisible operators),
# private-use and unassigned code points: invisible, or able to reorder what is shown around
# them, so a name holding one could read as another on an approval card.
_INVISIBLE = frozenset({"Cf", "Co", "Cn", "Cs"})


def invisible(text: str) -> str | None:
    """The first invisible or direction-changing character of `text`, or None."""
    return next((c for c in text if unicodedata.category(c) in _INVISIBLE), None)


def escaped(text: str) -> str:
    """`text` with every invisible or direction-changing character written as `\\uXXXX`, so
    that free text (a reason) shows what was typed and cannot reorder what surrounds it."""
    if invisible(text) is None:
        return text
    return "".join(f"\\u{ord(c):04x}" if unicodedata.category(c) in _INVISIBLE else c for c in text)


def _refuse_invisible(what: str, text: str) -> None:
    char = invisible(text)
    if char is not None:
        raise Invalid(
            f"{what} {shown(text)} contains the invisible or direction-changing character "
            f"\\u{ord(char):04x}; retype it with plain characters"
        )


def vm_name(token: Token) -> str:
    """A VM name Hyper-V can look up exactly: no wildcard, control or mention, at most 100 chars."""
    name = token.text
    if token.mention:
        raise Invalid(f"{shown(name)} is a Slack mention, not a VM; give the VM's name")
    if not name:
        raise Invalid("the VM name is empty; give the VM's name as Hyper-V shows it")
    inner = name[1:-1]
    if len(name) > 2 and name[0] == name[-1] in "*`" and not set(inner) & set(_VM_FORBIDDEN):
        raise Invalid(
            f"VM name {shown(name)} carries Slack formatting; write {shown(inner)} "
            f"without the {name[0]}"
        )
    bad = next((c for c in name if c in _VM_FORBIDDEN), None)
    if bad in ("<", ">"):
        raise Invalid(f"VM name {shown(name)} looks like a Slack link or mention; give the name")
    if bad:
        raise Invalid(
            f"VM name {shown(name)} contains {bad!r}, which Get-VM treats as a wildcard "
            "(it could match other VMs); give the exact name"
        )
    control = _control(name)
    if control:
        raise Invalid(f"VM name {shown(name)} contains a control character; retype the name")
    _refuse_invisible("VM name", name)
    if name != name.strip():
        raise Invalid(f"VM name {shown(name)} starts or ends with a space; remove it")
    if len(name) > MAX_VM_NAME:
        raise Invalid(f"VM name {shown(name)} is longer than Hyper-V's {MAX_VM_NAME} characters")
    return name


def host(token: Token, inventory: Inventory) -> Host:
    """The inventory host `token` names (short name or FQDN, any case), or Invalid with a hint."""
    known = ", ".join(h.name for h in inventory)
    if token.mention:
        raise Invalid(f"{shown(token.text)} is a Slack mention, not a host; known hosts: {known}")
    found = lookup_host(token, inventory)
    if found is not None:
        return found
    if not token.text.strip():
        raise Invalid(f"the host name is empty; known hosts: {known}")
    _refuse_invisible("host name", token.text)
    if _is_address(token.text):
        raise Invalid(
            f"unknown host {shown(token.text)}: name hosts as the inventory does, "
            f"not by address. Known hosts: {known}"
        )
    closest = inventory.closest(token.text.translate(DASHES))
    hint = f"; did you mean {closest}?" if closest else "."
    raise Invalid(f"unknown host {shown(token.text)}{hint} Known hosts: {known}")


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def lookup_host(token: Token, inventory: Inventory) -> Host | None:
    """The inventory host an unquoted, non-mention `token` names, else None (no refusal)."""
    if token.mention:
        return None
    return inventory.find(token.text.translate(DASHES))


def windows_path(text: str, what: str) -> str:
    """An absolute Windows path (`D:\\...` or `\\\\server\\share\\...`), normalised.

    Forward slashes become backslashes and trailing separators go (except a drive root);
    `.`/`..` segments, empty segments, forbidden characters and reserved names are refused.
    """
    path = text.replace("/", "\\")
    example = f"{what} must be an absolute Windows path like D:\\Hyper-V or \\\\server\\share\\VMs"
    if _control(path):
        raise Invalid(f"{what} {shown(text)} contains a control character; retype the path")
    if _DRIVE.match(path):
        root, rest = path[:3], path[3:]
    elif path.startswith("\\\\"):
        parts = path[2:].split("\\")
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise Invalid(f"{what} {shown(text)} lacks a server or share; {example}")
        if parts[0] in (".", "?"):
            raise Invalid(f"{what} {shown(text)} is a device path; {example}")
        root, rest = "\\\\" + parts[0] + "\\" + parts[1], "\\".join(parts[2:])
        _check_segment(parts[0], text, what)
        _check_segment(parts[1], text, what)
        root = root + "\\" if rest else root
    else:
        raise Invalid(f"{what} {shown(text)} is not absolute; {example}")
    rest = rest.rstrip("\\")
    for segment in rest.split("\\") if rest else []:
        _check_segment(segment, text, what)
    clean = root + rest
    if len(clean) > MAX_PATH:
        raise Invalid(f"{what} {shown(text)} is longer than {MAX_PATH} characters")
    return clean


def _check_segment(segment: str, text: str, what: str) -> None:
    if segment in ("", ".", ".."):
        name = {"": "an empty segment (\\\\)", ".": "a '.' segment", "..": "a '..' segment"}
        raise Invalid(f"{what} {shown(text)} has {name[segment]}; write the full path")
    bad = next((c for c in segment if c in _PATH_FORBIDDEN), None)
    if bad:
        raise Invalid(f"{what} {shown(text)} contains {bad!r}, which Windows forbids in paths")
    if segment[-1] in " .":
        raise Invalid(
            f"{what} {shown(text)} has a folder or file name ending in a dot or space, "
            "which Windows silently drops; remove it"
        )
    if segment.split(".", 1)[0].rstrip(" ").upper() in _RESERVED_NAMES:
        raise Invalid(f"{what} {shown(text)} uses the reserved device name {segment!r}")


def vhd_path(text: str, what: str) -> str:
    """An absolute path to a virtual disk file (.vhdx or .vhd)."""
    path = windows_path(text, what)
    if not path.casefold().endswith(VHD_EXTENSIONS):
        raise Invalid(
            f"{what} {shown(text)} is not a virtual disk file; give its .vhdx or .vhd path"
        )
    return path


def positive_int(token: Token, what: str, maximum: int) -> int:
    """An integer between 1 and `maximum`, written in ASCII digits."""
    text = token.text.strip()
    if not re.fullmatch(r"[0-9]{1,19}", text) or not 1 <= int(text) <= maximum:
        raise Invalid(f"{what} must be a whole number from 1 to {maximum}, not {shown(text)}")
    return int(text)


def request_id(token: Token) -> int | None:
    """The request id `token` names (`#42` or `42`, unquoted), or None if it is not id-shaped."""
    match = None if token.quoted else _DIGITS.match(token.text)
    if match is None:
        return None
    digits = match.group(1)
    if len(digits) > 19 or not 1 <= int(digits) <= MAX_REQUEST_ID:
        raise Invalid(f"request id {shown(token.text)} is out of range; ids look like #42")
    return int(digits)


def on_off(token: Token, what: str) -> bool:
    """`on` → True, `off` → False."""
    if token.is_keyword("on"):
        return True
    if token.is_keyword("off"):
        return False
    raise Invalid(f"{what} must be on or off, not {shown(token.text)}")


def subnet(token: Token) -> str:
    """A network address with its prefix (`10.0.1.0/24`, `fd00::/64`), canonically written."""
    text = token.text.strip()
    example = "give a subnet like 192.168.10.0/24 or fd00:10::/64"
    address_text, slash, _ = text.partition("/")
    if not slash:
        raise Invalid(f"subnet {shown(text)} has no prefix length; {example}")
    try:
        network = ipaddress.ip_network(text, strict=False)
        address = ipaddress.ip_address(address_text)
    except ValueError:
        raise Invalid(f"{shown(text)} is not a valid subnet; {example}") from None
    if "%" in text:
        raise Invalid(f"subnet {shown(text)} carries an IPv6 zone; {example}")
    if network.prefixlen == 0:
        raise Invalid(f"subnet {shown(text)} is every network; use `set any-network on` for that")
    if address != network.network_address:
        raise Invalid(
            f"subnet {shown(text)} has host bits set; did you mean {network.with_prefixlen}?"
        )
    return network.with_prefixlen


def reason_text(tokens: list[Token]) -> str:
    """The free text after `reason`: one quoted token as written, or the words joined by spaces."""
    raw = tokens[0].text if len(tokens) == 1 else " ".join(t.text for t in tokens)
    text = " ".join(raw.split())
    if not text:
        raise Invalid("reason is empty; write why after the word reason")
    if _control(text):
        raise Invalid("reason contains a control character; retype it")
    if len(text) > MAX_REASON:
        raise Invalid(f"reason is longer than {MAX_REASON} characters; shorten it")
    return escaped(text)
