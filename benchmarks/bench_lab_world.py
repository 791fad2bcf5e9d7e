"""Cost of the simulated PowerShell itself, without WinRM: binding plus cmdlet, per call.

    .venv/bin/python benchmarks/bench_lab_world.py [--runs 2000]

Calls `World.run_pipeline` directly with an in-memory `CollectingSink` on the default lab, for a few
representative invocations, and prints the median and 95th percentile per call. The live
migration row measures a whole Move-VM at time scale 1e-6 (engine overhead: thread, job,
progress, events), moving SRV-DB01 back and forth between HV-SRV01 and HV-SRV02.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lab.pipeline import (
    CollectingSink,
    CommandCall,
    InvocationContext,
    LabValue,
    TerminatingError,
)
from lab.world import World, load_scenario


def _timed(runs: int, call: Callable[[int], None]) -> list[float]:
    samples = []
    for i in range(runs):
        start = time.perf_counter()
        call(i)
        samples.append(time.perf_counter() - start)
    return samples


def _pipeline(
    world: World, host: str, name: str, *params: tuple[str | None, LabValue]
) -> Callable[[int], None]:
    context = InvocationContext(host, "LAB\\hvadmin")

    def call(_: int) -> None:
        with contextlib.suppress(TerminatingError):
            world.run_pipeline(context, [CommandCall(name, params)], CollectingSink())

    return call


def _ping_pong(world: World) -> Callable[[int], None]:
    hosts = ("HV-SRV01", "HV-SRV02")

    def call(i: int) -> None:
        source, destination = hosts[i % 2], hosts[(i + 1) % 2]
        world.run_pipeline(
            InvocationContext(source, "LAB\\hvadmin"),
            [CommandCall("Move-VM", (("Name", "SRV-DB01"), ("DestinationHost", destination)))],
            CollectingSink(),
        )

    return call


def main() -> None:
    """Print one row per invocation: median and p95 in microseconds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    runs = parser.parse_args().runs
    world = load_scenario(time_scale=1e-6)
    world.linger_seconds = 0
    rows = [
        ("Get-VM -Name SRV-APP01", _pipeline(world, "HV-SRV01", "Get-VM", ("Name", "SRV-APP01"))),
        ("Get-VMHost", _pipeline(world, "HV-SRV01", "Get-VMHost")),
        (
            "Compare-VM SRV-DB01 to HV-SRV03",
            _pipeline(
                world,
                "HV-SRV01",
                "Compare-VM",
                ("Name", "SRV-DB01"),
                ("DestinationHost", "HV-SRV03"),
            ),
        ),
        (
            "Move-VM (seed's invalid parameter sets)",
            _pipeline(
                world,
                "HV-SRV01",
                "Move-VM",
                ("Name", "SRV-APP01"),
                ("DestinationHost", "HV-SRV02"),
                ("VirtualMachinePath", "D:\\A"),
                ("DestinationStoragePath", "D:\\B"),
                ("IncludeStorage", None),
            ),
        ),
        (
            "Get-WinEvent -MaxEvents 20",
            _pipeline(
                world,
                "HV-SRV01",
                "Get-WinEvent",
                ("LogName", "Microsoft-Windows-Hyper-V-VMMS-Admin"),
                ("MaxEvents", 20),
            ),
        ),
    ]
    print(f"{'invocation':44} {'median µs':>10} {'p95 µs':>10}")
    for label, call in rows:
        samples = sorted(_timed(runs, call))
        median = statistics.median(samples) * 1e6
        p95 = samples[int(len(samples) * 0.95) - 1] * 1e6
        print(f"{label:44} {median:10.0f} {p95:10.0f}")
    moves = sorted(_timed(max(runs // 20, 20), _ping_pong(world)))
    median = statistics.median(moves) * 1e6
    p95 = moves[int(len(moves) * 0.95) - 1] * 1e6
    print(f"{'Move-VM SRV-DB01 live (time scale 1e-6)':44} {median:10.0f} {p95:10.0f}")


if __name__ == "__main__":
    main()
