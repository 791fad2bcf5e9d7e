"""WinRM adapter speed against the lab: a reused runspace pool versus a pool per call.

    .venv/bin/python benchmarks/bench_winrm.py [--calls 200] [--polls 200] [--http]

Runs the default lab on loopback (HTTPS with its CA and Basic auth unless --http) and times,
in one run, the same read (`Get-VMHost`):
  * through the adapter's shared, reused pool (`HostSession.run`),
  * through pypsrp's `Client.execute_ps`, which opens and closes a pool on every call (the
    lab refuses script text, so this call ends in a terminating error: same round trips),
  * through a fresh `RunspacePool` + `add_cmdlet` per call (execute_ps's work, structured).
Then the cost of one progress poll (`Migration.poll()`: Msvm_MigrationJob for one VM) while
a slow migration runs. Prints a table of medians and p95, and the speed-up ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pypsrp.client import Client
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from bot.config import Config, Secrets, parse_config
from bot.winrm.calls import call
from bot.winrm.hyperv import WinRMHyperV
from bot.winrm.session import ConnectionSettings, Sessions
from commands.plans import plan_move
from commands.requests import Move


def _time(fn: Callable[[], object], runs: int) -> list[float]:
    fn()  # warm-up: first pool open, TLS handshake
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _row(name: str, samples: list[float]) -> tuple[str, str, str, str]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (name, f"{len(samples)}", f"{statistics.median(samples):8.2f}", f"{p95:8.2f}")


def _config_text(running: Any, https: bool) -> str:
    lines = [
        "[winrm]",
        'auth = "basic"',
        f"ssl = {'true' if https else 'false'}",
        'username_env = "BENCH_USER"',
        'password_env = "BENCH_PASSWORD"',
    ]
    if https:
        lines.append(f'ca_file = "{running.ca_file}"')
    for e in running.endpoints.values():
        lines += ["[[hosts]]", f'name = "{e.name}"', f'fqdn = "{e.fqdn}"']
        lines += ['address = "127.0.0.1"', f"port = {e.port}"]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def lab_port(world: Any, https: bool) -> Iterator[tuple[Any, Config, WinRMHyperV]]:
    """The lab running `world` (Basic auth; HTTPS unless told) and the bot's port to it."""
    from lab.running import start_lab

    with start_lab(world, auth="basic", https=https) as running:
        config = parse_config(tomllib.loads(_config_text(running, https)))
        secrets = Secrets.from_environ(
            {"BENCH_USER": running.username, "BENCH_PASSWORD": running.password}
        )
        port = WinRMHyperV(Sessions(ConnectionSettings.from_config(config, secrets)))
        try:
            yield running, config, port
        finally:
            port.close()


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--polls", type=int, default=200)
    parser.add_argument("--http", action="store_true", help="plain HTTP instead of HTTPS")
    args = parser.parse_args()

    from lab.world import load_scenario

    world = load_scenario(None)
    # Slow enough that the migration outlives every poll below.
    world.time_scale = 1.0
    https = not args.http
    with lab_port(world, https) as (running, config, port):
        host = next(iter(config.inventory))
        options = running.client_options(host.name)

        session = port.session(host)
        reused = _time(lambda: session.run([call("Get-VMHost")]), args.calls)

        client = Client(
            options["server"],
            port=options["port"],
            username=options["username"],
            password=options["password"],
            ssl=options["ssl"],
            auth=options["auth"],
            cert_validation=options["cert_validation"],
            encryption=options["encryption"],
        )
        execute_ps = _time(lambda: client.execute_ps("Get-VMHost"), args.calls)

        def fresh_pool() -> None:
            with RunspacePool(WSMan(**options)) as pool:
                PowerShell(pool).add_cmdlet("Get-VMHost").invoke()

        fresh = _time(fresh_pool, args.calls)

        vm = port.find_vm("SRV-APP01")
        source = config.inventory.find(vm.host)
        destination = config.inventory.find("HV-SRV02")
        assert destination is not None
        assert source is not None
        plan = plan_move(Move(vm.name, destination, include_storage=True), vm, source)
        handle = port.start_migration(source, plan.invocations[0], vm.id)
        polls = _time(handle.poll, args.polls)
        progress = handle.poll()
        handle.cancel()
        handle.wait(30)

    rows = [
        ("Get-VMHost, reused pool (adapter)", reused),
        ("Get-VMHost, Client.execute_ps (pool per call)", execute_ps),
        ("Get-VMHost, fresh RunspacePool per call", fresh),
        ("progress poll (Msvm_MigrationJob)", polls),
    ]
    table = [("operation", "runs", "median ms", "p95 ms"), *(_row(n, s) for n, s in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    print(f"lab over {'HTTPS' if https else 'HTTP'}, Basic auth, loopback")
    for r in table:
        print(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    ratio = statistics.median(execute_ps) / statistics.median(reused)
    ratio_fresh = statistics.median(fresh) / statistics.median(reused)
    print(
        f"speed-up of the reused pool: {ratio:.1f}x vs execute_ps, {ratio_fresh:.1f}x vs fresh pool"
    )
    print(f"last poll: state {progress.state.name}, {progress.percent}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
