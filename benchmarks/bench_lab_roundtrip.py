"""Round trip of one cmdlet against the lab over loopback: on an open pool vs a fresh pool.

    .venv/bin/python benchmarks/bench_lab_roundtrip.py [--runs 200]

For each transport (Basic/HTTP, NTLM/HTTP with message encryption, Basic/HTTPS) it times
`Get-VM -Name SRV-APP01` on HV-SRV01 of the default scenario: on one open runspace pool, and
with a new WSMan client and pool (connect, authenticate, open, invoke, close) each time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from lab.running import RunningLab, start_lab
from lab.world import load_scenario

HOST = "HV-SRV01"


def _get_vm(pool: RunspacePool) -> None:
    ps = PowerShell(pool)
    ps.add_cmdlet("Get-VM").add_parameter("Name", "SRV-APP01")
    if len(ps.invoke()) != 1 or ps.had_errors:
        raise RuntimeError("Get-VM did not return SRV-APP01")


def _times(action: Callable[[], None], runs: int) -> list[float]:
    action()  # warm-up: imports, first connection
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _measure(lab: RunningLab, runs: int) -> tuple[list[float], list[float]]:
    with RunspacePool(WSMan(**lab.client_options(HOST))) as pool:
        open_pool = _times(lambda: _get_vm(pool), runs)

    def fresh() -> None:
        with RunspacePool(WSMan(**lab.client_options(HOST))) as new_pool:
            _get_vm(new_pool)

    fresh_pool = _times(fresh, max(runs // 4, 5))
    return open_pool, fresh_pool


def _row(label: str, mode: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[int(len(ordered) * 0.9) - 1] if len(ordered) >= 10 else ordered[-1]
    return (
        f"{label:<24} {mode:<11} {len(samples):>5} {statistics.median(samples):>10.2f}"
        f" {p90:>9.2f} {ordered[0]:>9.2f}"
    )


def main() -> None:
    """Run every configuration and print one table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200, help="runs on the open pool")
    args = parser.parse_args()
    print(
        f"{'transport':<24} {'pool':<11} {'runs':>5} {'median ms':>10} {'p90 ms':>9} {'min ms':>9}"
    )
    for label, auth, https in [
        ("basic / http", "basic", False),
        ("ntlm+encryption / http", "ntlm", False),
        ("basic / https", "basic", True),
    ]:
        with start_lab(load_scenario(), auth=auth, https=https) as lab:
            open_pool, fresh_pool = _measure(lab, args.runs)
        print(_row(label, "open", open_pool))
        print(_row(label, "fresh", fresh_pool))


if __name__ == "__main__":
    main()
