"""Safety under attack, counted: random SIGKILL trials of `hvbot approve` followed by
`hvbot recover`, and rounds of `hvbot` processes racing on one database (host limit 1).

    .venv/bin/python benchmarks/bench_safety.py [--trials 50] [--rounds 5] [--seed N]

Prints the seed (the same seed repeats the same kill delays and race orders), then one table
per part with the figures issue 9 asks for: false final states, duplicate open requests,
extra Move-VM, most moves sent at once on one host. See tests/support/kill_trials.py and
tests/support/race_rounds.py for what each trial and round does and how it is judged.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support.kill_trials import run_trials  # noqa: E402
from support.race_rounds import lines, run_rounds  # noqa: E402


def main() -> int:
    """Run both parts; exit 1 when any trial or round found something false."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50, help="random kill trials")
    parser.add_argument("--rounds", type=int, default=5, help="racing rounds")
    parser.add_argument("--seed", type=int, default=None, help="repeat a run")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print(f"seed {seed}  (--seed {seed} repeats this run)\n", flush=True)
    with tempfile.TemporaryDirectory(prefix="hvbot-safety-") as directory:
        start = time.monotonic()
        report = run_trials(Path(directory) / "kills", args.trials, seed)
        print("== random kills of hvbot approve, then hvbot recover")
        print("\n".join(report.lines()))
        print(f"({time.monotonic() - start:.0f} s)\n", flush=True)
        start = time.monotonic()
        rounds = run_rounds(Path(directory) / "races", args.rounds, seed)
        print("== hvbot processes racing on one database")
        print("\n".join(lines(rounds, seed)))
        print(f"({time.monotonic() - start:.0f} s)")
    bad = (
        report.false_states
        or report.extra_moves
        or any(
            r.duplicate_open or r.extra_moves or r.missing_moves or r.peak_per_host > 1
            for r in rounds
        )
    )
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
