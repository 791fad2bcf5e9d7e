"""The Slack app manifest, for Socket Mode (no public URL) or HTTP mode (one request URL).

`hvbot manifest` prints it as JSON, which Slack's "create from manifest" accepts as it accepts
YAML. The repository's `manifest.yml` is the Socket Mode one, with comments; a test checks
that the two agree and that both modes validate against Slack's own schema.
"""

from __future__ import annotations

import json
from typing import Any

from bot.slack.settings import EVENTS_PATH

SCOPES = (
    "commands",
    "chat:write",
    "users:read",
    "users:read.email",
    "usergroups:read",
    "app_mentions:read",
    # `hvbot audit verify` reads the audit channel back (public or private).
    "channels:history",
    "groups:history",
)
LONG_DESCRIPTION = (
    "hvbot moves running Hyper-V virtual machines between Windows Server hosts from Slack. "
    "Type /migrate SRV-APP01 to HV-SRV02 include-storage in a channel or an incident thread: "
    "the bot checks the move, shows approvers the exact PowerShell that will run, waits for an "
    "allowed approver, runs the move on the source host over WinRM, keeps one progress message "
    "current, explains failures with cause and fix, and records every step in an audit log."
)


class ManifestError(ValueError):
    """The URL given for HTTP mode cannot be used; the message says why."""


def manifest(http_url: str | None = None) -> dict[str, Any]:
    """The manifest: Socket Mode without `http_url`, else HTTP mode with every request URL
    set to it (bolt serves commands, clicks and events on one path)."""
    if http_url is not None and not http_url.startswith("https://"):
        raise ManifestError(
            f"--http-url must be an https:// URL Slack can reach (e.g. "
            f"https://hvbot.example.com{EVENTS_PATH}), got {http_url!r}"
        )
    command: dict[str, Any] = {
        "command": "/migrate",
        "description": "Move a Hyper-V VM to another host (checked, approved, audited)",
        "usage_hint": "SRV-APP01 to HV-SRV02 include-storage · check · status · help",
        "should_escape": True,
    }
    events: dict[str, Any] = {"bot_events": ["app_mention"]}
    interactivity: dict[str, Any] = {"is_enabled": True}
    if http_url is not None:
        command["url"] = http_url
        events["request_url"] = http_url
        interactivity["request_url"] = http_url
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": "hvbot",
            "description": "Hyper-V live migration, checked, approved and audited.",
            "long_description": LONG_DESCRIPTION,
            "background_color": "#1d3557",
        },
        "features": {
            "bot_user": {"display_name": "hvbot", "always_online": True},
            "slash_commands": [command],
        },
        "oauth_config": {"scopes": {"bot": list(SCOPES)}},
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": http_url is None,
            "token_rotation_enabled": False,
        },
    }


def manifest_text(http_url: str | None = None) -> str:
    """The manifest as indented JSON."""
    return json.dumps(manifest(http_url), indent=2, ensure_ascii=False)
