"""What every `hvbot` subcommand shares: the --config option, loading it, and one guard that
turns every expected failure into a short answer on stderr with the right exit code."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sqlite3
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from bot.config import (
    DEFAULT_CONFIG_PATH,
    Config,
    ConfigError,
    Secrets,
    configured_secrets,
    load_config,
)
from bot.console import plain_mentions
from bot.logs import bind, logging_to, new_reference, user_log_dir
from bot.store import AuditKeyError, database_path
from commands.hyperv import ErrorKind, HyperVError
from commands.language import ParseError, to_dict
from commands.plans import PlanError
from commands.requests import DelegationRequest, DrainRequest, Request, runs_on_a_host
from commands.workflow.machine import WorkflowError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2
EXIT_INTERRUPTED = 130
# 128 + SIGPIPE, what a shell reports for a reader that stopped early (as `hvbot audit` does).
EXIT_BROKEN_PIPE = 141

# The hosts answered, and the answer is no: the request is refused, nothing failed.
_ANSWERED_NO = frozenset({ErrorKind.VM_NOT_FOUND, ErrorKind.VM_AMBIGUOUS})

log = logging.getLogger(__name__)

Action = Callable[[argparse.Namespace, Config], int]


def config_option(parser: argparse.ArgumentParser) -> None:
    """Add `--config FILE` to a subcommand."""
    parser.add_argument(
        "--config", metavar="FILE", help="hvbot.toml (default: $HVBOT_CONFIG, then ./hvbot.toml)"
    )


def load_cli_config(option: str | None) -> Config:
    """The configuration named by --config, $HVBOT_CONFIG or ./hvbot.toml; ConfigError if none."""
    from_env = os.environ.get("HVBOT_CONFIG")
    path = Path(option or from_env or DEFAULT_CONFIG_PATH)
    if option is None and not path.exists():
        where = f"{path} (named by $HVBOT_CONFIG)" if from_env else str(path)
        raise ConfigError(
            [
                f"{where}: no configuration found; pass --config FILE "
                "(e.g. --config examples/hvbot.toml), set HVBOT_CONFIG, or create ./hvbot.toml"
            ]
        )
    return load_config(path)


def log_path(config: Config) -> Path:
    """Where the command line writes its log: `[logging] file` (relative to the config file),
    else beside the audit database with a `.log` suffix."""
    if config.logging.file:
        path = Path(config.logging.file).expanduser()
        if not path.is_absolute() and config.source is not None:
            path = config.source.parent / path
        return path
    return database_path(config).with_suffix(".log")


def _writable(path: Path) -> bool:
    if path.exists():
        return path.is_file() and os.access(path, os.W_OK)
    return os.access(path.parent, os.W_OK)


def logging_for(config: Config) -> tuple[contextlib.AbstractContextManager[object], Path | None]:
    """Logging that sends the log to its file, keeping the terminal for answers, and the file:
    the configured one, else the user's own hvbot.log, else None (the log goes to stderr)."""
    # A log write that fails must never print a traceback on the operator's terminal.
    logging.raiseExceptions = False
    candidates = (log_path(config), fallback_log())
    usable = next((path for path in candidates if path and _writable(path)), None)
    secret_values = configured_secrets(config, Secrets.from_environ())
    return (
        logging_to(config.logging.format, config.logging.level, secret_values, path=usable),
        usable,
    )


def fallback_log() -> Path | None:
    """Where the detail goes when the configured log cannot be written: the user's own
    `hvbot.log` (see `user_log_dir`), or None (the log goes to stderr)."""
    folder = user_log_dir()
    return None if folder is None else folder / "hvbot.log"


def print_problems(problems: Iterable[str]) -> None:
    """Each problem on its own line of stderr."""
    for problem in problems:
        print(problem, file=sys.stderr)


def say(text: str) -> None:
    """One answer on stderr, with chat mentions (`<@U123>`) written as a terminal shows them."""
    print(plain_mentions(text), file=sys.stderr)


def print_error(error: HyperVError) -> None:
    """A classified host error on stderr: summary, cause and fix (never remote text)."""
    say(error.headline())
    for line in error.details():
        say(f"  {line}")


def command_text(words: Sequence[str]) -> str:
    """The /migrate text from the shell words after `--`. One word is the whole text, as
    typed in chat; among several, a word with spaces was one value the shell unquoted
    (`vhd "D:\\Hyper-V\\Virtual Hard Disks\\a.vhdx"`), so it is quoted again."""
    if len(words) <= 1:
        return "".join(words)
    return " ".join(_requoted(word) for word in words)


