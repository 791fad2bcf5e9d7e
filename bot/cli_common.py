"""What every `hvbot` subcommand shares: the --config option, loading it, and one guard that
turns every expected failure into a short answer on stderr with the right exit code."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from bot.config import (
    DEFAULT_CONFIG_PATH,
    Config,
    ConfigError,
    Secrets,
    configured_secrets,
    load_config,
)
from bot.logs import configure, new_reference
from commands.hyperv import HyperVError
from commands.language import ParseError
from commands.plans import PlanError
from commands.workflow.machine import WorkflowError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2

log = logging.getLogger(__name__)

Action = Callable[[argparse.Namespace, Config], int]


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


def print_error(error: HyperVError) -> None:
    """A classified host error on stderr: summary, cause and fix (never remote text)."""
    where = f"{error.host}: " if error.host else ""
    print(f"{where}{error.summary}", file=sys.stderr)
    for label, text in (("cause", error.cause), ("fix", error.fix)):
        if text:
            print(f"  {label}: {text}", file=sys.stderr)


def guarded(action: Action) -> Callable[[argparse.Namespace], int]:
    """Load the configuration, run `action`, and answer every failure in a few lines:
    configuration problems, refusals (exit 2), host errors with cause and fix (exit 1), and
    anything unexpected with a reference to the full detail in the log (exit 1)."""

    def run(args: argparse.Namespace) -> int:
        try:
            config = load_cli_config(args.config)
        except ConfigError as problems:
            print_problems(problems.problems)
            return EXIT_REFUSED
        # A person at a terminal reads text; anything else gets the configured format.
        configure(
            "text" if sys.stderr.isatty() else config.logging.format,
            "WARNING",
            secret_values=configured_secrets(config, Secrets.from_environ()),
        )
        try:
            return action(args, config)
        except ParseError as refusal:
            print(refusal.line(), file=sys.stderr)
        except (PlanError, WorkflowError) as refusal:
            print(str(refusal), file=sys.stderr)
        except HyperVError as error:
            print_error(error)
            return EXIT_FAILED
        except Exception:
            reference = new_reference()
            log.exception("internal error", extra={"reference": reference})
            print(
                f"internal error (reference {reference}); the log has the detail", file=sys.stderr
            )
            return EXIT_FAILED
        return EXIT_REFUSED

    return run
