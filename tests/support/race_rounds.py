"""Rounds of `hvbot` processes racing on one database: several `request` processes for the
same VMs at once, then two `approve` and sometimes a `cancel` per open request at once, with
every host's migration limit at 1 and two VMs whose moves share both hosts.

Checked after each round, against the database and the lab: at most one open request per VM,
at most one move sent at a time per host (from the audit log's send and end times), exactly
one Move-VM per request that was sent and none for one that was not. Used by
`tests/e2e/test_process_races.py` (one round) and `benchmarks/bench_safety.py` (many).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from commands.workflow.scheduler import SLOTS_FREED
from lab.running import RunningLab, start_lab
from lab.world import World, load_scenario

# Two VMs whose moves both occupy HV-SRV01 and HV-SRV02 (one each way).
VMS = ("SRV-APP01", "SRV-WEB01")
HOSTS = ("HV-SRV01", "HV-SRV02")
FINALS = ("succeeded", "failed", "rejected", "expired", "cancelled", "outcome_unknown")


@dataclass
class Round:
    """What one round did and what was wrong with it."""

    number: int
    requests: int = 0
    created: int = 0
    sent: int = 0
    moves: int = 0
    duplicate_open: int = 0
    extra_moves: int = 0
    missing_moves: int = 0
    peak_per_host: int = 0
    states: dict[str, int] = field(default_factory=dict)


@dataclass
class RaceRig:
    """One lab (limits at 1) and the environment of the `hvbot` processes."""

    lab: RunningLab
    world: World
    directory: Path
    env: dict[str, str]

    def config(self, name: str) -> Path:
        """A config file whose audit database is `<name>.db`."""
        path = self.directory / f"{name}.toml"
        path.write_text(
            self.lab.config_fragment()
            + '\n[approvals]\nusers = ["UBOB", "UCAROL"]\n'
            + "\n[executor]\npoll_seconds = 0.1\n"
            + f'\n[audit]\ndatabase = "{self.directory / name}.db"\n',
            encoding="utf-8",
        )
        return path

    def start(self, config: Path, *args: str) -> subprocess.Popen[bytes]:
        """`hvbot ARGS --config CONFIG` in the background."""
        argv = [sys.executable, "-m", "bot.cli", args[0], "--config", str(config), *args[1:]]
        return subprocess.Popen(
            argv, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def where(self, vm: str) -> str:
        """The host that runs `vm` now."""
        return next(h for h in HOSTS if (host := self.world.host(h)) and host.find_vm(vm))


@contextmanager
def race_rig(directory: Path) -> Iterator[RaceRig]:
    """A lab whose hosts each allow one live migration at a time."""
    world = load_scenario(None, time_scale=0.005)
    for name in world.host_names():
        host = world.host(name)
        assert host is not None
        host.max_vm_migrations = 1
        for vm in VMS:
            machine = host.find_vm(vm)
            if machine is not None:
                # A local ISO blocks the move (preflight finding): eject it, as an admin would.
                machine.dvds.clear()
    with start_lab(world) as lab:
        env = {
            **os.environ,
            "HVBOT_WINRM_USER": lab.username,
            "HVBOT_WINRM_PASSWORD": lab.password,
        }
        yield RaceRig(lab, world, directory, env)
        world.wait_idle()


def _wait(processes: list[subprocess.Popen[bytes]], timeout: float = 300) -> None:
    for process in processes:
        process.wait(timeout=timeout)


def _peak(intervals: list[tuple[dt.datetime, dt.datetime]]) -> int:
    """The most intervals open at one moment."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    peak = running = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def run_round(rig: RaceRig, number: int, rng: random.Random, requesters: int = 3) -> Round:
    """One round: racing requests, then racing approvals and cancels, then `recover`."""
    result = Round(number)
    config = rig.config(f"round{number:03d}")
    database = rig.directory / f"round{number:03d}.db"
    targets = {vm: HOSTS[1 - HOSTS.index(rig.where(vm))] for vm in VMS}
    calls_before = {vm: _moves_of(rig.world, vm) for vm in VMS}
    texts = [f"{vm} to {targets[vm]} include-storage" for vm in VMS for _ in range(requesters)]
    rng.shuffle(texts)
    result.requests = len(texts)
    _wait([rig.start(config, "request", "--as", "UALICE", "--", text) for text in texts])

    with sqlite3.connect(database) as conn:
        rows = conn.execute("SELECT id, vm, state FROM requests").fetchall()
    open_per_vm = {vm: sum(r[1] == vm and r[2] not in FINALS for r in rows) for vm in VMS}
    result.created = len(rows)
    result.duplicate_open = sum(max(0, n - 1) for n in open_per_vm.values())

    deciders: list[subprocess.Popen[bytes]] = []
    for request_id, _, state in rows:
        if state != "awaiting_approval":
            continue
        deciders += [
            rig.start(config, "approve", "--as", who, str(request_id)) for who in ("UBOB", "UCAROL")
        ]
        if rng.random() < 0.3:
            time.sleep(rng.uniform(0, 0.5))
            deciders.append(rig.start(config, "cancel", "--as", "UALICE", str(request_id)))
    _wait(deciders)
    _wait([rig.start(config, "recover")])
    rig.world.wait_idle()
    _judge(result, database, rig.world, calls_before)
    return result


