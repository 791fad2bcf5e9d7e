"""The Slack app against the stand-in and the lab: real HTTP, real WinRM, real SQLite."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import Secrets, parse_config
from lab.running import start_lab
from lab.slack.server import SlackStandIn
from lab.world import load_scenario
from support.slack_app import SlackRig

# Lab seconds run 200 times faster: a 5-minute move takes 1.5 s.
TIME_SCALE = 0.005


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackRig]:
    yield from rigged(tmp_path, monkeypatch, TIME_SCALE)


@pytest.fixture
def slow_rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackRig]:
    """Lab seconds 20 times faster only: a shared-nothing move lasts about half a minute."""
    yield from rigged(tmp_path, monkeypatch, 0.05)


@pytest.fixture
def drain_slack_rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackRig]:
    """The maintenance-night lab (HV-SRV01 with 33 VMs, three peers), lab seconds 20 times
    faster: the drain of its 30 movable VMs lasts about ten seconds."""
    yield from rigged(tmp_path, monkeypatch, 0.05, DRAIN_SCENARIO)


DRAIN_SCENARIO = Path(__file__).resolve().parents[2] / "lab" / "scenarios" / "drain.toml"


def rigged(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    time_scale: float,
    scenario: Path | None = None,
) -> Iterator[SlackRig]:
    """The lab, the stand-in and a configuration for the bot, until the test ends."""
    monkeypatch.delenv("SLACK_CLIENT_ID", raising=False)
    monkeypatch.delenv("SLACK_CLIENT_SECRET", raising=False)
    world = load_scenario(scenario, time_scale=time_scale)
    with start_lab(world) as lab, SlackStandIn() as slack:
        text = (
            lab.config_fragment()
            + "\n"
            + slack.config_fragment(http_port=3000, mode="http")
            + '\n[approvals]\nusers = ["U0BOB0001", "U0CAROL01", "U0DAVE001"]\n'
            + "\n[executor]\npoll_seconds = 0.1\n"
            + f'\n[audit]\ndatabase = "{tmp_path / "audit.db"}"\n'
        )
        config = parse_config(tomllib.loads(text))
        secrets = Secrets.from_environ(
            {
                "HVBOT_WINRM_USER": lab.username,
                "HVBOT_WINRM_PASSWORD": lab.password,
                **slack.environment(),
            }
        )
        rig = SlackRig(world, slack, config, secrets, tmp_path, text)
        try:
            yield rig
        finally:
            rig.stop()
            world.wait_idle()
