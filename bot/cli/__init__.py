"""The `hvbot` command line: one small module per subcommand group, registered here."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from bot.cli.common import EXIT_INTERRUPTED, crashed, say

# Each module exposes `register(subparsers)` and sets `func` on its parsers; imported here
# (not at package import time) so that `hvbot --help` stays cheap and side-effect free.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "bot.cli.parse",
    "bot.cli.audit",
    "bot.cli.plan",
    "bot.cli.lab",
    "bot.cli.workflow",
    "bot.cli.demo",
    "bot.cli.slack",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="hvbot", description="Slack chat-ops bot for Hyper-V live migration."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `hvbot` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        say("Interrupted.")
        return EXIT_INTERRUPTED
    except Exception:
        # Most subcommands answer their own failures; this catches what the others let out.
        return crashed()
    return code
