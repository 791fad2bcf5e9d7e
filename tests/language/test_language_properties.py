"""Properties: no input breaks the parser, rendering round-trips, nothing unsafe gets through."""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import itertools
from collections.abc import Iterator
from typing import Any, NoReturn
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands.inventory import Host
from commands.language import ParseError, hints, parse, parser, render
from commands.language.cursor import Cursor
from commands.language.tokens import DOUBLE_QUOTES, SINGLE_QUOTES
from commands.requests import (
    AuthType,
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
    HostSetting,
    HostShowRequest,
    HostToggleRequest,
    MigrateRequest,
    Move,
    PerformanceOption,
    Request,
    StatusRequest,
    StorageRequest,
    VhdMove,
    VmCompatibilityRequest,
)
from support.language import INVENTORY

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FRAGMENTS = [
    " ",
    "  ",
    "\u00a0",
    "\t",
    "\n",
    "\u200b",
    "to",
    "TO",
    "from",
    "include-storage",
    "storage-path",
    "vm-path",
    "reason",
    "vhd",
    "last",
    "set",
    "network",
    "add",
    "remove",
    "priority",
    "on",
    "off",
    "fix",
    "compatibility",
    "max-migrations",
    "auth",
    "kerberos",
    "performance",
    "smb",
    "any-network",
    "storage",
    "check",
    "status",
    "cancel",
    "history",
    "diagnose",
    "host",
    "vm",
    "delegation",
    "drain",
    "include-stopped",
    "help",
    "/migrate",
    "HV-SRV01",
    "hv-srv02.lab.local",
    "HV-SRV9",
    "SRV-APP01",
    "#42",
    "42",
    "0",
    "99999999999999999999",
    "&amp;",
    "&lt;",
    "&gt;",
    "&",
    "<",
    ">",
    "|",
    '"',
    "'",
    "\u201c",
    "\u201d",
    "\u2018",
    "\u2019",
    "\u201e",
    "\\",
    "\\\\",
    "C:\\",
    "D:\\VMs\\a.vhdx",
    "\\\\nas\\share",
    "..",
    ".",
    "*",
    "?",
    "[",
    "]",
    "`",
    ":",
    "<http://hv-srv02.lab.local|hv-srv02.lab.local>",
    "<http://x>",
    "<mailto:a@b|a@b>",
    "<@U123>",
    "<#C1|c>",
    "<!here>",
    "<@",
    "10.0.0.0/24",
    "fd00::/64",
    "10.0.0.1/24",
    "/0",
    "\x00",
    "\x07",
    "\u2028",
    "\u2013",
    "\ud7ff",
    "\U0001f600",
    # What the refusal hints look for.
    "Move-VM",
    "Move-VMStorage",
    "-Name",
    "-DestinationHost",
    "-IncludeStorage",
    "-DestinationStoragePath",
    "migrate",
    "move",
    "->",
    "and",
    "max-migrations=",
    "auth=kerberos",
    "/24",
    "255.255.255.0",
    "*SRV*",
    "`x`",
    "-h",
    "```",
    "\u2022",
]

text_soup = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=14).map(
    "".join
)
spaced_soup = st.lists(st.sampled_from(FRAGMENTS), max_size=10).map(" ".join)

WILDCARDS = set("*?[]")


def _invariants(request: object) -> None:
    """No VM name with a wildcard; every host from the inventory (recursively)."""
    hosts = set(INVENTORY)
    if isinstance(request, Host):
        assert request in hosts
        return
    if not dataclasses.is_dataclass(request):
        if isinstance(request, tuple):
            for item in request:
                _invariants(item)
        return
    for field in dataclasses.fields(request):
        value = getattr(request, field.name)
        if field.name == "vm" and value is not None:
            assert isinstance(value, str) and value
            assert not WILDCARDS & set(value)
        _invariants(value)


def _check_text(text: str) -> None:
    try:
        request = parse(text, INVENTORY)
    except ParseError as error:
        assert "\n" not in error.line()
        assert error.message and error.usage
        return
    _invariants(request)
    assert parse(render(request), INVENTORY) == request


def _outcome(text: str) -> Request | None:
    try:
        return parse(text, INVENTORY)
    except ParseError:
        return None


def _plain_missing_to(cursor: Cursor, vm: str, options: tuple[str, ...]) -> NoReturn:
    cursor.fail("missing to")


# The hints with their work undone: they may only pick which refusal, never whether.
_WITHOUT_HINTS: dict[str, Any] = {
    "refuse_missing_to": _plain_missing_to,
    "refuse_unquoted_path": lambda *args: None,
    "refuse_action_before_host": lambda *args: None,
    "refuse_joined_hosts": lambda *args: None,
    "refuse_slack_formatting": lambda *args: None,
    "joined_subnet": lambda *args: None,
}


@contextlib.contextmanager
def _without_hints() -> Iterator[None]:
    with (
        mock.patch.multiple(hints, **_WITHOUT_HINTS),
        mock.patch.object(parser, "_refuse_misspelt_subcommand", lambda tokens: None),
    ):
        yield


