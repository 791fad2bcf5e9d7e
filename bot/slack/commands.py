"""The `/migrate` slash command. Acknowledged empty at once (Slack shows nothing), then
answered from the bot's executor through the command's `response_url`: ephemerally, for the
person who typed it. A change's card is posted to the channel by the notifier."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot.slack.context import SlackContext
from bot.slack.replies import answer_privately
from commands.workflow.records import Actor, Place

COMMAND = "/migrate"


def register(app: App, context: SlackContext) -> None:
    """Listens to `/migrate`."""

    def on_command(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        ack()
        channel = str(command.get("channel_id", ""))
        actor = Actor(str(command.get("user_id", "")))
        text = str(command.get("text", ""))

        def tell(line: str) -> None:
            respond(text=line, response_type="ephemeral")

        def work() -> None:
            refusal = context.place_refusal(channel, actor.slack_user_id)
            if refusal is not None:
                tell(refusal)
                return
            reply = context.services.handler.handle(text, actor, Place(channel))
            answer_privately(reply, respond)

        context.run(work, tell, COMMAND)

    app.command(COMMAND)(on_command)
