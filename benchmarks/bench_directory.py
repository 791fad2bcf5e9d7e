"""Directory speed: the delegation report of one host pair, and what the check adds to a preflight.

    .venv/bin/python benchmarks/bench_directory.py [--runs 30]

Starts a Samba AD DC on its own loopback address (root; the packages are installed if
missing) seeded like `hvbot lab --directory`, and the default lab over real WinRM (HTTPS,
Basic auth). Times, in one run:
  * the delegation report of HV-SRV01 ↔ HV-SRV02 on a cold connection (a new adapter: TCP,
    TLS handshake, simple bind, then the two searches) and on the warm, reused connection;
  * the preflight of `check SRV-APP01 to HV-SRV02 include-storage` without the directory
    and with it (both hosts use Kerberos, so the delegation check runs), alternating.
Prints medians and p95 in milliseconds, and the ratios.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import Secrets, parse_config
from bot.directory import ActiveDirectory, open_directory
from bot.winrm.hyperv import WinRMHyperV
from bot.winrm.session import ConnectionSettings, Sessions
from commands.delegation import read_report
from commands.preflight import HostPreflight
from commands.requests import CheckRequest, Move
from lab.directory import start_dc
from lab.directory.domain import LabComputer, seed_domain
from lab.running import start_lab
from lab.world import load_scenario


def _stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    world = load_scenario(None, time_scale=0.01)
    with start_dc() as dc, start_lab(world, auth="basic", https=True) as lab:
        domain = seed_domain(
            dc,
            [LabComputer(h.name, h.fqdn, tuple(h.delegation_to)) for h in world.hosts.values()],
        )
        text = lab.config_fragment() + "\n" + domain.config_fragment()
        config = parse_config(tomllib.loads(text))
        secrets = Secrets(
            {
                "HVBOT_WINRM_USER": lab.username,
                "HVBOT_WINRM_PASSWORD": lab.password,
                **domain.environment(),
            }
        )
        first, second = (config.inventory.find(n) for n in ("HV-SRV01", "HV-SRV02"))
        assert first is not None and second is not None

        def cold() -> None:
            directory = open_directory(config, secrets)
            assert directory is not None
            try:
                assert read_report(directory, first, second).ok
            finally:
                directory.close()

        warm_directory = open_directory(config, secrets)
        assert isinstance(warm_directory, ActiveDirectory)
        read_report(warm_directory, first, second)
        hyperv = WinRMHyperV(Sessions(ConnectionSettings.from_config(config, secrets)))
        without = HostPreflight(hyperv, config.inventory)
        with_check = HostPreflight(hyperv, config.inventory, warm_directory)
        request = CheckRequest(Move("SRV-APP01", second, include_storage=True))
        without.preflight(request)
        assert with_check.preflight(request).ok
        rows: dict[str, list[float]] = {
            "report, cold connection": [],
            "report, warm connection": [],
            "preflight without directory": [],
            "preflight with delegation check": [],
        }
        preflights = [
            ("preflight without directory", without),
            ("preflight with delegation check", with_check),
        ]
        for run in range(args.runs):
            rows["report, cold connection"].append(_timed(cold))
            rows["report, warm connection"].append(
                _timed(lambda: read_report(warm_directory, first, second))
            )
            # Alternate which goes first, so a loaded machine's drift hits both alike.
            for name, preflight in preflights[:: 1 if run % 2 else -1]:
                rows[name].append(_timed(functools.partial(preflight.preflight, request)))
        hyperv.close()
        warm_directory.close()

    print(f"Samba AD DC on {dc.address} (LDAPS), lab over HTTPS; {args.runs} runs each")
    print(f"{'what':<34}{'median ms':>12}{'p95 ms':>10}")
    medians = {}
    for name, samples in rows.items():
        median, p95 = _stats(samples)
        medians[name] = median
        print(f"{name:<34}{median:>12.2f}{p95:>10.2f}")
    cold_ms, warm_ms = medians["report, cold connection"], medians["report, warm connection"]
    base, checked = (
        medians["preflight without directory"],
        medians["preflight with delegation check"],
    )
    print(f"cold / warm report: {cold_ms / warm_ms:.1f}x")
    print(f"preflight with / without the check: {checked / base:.2f}x (+{checked - base:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
