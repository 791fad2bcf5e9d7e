"""The Slack app under load, as people and Slack see it: `hvbot serve` as its own process,
the lab's hosts and the Slack stand-in in this one, the driver playing people.

    scripts/bench slack [--commands 200] [--concurrency 20] [--migrations 10] [--many 100]

1. Ack latency: `--commands` slash commands (`/migrate status`), `--concurrency` at a time,
   while `--migrations` lab migrations run, in HTTP mode and in Socket Mode. Slack's limit
   is 3 s; the goal p99 ≤ 100 ms.
2. From the same run: Slack calls per migration-minute, the most edits one job and the whole
   workspace made in any 60 s, and the age of the progress value people see.
3. `--many` concurrent migrations in one channel followed to the end: final messages correct,
   the bot's RSS (peak), Slack calls per minute, the age of the shown value.
   `--many 0` skips it.

The age of the shown value is sampled every 0.5 s for every move the lab runs (from its job's
start to its end), wherever the move's progress is shown (its own message, or its line on
the channel's running-migrations board), two ways: "since change" = time since that message
(or line) last changed, or since the move started while nothing is shown yet; "behind host" =
time since the lab's job last had the percentage shown (0 while it still has it).
"""

from __future__ import annotations

import argparse
import copy
import functools
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from lab.running import RunningLab, start_lab
from lab.slack.driver import Driver
from lab.slack.server import SlackStandIn
from lab.slack.workspace import Message
from lab.waiting import wait_until
from lab.world import World
from lab.world.model import JobState
from lab.world.scenario import parse_scenario

CHANNEL = "C0BENCH01"
ALICE, BOB = "U0ALICE01", "U0BOB0001"
SOURCE, DESTINATION = "HV-SRV01", "HV-SRV02"
APPROVE = "hvbot_approve"
_ACTIVE = re.compile(r"active: serving Slack \((?P<where>[^)]*)\)")
_BAR = re.compile(r"[█░]")
_PERCENT = re.compile(r"(\d+)%")
BOARD = "Running migrations"


def scenario(vms: int, memory_gb: int, time_scale: float) -> World:
    """Two hosts of the default lab that may run `vms` moves at once, and `vms` VMs on the
    first with their disks on a share (a plain live migration each)."""
    text = resources.files("lab").joinpath("scenarios/default.toml").read_text("utf-8")
    data = tomllib.loads(text)
    hosts = [h for h in data["hosts"] if h["name"] in (SOURCE, DESTINATION)]
    for host in hosts:
        host["max_vm_migrations"] = vms
        host["memory_gb"] = max(host["memory_gb"], vms * memory_gb * 2)
    template = next(v for v in data["vms"] if v["name"] == "SRV-DB01")
    machines = []
    for i in range(vms):
        vm = copy.deepcopy(template)
        vm["name"] = f"BENCH-VM{i:03d}"
        vm["id"] = f"00000000-0000-4000-8000-{i:012d}"
        vm["memory_gb"] = memory_gb
        vm["adapters"] = [{"name": "Network Adapter", "switch": "vSwitch-Prod"}]
        vm["path"] = f"D:\\Hyper-V\\Virtual Machines\\BENCH-VM{i:03d}"
        vm["disks"] = [{"path": f"\\\\FS01.lab.local\\VMs\\BENCH-VM{i:03d}.vhdx", "size_gb": 20}]
        machines.append(vm)
    data["hosts"], data["vms"] = hosts, machines
    return parse_scenario(data, "bench", time_scale=time_scale)


