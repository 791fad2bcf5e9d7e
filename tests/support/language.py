"""Shared inventory and helpers for the command language tests."""

from __future__ import annotations

from commands.language import ParseError, parse
from commands.requests import Request
from support.hosts import inventory

SRV01, SRV02, SRV03 = INVENTORY = inventory(
    "HV-SRV01", "HV-SRV02", "HV-SRV03", critical={"HV-SRV01"}
)


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
