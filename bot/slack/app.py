"""`create_app`: the bolt App of hvbot, built on demand (nothing happens at import time).

Every listener acknowledges at once and hands the work to the bot's own executor, so bolt's
listener threads are never held by WinRM, LDAP or a slow Slack call, and Slack's 3-second
deadline is met whatever the hosts do. Listeners are registered per concern: slash commands
(bot.slack.commands), button clicks (bot.slack.actions) and events (bot.slack.events).
"""

from __future__ import annotations

import logging
import os
import threading

from slack_bolt import App

from bot.app import Services
from bot.slack import actions, commands, events
from bot.slack.context import SlackContext
from bot.slack.coordination import Coordination
from bot.slack.errors import bolt_error_handler
from bot.slack.settings import HTTP, SlackSettings

log = logging.getLogger(__name__)


def create_app(
    services: Services,
    settings: SlackSettings,
    *,
    coordination: Coordination | None = None,
    accepting: threading.Event | None = None,
) -> App:
    """The bolt App, with its Web API client at `[slack] api_url` (the constructor checks the
    bot token with `auth.test` there). In HTTP mode bolt verifies every request's signature
    and timestamp; in Socket Mode the app token's connection is the authentication."""
    # With these set, bolt switches to the OAuth installation flow: hvbot is one workspace's
    # app with one bot token.
    for name in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"):
        os.environ.pop(name, None)
    if accepting is None:
        accepting = threading.Event()
        accepting.set()
    app = App(
        client=settings.web_client(),
        signing_secret=settings.signing_secret or "",
        request_verification_enabled=settings.mode == HTTP,
        name="hvbot",
        logger=logging.getLogger("bot.slack.bolt"),
    )
    app.error(bolt_error_handler)
    context = SlackContext(services, settings, coordination, accepting)
    commands.register(app, context)
    actions.register(app, context)
    events.register(app, context)
    return app
