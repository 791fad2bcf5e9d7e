"""Random SIGKILL trials: `hvbot approve` killed at a seeded random moment, then `hvbot recover`,
and the request's final state checked against the lab's call log and where the VM is.

Each trial moves one VM to the other of two hosts, right after its previous move (whose job
lingers on the host and whose events stay in the log: the situation that once turned a move
that never ran into a "success"). Kills come at a uniform random delay after the approving
process starts, or at a short random delay after `invocation_sent` is recorded, or (mode
`window`) the process is frozen the moment `invocation_sent` appears and killed there, which
lands in the ~70 ms between recording the send and sending whenever the lab shows no Move-VM
yet. Used by
`tests/e2e/test_kill_recover.py` (a few trials) and `benchmarks/bench_safety.py` (many).
"""

from __future__ import annotations

import io
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bot.app import SETTLED_STATES, build_services
from bot.config import Secrets, load_config
from bot.console import ConsoleNotifier
from commands.language import parse
from commands.workflow.records import Actor, Place, State
from lab.running import RunningLab, start_lab
from lab.world import World, load_scenario

VM = "SRV-APP01"
HOSTS = ("HV-SRV01", "HV-SRV02")
# Finished jobs stay visible for the whole run (simulated seconds): every trial meets the
# previous move's job, as a real host shows it for about 5 minutes.
LINGER = 1e9


@dataclass
class Trial:
    """One kill and what recovery made of it."""

    number: int
    anchor: str
    delay: float
    phase: str = ""
    state: str = ""
    moves: int = 0
    moved: bool = False
    problem: str | None = None


@dataclass
class Report:
    """Every trial of a run, and the figures the issue asks for."""

    seed: int
    trials: list[Trial] = field(default_factory=list)

    @property
    def false_states(self) -> list[Trial]:
        """Trials whose final state disagrees with the lab (or never settled)."""
        return [t for t in self.trials if t.problem is not None]

    @property
    def duplicates(self) -> int:
        """Trials where the VM got more than one Move-VM."""
        return sum(t.moves > 1 for t in self.trials)

    @property
    def extra_moves(self) -> int:
        """Move-VM calls beyond one per trial."""
        return sum(max(0, t.moves - 1) for t in self.trials)

    def lines(self) -> list[str]:
        """A table: kills by phase and final state, then the totals."""
        rows = Counter((t.phase, t.state) for t in self.trials)
        out = [f"seed {self.seed}, {len(self.trials)} trials", f"{'killed':<38} {'final':<16} n"]
        out += [f"{p:<38} {s:<16} {n}" for (p, s), n in sorted(rows.items())]
        out += [
            f"false final states: {len(self.false_states)}",
            f"duplicate Move-VM (trials): {self.duplicates}",
            f"extra Move-VM: {self.extra_moves}",
            f"outcome_unknown: {sum(t.state == 'outcome_unknown' for t in self.trials)}",
        ]
        out += [f"  trial {t.number}: {t.problem}" for t in self.false_states]
        return out


class KillRig:
    """One lab for every trial; a fresh database per trial."""

    def __init__(self, lab: RunningLab, world: World, directory: Path) -> None:
        self.lab = lab
        self.world = world
        self.directory = directory
        self.env = {
            **os.environ,
            "HVBOT_WINRM_USER": lab.username,
            "HVBOT_WINRM_PASSWORD": lab.password,
        }

    def config(self, name: str) -> Path:
        """A config file for one trial, with its own audit database."""
        path = self.directory / f"{name}.toml"
        path.write_text(
            self.lab.config_fragment()
            + '\n[approvals]\nusers = ["UBOB"]\n'
            + "\n[executor]\npoll_seconds = 0.1\n"
            + f'\n[audit]\ndatabase = "{self.directory / name}.db"\n',
            encoding="utf-8",
        )
        return path

    def hvbot(self, config: Path, *args: str) -> list[str]:
        """The argv of `hvbot ARGS --config CONFIG`."""
        return [sys.executable, "-m", "bot.cli", args[0], "--config", str(config), *args[1:]]

    def where(self) -> str:
        """The host that runs the VM now."""
        found = [h for h in HOSTS if (host := self.world.host(h)) and host.find_vm(VM)]
        assert len(found) == 1, found
        return found[0]

    def submit(self, config: Path, destination: str) -> int:
        """Records and checks the move in this process (faster than a third subprocess)."""
        cfg = load_config(config)
        services = build_services(
            cfg, Secrets.from_environ(self.env), ConsoleNotifier(io.StringIO())
        )
        # Its warnings (plain HTTP to the lab) belong to the bot's log, not this run's output.
        logging.disable(logging.WARNING)
        try:
            request = parse(f"{VM} to {destination} include-storage", cfg.inventory)
            record = services.workflow.submit(request, Actor("UALICE"), Place("CLI"))
            record = services.wait_for(record.id, SETTLED_STATES)
            assert record.state is State.AWAITING_APPROVAL, record.state
            return record.id
        finally:
            services.close()
            logging.disable(logging.NOTSET)


