"""What every `hvbot` subcommand shares: the --config option, loading it, reporting problems."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from bot.config import DEFAULT_CONFIG_PATH, Config, ConfigError, load_config

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2


def config_option(parser: argparse.ArgumentParser) -> None:
    """Add `--config FILE` to a subcommand."""
    parser.add_argument(
        "--config", metavar="FILE", help="hvbot.toml (default: $HVBOT_CONFIG, then ./hvbot.toml)"
    )


def load_cli_config(option: str | None) -> Config:
    """The configuration named by --config, $HVBOT_CONFIG or ./hvbot.toml; ConfigError if none."""
    path = Path(option or os.environ.get("HVBOT_CONFIG") or DEFAULT_CONFIG_PATH)
    if option is None and not path.exists():
        raise ConfigError(
            [
                f"{path}: no configuration found; pass --config FILE "
                "(e.g. --config examples/hvbot.toml), set HVBOT_CONFIG, or create ./hvbot.toml"
            ]
        )
    return load_config(path)


def print_problems(problems: Iterable[str]) -> None:
    """Each problem on its own line of stderr."""
    for problem in problems:
        print(problem, file=sys.stderr)
