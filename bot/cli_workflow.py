"""Driving the workflow from a shell, without Slack: request, approve, reject, cancel, recover.

The process that approves a request is the one that runs it (it is the bot's executor), so
`approve` and `recover` follow their requests to the end. Killed midway, a later `recover`
picks the request up from the audit log and the hosts, without a second Move-VM.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator

from bot.app import Services, build_services
from bot.cli_common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    config_option,
    load_cli_config,
    print_problems,
)
from bot.config import Config, ConfigError, Secrets
from bot.console import ConsoleNotifier, card_lines
from bot.logs import configure, new_reference
from commands.hyperv import HyperVError
from commands.language import ParseError, parse
from commands.requests import CheckRequest
from commands.workflow.machine import WorkflowError
from commands.workflow.records import TERMINAL_STATES, Actor, Place, RequestRecord, State

log = logging.getLogger(__name__)
_SETTLED = TERMINAL_STATES | {State.AWAITING_APPROVAL}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `request`, `approve`, `reject`, `cancel` and `recover` to `hvbot`."""
    common = argparse.ArgumentParser(add_help=False)
    config_option(common)
    common.add_argument("--log-format", choices=("json", "text"), default="text")

    request = subparsers.add_parser(
        "request",
        parents=[common],
        help="submit /migrate text as a user; prints the approval card",
        description="Submit TEXT as USER would type it after /migrate. `check` forms only "
        "run the preflight; other changing forms are recorded, checked and wait for approval.",
    )
    _actor_options(request)
    request.add_argument("--channel", default="CLI", help="where the request is reported")
    request.add_argument("text", nargs="+", metavar="TEXT", help="the /migrate text (after --)")
    request.set_defaults(func=_guard(_request))

    for name, helptext in (
        ("approve", "approve a request and run it here until it ends"),
        ("reject", "reject a request waiting for approval"),
        ("cancel", "cancel a pending request"),
    ):
        sub = subparsers.add_parser(name, parents=[common], help=helptext, description=helptext)
        _actor_options(sub)
        sub.add_argument("id", type=int, metavar="ID", help="the request id")
        if name == "reject":
            sub.add_argument("--reason", help="why (optional)")
        sub.set_defaults(func=_guard(_decide))

    recover = subparsers.add_parser(
        "recover",
        parents=[common],
        help="finish what an earlier process left open, then exit",
        description="Re-attach to running migrations, re-check or re-queue open requests, "
        "expire stale approvals, and follow everything to its end.",
    )
    recover.set_defaults(func=_guard(_recover))


def _actor_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--as", dest="user", required=True, metavar="USER", help="Slack user id")


def _guard(
    action: Callable[[argparse.Namespace, Config], int],
) -> Callable[[argparse.Namespace], int]:
    """Turn every expected failure into one line on stderr; anything else gets a reference."""

    def run(args: argparse.Namespace) -> int:
        try:
            config = load_cli_config(args.config)
        except ConfigError as exc:
            print_problems(exc.problems)
            return EXIT_REFUSED
        secrets = Secrets.from_environ()
        configure(args.log_format, "WARNING", secret_values=_secret_values(config, secrets))
        try:
            return action(args, config)
        except (ParseError, WorkflowError) as exc:
            print(exc.line() if isinstance(exc, ParseError) else str(exc), file=sys.stderr)
            return EXIT_REFUSED
        except HyperVError as exc:
            print(_error_text(exc), file=sys.stderr)
            return EXIT_FAILED
        except Exception:
            reference = new_reference()
            log.exception("internal error", extra={"reference": reference})
            print(
                f"internal error (reference {reference}); details are in the log", file=sys.stderr
            )
            return EXIT_FAILED

    return run


def _secret_values(config: Config, secrets: Secrets) -> list[str]:
    names = (config.winrm.password_env, config.directory.password_env, config.slack.bot_token_env)
    return [v for name in names if (v := secrets.get(name))]


def _error_text(error: HyperVError) -> str:
    parts = [error.summary]
    if error.cause:
        parts.append(f"Cause: {error.cause}")
    if error.fix:
        parts.append(f"Fix: {error.fix}")
    return " ".join(parts)


@contextlib.contextmanager
def _services(config: Config) -> Iterator[Services]:
    services = build_services(config, Secrets.from_environ(), ConsoleNotifier())
    try:
        yield services
    finally:
        services.close()


def _wait(services: Services, request_id: int, until: frozenset[State]) -> RequestRecord:
    while True:
        record = services.workflow.get(request_id)
        if record.state in until:
            return record
        time.sleep(0.1)


def _request(args: argparse.Namespace, config: Config) -> int:
    request = parse(" ".join(args.text), config.inventory)
    with _services(config) as services:
        if isinstance(request, CheckRequest):
            result = services.preflight.preflight(request)
            for finding in result.findings:
                fix = f" Fix: {finding.fix}" if finding.fix else ""
                print(f"{finding.severity.value}: {finding.message}{fix}")
            for invocation in result.invocations:
                print(f"would run on {result.host}: {invocation.render()}")
            return EXIT_OK if result.ok else EXIT_FAILED
        record = services.workflow.submit(request, Actor(args.user), Place(args.channel))
        record = _wait(services, record.id, _SETTLED)
        if record.state is State.AWAITING_APPROVAL:
            print("\n".join(card_lines(record, services.workflow.events(record.id))))
            return EXIT_OK
        return EXIT_FAILED


def _decide(args: argparse.Namespace, config: Config) -> int:
    actor = Actor(args.user)
    with _services(config) as services:
        workflow = services.workflow
        if args.command == "reject":
            workflow.reject(args.id, actor, args.reason)
            return EXIT_OK
        if args.command == "cancel":
            workflow.cancel(args.id, actor)
            return EXIT_OK
        record = workflow.approve(args.id, actor)
        if record.state is not State.APPROVED:
            return EXIT_OK
        final = _wait(services, args.id, TERMINAL_STATES)
        return EXIT_OK if final.state is State.SUCCEEDED else EXIT_FAILED


def _recover(args: argparse.Namespace, config: Config) -> int:
    with _services(config) as services:
        workflow = services.workflow
        workflow.expire_stale()
        decisions = workflow.recover()
        for decision in decisions:
            print(f"#{decision.record.id} {decision.record.state.value}: {decision.action.value}")
        followed = [d.record.id for d in decisions if d.record.state is not State.AWAITING_APPROVAL]
        finals = [_wait(services, request_id, _SETTLED) for request_id in followed]
        return EXIT_OK if all(r.state is not State.FAILED for r in finals) else EXIT_FAILED