def _requoted(word: str) -> str:
    if word and not any(c.isspace() for c in word):
        return word
    if '"' not in word:
        return f'"{word}"'
    return f"'{word}'" if "'" not in word else word


class Refused(Exception):
    """A command-line refusal: one line saying what was wrong and what would work (exit 2)."""


_CHANGES = "a move, a check, a storage move, or a host or vm change"


def require_change(request: Request, command: str, text: Sequence[str]) -> None:
    """Refuse, naming what would work, when `request` changes nothing on a host:
    `hvbot plan` and `hvbot request` take changes (and checks) only."""
    no_plan_but_approved = isinstance(request, DrainRequest) or (
        isinstance(request, DelegationRequest) and request.fix
    )
    if runs_on_a_host(request) or (command == "request" and no_plan_but_approved):
        return
    who = " --as USER" if command == "request" else ""
    example = f"hvbot {command}{who} -- SRV-APP01 to HV-SRV02 include-storage"
    if not text:
        raise Refused(f"Give the /migrate text after --, e.g. {example}")
    action = str(to_dict(request)["action"])
    alternative = {
        "cancel": " To cancel a request: hvbot cancel ID --as USER.",
        "status": " To see requests: hvbot audit list.",
        "history": " To see requests: hvbot audit list.",
        "host": " To see every host's settings: hvbot hosts.",
        "drain": " To see a drain's placement and moves: hvbot plan -- drain check HOST; "
        "to stop a drain: hvbot cancel ID --as USER.",
    }.get(action, "")
    raise Refused(
        f"`/migrate {action}` changes nothing on a host; hvbot {command} takes {_CHANGES}, "
        f"e.g. {example}.{alternative}"
    )


class Interrupted(Exception):
    """Ctrl-C, with what it left behind and what to do next (shown instead of a traceback)."""


def guarded(action: Action) -> Callable[[argparse.Namespace], int]:
    """Load the configuration, run `action`, and answer every failure in a few lines:
    configuration problems and refusals (exit 2), host errors with cause and fix (exit 1),
    Ctrl-C (exit 130), and anything unexpected with a reference to the full detail in the
    log (exit 1). The log goes to its file, so the terminal only shows answers."""

    def run(args: argparse.Namespace) -> int:
        try:
            config = load_cli_config(args.config)
        except ConfigError as problems:
            print_problems(problems.problems)
            return EXIT_REFUSED
        logging_block, log_file = logging_for(config)
        with logging_block, bind(command=args.command):
            return answer(lambda: action(args, config), log_file)

    return run


def internal_error(log_file: Path | None) -> int:
    """Log the exception being handled with a fresh reference; tell people only the reference
    and where the detail is (`log_file`, or the log on stderr when None)."""
    reference = new_reference()
    log.exception("internal error", extra={"reference": reference})
    where = f"details in {log_file}" if log_file else "details in the log above"
    say(f"internal error (reference {reference}); {where}")
    return EXIT_FAILED


def crashed() -> int:
    """The net under subcommands that answer nothing themselves: the exception being handled
    goes to the user's hvbot.log (`fallback_log`), people get its reference."""
    path = fallback_log()
    with logging_to("text", "ERROR", path=path):
        return internal_error(path)


def answer(call: Callable[[], int], log_file: Path | None) -> int:
    """Run `call`, turning every failure into a short answer and its exit code; the log
    (at `log_file`, or stderr when None) gets the detail of anything unexpected."""
    try:
        return call()
    except ParseError as refusal:
        say(refusal.line())
    except ConfigError as problems:
        # Found while wiring (a [directory] without its account): as bad as a bad file.
        print_problems(problems.problems)
    except PlanError as refusal:
        say(f"{refusal} {refusal.fix}".strip())
    except (WorkflowError, Refused) as refusal:
        say(str(refusal))
    except HyperVError as error:
        print_error(error)
        return EXIT_REFUSED if error.kind in _ANSWERED_NO else EXIT_FAILED
    except Interrupted as stop:
        say(f"Interrupted. {stop}")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        say("Interrupted.")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output went away (`| head`): nobody is left to tell, and the
        # interpreter must not fail again flushing stdout at exit.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except AuditKeyError as refusal:
        say(str(refusal))
    except sqlite3.DatabaseError as exc:
        log.exception("audit database unusable")
        say(
            f"The audit database cannot be used ({exc}); check [audit] database in the "
            "configuration, and that the file is hvbot's SQLite database."
        )
        return EXIT_FAILED
    except Exception:
        return internal_error(log_file)
    return EXIT_REFUSED
