"""`hvbot serve` (the Slack app, active or standing by) and `hvbot manifest` (the Slack app
manifest for Socket Mode or HTTP mode)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from bot.cli.common import EXIT_OK, EXIT_REFUSED, config_option, guarded, say
from bot.config import Config, Secrets

# The lease is renewed every third of this; a standby takes over within 4/3 of it.
DEFAULT_LEASE_SECONDS = 15.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `serve` and `manifest` to `hvbot`."""
    serve = subparsers.add_parser(
        "serve",
        help="run the Slack app (one active bot per audit database; others stand by)",
        description="Run the Slack app: Socket Mode (SLACK_APP_TOKEN) or HTTP mode "
        "(SLACK_SIGNING_SECRET, on 127.0.0.1:<http_port>/slack/events), with SLACK_BOT_TOKEN. "
        "While another `hvbot serve` is active on the same audit database this one stands by "
        "and takes over when it stops. SIGTERM hands over: no new work, running moves are left "
        "to the next bot.",
    )
    config_option(serve)
    serve.add_argument("--mode", choices=("socket", "http"), help="override [slack] mode")
    serve.add_argument(
        "--port", type=int, metavar="PORT", help="override [slack] http_port (0: any free port)"
    )
    serve.add_argument(
        "--lease-seconds",
        type=float,
        default=DEFAULT_LEASE_SECONDS,
        metavar="S",
        help=f"how long the active bot's lease lasts unrenewed (default {DEFAULT_LEASE_SECONDS:g})",
    )
    serve.set_defaults(func=guarded(_serve))

    manifest = subparsers.add_parser(
        "manifest",
        help="print the Slack app manifest (Socket Mode, or HTTP mode with --http-url)",
        description="Print the app manifest as JSON, for api.slack.com/apps → "
        "'Create from an app manifest'.",
    )
    manifest.add_argument(
        "--http-url",
        metavar="URL",
        help="HTTP mode: the https:// URL Slack sends commands, clicks and events to",
    )
    manifest.set_defaults(func=_manifest)


def _serve(args: argparse.Namespace, config: Config) -> int:
    from bot.slack.serve import serve
    from bot.slack.settings import SettingsError, SlackSettings

    if args.lease_seconds <= 0 or (args.port is not None and not 0 <= args.port < 65536):
        say("--lease-seconds must be above 0 and --port a TCP port (0 for any free one)")
        return EXIT_REFUSED
    try:
        settings = SlackSettings.from_config(config, Secrets.from_environ(), mode=args.mode)
    except SettingsError as problem:
        say(str(problem))
        return EXIT_REFUSED
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return serve(
            config,
            Secrets.from_environ(),
            settings,
            stop=stop,
            announce=lambda line: print(f"hvbot serve: {line}", file=sys.stderr, flush=True),
            lease_ttl=args.lease_seconds,
            http_port=args.port,
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _manifest(args: argparse.Namespace) -> int:
    from bot.slack.manifest import ManifestError, manifest_text

    try:
        print(manifest_text(args.http_url))
    except ManifestError as problem:
        say(str(problem))
        return EXIT_REFUSED
    return EXIT_OK