@contextmanager
def kill_rig(directory: Path) -> Iterator[KillRig]:
    """A lab whose finished jobs linger for the whole run."""
    world = load_scenario(None, time_scale=0.005)
    world.linger_seconds = LINGER
    with start_lab(world) as lab:
        yield KillRig(lab, world, directory)
        world.wait_idle()


def _events(database: Path) -> list[str]:
    if not database.exists():
        return []
    with sqlite3.connect(database) as conn:
        try:
            return [k for (k,) in conn.execute("SELECT kind FROM events ORDER BY seq")]
        except sqlite3.OperationalError:
            return []


def _state(database: Path, request_id: int) -> str:
    with sqlite3.connect(database) as conn:
        row = conn.execute("SELECT state FROM requests WHERE id = ?", (request_id,)).fetchone()
    return str(row[0])


def _wait_for(database: Path, kind: str, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if kind in _events(database):
            return True
        time.sleep(0.003)
    return False


def _phase(kinds: list[str], moves: int) -> str:
    finals = {"succeeded", "failed", "stopped_on_host", "outcome_unknown", "cancelled"}
    if finals.intersection(kinds[1:]):
        return "after the end"
    if "started" in kinds:
        return "moving"
    if "invocation_sent" in kinds:
        return "sent recorded, Move-VM " + ("received" if moves else "not yet sent")
    if "approved" in kinds:
        return "approved, not sent"
    return "before the approval was recorded"


def judge(trial: Trial, source: str, destination: str, now: str) -> str | None:
    """What is false about the trial's final state, or None when it agrees with the lab."""
    if trial.moves > 1:
        return f"{trial.moves} Move-VM for one request"
    moved = now == destination
    match trial.state:
        case "succeeded":
            return None if moved and trial.moves == 1 else "succeeded, but the VM did not move"
        case "failed" | "cancelled":
            return None if now == source else f"{trial.state}, but the VM moved"
        case "outcome_unknown":
            return None
        case "awaiting_approval":
            return None if trial.moves == 0 else "waits for approval, yet a Move-VM was sent"
    return f"still {trial.state} after recover"


MODES = ("process start", "invocation_sent", "window")


def run_trial(
    rig: KillRig, number: int, rng: random.Random, span: float, mode: str | None = None
) -> Trial:
    """One trial: submit, approve in a subprocess, kill it, recover, compare with the lab.
    `mode` (one of MODES) is drawn at random when not given."""
    source = rig.where()
    destination = HOSTS[1 - HOSTS.index(source)]
    name = f"trial{number:03d}"
    config = rig.config(name)
    database = rig.directory / f"{name}.db"
    request_id = rig.submit(config, destination)
    anchor = mode or rng.choice(MODES)
    delays = {"process start": rng.uniform(0, span), "invocation_sent": rng.uniform(0, 0.15)}
    trial = Trial(number, anchor, round(delays.get(anchor, 0.0), 3))
    before = len(rig.world.calls("Move-VM"))
    approving = subprocess.Popen(
        rig.hvbot(config, "approve", "--as", "UBOB", str(request_id)),
        env=rig.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if anchor != "process start":
        _wait_for(database, "invocation_sent")
    if anchor == "window":
        approving.send_signal(signal.SIGSTOP)
    time.sleep(trial.delay)
    approving.send_signal(signal.SIGKILL)
    approving.wait(timeout=30)
    trial.phase = _phase(_events(database), len(rig.world.calls("Move-VM")) - before)
    subprocess.run(
        rig.hvbot(config, "recover"), env=rig.env, capture_output=True, timeout=300, check=False
    )
    rig.world.wait_idle()
    trial.moves = len(rig.world.calls("Move-VM")) - before
    trial.state = _state(database, request_id)
    now = rig.where()
    trial.moved = now == destination
    trial.problem = judge(trial, source, destination, now)
    return trial


def calibrate(rig: KillRig) -> float:
    """Seconds one whole `hvbot approve` takes here (the first move: the VM's previous one)."""
    source = rig.where()
    config = rig.config("calibration")
    request_id = rig.submit(config, HOSTS[1 - HOSTS.index(source)])
    start = time.monotonic()
    subprocess.run(
        rig.hvbot(config, "approve", "--as", "UBOB", str(request_id)),
        env=rig.env,
        capture_output=True,
        timeout=300,
        check=True,
    )
    rig.world.wait_idle()
    return time.monotonic() - start


def run_trials(directory: Path, trials: int, seed: int) -> Report:
    """`trials` kills with a seeded generator; the report of the run."""
    rng = random.Random(seed)
    report = Report(seed)
    directory.mkdir(parents=True, exist_ok=True)
    with kill_rig(directory) as rig:
        span = calibrate(rig)
        for number in range(trials):
            report.trials.append(run_trial(rig, number, rng, span))
    return report
