"""Shared inventory and helpers for the command language tests."""

from __future__ import annotations

from commands.inventory import Host, Inventory
from commands.language import ParseError, parse
from commands.requests import Request

SRV01 = Host("HV-SRV01", "hv-srv01.lab.local", critical=True)
SRV02 = Host("HV-SRV02", "hv-srv02.lab.local")
SRV03 = Host("HV-SRV03", "hv-srv03.lab.local")
INVENTORY = Inventory([SRV01, SRV02, SRV03])


def ok(text: str) -> Request:
    """Parse `text` against the lab inventory."""
    return parse(text, INVENTORY)


def refusal(text: str) -> ParseError:
    """The ParseError `text` must raise (fails the test if it parses)."""
    try:
        request = parse(text, INVENTORY)
    except ParseError as error:
        return error
    raise AssertionError(f"{text!r} parsed to {request!r}, expected a refusal")