# The words the hints look at: near-valid commands made of them are common slips.
HINT_WORDS = [
    *("\u2022", "-", ">", "`x", "x`", "to", "and", "HV-SRV01", "hv-srv02", "SRV-APP01", "My"),
    *("from", "include-storage", "storage-path", "D:\\x", "vhd", "a.vhdx", "storage", "host"),
    *("enable", "set", "network", "10.0.0.0", "/24", "delegation", "Move-VM", "-Name"),
    *("status", "diagnose", "history", "5", "migrate", "stauts", "chekc", "drain", "check"),
]
near_commands = st.lists(st.sampled_from(HINT_WORDS), max_size=8).map(" ".join)


def test_hints_never_change_what_is_accepted_in_short_commands() -> None:
    texts = [
        " ".join(words)
        for size in range(1, 4)
        for words in itertools.product(HINT_WORDS, repeat=size)
    ]
    with_hints = [_outcome(text) for text in texts]
    with _without_hints():
        without = [_outcome(text) for text in texts]
    changed = [t for t, a, b in zip(texts, with_hints, without, strict=True) if a != b]
    assert not changed


@SETTINGS
@given(st.one_of(near_commands, spaced_soup))
def test_hints_never_change_what_is_accepted_in_long_commands(text: str) -> None:
    with_hints = _outcome(text)
    with _without_hints():
        without = _outcome(text)
    assert with_hints == without


@SETTINGS
@given(text_soup)
def test_any_text_parses_or_is_refused(text: str) -> None:
    _check_text(text)


@SETTINGS
@given(spaced_soup)
def test_keyword_soup_parses_or_is_refused(text: str) -> None:
    _check_text(text)


@SETTINGS
@given(st.text())
def test_unicode_text_parses_or_is_refused(text: str) -> None:
    _check_text(text)


# --- generated requests: render, then parse back to the very same request -----------------

_NAME_CHARS = st.characters(
    blacklist_categories=("Cc", "Cs", "Cf", "Co", "Cn", "Zl", "Zp", "Zs"),
    blacklist_characters="*?[]`<>\u200b\u2060\ufeff",
)


def _writable(value: str) -> bool:
    # The parser can only produce values that fit in one quoted token of some family.
    def blocked(family: frozenset[str]) -> bool:
        return any(a in family and b == " " for a, b in itertools.pairwise(value))

    return not (blocked(DOUBLE_QUOTES) and blocked(SINGLE_QUOTES))


vm_names = (
    st.text(st.one_of(_NAME_CHARS, st.just(" ")), min_size=1, max_size=100)
    .filter(lambda n: n == n.strip())
    .filter(_writable)
)
hosts = st.sampled_from(list(INVENTORY))
_SEGMENT_CHARS = st.characters(
    blacklist_categories=("Cc", "Cs", "Zl", "Zp"),
    blacklist_characters='<>:"|?*\\/\u200b\u2060\ufeff',
)
segments = (
    st.text(_SEGMENT_CHARS, min_size=1, max_size=12)
    .map(lambda s: " ".join(s.split()))
    .filter(lambda s: s not in ("", ".", "..") and s[-1] not in " .")
    .filter(lambda s: s.split(".", 1)[0].rstrip(" ").upper() not in {"CON", "PRN", "AUX", "NUL"})
    .filter(lambda s: not (len(s.split(".")[0]) == 4 and s[:3].upper() in ("COM", "LPT")))
    .filter(lambda s: s[0] not in DOUBLE_QUOTES | SINGLE_QUOTES or _writable(s))
)
drives = st.sampled_from("CDEFZcd").map(lambda d: f"{d}:\\")
roots = st.one_of(drives, st.tuples(segments, segments).map(lambda p: f"\\\\{p[0]}\\{p[1]}\\"))


def _join(root: str, parts: list[str]) -> str:
    # A drive root keeps its backslash; anything else is written without a trailing one.
    return root + "\\".join(parts) if parts else (root if root.endswith(":\\") else root[:-1])


paths = st.builds(_join, roots, st.lists(segments, max_size=5)).filter(
    lambda p: len(p) <= 260 and _writable(p)
)
vhd_paths = st.builds(
    lambda folder, name, ext: folder.rstrip("\\") + "\\" + name + ext,
    paths,
    segments,
    st.sampled_from([".vhdx", ".vhd", ".VHDX"]),
).filter(lambda p: len(p) <= 260)
reasons = (
    st.lists(st.text(_NAME_CHARS, min_size=1, max_size=10), min_size=1, max_size=8)
    .map(" ".join)
    .filter(lambda r: len(r) <= 500)
)
ids = st.integers(1, 2**63 - 1)
subnets = st.one_of(
    st.tuples(st.ip_addresses(v=4), st.integers(1, 32)),
    st.tuples(st.ip_addresses(v=6), st.integers(1, 128)),
).map(lambda p: ipaddress.ip_network(f"{p[0]}/{p[1]}", strict=False).with_prefixlen)


