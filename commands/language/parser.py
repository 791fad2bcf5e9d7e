"""Text → typed request: the entry point of the command language."""

from __future__ import annotations

import difflib

from commands.inventory import Inventory
from commands.language import hints
from commands.language.cursor import Cursor
from commands.language.errors import ParseError, shown
from commands.language.registry import BARE, BY_WORD, GENERAL_USAGE
from commands.language.tokens import Token, tokenize
from commands.requests import HelpRequest, Request

MAX_TEXT = 4000
"""The longest /migrate text accepted (characters): far above any real command, since a move
with two paths and a 500-character reason stays under 1,500."""


def parse(text: str, inventory: Inventory) -> Request:
    """Parse the text of `/migrate` (as Slack delivers it) into a validated request.

    Raises ParseError, and nothing else, for any text that is not a valid command. Empty
    text asks for help; a leading `/migrate` (pasted along with the rest) is ignored.
    """
    if len(text) > MAX_TEXT:
        # Refused before any work: the tokenizer and the hints are linear, but a few
        # megabytes of them still take seconds of a shared worker.
        raise ParseError(
            f"the command is {len(text)} characters long; /migrate takes at most {MAX_TEXT}",
            GENERAL_USAGE,
        )
    tokens = tokenize(text, GENERAL_USAGE)
    if tokens and tokens[0].is_keyword("/migrate"):
        tokens = tokens[1:]
    if not tokens:
        return HelpRequest()
    subcommand = BY_WORD.get(tokens[0].keyword() or "")
    if subcommand is None:
        hints.refuse_slack_formatting(tokens, GENERAL_USAGE)
        _refuse_misspelt_subcommand(tokens)
        subcommand, arguments = BARE, tokens
    else:
        arguments = tokens[1:]
    cursor = Cursor(arguments, subcommand.usage, inventory)
    request = subcommand.parse(cursor)
    cursor.end("the command")
    return request


# What other tools take for help; `?` would otherwise be refused as a wildcard VM name.
_HELP_FLAGS = frozenset(("?", "-?", "/?", "-h", "/h"))


def _refuse_misspelt_subcommand(tokens: list[Token]) -> None:
    # `/migrate stauts` or `chekc SRV-APP01 to HV-SRV02` would otherwise read as a move of VM
    # `stauts` and complain about a missing `to`; unless `to` comes right after it (then it
    # is a VM, and the move may be valid), a near-miss of a subcommand is the likelier story.
    first = tokens[0].keyword()
    if first is None or (len(tokens) > 1 and tokens[1].is_keyword("to")):
        return
    if first in _HELP_FLAGS:
        raise ParseError(f"{shown(tokens[0].text)} is not a subcommand; write help", GENERAL_USAGE)
    match = difflib.get_close_matches(first, list(BY_WORD), n=1, cutoff=0.75)
    if match:
        raise ParseError(
            f"unknown subcommand {shown(tokens[0].text)}; did you mean {match[0]}? "
            "(to move a VM of that name, write '<vm> to <host>')",
            GENERAL_USAGE,
        )
