"""The bot as real `hvbot` subprocesses talking to a lab that runs in the test process."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.cli import main
from lab.running import RunningLab
from lab.world import World


@dataclass
class BotRig:
    """A running lab, a config file pointing at it, and a way to run `hvbot`."""

    world: World
    lab: RunningLab
    config: Path
    env: dict[str, str]

    def command(self, *args: str) -> list[str]:
        """The argv of `hvbot ARGS --config <rig config>`."""
        return [sys.executable, "-m", "bot.cli", *args[:1], "--config", str(self.config), *args[1:]]

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run `hvbot ARGS` to its end."""
        return subprocess.run(
            self.command(*args), env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start `hvbot ARGS` in the background."""
        return subprocess.Popen(
            self.command(*args),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def run(rig: BotRig, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`hvbot ARGV` in the test process against the rig: exit code, stdout, stderr."""
    code = main([argv[0], "--config", str(rig.config), *argv[1:]])
    captured = capsys.readouterr()
    return code, captured.out, captured.err