@st.composite
def moves(draw: st.DrawFn) -> Move:
    """Moves the parser can produce: another source, storage options that fit together."""
    destination = draw(hosts)
    source = draw(st.none() | hosts.filter(lambda h: h != destination))
    storage_path = draw(st.none() | paths)
    vm_path = draw(st.none() | paths)
    include = storage_path is not None or (vm_path is None and draw(st.booleans()))
    return Move(
        vm=draw(vm_names),
        destination=destination,
        source=source,
        include_storage=include,
        storage_path=storage_path,
        vm_path=vm_path,
        reason=draw(st.none() | reasons),
    )


@st.composite
def storage_requests(draw: st.DrawFn) -> StorageRequest:
    """Storage moves: one folder, or distinct disks keeping their extension; never empty."""
    storage_path = draw(st.none() | paths)
    vhds: list[VhdMove] = []
    if storage_path is None:
        for source, destination in draw(st.lists(st.tuples(vhd_paths, vhd_paths), max_size=3)):
            ext = source.rsplit(".", 1)[1]
            destination = destination.rsplit(".", 1)[0] + "." + ext
            taken = {p.casefold() for v in vhds for p in (v.source, v.destination)}
            pair = {source.casefold(), destination.casefold()}
            if len(pair) == 1 or pair & taken:
                continue
            vhds.append(VhdMove(source, destination))
    vm_path = draw(paths if storage_path is None and not vhds else st.none() | paths)
    return StorageRequest(
        vm=draw(vm_names),
        storage_path=storage_path,
        vhds=tuple(vhds),
        vm_path=vm_path,
        reason=draw(st.none() | reasons),
    )


@st.composite
def host_sets(draw: st.DrawFn) -> HostSetRequest:
    """One host setting with a value of its type and range."""
    setting = draw(st.sampled_from(list(HostSetting)))
    value: int | bool | AuthType | PerformanceOption
    if setting in (HostSetting.MAX_MIGRATIONS, HostSetting.MAX_STORAGE_MIGRATIONS):
        value = draw(st.integers(1, 100))
    elif setting is HostSetting.ANY_NETWORK:
        value = draw(st.booleans())
    elif setting is HostSetting.AUTH:
        value = draw(st.sampled_from(list(AuthType)))
    else:
        value = draw(st.sampled_from(list(PerformanceOption)))
    return HostSetRequest(draw(hosts), setting, value)


@st.composite
def delegations(draw: st.DrawFn) -> DelegationRequest:
    """Two different inventory hosts, with or without fix."""
    first = draw(hosts)
    second = draw(hosts.filter(lambda h: h != first))
    return DelegationRequest(first, second, draw(st.booleans()))


@st.composite
def drains(draw: st.DrawFn) -> Drain:
    """A host to empty and distinct other hosts to fill, with any flags."""
    source = draw(hosts)
    others = [h for h in INVENTORY if h != source]
    destinations = draw(
        st.permutations(others).flatmap(
            lambda p: st.sampled_from([tuple(p[:n]) for n in range(len(p) + 1)])
        )
    )
    return Drain(
        source=source,
        destinations=destinations,
        include_storage=draw(st.booleans()),
        include_stopped=draw(st.booleans()),
        reason=draw(st.none() | reasons),
    )


requests: st.SearchStrategy[Request] = st.one_of(
    moves().map(MigrateRequest),
    moves().map(CheckRequest),
    storage_requests(),
    st.builds(StatusRequest),
    ids.map(lambda i: StatusRequest(request_id=i)),
    vm_names.map(lambda v: StatusRequest(vm=v)),
    ids.map(CancelRequest),
    st.builds(
        HistoryRequest,
        vm=st.none() | vm_names,
        host=st.none(),
        last=st.none() | st.integers(1, 1000),
    ),
    st.builds(HistoryRequest, host=hosts, last=st.none() | st.integers(1, 1000)),
    ids.map(lambda i: DiagnoseRequest(request_id=i)),
    st.builds(DiagnoseRequest, vm=vm_names, destination=st.none() | hosts),
    hosts.map(HostShowRequest),
    st.builds(HostToggleRequest, host=hosts, enabled=st.booleans()),
    host_sets(),
    st.builds(
        HostNetworkAddRequest,
        host=hosts,
        subnet=subnets.filter(lambda s: not s.endswith("/0")),
        priority=st.none() | st.integers(1, 10000),
    ),
    st.builds(HostNetworkRemoveRequest, host=hosts, subnet=subnets),
    st.builds(VmCompatibilityRequest, vm=vm_names, enabled=st.booleans()),
    delegations(),
    drains().map(DrainRequest),
    drains().map(DrainCheckRequest),
    ids.map(DrainCancelRequest),
    st.builds(HelpRequest, topic=st.none() | st.sampled_from(["migrate", "storage", "host"])),
)


@SETTINGS
@given(requests)
def test_rendered_request_parses_to_itself(request: Request) -> None:
    text = render(request)
    assert parse(text, INVENTORY) == request, text