@dataclass
class Bot:
    """`hvbot serve` in its own process."""

    process: subprocess.Popen[str]
    url: str | None
    said: list[str] = field(default_factory=list)

    def peak_rss_mb(self) -> float:
        """VmHWM of the process (its highest resident set so far)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text(encoding="utf-8")
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        return int(match.group(1)) / 1024 if match else float("nan")


@contextmanager
def serving(lab: RunningLab, slack: SlackStandIn, mode: str, tmp: Path) -> Iterator[Bot]:
    """The bot, configured for the lab and the stand-in, until the block ends."""
    config = tmp / f"hvbot-{mode}.toml"
    config.write_text(
        lab.config_fragment()
        + "\n"
        + slack.config_fragment(http_port=3000, mode=mode)
        + f'\n[approvals]\nusers = ["{BOB}"]\nttl_minutes = 60\n'
        + "\n[executor]\nworkers = 16\npoll_seconds = 1.0\n"
        + f'\n[audit]\ndatabase = "{tmp / f"audit-{mode}.db"}"\n'
        + f'\n[logging]\nfile = "{tmp / f"hvbot-{mode}.log"}"\nlevel = "WARNING"\n',
        encoding="utf-8",
    )
    env = {
        **os.environ,
        **slack.environment(),
        "HVBOT_WINRM_USER": lab.username,
        "HVBOT_WINRM_PASSWORD": lab.password,
    }
    env.pop("SLACK_CLIENT_ID", None)
    env.pop("SLACK_CLIENT_SECRET", None)
    argv = [sys.executable, "-m", "bot.cli", "serve", "--config", str(config), "--port", "0"]
    process = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    bot = Bot(process, None)
    for line in process.stderr:
        bot.said.append(line)
        if found := _ACTIVE.search(line):
            bot.url = found.group("where") if mode == "http" else None
            break
    else:
        raise RuntimeError("hvbot serve stopped: " + "".join(bot.said))
    threading.Thread(target=lambda: bot.said.extend(process.stderr or ()), daemon=True).start()
    try:
        yield bot
    finally:
        process.terminate()
        process.wait(timeout=60)


def _card(slack: SlackStandIn, vm: str) -> Message | None:
    for message in slack.workspace.history(CHANNEL):
        if message.bot and f"of {vm}" in message.text and APPROVE in str(message.blocks):
            return message
    return None


def _final(slack: SlackStandIn, card: Message) -> list[Message]:
    return [
        m
        for m in slack.workspace.replies(CHANNEL, card.ts)
        if m.is_reply and (":white_check_mark:" in m.text or ":x:" in m.text)
    ]


@dataclass
class Shown:
    """What people see of one move: since when, and at which percentage."""

    text: str = ""
    since: float = 0.0
    percent: int | None = None


@dataclass
class Moves:
    """Migrations started through Slack: asked, approved, watched."""

    slack: SlackStandIn
    driver: Driver
    world: World
    cards: dict[str, Message] = field(default_factory=dict)
    ages: list[float] = field(default_factory=list)
    behind: list[float] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0
    _shown: dict[str, Shown] = field(default_factory=dict)
    _truth: dict[str, list[tuple[float, int]]] = field(default_factory=dict)

    def start(self, vms: list[str]) -> None:
        """Types `/migrate VM to HV-SRV02` for each, then approves every card."""
        self.started = time.time()
        with ThreadPoolExecutor(20) as pool:
            list(
                pool.map(
                    lambda vm: self.driver.slash(
                        "/migrate", f"{vm} to {DESTINATION} reason bench", ALICE, CHANNEL
                    ),
                    vms,
                )
            )
        for vm in vms:
            self.cards[vm] = wait_until(
                functools.partial(_card, self.slack, vm), 600, f"the card of {vm}", interval=0.1
            )
        with ThreadPoolExecutor(20) as pool:
            list(
                pool.map(
                    lambda card: self.driver.click(CHANNEL, card.ts, APPROVE, BOB),
                    self.cards.values(),
                )
            )

    @contextmanager
    def watched(self) -> Iterator[None]:
        """Samples the age of each running job's shown progress while the block runs."""
        stop = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(stop,), daemon=True)
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join()

    def _watch(self, stop: threading.Event) -> None:
        while not stop.wait(0.5):
            now = time.time()
            with self.world.lock:
                running = {
                    job.vm_name: job.percent
                    for job in self.world.jobs.values()
                    if job.state is JobState.Running
                }
            boards = [
                m
                for m in self.slack.workspace.history(CHANNEL)
                if m.bot and m.text.startswith(BOARD)
            ]
            for vm, card in self.cards.items():
                if vm not in running:
                    continue
                truth = self._truth.setdefault(vm, [])
                truth.append((now, running[vm]))
                shown = self._shown.setdefault(vm, Shown(since=now))
                text, changed = _seen(self.slack, card, vm, boards)
                if text is not None and text != shown.text:
                    found = _PERCENT.search(text)
                    shown.text, shown.since = text, changed
                    shown.percent = int(found.group(1)) if found else None
                self.ages.append(now - shown.since)
                if shown.percent is not None:
                    had = [at for at, percent in truth if percent <= shown.percent]
                    self.behind.append(now - max(had) if had else now - truth[0][0])
                else:
                    self.behind.append(now - truth[0][0])

    def finish(self, timeout: float) -> int:
        """Waits for every final message; how many are a success saying where the VM is."""
        for card in self.cards.values():
            wait_until(functools.partial(_final, self.slack, card), timeout, "a final message", 0.1)
        self.ended = time.time()
        return sum(
            1
            for vm, card in self.cards.items()
            if len(finals := _final(self.slack, card)) == 1
            and f"{vm} is now on {DESTINATION}" in finals[0].text
            and finals[0].broadcast
        )


