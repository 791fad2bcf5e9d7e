"""Driving the workflow from a shell, without Slack: request, approve, reject, cancel, recover.

The process that approves a request is the one that runs it (it is the bot's executor), so
`approve` and `recover` follow their requests to the end. Killed midway, a later `recover`
picks the request up from the audit log and the hosts, without a second Move-VM.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator

from bot.app import Services, build_services
from bot.cli_common import EXIT_FAILED, EXIT_OK, config_option, guarded
from bot.config import Config, Secrets
from bot.console import ConsoleNotifier, card_lines, preflight_lines
from commands.language import parse
from commands.requests import CheckRequest
from commands.workflow.records import TERMINAL_STATES, Actor, Place, RequestRecord, State

_SETTLED = TERMINAL_STATES | {State.AWAITING_APPROVAL}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `request`, `approve`, `reject`, `cancel` and `recover` to `hvbot`."""
    common = argparse.ArgumentParser(add_help=False)
    config_option(common)

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
    request.set_defaults(func=guarded(_request))

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
        sub.set_defaults(func=guarded(_decide))

    recover = subparsers.add_parser(
        "recover",
        parents=[common],
        help="finish what an earlier process left open, then exit",
        description="Re-attach to running migrations, re-check or re-queue open requests, "
        "expire stale approvals, and follow everything to its end.",
    )
    recover.set_defaults(func=guarded(_recover))


def _actor_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--as", dest="user", required=True, metavar="USER", help="Slack user id")


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
            print("\n".join(preflight_lines(result)))
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
