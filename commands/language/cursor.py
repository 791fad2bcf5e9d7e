"""A cursor over the tokens of one subcommand: takes values in order and refuses with its usage."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import NoReturn, ParamSpec, TypeVar

from commands.inventory import Host, Inventory
from commands.language import values
from commands.language.errors import ParseError, shown
from commands.language.tokens import Token

T = TypeVar("T")
P = ParamSpec("P")


class Cursor:
    """Reads one subcommand's tokens left to right; every refusal carries `usage`."""

    def __init__(self, tokens: list[Token], usage: str, inventory: Inventory) -> None:
        self._tokens = tokens
        self._position = 0
        self.usage = usage
        self.inventory = inventory

    def fail(self, message: str) -> NoReturn:
        """Refuse the command with `message` and this subcommand's usage."""
        raise ParseError(message, self.usage)

    def at_end(self) -> bool:
        """Whether every token has been consumed."""
        return self._position >= len(self._tokens)

    def peek(self) -> Token | None:
        """The next token without consuming it."""
        return None if self.at_end() else self._tokens[self._position]

    def ahead(self) -> list[Token]:
        """Every token not consumed yet, without consuming them (for hints in refusals)."""
        return self._tokens[self._position :]

    def names_host(self, token: Token | None) -> Host | None:
        """The inventory host an unquoted `token` names, else None (never refuses)."""
        if token is None or token.quoted:
            return None
        return values.lookup_host(token, self.inventory)

    def take(self, missing: str) -> Token:
        """The next token; refuses with "missing `missing`" at the end of the text."""
        token = self.peek()
        if token is None:
            self.fail(f"missing {missing}")
        self._position += 1
        return token

    def take_if(self, *keywords: str) -> Token | None:
        """The next token if it is one of `keywords` (unquoted), consumed; else None."""
        token = self.peek()
        if token is not None and token.is_keyword(*keywords):
            self._position += 1
            return token
        return None

    def expect(self, keyword: str, missing: str) -> None:
        """Consume the keyword `keyword`, or refuse saying what should have come."""
        token = self.take(missing)
        if not token.is_keyword(keyword):
            self.fail(f"expected {missing}, not {shown(token.text)}")

    def rest(self) -> list[Token]:
        """Consume and return every remaining token."""
        tokens = self.ahead()
        self._position = len(self._tokens)
        return tokens

    def end(self, after: str) -> None:
        """Refuse if anything is left after the complete command."""
        token = self.peek()
        if token is not None:
            self.fail(f"unexpected {shown(token.text)} after {after}; remove it")

    def check(self, convert: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a value check from `values`, turning its refusal into this subcommand's."""
        try:
            return convert(*args, **kwargs)
        except values.Invalid as problem:
            self.fail(str(problem))

    def vm(self) -> str:
        """The next token as a VM name."""
        return self.check(values.vm_name, self.take("the VM name"))

    def host(self, missing: str = "the host name") -> Host:
        """The next token as an inventory host."""
        return self.check(values.host, self.take(missing), self.inventory)

    def path(self, what: str) -> str:
        """The next token as an absolute Windows path."""
        return self.check(values.windows_path, self.take(f"the path after {what}").text, what)

    def number(self, what: str, maximum: int) -> int:
        """The next token as an integer from 1 to `maximum`."""
        return self.check(values.positive_int, self.take(f"a number after {what}"), what, maximum)

    def reason(self) -> str:
        """Everything after `reason`, as one line of text."""
        words = self.rest()
        if not words:
            self.fail("missing the text after reason; write why, e.g. reason patch night")
        return self.check(values.reason_text, words)

    def unknown(self, token: Token, choices: Iterable[str], where: str) -> NoReturn:
        """Refuse an unexpected word, suggesting the closest of `choices`."""
        options = list(choices)
        if token.quoted and token.text.casefold() in options:
            self.fail(f"{token.text} is a keyword here: write it without quotes")
        following = self.peek()
        joined = f"{token.keyword()}-{following.keyword()}" if following is not None else None
        if joined in options:
            self.fail(f"write {joined} as one word, with a hyphen")
        match = difflib.get_close_matches(token.keyword() or token.text.casefold(), options, n=1)
        hint = f"did you mean {match[0]}? " if match else ""
        self.fail(f"unexpected {shown(token.text)} {where}; {hint}expected {', '.join(options)}")
