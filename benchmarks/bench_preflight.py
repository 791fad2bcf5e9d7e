"""A move's preflight at Windows' pace: wall time against the slowest single host round trip.

    .venv/bin/python benchmarks/bench_preflight.py [--runs 5] [--http]

Runs the default lab with the realistic latency model on (lab/world/latency.py: per pipeline,
per cmdlet, the Hyper-V module's first load in a pool; guesses) and times, in one run, the
check of `SRV-APP01 to HV-SRV02 include-storage storage-path D:\\Hyper-V`:
  * before: the reads the preflight made before it read each host once (find the VM on every
    host in parallel, then its devices, disk sizes, both hosts' settings, networks and free
    memory, the destination's versions, switches, path and volumes, one round trip each, in
    sequence), then Compare-VM;
  * after: `HostPreflight.preflight` (read.ps1 on every host at once, then Compare-VM);
  * the slowest single host round trip: read.ps1 alone on each host with the parameters the
    survey gives it (the floor any preflight that reads the hosts pays).
Pools are warm (the module load is paid before timing). Prints medians and the ratios.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_winrm import lab_port
from bot.winrm.calls import call, script
from bot.winrm.hyperv import WinRMHyperV
from commands.inventory import Host, Inventory
from commands.plans import compare_invocation, plan_move
from commands.preflight import HostPreflight
from commands.requests import CheckRequest, Move

VM = "SRV-APP01"
PATH = "D:\\Hyper-V"


def _median_ms(action: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def _before(port: WinRMHyperV, inventory: Inventory, move: Move) -> None:
    """The preflight's reads as they were: one cmdlet per round trip, in sequence."""
    hosts = list(inventory)

    def find(host: Host) -> object:
        return port.session(host).run([call("Get-VM", ("Name", VM))])

    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        list(pool.map(find, hosts))
    source, dest = move.source or hosts[0], move.destination
    vm = port.get_vm(source, VM)
    steps = [
        (source, call(c, ("VMName", VM)))
        for c in (
            "Get-VMNetworkAdapter",
            "Get-VMHardDiskDrive",
            "Get-VMDvdDrive",
            "Get-VMProcessor",
        )
    ]
    steps += [(source, call("Get-VHD", ("Path", d.path))) for d in vm.disks]
    for host in (source, dest):
        steps += [
            (host, call("Get-VMHost")),
            (host, call("Get-VMMigrationNetwork")),
            (host, call("Get-CimInstance", ("ClassName", "Win32_OperatingSystem"))),
        ]
    steps += [
        (dest, call("Get-VMHostSupportedVersion")),
        (dest, call("Get-VMSwitch")),
        (dest, call("Test-Path", ("LiteralPath", PATH))),
        (dest, call("Get-Volume")),
    ]
    for host, invocation in steps:
        port.session(host).run([invocation])
    port.compare(source, compare_invocation(plan_move(move, vm, source).invocations[0]))


def _single_round_trips(port: WinRMHyperV, inventory: Inventory, move: Move) -> dict[str, float]:
    """read.ps1 alone on each host, with the parameters the survey sends it."""

    def read(host: Host) -> None:
        facts = "Always" if host == move.destination else "WithVM"
        params: list[tuple[str, object]] = [("Name", VM), ("Facts", facts)]
        if facts == "Always":
            params.append(("Paths", (PATH,)))
        port.session(host).run([script("read.ps1", *params)])  # type: ignore[arg-type]

    return {h.name: _median_ms(functools.partial(read, h), 3) for h in inventory}


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--http", action="store_true", help="plain HTTP instead of HTTPS")
    args = parser.parse_args()
    from lab.world import load_scenario
    from lab.world.latency import REALISTIC

    world = load_scenario(None)
    world.latency = REALISTIC
    with lab_port(world, https=not args.http) as (_, config, port):
        inventory = config.inventory
        source, dest = inventory.find("HV-SRV01"), inventory.find("HV-SRV02")
        assert source is not None and dest is not None
        move = Move(VM, dest, include_storage=True, storage_path=PATH)
        preflight = HostPreflight(port, inventory)
        preflight.preflight(CheckRequest(move))  # warm-up: pools open, module loaded
        singles = _single_round_trips(port, inventory, Move(VM, dest, source=source))
        before = _median_ms(
            lambda: _before(
                port,
                inventory,
                Move(VM, dest, source=source, include_storage=True, storage_path=PATH),
            ),
            args.runs,
        )
        after = _median_ms(lambda: preflight.preflight(CheckRequest(move)), args.runs)
    slowest = max(singles.values())
    rows = [(f"read.ps1 alone on {name}", value) for name, value in singles.items()]
    rows += [
        ("preflight before (one read per round trip)", before),
        ("preflight after (each host once, parallel)", after),
    ]
    print(f"latency model: {REALISTIC}")
    print(f"{'measure':<44} {'median ms':>10} {'x slowest':>10}")
    for name, value in rows:
        print(f"{name:<44} {value:>10.0f} {value / slowest:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
