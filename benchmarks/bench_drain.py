"""Drain of a host with N VMs in the lab: time against the ideal schedule, chat calls, bot RSS.

    scripts/bench drain [--vms 40] [--time-scale 1.0] [--poll 2.0] [--rounds 1] [--compare]
                        [--slack]

The lab (HV-SRV01 with N running VMs of 2-8 GB on a share, three peers; HV-SRV01 allows 4
migrations at a time, each peer 2) runs in a child process, so the RSS measured is the bot's:
the real wiring (`bot.app.build_services`: WinRM adapter, SQLite store, workflow) with a
notifier that counts its calls. The drain is submitted, approved once, and waited for.

- drain: from the approval to the drain's final state, on the bot's clock;
- ideal: the makespan of `commands.placement.schedule` over the same moves, each lasting what
  its host job took (`duration_seconds` x the lab's time scale), under the same limits, and a
  lower bound no schedule beats (per host, the moves' total time over its limit; the longest
  move);
- chat calls: every notifier call of the whole drain, and those that reach Slack: messages
  about the drain itself plus summary edits (moves' own news only feeds the summary).

Every running move's job is read on the source host's one session each `--poll` seconds,
and each move's pre-start preflight reads that host too: a short poll (0.1 s) saturates the
session and slows the drain itself, so the default is the bot's own (2 s).

`--slack` runs the bot as `hvbot serve` does (the Slack app, its notifier and pacer under
Slack's own budgets) against the Slack stand-in, which runs in the lab's process, and counts
every Slack Web API call the whole drain made.

`--compare` runs, in turns, the bot as it is and the bot without its two queue savings (a
queued move's preflight run while it waits; slots given back when a move is over on its
hosts, before its outcome is decided), so both are measured side by side on the same machine.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import tempfile
import threading
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bot.app import Services, build_services
from bot.config import Config, Secrets, load_config
from bot.slack.coordination import Coordination
from bot.slack.serve import ActiveBot
from bot.slack.settings import SlackSettings
from bot.winrm.migration import Migration
from commands.hyperv import MigrationOutcome, MigrationProgress
from commands.placement import Job, makespan, schedule
from commands.requests import Drain, DrainRequest
from commands.workflow.cards import ApprovalCard
from commands.workflow.codec import drain_of
from commands.workflow.execution import Runner
from commands.workflow.records import TERMINAL_STATES, Actor, Place, RequestRecord, State
from lab.running import start_lab
from lab.slack.server import SlackStandIn
from lab.world.scenario import parse_scenario

SIZES_GB = (2, 4, 8, 4, 6, 2, 8, 4)
LIMITS = {"HV-SRV01": 4, "HV-SRV02": 2, "HV-SRV03": 2, "HV-SRV04": 2}


def scenario(vms: int, time_scale: float) -> dict[str, Any]:
    """A source with `vms` running VMs on a share and three peers with room for all of them."""
    hosts = [
        {
            "name": name,
            "memory_gb": 512,
            "max_vm_migrations": limit,
            "auth": "Kerberos",
            "delegation_to": [h for h in LIMITS if h != name],
            "switches": [{"name": "vSwitch-Prod"}],
            "migration_networks": [{"subnet": "10.10.10.0/24", "priority": 1}],
            "volumes": [{"letter": "C", "size_gb": 200, "free_gb": 100}],
        }
        for name, limit in LIMITS.items()
    ]
    machines = [
        {
            "name": f"SRV-B{i:02d}",
            "host": "HV-SRV01",
            "memory_gb": SIZES_GB[i % len(SIZES_GB)],
            "path": f"\\\\FS01.lab.local\\VMs\\SRV-B{i:02d}",
            "adapters": [{"name": "Network Adapter", "switch": "vSwitch-Prod"}],
            "disks": [{"path": f"\\\\FS01.lab.local\\VMs\\SRV-B{i:02d}\\os.vhdx", "size_gb": 30}],
        }
        for i in range(1, vms + 1)
    ]
    return {
        "lab": {"time_scale": time_scale, "link_mbps": 10000},
        "users": [{"name": "LAB\\hvadmin", "password": "Lab-Passw0rd!"}],
        "hosts": hosts,
        "vms": machines,
    }


def _run_lab(data: dict[str, Any], pipe: Connection) -> None:
    world = parse_scenario(data, "bench")
    with start_lab(world) as lab, SlackStandIn() as slack:
        fragment = lab.config_fragment() + "\n" + slack.config_fragment(mode="http")
        pipe.send((fragment, lab.username, lab.password, slack.environment()))
        while pipe.recv() == "count":
            pipe.send(Counter(call.method for call in slack.calls()))


class CountingNotifier:
    """Counts the workflow's calls; what reaches the chat is the drain's own (not its moves')."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    def _count(self, record: RequestRecord, method: str) -> None:
        with self.lock:
            self.calls[method] += 1
            if drain_of(record) is None:
                self.calls["to chat"] += 1

    def approval_needed(self, record: RequestRecord, card: ApprovalCard) -> None:
        """Counts an approval card."""
        self._count(record, "approval_needed")

    def request_updated(self, record: RequestRecord, message: str) -> None:
        """Counts a message."""
        self._count(record, "request_updated")

    def progress(self, record: RequestRecord, progress: MigrationProgress) -> None:
        """Counts a progress reading."""
        self._count(record, "progress")

    def finished(self, record: RequestRecord, outcome: MigrationOutcome | None) -> None:
        """Counts a final report."""
        self._count(record, "finished")

    def summary(self, record: RequestRecord, text: str) -> None:
        """Counts a summary edit (a reference would be kept as the drain's `progress_ts`)."""
        self._count(record, "summary")


def _wait(services: Services, request_id: int, until: frozenset[State]) -> RequestRecord:
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        record = services.workflow.get(request_id)
        if record.state in until:
            return record
        time.sleep(0.02)
    raise RuntimeError(f"request #{request_id} did not reach {sorted(until)}")


def _jobs(children: list[RequestRecord], time_scale: float) -> list[Job]:
    jobs = []
    for child in children:
        outcome = child.outcome or {}
        seconds = float(outcome.get("duration_seconds") or 0.0) * time_scale
        jobs.append(
            Job(str(child.id), child.source_host or "", child.destination_host or "", seconds)
        )
    return jobs


def _lower_bound(jobs: list[Job]) -> float:
    """No schedule under the limits ends sooner: each host's moves over its limit, the longest
    move."""
    per_host = {
        host: sum(j.seconds for j in jobs if host in (j.source, j.destination)) / limit
        for host, limit in LIMITS.items()
    }
    return max([*per_host.values(), *(j.seconds for j in jobs)], default=0.0)


class _Savings:
    """Turns the bot's two queue savings off for a baseline run (and back on)."""

    def __init__(self) -> None:
        self._reserve = Runner.reserve_precheck
        self._ended = Migration.ended_on_hosts

    def off(self) -> None:
        Runner.reserve_precheck = lambda self, request_id: False  # type: ignore[method-assign]
        Migration.ended_on_hosts = lambda self, timeout: False  # type: ignore[method-assign]

    def on(self) -> None:
        Runner.reserve_precheck = self._reserve  # type: ignore[method-assign]
        Migration.ended_on_hosts = self._ended  # type: ignore[method-assign]


def measure(vms: int, time_scale: float, poll: float, *, slack: bool) -> dict[str, float]:
    """Runs one drain (a fresh lab and bot) and returns its figures."""
    parent_end, child_end = multiprocessing.Pipe()
    lab = multiprocessing.Process(target=_run_lab, args=(scenario(vms, time_scale), child_end))
    lab.start()
    try:
        fragment, user, password, slack_env = parent_end.recv()
        with tempfile.TemporaryDirectory() as work:
            path = Path(work) / "hvbot.toml"
            path.write_text(
                fragment
                + '\n[approvals]\nusers = ["UBOB"]\n'
                + f"\n[executor]\npoll_seconds = {poll}\nworkers = 8\n"
                + f'\n[audit]\ndatabase = "{Path(work) / "audit.db"}"\n'
                + f'\n[logging]\nfile = "{Path(work) / "bot.log"}"\n',
                encoding="utf-8",
            )
            config = load_config(path)
            secrets = Secrets.from_environ(
                {
                    **os.environ,
                    **slack_env,
                    "HVBOT_WINRM_USER": user,
                    "HVBOT_WINRM_PASSWORD": password,
                }
            )
            if slack:
                return _through_slack(config, secrets, Path(work), parent_end, time_scale)
            notifier = CountingNotifier()
            services = build_services(config, secrets, notifier)
            try:
                figures = _drain(services, config.inventory, time_scale)
                # The end is recorded before it is reported: count the report too.
                deadline = time.monotonic() + 60
                while not notifier.calls["finished"] and time.monotonic() < deadline:
                    time.sleep(0.02)
            finally:
                services.close()
            for name in ("request_updated", "progress", "finished", "summary", "to chat"):
                figures["notifier calls: " + name] = float(notifier.calls[name])
            return _with_rss(figures)
    finally:
        parent_end.send("stop")
        lab.join(timeout=30)


def _through_slack(
    config: Config, secrets: Secrets, work: Path, lab: Connection, time_scale: float
) -> dict[str, float]:
    """The drain with the bot as `hvbot serve` runs it, and the Slack calls it made."""
    coordination = Coordination(work / "audit.db")
    bot = ActiveBot(
        config, secrets, SlackSettings.from_config(config, secrets), coordination, http_port=0
    )
    try:
        figures = _drain(bot.services, config.inventory, time_scale, card=True)
        if not bot.pacer.idle(timeout=600):
            raise RuntimeError("Slack writes still queued after 10 minutes")
    finally:
        bot.stop()
        coordination.close()
    lab.send("count")
    calls: Counter[str] = lab.recv()
    for method in ("chat.postMessage", "chat.update"):
        figures["slack calls: " + method] = float(calls[method])
    figures["slack calls: all"] = float(sum(calls.values()))
    return _with_rss(figures)


def _with_rss(figures: dict[str, float]) -> dict[str, float]:
    # The process's peak so far: in a --compare run, the largest drain's.
    figures["bot max RSS (MiB)"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def _drain(
    services: Services, inventory: Any, time_scale: float, *, card: bool = False
) -> dict[str, float]:
    source = inventory.find("HV-SRV01")
    workflow = services.workflow
    record = workflow.submit(DrainRequest(Drain(source)), Actor("UALICE"), Place("C0BENCH01"))
    record = _wait(services, record.id, frozenset({State.AWAITING_APPROVAL}) | TERMINAL_STATES)
    if record.state is not State.AWAITING_APPROVAL:
        events = workflow.events(record.id)
        raise RuntimeError(f"the drain was refused: {record.state.value} {events[-1].data}")
    # In Slack the approval is a click on the posted card.
    while card and workflow.get(record.id).card_ts is None:
        time.sleep(0.02)
    approved_at = time.monotonic()
    workflow.approve(record.id, Actor("UBOB"))
    final = _wait(services, record.id, TERMINAL_STATES)
    wall = time.monotonic() - approved_at
    children = workflow.drain_moves(final.id)
    jobs = _jobs(children, time_scale)
    ideal = makespan(schedule(jobs, LIMITS))
    figures = {
        "moved": float(sum(c.state is State.SUCCEEDED for c in children)),
        "succeeded (1 = yes)": float(final.state is State.SUCCEEDED),
        "drain time (s)": wall,
        "ideal schedule (s)": ideal,
        "lower bound (s)": _lower_bound(jobs),
        "drain / ideal": wall / ideal if ideal else float("nan"),
    }
    return figures


def _table(runs: list[tuple[str, dict[str, float]]]) -> None:
    print(f"{'measure':<34}" + "".join(f"{name:>14}" for name, _ in runs))
    for key in runs[0][1]:
        cells = "".join(
            f"{figures[key]:>14.0f}"
            if key.startswith(("moved", "notifier", "succ", "slack"))
            else f"{figures[key]:>14.2f}"
            for _, figures in runs
        )
        print(f"{key:<34}{cells}")


def main() -> None:
    """Parse the options and run the measurements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=40)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument(
        "--poll", type=float, default=2.0, help="[executor] poll_seconds (the bot's default)"
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--compare", action="store_true", help="also run without the queue savings, in turns"
    )
    parser.add_argument(
        "--slack", action="store_true", help="through the Slack app and the Slack stand-in"
    )
    args = parser.parse_args()
    savings = _Savings()
    runs: list[tuple[str, dict[str, float]]] = []
    for round_ in range(1, args.rounds + 1):
        if args.compare:
            savings.off()
            runs.append(
                (
                    f"without #{round_}",
                    measure(args.vms, args.time_scale, args.poll, slack=args.slack),
                )
            )
            savings.on()
        runs.append(
            (f"bot #{round_}", measure(args.vms, args.time_scale, args.poll, slack=args.slack))
        )
    print(f"drain of {args.vms} VMs, limits {LIMITS}, time scale {args.time_scale}")
    _table(runs)


if __name__ == "__main__":
    main()
