"""`hvbot demo`: the built-in lab and a full migration story, printed as a transcript."""

from __future__ import annotations

import argparse
import sys

from bot.cli.common import EXIT_REFUSED, answer
from bot.logs import logging_to, user_log_dir


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `demo` to `hvbot`."""
    parser = subparsers.add_parser(
        "demo",
        help="run a full migration story on the built-in lab",
        description="Start three simulated Hyper-V hosts and the Slack stand-in on loopback, "
        "run the bot's Slack app, and play a migration story through it as @alice, @bob and "
        "@carol: preflight, approval, progress, an incident thread, a failure, the audit log. "
        "The transcript is the stand-in's channel.",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=0.02,
        metavar="X",
        help="real seconds per simulated second (default 0.02: a 5-minute move takes 6 s)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    # The lab is demo-only code: imported here, never on the bot's production paths.
    from bot.demo import run_demo

    if not 0 < args.time_scale <= 1:
        print("--time-scale must be between 0 and 1 (e.g. 0.02)", file=sys.stderr)
        return EXIT_REFUSED
    # The transcript owns the terminal; anything going wrong is detailed in this file.
    folder = user_log_dir()
    log_file = None if folder is None else folder / "hvbot-demo.log"
    with logging_to("text", "WARNING", path=log_file):
        return answer(lambda: run_demo(sys.stdout, time_scale=args.time_scale), log_file)
