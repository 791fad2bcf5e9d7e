"""The tokenizer on text as Slack delivers it."""

from __future__ import annotations

import pytest

from commands.language import ParseError
from commands.language.tokens import Token, tokenize


def words(text: str) -> list[tuple[str, bool, bool]]:
    """Each token of `text` as (text, quoted, mention)."""
    return [(t.text, t.quoted, t.mention) for t in tokenize(text, "usage")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a b", [("a", False, False), ("b", False, False)]),
        ("  a \t  b   ", [("a", False, False), ("b", False, False)]),
        ("a\u00a0b\u202fc\u2007d", [(w, False, False) for w in "abcd"]),
        ("a\u200bb", [("ab", False, False)]),
        ('"My VM" x', [("My VM", True, False), ("x", False, False)]),
        ("'My VM'", [("My VM", True, False)]),
        ("\u201cMy VM\u201d", [("My VM", True, False)]),
        ("\u201cMy VM\u201c", [("My VM", True, False)]),
        ("\u2018My VM\u2019", [("My VM", True, False)]),
        ("\u201eMy VM\u201c", [("My VM", True, False)]),
        ('"My\u00a0VM"', [("My VM", True, False)]),
        ('"Bob\'s VM"', [("Bob's VM", True, False)]),
        ("'Bob's VM'", [("Bob's VM", True, False)]),
        ("O'Brien", [("O'Brien", False, False)]),
        ("O\u2019Brien VM", [("O\u2019Brien", False, False), ("VM", False, False)]),
        ('"C:\\"', [("C:\\", True, False)]),
        ('"C:\\" to', [("C:\\", True, False), ("to", False, False)]),
        ("D:\\VMs\\new", [("D:\\VMs\\new", False, False)]),
        ("\\\\srv\\share\\x", [("\\\\srv\\share\\x", False, False)]),
        ('"say "hi"!"', [('say "hi"!', True, False)]),
        ('"a "b" c"', [('a "b', True, False), ('c"', False, False)]),
        ('""', [("", True, False)]),
        ("a&amp;b &lt;x&gt;", [("a&b", False, False), ("<x>", False, False)]),
        ("&amp;lt;", [("&lt;", False, False)]),
        ("&quot;", [("&quot;", False, False)]),
        ("<http://hv-srv02.lab.local|hv-srv02.lab.local>", [("hv-srv02.lab.local", False, False)]),
        ("<http://hv-srv02.lab.local>", [("hv-srv02.lab.local", False, False)]),
        ("<https://hv-srv02.lab.local/>", [("hv-srv02.lab.local", False, False)]),
        ("<mailto:ops@lab.local|ops@lab.local>", [("ops@lab.local", False, False)]),
        ("<http://x|a&amp;b>", [("a&b", False, False)]),
        ("<@U123>", [("<@U123>", False, True)]),
        ("<@U123|bob>", [("<@U123|bob>", False, True)]),
        ("<#C123|general> <!here>", [("<#C123|general>", False, True), ("<!here>", False, True)]),
        ('"<@U1>"', [("<@U1>", True, True)]),
        ("x<@U1>", [("x<@U1>", False, True)]),
        ("a<b", [("a<b", False, False)]),
        ("<notalink>", [("<notalink>", False, False)]),
        ('a"b"', [('a"b"', False, False)]),
        ("", []),
    ],
)
def test_tokens(text: str, expected: list[tuple[str, bool, bool]]) -> None:
    assert words(text) == expected


@pytest.mark.parametrize("text", ['"open', "'open", "\u201copen", '"C:\\"x', '"a" "b'])
def test_unclosed_quote_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError, match="unclosed quote") as caught:
        tokenize(text, "the usage")
    assert caught.value.usage == "the usage"


def test_quoted_tokens_are_never_keywords() -> None:
    assert Token("TO").is_keyword("to")
    assert Token("Include\u2013Storage").keyword() == "include-storage"
    assert Token("to", quoted=True).keyword() is None
    assert not Token("to", quoted=True).is_keyword("to")
