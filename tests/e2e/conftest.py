"""A lab in the test process and the bot as real `hvbot` subprocesses talking to it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.running import start_lab
from lab.world import load_scenario
from support.e2e import BotRig


@contextlib.contextmanager
def running_rig(tmp_path: Path, scenario: Path | None = None) -> Iterator[BotRig]:
    """A lab on `scenario` (None: the default lab) and a config file pointing at it."""
    world = load_scenario(scenario, time_scale=0.005)
    with start_lab(world) as lab:
        config = tmp_path / "hvbot.toml"
        config.write_text(
            lab.config_fragment()
            + '\n[approvals]\nusers = ["UBOB"]\n'
            + "\n[executor]\npoll_seconds = 0.1\n"
            + f'\n[audit]\ndatabase = "{tmp_path / "audit.db"}"\n',
            encoding="utf-8",
        )
        env = {
            **os.environ,
            "HVBOT_WINRM_USER": lab.username,
            "HVBOT_WINRM_PASSWORD": lab.password,
        }
        yield BotRig(world, lab, config, env)
        world.wait_idle()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[BotRig]:
    with running_rig(tmp_path) as running:
        yield running


@pytest.fixture
def drain_rig(tmp_path: Path) -> Iterator[BotRig]:
    """The maintenance-night lab: HV-SRV01 with 33 VMs and three peers."""
    scenario = Path(__file__).resolve().parents[2] / "lab" / "scenarios" / "drain.toml"
    with running_rig(tmp_path, scenario) as running:
        yield running


@pytest.fixture
def hvbot(
    rig: BotRig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[BotRig]:
    """The rig, for `hvbot` run in the test process (`support.e2e.run`); afterwards, checks
    that nothing secret or Python-internal reached the terminal."""
    for name in ("HVBOT_WINRM_USER", "HVBOT_WINRM_PASSWORD"):
        monkeypatch.setenv(name, rig.env[name])
    yield rig
    captured = capsys.readouterr()
    for text in (captured.out, captured.err):
        assert rig.lab.password not in text
        assert "Traceback" not in text
