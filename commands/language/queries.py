"""The forms that read: `status`, `cancel`, `history`, `diagnose`."""

from __future__ import annotations

from commands.inventory import Host
from commands.language import hints, values
from commands.language.cursor import Cursor
from commands.language.errors import shown
from commands.requests import CancelRequest, DiagnoseRequest, HistoryRequest, StatusRequest

MAX_HISTORY = 1000


def parse_status(cursor: Cursor) -> StatusRequest:
    """`status`, `status #42` or `status <vm>` (a VM named only digits is quoted)."""
    if cursor.at_end():
        return StatusRequest()
    request_id = _whole_request_id(cursor)
    if request_id is not None:
        return StatusRequest(request_id=request_id)
    vm = cursor.vm()
    _end_after_vm(cursor, vm, "status")
    return StatusRequest(vm=vm)


def parse_cancel(cursor: Cursor) -> CancelRequest:
    """`cancel #42`."""
    return CancelRequest(request_id=cancelled_id(cursor, "cancel"))


def cancelled_id(cursor: Cursor, form: str) -> int:
    """The one request id that ends `form` (`cancel`, `drain cancel`), as in `cancel #42`."""
    token = cursor.take(f"the request id, e.g. {form} #42")
    request_id = cursor.check(values.request_id, token)
    if request_id is None:
        cursor.fail(
            f"{form} takes a request id such as #42, not {shown(token.text)}; "
            "/migrate status shows the ids"
        )
    cursor.end(f"request #{request_id}")
    return request_id


def parse_history(cursor: Cursor) -> HistoryRequest:
    """`history [<vm>|<host>] [last <n>]`: an unquoted inventory host name means the host."""
    vm: str | None = None
    host: Host | None = None
    last: int | None = None
    while not cursor.at_end():
        if cursor.take_if("last"):
            if last is not None:
                cursor.fail("last is given twice; give it once")
            last = cursor.number("last", MAX_HISTORY)
            continue
        if vm is not None or host is not None:
            extra = cursor.ahead()[0].text.lstrip("#")
            if extra.isascii() and extra.isdigit() and 1 <= int(extra) <= MAX_HISTORY:
                cursor.fail(f"to show the last {int(extra)} entries, write last {int(extra)}")
            cursor.end("the VM or host name")
        token = cursor.take("a VM or host")
        found = cursor.names_host(token)
        if found is not None:
            host = found
        else:
            vm = cursor.check(values.vm_name, token)
    return HistoryRequest(vm=vm, host=host, last=last)


def parse_diagnose(cursor: Cursor) -> DiagnoseRequest:
    """`diagnose #42` or `diagnose <vm> [to <host>]`."""
    if cursor.at_end():
        cursor.fail("diagnose needs a request id such as #42 or a VM name")
    request_id = _whole_request_id(cursor)
    if request_id is not None:
        return DiagnoseRequest(request_id=request_id)
    vm = cursor.vm()
    if not cursor.take_if("to"):
        host = cursor.names_host(cursor.peek())
        if host is not None:
            cursor.fail(
                f"missing 'to' before {shown(cursor.ahead()[0].text)}: "
                f"write diagnose {hints.written(vm)} to {host.name}"
            )
        _end_after_vm(cursor, vm, "diagnose")
        return DiagnoseRequest(vm=vm)
    destination = cursor.host("the destination host after 'to'")
    cursor.end(f"to {destination.name}")
    return DiagnoseRequest(vm=vm, destination=destination)


def _end_after_vm(cursor: Cursor, vm: str, form: str) -> None:
    # `status My VM`: the likeliest story for words after a VM name is a name with spaces
    # (for diagnose, the words up to a later `to`).
    ahead = cursor.ahead()
    if not ahead:
        return
    cut = next((i for i, t in enumerate(ahead) if t.is_keyword("to")), len(ahead))
    name = " ".join([vm, *(t.text for t in ahead[:cut])])
    rest = "".join(f" {t.text}" for t in ahead[cut:])
    if cut > 0:
        cursor.fail(
            f"unexpected {shown(ahead[0].text)} after the VM name {shown(vm)}; "
            f'a VM name with spaces needs quotes: {form} "{name}"{rest}'
        )
    cursor.end(f"the VM name {shown(vm)}")


def _whole_request_id(cursor: Cursor) -> int | None:
    # Where an id or a VM may stand, an id-shaped next token is the id and ends the command;
    # anything else is left for the VM name.
    token = cursor.peek()
    request_id = None if token is None else cursor.check(values.request_id, token)
    if request_id is not None:
        cursor.take("a request id")
        cursor.end(f"request #{request_id}")
    return request_id
