"""manifest.yml validates against Slack's own JSON schema and holds what the bot needs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bot.slack.manifest import ManifestError, manifest, manifest_text

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "tests/reference/slack-manifest-schema/manifest.schema.1.0.0.json"
SCOPES = {"commands", "chat:write", "users:read", "users:read.email", "usergroups:read"}


def load_manifest() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def missing_urls(manifest: dict[str, Any]) -> list[str]:
    """What HTTP mode needs and the schema does not check (architecture §4)."""
    settings = manifest.get("settings", {})
    if settings.get("socket_mode_enabled"):
        return []
    missing = [
        f"slash command {c['command']}: url"
        for c in manifest.get("features", {}).get("slash_commands", [])
        if not c.get("url")
    ]
    if settings.get("interactivity", {}).get("is_enabled") and not settings["interactivity"].get(
        "request_url"
    ):
        missing.append("settings.interactivity.request_url")
    if settings.get("event_subscriptions") and not settings["event_subscriptions"].get(
        "request_url"
    ):
        missing.append("settings.event_subscriptions.request_url")
    return missing


def test_manifest_validates_against_slacks_schema() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.validate(load_manifest(), schema)


def test_schema_rejects_a_broken_manifest() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    broken = load_manifest()
    broken["features"]["slash_commands"][0]["command"] = "migrate without slash"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_the_bot_gets_its_command_scopes_and_events() -> None:
    manifest = load_manifest()
    command = manifest["features"]["slash_commands"][0]
    assert command["command"] == "/migrate"
    assert command["should_escape"] is True
    assert SCOPES | {"app_mentions:read"} <= set(manifest["oauth_config"]["scopes"]["bot"])
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == ["app_mention"]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True


def test_socket_mode_needs_no_url_but_http_mode_does() -> None:
    manifest = load_manifest()
    assert missing_urls(manifest) == []
    manifest["settings"]["socket_mode_enabled"] = False
    assert missing_urls(manifest) == [
        "slash command /migrate: url",
        "settings.interactivity.request_url",
        "settings.event_subscriptions.request_url",
    ]


def test_the_generated_socket_manifest_is_the_repositorys_manifest() -> None:
    assert manifest() == load_manifest()


@pytest.mark.parametrize("http_url", [None, "https://hvbot.example.com/slack/events"])
def test_both_modes_validate_and_hold_every_url_they_need(http_url: str | None) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    generated = json.loads(manifest_text(http_url))
    jsonschema.validate(generated, schema)
    assert missing_urls(generated) == []
    assert generated["settings"]["socket_mode_enabled"] is (http_url is None)


def test_http_mode_points_every_request_at_the_one_url() -> None:
    url = "https://hvbot.example.com/slack/events"
    generated = manifest(url)
    assert generated["features"]["slash_commands"][0]["url"] == url
    assert generated["settings"]["interactivity"]["request_url"] == url
    assert generated["settings"]["event_subscriptions"]["request_url"] == url


def test_http_mode_refuses_a_url_slack_cannot_use() -> None:
    with pytest.raises(ManifestError, match="https://"):
        manifest("http://127.0.0.1:3000/slack/events")