def _moves_of(world: World, vm: str) -> int:
    return sum(
        any(str(value).casefold() == vm.casefold() for _, value in call.parameters)
        for call in world.calls("Move-VM")
    )


def _judge(result: Round, database: Path, world: World, before: dict[str, int]) -> None:
    with sqlite3.connect(database) as conn:
        requests = conn.execute(
            "SELECT id, vm, state, source_host, destination_host FROM requests"
        ).fetchall()
        events = conn.execute(
            "SELECT request_id, kind, at, state_to FROM events "
            "WHERE request_id IS NOT NULL ORDER BY seq"
        ).fetchall()
    per_host: dict[str, list[tuple[dt.datetime, dt.datetime]]] = {}
    sent_per_vm = {vm: 0 for vm in VMS}
    for request_id, vm, state, source, destination in requests:
        result.states[state] = result.states.get(state, 0) + 1
        mine = [e for e in events if e[0] == request_id]
        sent = [dt.datetime.fromisoformat(e[2]) for e in mine if e[1] == "invocation_sent"]
        if not sent:
            continue
        sent_per_vm[vm] += len(sent)
        # A move holds its hosts' slots until they are freed: once its Move-VM returned
        # (`slots_freed`, before its outcome is decided), else until it ends.
        ends = [
            dt.datetime.fromisoformat(e[2]) for e in mine if e[1] == SLOTS_FREED or e[3] in FINALS
        ]
        end = ends[0] if ends else dt.datetime.max.replace(tzinfo=dt.UTC)
        for host in (source, destination):
            per_host.setdefault(host, []).append((sent[0], end))
    result.sent = sum(sent_per_vm.values())
    for vm in VMS:
        moves = _moves_of(world, vm) - before[vm]
        result.moves += moves
        result.extra_moves += max(0, moves - sent_per_vm[vm])
        result.missing_moves += max(0, sent_per_vm[vm] - moves)
    result.peak_per_host = max((_peak(v) for v in per_host.values()), default=0)


def lines(rounds: list[Round], seed: int) -> list[str]:
    """A table of the rounds, then the totals."""
    out = [
        f"seed {seed}, {len(rounds)} rounds, host limit 1",
        f"{'round':<6} {'requests':>8} {'created':>8} {'sent':>5} {'Move-VM':>8} "
        f"{'dup open':>9} {'extra':>6} {'peak/host':>10}  states",
    ]
    for r in rounds:
        states = ", ".join(f"{k} {v}" for k, v in sorted(r.states.items()))
        out.append(
            f"{r.number:<6} {r.requests:>8} {r.created:>8} {r.sent:>5} {r.moves:>8} "
            f"{r.duplicate_open:>9} {r.extra_moves:>6} {r.peak_per_host:>10}  {states}"
        )
    out += [
        f"duplicate open requests: {sum(r.duplicate_open for r in rounds)}",
        f"extra Move-VM: {sum(r.extra_moves for r in rounds)}",
        f"sent but no Move-VM: {sum(r.missing_moves for r in rounds)}",
        f"most moves sent at once on one host: {max((r.peak_per_host for r in rounds), default=0)}",
    ]
    return out


def run_rounds(directory: Path, rounds: int, seed: int) -> list[Round]:
    """`rounds` racing rounds on one lab, each on a fresh database."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    with race_rig(directory) as rig:
        return [run_round(rig, number, rng) for number in range(rounds)]
