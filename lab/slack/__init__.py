"""The Slack stand-in: a local, stateful Slack for the demo and the tests.

`SlackStandIn` serves the Web API methods the bot calls, response URLs, Socket Mode over a
real WebSocket and a read-only web page, all on 127.0.0.1; `Driver` plays users against the
bot over signed HTTP or the socket. Nothing in `bot/` or `commands/` imports this package.
"""

from lab.slack.driver import ButtonNotFound, Delivery, Driver, signature
from lab.slack.limits import Limit
from lab.slack.server import SlackStandIn
from lab.slack.webapi import Tokens
from lab.slack.workspace import BOT_USER_ID, Clock, Message, SlackError

__all__ = [
    "BOT_USER_ID",
    "ButtonNotFound",
    "Clock",
    "Delivery",
    "Driver",
    "Limit",
    "Message",
    "SlackError",
    "SlackStandIn",
    "Tokens",
    "signature",
]
