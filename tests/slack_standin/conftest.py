"""A started Slack stand-in per test, and the real slack_sdk client pointed at it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from lab.slack import SlackStandIn


@pytest.fixture(autouse=True)
def _no_oauth(monkeypatch: pytest.MonkeyPatch) -> None:
    # These switch bolt to OAuth installs; the stand-in plays a single workspace.
    for name in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    assert "SLACK_CLIENT_ID" not in os.environ


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    """A running stand-in on ephemeral loopback ports."""
    with SlackStandIn() as standin:
        yield standin


@pytest.fixture
def client(slack: SlackStandIn) -> WebClient:
    """slack_sdk's WebClient with the stand-in's bot token, no retry handlers."""
    return WebClient(token=slack.tokens.bot, base_url=slack.api_url, retry_handlers=[])
