"""What the Slack listeners share: the bot's services, the settings, and how work is handed to
the bot's executor."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.app import Services
from bot.slack.coordination import Coordination
from bot.slack.errors import Tell, guarded
from bot.slack.settings import SlackSettings


@dataclass
class SlackContext:
    """What the listeners share. `accepting` is cleared when the bot stops taking work."""

    services: Services
    settings: SlackSettings
    coordination: Coordination | None = None
    accepting: threading.Event = field(default_factory=threading.Event)

    def run(self, work: Callable[[], None], tell: Tell, doing: str) -> None:
        """Runs `work` on the bot's executor; every failure is answered through `tell`."""
        if not self.accepting.is_set():
            tell("hvbot is restarting and takes no new work right now; try again in a minute.")
            return
        self.services.executor.submit(guarded, work, tell, doing)

    def place_refusal(self, channel: str, user: str) -> str | None:
        """Why `user` may not use the bot in `channel`, or None when they may."""
        allowed = self.settings
        if allowed.channels and channel not in allowed.channels:
            return (
                "hvbot is not enabled in this channel ([slack] channels); "
                "use one of its channels or ask an hvbot admin to add this one."
            )
        if allowed.requesters and user not in allowed.requesters:
            return (
                "You are not on hvbot's list of people who may use it ([slack] requesters); "
                "ask an hvbot admin to add you."
            )
        return None
