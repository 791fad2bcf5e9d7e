"""The `/migrate` command language: Slack text → validated, typed requests, and back.

`parse(text, inventory)` returns a request from `commands.requests` or raises `ParseError`
(one line: what was wrong, what would work, the usage). `render(request)` gives the canonical
text, `help_text(topic)` the help, `to_dict(request)` the stable JSON shape of `hvbot parse`.
"""

from commands.language.describe import summary, to_dict
from commands.language.errors import ParseError
from commands.language.help import command_table_markdown, help_text
from commands.language.parser import parse
from commands.language.registry import SUBCOMMANDS, TOPICS, Subcommand
from commands.language.render import render

__all__ = [
    "SUBCOMMANDS",
    "TOPICS",
    "ParseError",
    "Subcommand",
    "command_table_markdown",
    "help_text",
    "parse",
    "render",
    "summary",
    "to_dict",
]
