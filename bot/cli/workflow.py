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

from bot.app import SETTLED_STATES, Services, build_services
from bot.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Interrupted,
    command_text,
    config_option,
    guarded,
    require_change,
    say,
)
from bot.config import Config, Secrets
from bot.console import ConsoleNotifier, plain_mentions
from bot.logs import bind
from commands.language import parse
from commands.replies import ReplyKind
from commands.workflow.execution import INVOCATION_SENT
from commands.workflow.machine import lost_race_message
from commands.workflow.records import TERMINAL_STATES, Actor, Place, RequestKind, State
from commands.workflow.recovery import Action

_FOLLOWED = frozenset({State.APPROVED, State.RUNNING})
_CANCEL_ANSWERS = frozenset({"cancel_sent", "cancel_failed"})
_RECOVERY = {
    Action.RECHECK: "checking it again",
    Action.KEEP_WAITING: "still waiting for approval",
    Action.EXPIRE: "its approval time ran out",
    Action.REQUEUE: "approved, never started: checking it again, then starting it",
    Action.REATTACH: "following the move on its host again (no second Move-VM)",
    Action.OUTCOME_UNKNOWN: "a setting change cut short: its result is unknown (outcome_unknown)",
    Action.READ_BACK: "a directory change cut short: reading it back (never written twice)",
    Action.RESUME_DRAIN: "a drain (or one of its moves): picking it up where it was",
}


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
    _text_options(request)
    request.set_defaults(func=guarded(_request))

    say = subparsers.add_parser(
        "say",
        parents=[common],
        help="what the bot answers in chat to /migrate TEXT from USER",
        description="Answer TEXT as the bot answers `/migrate TEXT` in chat, through the same "
        "handler: read-only requests are answered at once; a changing one is recorded and "
        "checked, and its approval card printed. Exit 0 answered, 1 failed, 2 refused.",
    )
    _text_options(say)
    say.set_defaults(func=guarded(_say))

    for name, helptext in (
        ("approve", "approve a request and run it here until it ends"),
        ("reject", "reject a request waiting for approval"),
        ("cancel", "cancel a request; a running move is stopped on its host, from any process"),
    ):
        sub = subparsers.add_parser(name, parents=[common], help=helptext, description=helptext)
        _actor_options(sub)
        sub.add_argument("id", type=request_id, metavar="ID", help="the request id (42 or #42)")
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


def _text_options(parser: argparse.ArgumentParser) -> None:
    _actor_options(parser)
    parser.add_argument("--channel", default="CLI", help="where the request is reported")
    parser.add_argument("text", nargs="+", metavar="TEXT", help="the /migrate text (after --)")


def request_id(text: str) -> int:
    """A request id as people write it: 42 or #42."""
    digits = text.removeprefix("#")
    if not digits.isdigit() or int(digits) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a request id; write 42 or #42")
    return int(digits)


@contextlib.contextmanager
def _services(config: Config) -> Iterator[Services]:
    services = build_services(config, Secrets.from_environ(), ConsoleNotifier())
    try:
        yield services
    finally:
        services.close()


def _left_behind(services: Services, request_id: int) -> Interrupted:
    """What Ctrl-C left of a request this process was handling, and how to pick it up."""
    record = services.workflow.get(request_id)
    n, state = record.id, record.state
    sent = any(e.kind == INVOCATION_SENT for e in services.workflow.events(n))
    if state is State.APPROVED and not sent:
        return Interrupted(
            f"Request #{n} is approved but nothing was sent to its host. `hvbot recover` starts "
            f"it; `hvbot cancel {n} --as USER` drops it."
        )
    if state in _FOLLOWED:
        host = record.source_host or "its host"
        return Interrupted(
            f"Request #{n} is {state.value}: Ctrl-C stopped this process, not the move on "
            f"{host}. Run `hvbot recover` to follow it to its end "
            f"(`hvbot audit show {n}` shows where it stands)."
        )
    if state in (State.REQUESTED, State.CHECKING):
        return Interrupted(f"Request #{n} was being checked; `hvbot recover` checks it again.")
    if state is State.AWAITING_APPROVAL:
        return Interrupted(
            f"Request #{n} is recorded and waits for approval "
            f"(`hvbot approve {n} --as USER`, or `hvbot cancel {n} --as USER`)."
        )
    return Interrupted(f"Request #{n} is {state.value}.")


