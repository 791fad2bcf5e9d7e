"""Command language speed: parse and render throughput on typical and worst-case Slack text.

    .venv/bin/python benchmarks/bench_parse.py [--repeat 2000]

A slash command must be acknowledged within 3 s and parsing happens before the ack, so the
interesting figures are the per-call times of realistic commands and of the longest text Slack
accepts (4000 characters; entities make it longer) full of entities, links and quotes.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from commands.inventory import Host, Inventory
from commands.language import ParseError, parse, render
from commands.requests import Request

INVENTORY = Inventory(
    Host(f"HV-SRV{i:02}", f"hv-srv{i:02}.lab.local", critical=i == 1) for i in range(1, 51)
)
CASES = {
    "bare move": "SRV-APP01 to HV-SRV02",
    "move, every option": (
        "\u201cMy App VM\u201d to <http://hv-srv02.lab.local|hv-srv02.lab.local> from HV-SRV01 "
        'vm-path "D:\\Hyper V\\cfg" storage-path \\\\nas01\\vms\\app reason patch &amp; reboot'
    ),
    "storage, 8 vhds": "storage SRV-APP01 "
    + " ".join(f"vhd D:\\VMs\\d{i}.vhdx to E:\\VMs\\d{i}.vhdx" for i in range(8)),
    "host network add": "host hv-srv07.lab.local network add fd00:10::/64 priority 3",
    "refused (unknown host)": "SRV-APP01 to HV-SRV99",
    "refused (Move-VM pasted)": "Move-VM -Name SRV-APP01 -DestinationHost hv-srv02 -IncludeStorage",
    "refused (path, spaces)": "SRV-APP01 to HV-SRV02 storage-path C:\\Hyper V\\My VMs reason x",
    # The reason is over its 500 characters, so these are refused after the whole text is read.
    "5000 chars of entities": "SRV to HV-SRV02 reason " + "&amp;&lt;\u201cx\u201d " * 420,
    "4000 chars of links": "SRV to HV-SRV02 reason " + "<http://a.b|a.b> <@U1> " * 170,
}


def _time(call: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def _parse_or_refuse(text: str) -> Request | ParseError:
    try:
        return parse(text, INVENTORY)
    except ParseError as error:
        return error


def main() -> None:
    """Print one row per case: median and 99th percentile of parse, and of render."""
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--repeat", type=int, default=2000)
    repeat = options.parse_args().repeat
    print(f"{'case':<28}{'chars':>6}{'parse p50 µs':>14}{'parse p99 µs':>14}{'render p50 µs':>15}")
    for name, text in CASES.items():
        samples = sorted(_time(functools.partial(_parse_or_refuse, text), repeat))
        result = _parse_or_refuse(text)
        rendered = "-"
        if not isinstance(result, ParseError):
            rendered_samples = _time(functools.partial(render, result), repeat)
            rendered = f"{statistics.median(rendered_samples) * 1e6:.1f}"
        p50 = statistics.median(samples) * 1e6
        p99 = samples[int(len(samples) * 0.99) - 1] * 1e6
        print(f"{name:<28}{len(text):>6}{p50:>14.1f}{p99:>14.1f}{rendered:>15}")


if __name__ == "__main__":
    main()
