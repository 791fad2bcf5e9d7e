"""The forms that move a VM: `/migrate <vm> to <host>`, `check`, and `storage`."""

from __future__ import annotations

from commands.inventory import Host
from commands.language import hints, values
from commands.language.cursor import Cursor
from commands.language.errors import shown
from commands.requests import CheckRequest, MigrateRequest, Move, StorageRequest, VhdMove

MOVE_OPTIONS = ("from", "include-storage", "storage-path", "vm-path", "reason")
STORAGE_OPTIONS = ("to", "vhd", "vm-path", "reason")
_TO_OR_VHD = "give either 'to <path>' for all disks or 'vhd <src> to <dst>', not both"


def parse_migrate(cursor: Cursor) -> MigrateRequest:
    """`<vm> to <host> [options]`: a live migration to another host."""
    return MigrateRequest(_parse_move(cursor))


def parse_check(cursor: Cursor) -> CheckRequest:
    """`check <vm> to <host> [options]`: the same move, preflight only."""
    return CheckRequest(_parse_move(cursor))


def _parse_move(cursor: Cursor) -> Move:
    """The VM, its destination and the move options, in any order after `to <host>`."""
    vm = cursor.vm()
    if cursor.take_if("to") is None:
        hints.refuse_missing_to(cursor, vm, MOVE_OPTIONS)
    destination = cursor.host("the destination host after 'to'")
    source: Host | None = None
    include_storage = False
    storage_path: str | None = None
    vm_path: str | None = None
    reason: str | None = None
    seen: set[str] = set()
    last_path: tuple[str, str] | None = None
    while not cursor.at_end():
        token = cursor.take("an option")
        word = token.keyword()
        if word is None or word not in MOVE_OPTIONS:
            if last_path is not None:
                hints.refuse_unquoted_path(cursor, *last_path, token, MOVE_OPTIONS)
            cursor.unknown(token, MOVE_OPTIONS, f"after 'to {destination.name}'")
        _once(cursor, word, seen)
        last_path = None
        if word == "from":
            source = cursor.host("the source host after 'from'")
        elif word == "include-storage":
            include_storage = True
        elif word == "storage-path":
            storage_path = cursor.path("storage-path")
            last_path = (word, storage_path)
        elif word == "vm-path":
            vm_path = cursor.path("vm-path")
            last_path = (word, vm_path)
        else:
            reason = cursor.reason()
    if source == destination:
        cursor.fail(
            f"source and destination are both {destination.name}; name another destination host"
        )
    if include_storage and vm_path is not None and storage_path is None:
        cursor.fail(
            "include-storage with vm-path needs storage-path for the disks; "
            "to keep everything in one folder, use storage-path alone"
        )
    return Move(
        vm=vm,
        destination=destination,
        source=source,
        include_storage=include_storage or storage_path is not None,
        storage_path=storage_path,
        vm_path=vm_path,
        reason=reason,
    )


def parse_storage(cursor: Cursor) -> StorageRequest:
    """`storage <vm> to <path>` or `storage <vm> vhd <src> to <dst> ...`, on the VM's own host."""
    vm = cursor.vm()
    storage_path: str | None = None
    vhds: list[VhdMove] = []
    vm_path: str | None = None
    reason: str | None = None
    seen: set[str] = set()
    last_path: tuple[str, str] | None = None
    while not cursor.at_end():
        token = cursor.take("an option")
        word = token.keyword()
        if word not in STORAGE_OPTIONS and last_path is not None:
            hints.refuse_unquoted_path(cursor, *last_path, token, STORAGE_OPTIONS)
        last_path = None
        if word in ("to", "vm-path"):
            _once(cursor, word, seen)
        if word == "to":
            if vhds:
                cursor.fail(_TO_OR_VHD)
            storage_path = cursor.path("to")
            last_path = (word, storage_path)
        elif word == "vhd":
            if storage_path is not None:
                cursor.fail(_TO_OR_VHD)
            vhds.append(_vhd(cursor, vhds))
        elif word == "vm-path":
            vm_path = cursor.path("vm-path")
            last_path = (word, vm_path)
        elif word == "reason":
            reason = cursor.reason()
        elif hints.looks_like_path(token) and storage_path is None and not vhds:
            cursor.fail(
                f"missing 'to' before {shown(token.text)}: "
                f"write storage {hints.written(vm)} to {token.text}"
            )
        else:
            cursor.unknown(token, STORAGE_OPTIONS, f"in a storage move of {shown(vm)}")
    if storage_path is None and not vhds and vm_path is None:
        cursor.fail(
            f"say where the storage of {shown(vm)} goes: 'to <path>' or 'vhd <src> to <dst>'"
        )
    return StorageRequest(
        vm=vm, storage_path=storage_path, vhds=tuple(vhds), vm_path=vm_path, reason=reason
    )


def _once(cursor: Cursor, word: str, seen: set[str]) -> None:
    if word in seen:
        cursor.fail(f"{'to <path>' if word == 'to' else word} is given twice; give it once")
    seen.add(word)


def _vhd(cursor: Cursor, earlier: list[VhdMove]) -> VhdMove:
    source = _disk(cursor, "vhd", "vhd", "the disk path after vhd", ("to",))
    cursor.expect("to", f"'to <destination file>' after vhd {shown(source)}")
    destination = _disk(
        cursor, "to", "vhd destination", "the destination file after 'to'", STORAGE_OPTIONS
    )
    if source.casefold() == destination.casefold():
        cursor.fail(f"vhd {shown(source)} is already there; give a different destination")
    if source.rsplit(".", 1)[1].casefold() != destination.rsplit(".", 1)[1].casefold():
        cursor.fail(f"vhd {shown(source)} cannot change format in a move; keep its extension")
    for move in earlier:
        if move.source.casefold() == source.casefold():
            cursor.fail(f"vhd {shown(source)} is listed twice; list each disk once")
        if move.source.casefold() == destination.casefold():
            cursor.fail(f"{shown(destination)} is where another disk lives now; pick a new file")
        if move.destination.casefold() == source.casefold():
            cursor.fail(f"{shown(source)} is the destination of another disk; list each disk once")
        if move.destination.casefold() == destination.casefold():
            cursor.fail(
                f"two disks cannot both move to {shown(destination)}; give each its own file"
            )
    return VhdMove(source=source, destination=destination)


def _disk(cursor: Cursor, option: str, what: str, missing: str, stops: tuple[str, ...]) -> str:
    # `vhd C:\ProgramData\…\Virtual Hard Disks\a.vhdx` unquoted: the first word is no disk
    # file and more words follow before the next keyword, so say the path needs quotes.
    token = cursor.take(missing)
    following = cursor.peek()
    if (
        following is not None
        and following.keyword() not in stops
        and not token.text.casefold().endswith(values.VHD_EXTENSIONS)
    ):
        cursor.take("the rest of the path")
        hints.refuse_unquoted_path(cursor, option, token.text, following, stops)
    return cursor.check(values.vhd_path, token.text, what)