def _seen(
    slack: SlackStandIn, card: Message, vm: str, boards: list[Message]
) -> tuple[str | None, float]:
    """The progress people see of `vm` and when it last changed: its line on a board (a move
    that had its own message joins the board once one is up), else its own progress message
    in the card's thread."""
    for board in boards:
        for block in board.blocks:
            text = block.get("text")
            lines = str(text.get("text", "")).splitlines() if isinstance(text, dict) else []
            for line in lines:
                if f"*{vm}*" in line:
                    return line, float(board.edited_ts or board.ts)
    for message in slack.workspace.replies(CHANNEL, card.ts):
        if _BAR.search(message.text):
            return message.text, float(message.edited_ts or message.ts)
    return None, 0.0


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def _ages(samples: list[float]) -> str:
    """`p50 max (n samples)` of the shown value's age, or a dash when nothing was sampled
    (no progress message was up while a move ran)."""
    if not samples:
        return f"{'-':>16} {'-':>10} {0:>8}"
    return f"{statistics.median(samples):>16.1f} {max(samples):>10.1f} {len(samples):>8}"


def _max_in_window(times: list[float], window: float = 60.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def _calls(slack: SlackStandIn, since: float, until: float) -> dict[str, list[Any]]:
    calls = [c for c in slack.calls() if since <= c.at <= until]
    return {
        "update": [c for c in calls if c.method == "chat.update"],
        "post": [c for c in calls if c.method == "chat.postMessage"],
    }


def ack_run(args: argparse.Namespace, mode: str, tmp: Path) -> dict[str, Any]:
    """Section 1 and 2 in one mode."""
    world = scenario(args.migrations, args.memory_gb, args.time_scale)
    with start_lab(world) as lab, SlackStandIn() as slack, serving(lab, slack, mode, tmp) as bot:
        driver = Driver(slack, bot_url=bot.url, ack_timeout=10)
        moves = Moves(slack, driver, world)
        moves.start([f"BENCH-VM{i:03d}" for i in range(args.migrations)])
        with moves.watched(), ThreadPoolExecutor(args.concurrency) as pool:
            deliveries = list(
                pool.map(
                    lambda _: driver.slash("/migrate", "status", ALICE, CHANNEL),
                    range(args.commands),
                )
            )
            ok = moves.finish(timeout=600)
        calls = _calls(slack, moves.started, moves.ended)
        minutes = sum(
            (float(_final(slack, c)[0].ts) - float(c.ts)) / 60 for c in moves.cards.values()
        )
        per_job: dict[str, list[float]] = {}
        for call in calls["update"]:
            per_job.setdefault(str(call.params.get("ts")), []).append(call.at)
        world.wait_idle()
        return {
            "mode": mode,
            "acks": [d.seconds * 1000 for d in deliveries],
            "unacked": sum(not d.acked for d in deliveries),
            "finals_ok": ok,
            "moves": len(moves.cards),
            "calls_per_move_minute": (len(calls["update"]) + len(calls["post"])) / minutes,
            "edits_per_move_minute": len(calls["update"]) / minutes,
            "max_job_edits_60s": max((_max_in_window(t) for t in per_job.values()), default=0),
            "max_workspace_edits_60s": _max_in_window([c.at for c in calls["update"]]),
            "ages": moves.ages,
            "behind": moves.behind,
            "rss": bot.peak_rss_mb(),
        }


def many_run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Section 3: `--many` migrations at once, HTTP mode."""
    world = scenario(args.many, args.memory_gb, args.time_scale)
    with start_lab(world) as lab, SlackStandIn() as slack, serving(lab, slack, "http", tmp) as bot:
        driver = Driver(slack, bot_url=bot.url, ack_timeout=10)
        moves = Moves(slack, driver, world)
        moves.start([f"BENCH-VM{i:03d}" for i in range(args.many)])
        with moves.watched():
            ok = moves.finish(timeout=1800)
        rss = bot.peak_rss_mb()
        calls = _calls(slack, moves.started, moves.ended)
        minutes = (moves.ended - moves.started) / 60
        world.wait_idle()
        return {
            "moves": args.many,
            "finals_ok": ok,
            "ages": moves.ages,
            "behind": moves.behind,
            "rss": rss,
            "minutes": minutes,
            "posts_per_min": len(calls["post"]) / minutes,
            "edits_per_min": len(calls["update"]) / minutes,
            "max_workspace_edits_60s": _max_in_window([c.at for c in calls["update"]]),
        }


def main() -> None:
    """Runs the sections and prints their tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--migrations", type=int, default=10)
    parser.add_argument("--many", type=int, default=100)
    parser.add_argument("--memory-gb", type=int, default=4)
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="real seconds per simulated second"
    )
    parser.add_argument("--modes", default="http,socket")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hvbot-bench-slack-") as tmp:
        runs = [ack_run(args, mode, Path(tmp)) for mode in args.modes.split(",")]
        print(
            f"\nAck latency: {args.commands} × /migrate status, {args.concurrency} at a time, "
            f"while {args.migrations} lab migrations run (hvbot serve in its own process)"
        )
        print(f"{'mode':<8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'unacked':>8}")
        for run in runs:
            acks = run["acks"]
            print(
                f"{run['mode']:<8} {statistics.median(acks):>8.1f} "
                f"{_percentile(acks, 0.99):>8.1f} {max(acks):>8.1f} {run['unacked']:>8}"
            )
        print("\nSlack calls while the migrations ran (from the stand-in's call log)")
        print(
            f"{'mode':<8} {'finals':>7} {'calls/move-min':>15} {'edits/move-min':>15} "
            f"{'job max/60s':>12} {'ws max/60s':>11} {'RSS MB':>7}"
        )
        for run in runs:
            print(
                f"{run['mode']:<8} {run['finals_ok']:>3}/{run['moves']:<3} "
                f"{run['calls_per_move_minute']:>15.1f} {run['edits_per_move_minute']:>15.1f} "
                f"{run['max_job_edits_60s']:>12} {run['max_workspace_edits_60s']:>11} "
                f"{run['rss']:>7.0f}"
            )
        print("\nAge of the shown progress value while the migrations ran (s)")
        print(_AGE_HEAD)
        for run in runs:
            print(f"{run['mode']:<8} {_ages(run['ages'])} {_ages(run['behind'])}")
        if args.many:
            many = many_run(args, Path(tmp))
            print(
                f"\n{args.many} concurrent lab migrations in one channel, HTTP mode "
                f"({many['minutes']:.1f} min from the first command to the last final message)"
            )
            print(
                f"{'finals correct':>15} {'posts/min':>10} {'edits/min':>10} "
                f"{'ws max/60s':>11} {'peak RSS MB':>12}"
            )
            print(
                f"{many['finals_ok']:>11}/{many['moves']:<3} {many['posts_per_min']:>10.1f} "
                f"{many['edits_per_min']:>10.1f} {many['max_workspace_edits_60s']:>11} "
                f"{many['rss']:>12.0f}"
            )
            print(_AGE_HEAD)
            print(f"{'http':<8} {_ages(many['ages'])} {_ages(many['behind'])}")


_AGE_HEAD = (
    f"{'mode':<8} {'since change p50':>16} {'max':>10} {'samples':>8} "
    f"{'behind host p50':>16} {'max':>10} {'samples':>8}"
)


if __name__ == "__main__":
    main()
