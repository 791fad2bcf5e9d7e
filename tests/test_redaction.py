"""The shared text redaction: secret values, tokens, assignments, overlaps."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.redaction import MIN_SECRET_LENGTH, Redactor

BOT_TOKEN = "xoxb-1111111111-2222222222-abcdefABCDEF"


def test_secret_values_are_replaced_longest_first() -> None:
    redact = Redactor(["pass", "pass-2026", None, ""])
    assert redact("login pass-2026 then pass") == "login *** then ***"
    assert redact("nothing here") == "nothing here"


def test_values_shorter_than_the_minimum_are_not_secrets() -> None:
    short, long = "x" * (MIN_SECRET_LENGTH - 1), "y" * MIN_SECRET_LENGTH
    redact = Redactor([short, long])
    assert redact(f"{short} {long}") == f"{short} ***"
    assert not Redactor([short]).active
    assert Redactor([long]).active


def test_the_marker_is_chosen_and_adjacent_secrets_keep_one_marker_each() -> None:
    assert Redactor(["S3cret"], marker="[redacted]")("S3cretS3cret") == "[redacted][redacted]"


def test_tokens_only_when_asked() -> None:
    text = f"token {BOT_TOKEN} and Authorization: Bearer abc.def-ghi"
    assert Redactor()(text) == text
    assert Redactor(tokens=True)(text) == "token *** and Authorization: ***"


def test_assignments_keep_the_key_and_lose_the_value() -> None:
    text = "user=bob password=hunter22 pwd: 'abc def' api_key = \"k 1\""
    assert Redactor()(text) == text
    assert Redactor(assignments=True)(text) == "user=bob password=*** pwd: *** api_key = ***"


def test_a_secret_overlapping_another_match_is_removed_whole() -> None:
    with_spaces = "ldap bind secret 77"
    assert Redactor([with_spaces], assignments=True)(f"secret: {with_spaces}.") == "secret: ***."
    inside_token = BOT_TOKEN[5:15]
    assert Redactor([inside_token], tokens=True)(f"<{BOT_TOKEN}>") == "<***>"


@given(
    st.lists(st.text("abc", min_size=MIN_SECRET_LENGTH, max_size=6), min_size=1, max_size=3),
    st.text("abc *", max_size=40),
)
def test_no_secret_value_survives(secrets: list[str], text: str) -> None:
    redacted = Redactor(secrets)(text)
    assert not any(secret in redacted for secret in secrets)
