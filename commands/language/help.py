"""`/migrate help` texts and the README's command table, both from the registry."""

from __future__ import annotations

from commands.language.registry import BY_NAME, SUBCOMMANDS

QUOTING = (
    "Keywords are case-insensitive. Quote values with spaces (\"My VM\" or 'My VM'; "
    "typographic quotes work too), and quote a VM named like a subcommand or keyword, or "
    'only digits ("status", "42"). Backslashes are literal: "C:\\" is fine. '
    "Request ids are written #42 or 42."
)


def help_text(topic: str | None = None) -> str:
    """The general help (every usage line), or one subcommand's usage, help and examples."""
    if topic is None:
        lines = ["*hvbot: Hyper-V live migration from Slack*"]
        lines += [f"`{s.usage}` — {s.summary}" for s in SUBCOMMANDS]
        lines.append(QUOTING)
        lines.append("`/migrate help <topic>` for details: " + ", ".join(BY_NAME) + ".")
        return "\n".join(lines)
    subcommand = BY_NAME[topic]
    lines = [f"`{subcommand.usage}`", subcommand.summary, subcommand.help, "Examples:"]
    lines += [f"• `{example}`" for example in subcommand.examples]
    return "\n".join(lines)


def command_table_markdown() -> str:
    """The README's command section (between its markers): one row per subcommand, then the
    quoting rules."""
    rows = ["| Command | What it does | Example |", "| --- | --- | --- |"]
    for s in SUBCOMMANDS:
        rows.append(f"| {_cell(s.usage)} | {s.summary} | {_cell(s.examples[0])} |")
    return "\n".join([*rows, "", QUOTING]) + "\n"


def _cell(code: str) -> str:
    # A pipe inside a table cell ends the cell even in code spans, unless escaped.
    return "`" + code.replace("|", "\\|") + "`"
