"""`hvbot lab`: run the simulated Hyper-V hosts and the Slack stand-in until Ctrl-C.

Prints, for each host, its WinRM endpoint, the stand-in's Web API and web page, then a ready
`hvbot.toml` fragment (`[winrm]`, `[[hosts]]`, `[slack]`) and the environment variables holding
the throw-away credentials. `--directory` adds a Samba AD DC on its own loopback address whose
computer objects are the lab's hosts, with the scenario's delegation, and its `[directory]`
section and accounts; the hosts then take their delegation from the DC (a `fix` made there
changes what their moves do) and accept Kerberos with keys exported from it, and the
variables that give the bot a ticket are printed too. The lab is imported lazily so the
bot's production code paths never load it.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lab.directory.domain import LabDomain
    from lab.running import RunningLab
    from lab.slack import SlackStandIn
    from lab.world import World

# Bad arguments or a scenario that does not load, like argparse's own usage errors.
EXIT_SCENARIO_PROBLEM = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `lab` to the `hvbot` parser."""
    parser = subparsers.add_parser(
        "lab",
        help="run simulated Hyper-V hosts that speak WinRM and a Slack stand-in, until Ctrl-C",
        description=(
            "Run the lab's simulated Hyper-V hosts and the Slack stand-in on 127.0.0.1 "
            "in the foreground."
        ),
    )
    parser.add_argument(
        "--scenario", metavar="FILE", help="scenario TOML (default: the packaged default lab)"
    )
    parser.add_argument("--auth", choices=("basic", "ntlm"), default="basic")
    parser.add_argument("--https", action="store_true", help="TLS with a throw-away CA")
    parser.add_argument(
        "--base-port",
        type=int,
        default=0,
        metavar="PORT",
        help="first port (hosts get PORT, PORT+1, ...); default: any free ports",
    )
    parser.add_argument(
        "--work-dir",
        metavar="DIR",
        help="where the CA and certificates go (kept after exit); default: a temporary directory",
    )
    parser.add_argument(
        "--time-scale", type=float, metavar="X", help="real seconds per simulated second"
    )
    parser.add_argument(
        "--directory",
        action="store_true",
        help="also run a Samba AD DC on loopback with the hosts' computer objects (root)",
    )
    parser.set_defaults(func=run_lab)


def run_lab(args: argparse.Namespace) -> int:
    """Start the lab, print how to connect, wait for Ctrl-C (SIGINT) or SIGTERM, stop cleanly."""
    from lab.directory import SambaUnavailable
    from lab.running import start_lab
    from lab.slack import SlackStandIn
    from lab.world import ScenarioError, load_scenario

    if args.time_scale is not None and args.time_scale <= 0:
        print("hvbot lab: --time-scale must be above 0", file=sys.stderr)
        return EXIT_SCENARIO_PROBLEM
    try:
        world = load_scenario(args.scenario, time_scale=args.time_scale)
    except ScenarioError as exc:
        print(f"hvbot lab: {exc}", file=sys.stderr)
        return EXIT_SCENARIO_PROBLEM
    names = world.host_names()
    if args.base_port and not 1024 <= args.base_port <= 65536 - len(names):
        print(
            f"hvbot lab: --base-port must leave room for {len(names)} ports between 1024 and "
            f"65535 (at most {65536 - len(names)}); or leave it out for any free ports",
            file=sys.stderr,
        )
        return EXIT_SCENARIO_PROBLEM
    ports = {name: args.base_port + i for i, name in enumerate(names)} if args.base_port else None
    with contextlib.ExitStack() as resources:
        domain = None
        if args.directory:
            try:
                domain = _start_domain(world, resources)
            except SambaUnavailable as exc:
                print(f"hvbot lab: no directory: {exc}", file=sys.stderr)
                return EXIT_SCENARIO_PROBLEM
        try:
            slack = resources.enter_context(SlackStandIn())
            lab = start_lab(
                world,
                auth=args.auth,
                https=args.https,
                ports=ports,
                work_dir=Path(args.work_dir) if args.work_dir else None,
                keytabs=domain.realm.keytabs if domain and domain.realm else None,
            )
        except OSError as exc:
            print(f"hvbot lab: cannot listen on 127.0.0.1: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_SCENARIO_PROBLEM
        resources.enter_context(lab)
        _serve(lab, slack, domain)
    print("Lab stopped.")
    return 0


def _start_domain(world: World, resources: contextlib.ExitStack) -> LabDomain:
    """A DC whose computer objects are the world's hosts, with the scenario's delegation and
    their Kerberos keys; from then on the hosts read their delegation from it."""
    import tempfile

    from lab.directory import start_dc
    from lab.directory.delegation import DirectoryDelegation
    from lab.directory.domain import LabComputer, seed_domain

    dc = resources.enter_context(start_dc())
    computers = [
        LabComputer(host.name, host.fqdn, tuple(sorted(host.delegation_to)))
        for host in world.hosts.values()
    ]
    keys = Path(resources.enter_context(tempfile.TemporaryDirectory(prefix="hvbot-lab-krb-")))
    domain = seed_domain(dc, computers, keys=(world.credentials, keys))
    world.delegation = DirectoryDelegation(dc)
    return domain


def _print_kerberos(lab: RunningLab, domain: LabDomain) -> None:
    """How to reach the hosts with Kerberos instead: the hosts accept it already."""
    print(
        '\n# Kerberos to the hosts instead: set auth = "kerberos" in [winrm], and give the bot '
        "a ticket\n# from the lab user's keytab (its user and password must then be unset):"
    )
    print("unset HVBOT_WINRM_USER HVBOT_WINRM_PASSWORD")
    for name, value in domain.kerberos_environment(lab.username).items():
        print(f"export {name}={shlex.quote(value)}")


def _serve(lab: RunningLab, slack: SlackStandIn, domain: LabDomain | None) -> None:
    """Print how to connect, then wait for Ctrl-C (SIGINT) or SIGTERM."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Set SIGINT explicitly too: a shell starts background jobs with SIGINT ignored.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for endpoint in lab.endpoints.values():
            print(f"{endpoint.name:<12} {endpoint.fqdn:<28} {endpoint.url}")
        print(f"{'Slack':<12} {'Web API':<28} {slack.api_url}")
        print(f"{'':<12} {'web page':<28} {slack.page_url}")
        if domain is not None:
            print(f"{'DC1':<12} {domain.dc.realm.lower():<28} {domain.dc.uri}")
        print("\n# hvbot.toml fragment\n" + lab.config_fragment())
        print(slack.config_fragment())
        if domain is not None:
            print(domain.config_fragment())
        print("# credentials of the lab (throw-away values)")
        print(f"export HVBOT_WINRM_USER={shlex.quote(lab.username)}")
        print(f"export HVBOT_WINRM_PASSWORD={shlex.quote(lab.password)}")
        environment = {**slack.environment(), **(domain.environment() if domain else {})}
        for name, value in environment.items():
            print(f"export {name}={shlex.quote(value)}")
        if domain is not None:
            _print_kerberos(lab, domain)
        print("\nLab running; Ctrl-C to stop.", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