def _request(args: argparse.Namespace, config: Config) -> int:
    text = command_text(args.text)
    require_change(parse(text, config.inventory), "request", args.text)
    with _services(config) as services:
        return tell(services, text, Actor(args.user), Place(args.channel))


def _say(args: argparse.Namespace, config: Config) -> int:
    with _services(config) as services:
        return tell(services, command_text(args.text), Actor(args.user), Place(args.channel))


def tell(services: Services, text: str, actor: Actor, place: Place) -> int:
    """Answer `/migrate text` through the bot's handler and print the reply; for a recorded
    request, wait until it is checked (the notifier prints its card, or why it cannot go
    ahead). Returns the exit code: 0 answered, 1 failed, 2 refused."""
    reply = services.handler.handle(text, actor, place)
    if reply.kind in (ReplyKind.REFUSAL, ReplyKind.FAILURE):
        say(reply.text())
    else:
        print(plain_mentions(reply.text()), flush=True)
    if reply.kind is not ReplyKind.RECORDED or reply.request_id is None:
        return int(reply.outcome)
    with bind(request_id=reply.request_id):
        try:
            record = services.wait_for(reply.request_id, SETTLED_STATES)
        except KeyboardInterrupt:
            raise _left_behind(services, reply.request_id) from None
    return EXIT_OK if record.state is State.AWAITING_APPROVAL else EXIT_FAILED


def _decide(args: argparse.Namespace, config: Config) -> int:
    actor = Actor(args.user)
    with _services(config) as services, bind(request_id=args.id):
        workflow = services.workflow
        if args.command == "reject":
            workflow.reject(args.id, actor, args.reason)
            return EXIT_OK
        if args.command == "cancel":
            record = workflow.cancel(args.id, actor)
            if record.state in _FOLLOWED and record.kind != RequestKind.DRAIN:
                # Started: the host's job is asked from this process's executor; stay until
                # the host answered (the follower, wherever it runs, records the outcome).
                _wait_for_event(services, args.id, _CANCEL_ANSWERS)
            return EXIT_OK
        try:
            record = workflow.approve(args.id, actor)
            if record.state is not State.APPROVED:
                return EXIT_OK
            final = services.wait_for(args.id, TERMINAL_STATES)
        except KeyboardInterrupt:
            raise _left_behind(services, args.id) from None
        if final.state is State.CANCELLED:
            # Pre-empted by a cancel made elsewhere: say who, not only the exit code.
            say(lost_race_message(final, workflow.events(args.id)))
        return EXIT_OK if final.state is State.SUCCEEDED else EXIT_FAILED


def _wait_for_event(
    services: Services, request_id: int, kinds: frozenset[str], poll_seconds: float = 0.05
) -> None:
    """Returns once the request's log holds one of `kinds` (written by any process)."""
    while not any(e.kind in kinds for e in services.workflow.events(request_id)):
        time.sleep(poll_seconds)


def _recover(args: argparse.Namespace, config: Config) -> int:
    with _services(config) as services, bind(command="recover"):
        workflow = services.workflow
        expired = workflow.expire_stale()
        decisions = workflow.recover()
        if not expired and not decisions:
            print("Nothing to recover: no request was left open.")
            return EXIT_OK
        for record in expired:
            print(f"#{record.id} {record.state.value}: its approval time ran out")
        for decision in decisions:
            record = decision.record
            print(f"#{record.id} {record.state.value}: {_RECOVERY[decision.action]}")
        followed = [d.record.id for d in decisions if d.record.state is not State.AWAITING_APPROVAL]
        try:
            finals = [services.wait_for(request_id, SETTLED_STATES) for request_id in followed]
        except KeyboardInterrupt:
            raise Interrupted(
                "Ctrl-C stopped this process, not the moves on the hosts; run `hvbot recover` "
                "again to follow them to their end."
            ) from None
        unsettled = (State.FAILED, State.OUTCOME_UNKNOWN)
        return EXIT_OK if all(r.state not in unsettled for r in finals) else EXIT_FAILED
