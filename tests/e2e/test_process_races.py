"""`hvbot` processes racing on one database behave as one bot (see `race_rounds`)."""

from __future__ import annotations

import os
import random
from pathlib import Path

from support.race_rounds import VMS, lines, run_rounds


def test_racing_processes_keep_one_request_per_vm_the_host_limit_and_one_move_each(
    tmp_path: Path,
) -> None:
    # One round here; `scripts/bench safety` runs many. The seed is in the failure text.
    seed = int(os.environ.get("HVBOT_RACE_SEED") or random.randrange(1 << 30))
    rounds = run_rounds(tmp_path, 1, seed)
    told = "\n".join(lines(rounds, seed)) + f"\n(HVBOT_RACE_SEED={seed} repeats this run)"
    (round_,) = rounds
    assert round_.duplicate_open == 0, told
    assert round_.created == len(VMS), told
    assert round_.peak_per_host <= 1, told
    assert round_.extra_moves == 0 and round_.missing_moves == 0, told
    assert round_.sent == round_.moves, told
