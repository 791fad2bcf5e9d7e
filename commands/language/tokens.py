"""Tokenizer for `/migrate` text exactly as Slack delivers it.

Slack escapes `&`, `<` and `>` as entities and wraps links and mentions in `<...>`; phones
turn quotes into typographic ones; Windows paths are full of backslashes. A POSIX `shlex`
gets every one of these wrong, so the rules here are our own:

- whitespace (any Unicode space, non-breaking ones included) separates tokens;
- a quote opens only at the start of a token, and closes at the next quote of the same
  family (`" “ ” „` or `' ‘ ’ ‚`) that is followed by whitespace or the end of the text,
  so `"Bob's VM"` and `"C:\"` both work and apostrophes inside words stay literal;
- backslashes are never escapes;
- `<http://x|label>` becomes `label`, `<http://x>` becomes `x`; `<@U123>`, `<#C1>` and
  `<!here>` become mention tokens that no VM or host position accepts;
- zero-width characters that copy and paste leave behind are dropped.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from commands.language.errors import ParseError

DOUBLE_QUOTES = frozenset('"\u201c\u201d\u201e')
SINGLE_QUOTES = frozenset("'\u2018\u2019\u201a")
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u2060\ufeff"))
_ENTITIES = (("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"))
_LINK = re.compile(r"<((?:https?|ftp|mailto|tel):[^<>|\s]*)(?:\|([^<>\n]*))?>", re.IGNORECASE)
_MENTION = re.compile(r"<[@#!][^<>\s|]*(?:\|[^<>\n]*)?>")
_SCHEME = re.compile(r"^(?:https?://|ftp://|mailto:|tel:)", re.IGNORECASE)
# Dashes that keyboards substitute for a hyphen; keywords and host names never hold them.
DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2212", "-"))


@dataclass(frozen=True)
class Token:
    """One word of the command. `quoted` tokens are never keywords; `mention` ones never names."""

    text: str
    quoted: bool = False
    mention: bool = False

    def keyword(self) -> str | None:
        """The token as a keyword (case-folded, typographic dashes as hyphens); None if quoted."""
        return None if self.quoted else self.text.translate(DASHES).casefold()

    def is_keyword(self, *words: str) -> bool:
        """Whether the token is one of `words`, written without quotes."""
        return self.keyword() in words


@dataclass(frozen=True)
class _Unit:
    """One character of plain text, or one atom (a link's text or a mention) taken whole."""

    text: str
    atom: bool = False
    mention: bool = False


def tokenize(text: str, usage: str) -> list[Token]:
    """Split Slack text into tokens; ParseError(usage=`usage`) on an unclosed quote."""
    units = _units(text.translate(_ZERO_WIDTH))
    tokens: list[Token] = []
    i = 0
    while i < len(units):
        unit = units[i]
        family = None if unit.atom else _family(unit.text)
        if not unit.atom and unit.text.isspace():
            i += 1
        elif family is not None:
            i = _quoted(units, i, family, tokens, usage)
        else:
            i = _bare(units, i, tokens)
    return tokens


def _units(text: str) -> list[_Unit]:
    units: list[_Unit] = []
    i = 0
    while i < len(text):
        if text[i] == "<":
            mention = _MENTION.match(text, i)
            if mention:
                units.append(_Unit(mention.group(0), atom=True, mention=True))
                i = mention.end()
                continue
            link = _LINK.match(text, i)
            if link:
                units.append(_Unit(_link_text(link.group(1), link.group(2)), atom=True))
                i = link.end()
                continue
        if text[i] == "&":
            entity = next((e for e in _ENTITIES if text.startswith(e[0], i)), None)
            if entity:
                units.append(_Unit(entity[1], atom=True))
                i += len(entity[0])
                continue
        units.append(_Unit(text[i]))
        i += 1
    return units


def _link_text(url: str, label: str | None) -> str:
    if label:
        return _decode_entities(label)
    return _decode_entities(_SCHEME.sub("", url).rstrip("/"))


def _decode_entities(text: str) -> str:
    # Undo Slack's escaping of `&`, `<` and `>` (the only three entities it produces).
    # `&amp;` last, so that `&amp;lt;` (a user who typed `&lt;`) stays `&lt;`.
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _family(char: str) -> frozenset[str] | None:
    if char in DOUBLE_QUOTES:
        return DOUBLE_QUOTES
    if char in SINGLE_QUOTES:
        return SINGLE_QUOTES
    return None


def _closes(units: list[_Unit], i: int, family: frozenset[str]) -> bool:
    unit = units[i]
    if unit.atom or unit.text not in family:
        return False
    after = units[i + 1] if i + 1 < len(units) else None
    return after is None or (not after.atom and after.text.isspace())


def _quoted(
    units: list[_Unit], start: int, family: frozenset[str], tokens: list[Token], usage: str
) -> int:
    parts: list[str] = []
    mention = False
    i = start + 1
    while i < len(units):
        unit = units[i]
        if _closes(units, i, family):
            tokens.append(Token("".join(parts), quoted=True, mention=mention))
            return i + 1
        # Phones and Slack put non-breaking spaces inside quoted names; nobody means them.
        parts.append(" " if not unit.atom and _is_blank(unit.text) else unit.text)
        mention = mention or unit.mention
        i += 1
    raise ParseError(
        f"unclosed quote {units[start].text} — close it with a matching quote followed by a space",
        usage,
    )


def _is_blank(char: str) -> bool:
    return unicodedata.category(char) == "Zs"


def _bare(units: list[_Unit], start: int, tokens: list[Token]) -> int:
    parts: list[str] = []
    mention = False
    i = start
    while i < len(units) and (units[i].atom or not units[i].text.isspace()):
        parts.append(units[i].text)
        mention = mention or units[i].mention
        i += 1
    tokens.append(Token("".join(parts), mention=mention))
    return i
