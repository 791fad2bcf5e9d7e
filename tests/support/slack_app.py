"""Rigs for the Slack app: the lab, the stand-in and the bot in the test process (`SlackRig`),
or `hvbot serve` as real subprocesses (`start_serve`), with helpers to act and to wait."""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from bot.app import Services
from bot.config import Config, Secrets
from bot.slack.coordination import Coordination
from bot.slack.pacing import Limits
from bot.slack.serve import ActiveBot
from bot.slack.settings import SlackSettings
from commands.language import parse
from commands.workflow.records import TERMINAL_STATES, Actor, Place, RequestRecord, State
from lab.slack.driver import Driver
from lab.slack.server import SlackStandIn
from lab.slack.workspace import Message
from lab.waiting import wait_until
from lab.world import World

CHANNEL = "C0OPS0001"
ALICE, BOB, CAROL, DAVE, MALLORY = "U0ALICE01", "U0BOB0001", "U0CAROL01", "U0DAVE001", "U0MALLORY"
WAIT = 60.0
# Short spacing keeps tests quick; the budgets stay Slack's.
TEST_LIMITS = Limits(spacing=0.2)

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout: float = WAIT, what: str = "it") -> T:
    """The first truthy answer of `probe`, polled until `timeout` (generous: the machine is
    shared)."""
    return wait_until(probe, timeout, what)


@dataclass
class SlackRig:
    """The world, the stand-in, the configuration; `start` runs the bot in this process."""

    world: World
    slack: SlackStandIn
    config: Config
    secrets: Secrets
    tmp: Path
    config_text: str
    bot: ActiveBot | None = None
    coordination: Coordination | None = None
    driver: Driver | None = None
    limits: Limits = field(default=TEST_LIMITS)

    def start(self, mode: str = "http") -> Driver:
        """Runs the active bot (HTTP on an ephemeral port, or Socket Mode) and returns the
        driver that plays people against it."""
        config = replace(self.config, slack=replace(self.config.slack, mode=mode))
        settings = SlackSettings.from_config(config, self.secrets)
        self.coordination = Coordination(self.tmp / "audit.db")
        self.bot = ActiveBot(
            config, self.secrets, settings, self.coordination, http_port=0, limits=self.limits
        )
        url = self.bot.where if mode == "http" else None
        self.driver = Driver(self.slack, bot_url=url, ack_timeout=10)
        return self.driver

    def stop(self) -> None:
        """Stops the bot (its moves stay recorded as running)."""
        if self.bot is not None:
            self.bot.stop()
            self.bot = None
        if self.coordination is not None:
            self.coordination.close()
            self.coordination = None

    @property
    def services(self) -> Services:
        """The running bot's services."""
        assert self.bot is not None
        return self.bot.services

    def submit(self, text: str, user: str = ALICE, thread_ts: str | None = None) -> RequestRecord:
        """Records a changing request as `user` would from Slack."""
        request = parse(text, self.config.inventory)
        return self.services.workflow.submit(request, Actor(user), Place(CHANNEL, thread_ts))

    def record(self, request_id: int) -> RequestRecord:
        """The request as stored now."""
        return self.services.workflow.get(request_id)

    def settled(self, request_id: int, states: frozenset[State]) -> RequestRecord:
        """The request once it reaches one of `states`."""

        def reached() -> RequestRecord | None:
            record = self.record(request_id)
            return record if record.state in states else None

        return eventually(reached, what=f"request #{request_id} to reach {sorted(states)}")

    def ended(self, request_id: int) -> RequestRecord:
        """The request once it has ended and said so: the final state is committed before
        the notifier hears of it, so this waits for the final message in its thread, then
        for every write queued before it."""
        done = self.settled(request_id, TERMINAL_STATES)
        eventually(lambda: [m for m in self.thread(done) if m.broadcast], what="the final message")
        self.idle()
        return done

    def card(self, request_id: int) -> Message:
        """The request's approval card as the stand-in holds it, once the workflow knows it."""

        def shown() -> Message | None:
            record = self.record(request_id)
            if record.card_ts is None:
                return None
            return self.slack.workspace.message(record.place.channel, record.card_ts)

        return eventually(shown, what=f"the card of #{request_id}")

    def thread(self, record: RequestRecord) -> list[Message]:
        """The messages of the request's thread (the card's, or its incident thread)."""
        ts = record.place.thread_ts or record.card_ts
        assert ts is not None
        return self.slack.workspace.replies(record.place.channel, ts)

    def idle(self) -> None:
        """Waits until every Slack write the bot queued was made."""
        assert self.bot is not None
        assert self.bot.pacer.idle(timeout=WAIT)


LEASE_SECONDS = 3.0
_ACTIVE = re.compile(r"active: serving Slack \((?P<where>[^)]*)\)")


@dataclass
class Served:
    """One `hvbot serve` process and what it said on stderr."""

    process: subprocess.Popen[str]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    said: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """The first line (said before or from now on) that matches `pattern`."""
        wanted = re.compile(pattern)
        for line in self.said:
            if found := wanted.search(line):
                return found
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"hvbot serve never said {pattern!r}: {self.said}") from None
            self.said.append(line)
            if found := wanted.search(line):
                return found

    def active_url(self, timeout: float = 60) -> str:
        """Waits until the process is the active bot; its /slack/events URL."""
        return self.wait_for(_ACTIVE.pattern, timeout).group("where")

    def stop(self) -> int:
        """Ends the process (SIGTERM, then SIGKILL if it hangs)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_serve(config: Path, env: dict[str, str]) -> Served:
    """`hvbot serve --mode http --port 0` with a short lease."""
    argv = [
        sys.executable,
        "-m",
        "bot.cli",
        "serve",
        "--config",
        str(config),
        "--mode",
        "http",
        "--port",
        "0",
        "--lease-seconds",
        str(LEASE_SECONDS),
    ]
    process = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    return Served(process)
