"""What the Slack app needs from the configuration and the environment, checked at once.

Tokens come only from the environment variables that `[slack]` names; they are kept out of
`repr`, so a settings object that reaches a log line shows no secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from slack_sdk import WebClient

from bot.config import Config, Secrets

SOCKET, HTTP = "socket", "http"
EVENTS_PATH = "/slack/events"


class SettingsError(Exception):
    """The environment lacks what the chosen mode needs; the message is one line to show."""


@dataclass(frozen=True)
class SlackSettings:
    """The Slack side of the bot: mode, endpoints, tokens and who may use it where."""

    mode: str
    api_url: str
    http_port: int
    bot_token: str = field(repr=False)
    app_token: str | None = field(default=None, repr=False)
    signing_secret: str | None = field(default=None, repr=False)
    channels: frozenset[str] = frozenset()
    requesters: frozenset[str] = frozenset()
    witness_channel: str | None = None

    @classmethod
    def from_config(
        cls, config: Config, secrets: Secrets, *, mode: str | None = None
    ) -> SlackSettings:
        """Reads the `[slack]` section and its tokens; `mode` overrides `[slack] mode`.
        Raises SettingsError naming every missing environment variable."""
        slack = config.slack
        chosen = mode or slack.mode
        needed = [slack.bot_token_env]
        needed.append(slack.app_token_env if chosen == SOCKET else slack.signing_secret_env)
        missing = [name for name in needed if not secrets.get(name)]
        if missing:
            raise SettingsError(
                f"{chosen} mode needs the environment variable(s) {', '.join(missing)} "
                "(the Slack app's tokens; `hvbot lab` prints throw-away ones for the stand-in)"
            )
        return cls(
            mode=chosen,
            api_url=slack.api_url,
            http_port=slack.http_port,
            bot_token=secrets.get(slack.bot_token_env) or "",
            app_token=secrets.get(slack.app_token_env) if chosen == SOCKET else None,
            signing_secret=secrets.get(slack.signing_secret_env) if chosen == HTTP else None,
            channels=frozenset(slack.channels),
            requesters=frozenset(slack.requesters),
            witness_channel=config.audit.slack_channel,
        )

    def web_client(self) -> WebClient:
        """A Web API client for the bot token at `[slack] api_url`. It retries connection
        errors only: rate limits are the pacer's business (bot.slack.pacing)."""
        return WebClient(token=self.bot_token, base_url=self.api_url)
