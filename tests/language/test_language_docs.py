"""The registry documents every subcommand, and the README's table is the registry's."""

from __future__ import annotations

from pathlib import Path

import pytest

from commands.language import (
    SUBCOMMANDS,
    TOPICS,
    command_table_markdown,
    help_text,
    render,
    to_dict,
)
from commands.language.registry import Subcommand
from commands.requests import HelpRequest
from support.language import ok, refusal

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- commands:start -->\n", "<!-- commands:end -->"


@pytest.mark.parametrize("subcommand", SUBCOMMANDS, ids=[s.name for s in SUBCOMMANDS])
def test_every_subcommand_is_documented(subcommand: Subcommand) -> None:
    assert subcommand.usage.startswith("/migrate")
    assert "\n" not in subcommand.usage
    assert subcommand.summary.strip() and subcommand.help.strip()
    assert subcommand.examples
    if subcommand.word is not None:
        assert subcommand.usage.startswith(f"/migrate {subcommand.word}")


@pytest.mark.parametrize(
    ("name", "example"),
    [(s.name, e) for s in SUBCOMMANDS for e in s.examples],
)
def test_every_example_parses_to_its_own_subcommand(name: str, example: str) -> None:
    request = ok(example)
    assert to_dict(request)["action"] == name
    assert ok(render(request)) == request


def test_every_topic_parses_as_help() -> None:
    for topic in TOPICS:
        assert ok(f"help {topic}") == HelpRequest(topic=topic)


def test_general_help_lists_every_usage_line() -> None:
    text = help_text()
    for subcommand in SUBCOMMANDS:
        assert subcommand.usage in text


@pytest.mark.parametrize("topic", TOPICS)
def test_topic_help_shows_usage_and_examples(topic: str) -> None:
    subcommand = next(s for s in SUBCOMMANDS if s.name == topic)
    text = help_text(topic)
    assert text.startswith(f"`{subcommand.usage}`")
    for example in subcommand.examples:
        assert example in text


def test_readme_command_table_is_generated_from_the_registry() -> None:
    readme = README.read_text(encoding="utf-8")
    assert START in readme and END in readme, "README.md lacks the command table markers"
    section = readme.split(START, 1)[1].split(END, 1)[0]
    expected = command_table_markdown()
    assert section == expected, (
        "README.md's command table is stale; put this between the markers:\n" + expected
    )


def test_command_table_has_one_row_per_subcommand() -> None:
    rows = [line for line in command_table_markdown().splitlines() if line.startswith("| `")]
    assert len(rows) == len(SUBCOMMANDS)
    # Escaped pipes keep every row at exactly three cells.
    for row in rows:
        assert row.replace("\\|", "").count("|") == 4


def test_unknown_topic_lists_the_topics() -> None:
    error = refusal("help everything")
    for topic in TOPICS:
        assert topic in error.message
