"""`hvbot plan` (what a /migrate would run, resolved against the live hosts) and `hvbot hosts`.

`plan` exits 0 with the plan, 2 when the text or the plan is refused (the hosts' answer
included: no such VM), 1 when a host could not be asked. `hosts` exits 0 when every host
answered, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor

from bot.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    command_text,
    config_option,
    guarded,
    print_error,
    require_change,
)
from bot.config import Config, Secrets
from bot.winrm.hyperv import WinRMHyperV
from bot.winrm.session import ConnectionSettings, Sessions
from commands.drain import drain_plan_json, plan_drain, render_drain_plan
from commands.hyperv import ErrorKind, HostSettings, HyperVError
from commands.inventory import Host
from commands.language import parse, to_dict
from commands.plans import compare_invocation
from commands.preflight import ResolvedPlan, resolve_plan
from commands.requests import CheckRequest, DrainCheckRequest, DrainRequest, Request


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `plan` and `hosts` to the `hvbot` parser."""
    plan = subparsers.add_parser(
        "plan",
        help="show exactly what a /migrate would run, resolved against the hosts",
        description="Parse TEXT as /migrate would, find the VM and its disks on the live "
        "hosts, and print the exact PowerShell that would run (nothing is changed).",
    )
    config_option(plan)
    plan.add_argument("--json", action="store_true", help="print one JSON object")
    plan.add_argument("text", nargs="*", metavar="TEXT", help="the /migrate text (after --)")
    plan.set_defaults(func=guarded(run_plan))

    hosts = subparsers.add_parser(
        "hosts",
        help="connect to every inventory host and show its migration settings",
        description="Connect to every host of the inventory over WinRM and print "
        "reachability, authentication and live migration settings.",
    )
    config_option(hosts)
    hosts.set_defaults(func=guarded(run_hosts))


def connect(config: Config) -> WinRMHyperV:
    """The Hyper-V port for the configured inventory (credentials from the environment).
    Missing credentials are one HyperVError here, before any host is contacted."""
    settings = ConnectionSettings.from_config(config, Secrets.from_environ())
    try:
        # Building a WSMan sends nothing; it only checks that the credentials are there.
        settings.wsman(next(iter(settings.inventory)))
    except HyperVError as error:
        # The same for every host: say it once, without naming one.
        raise HyperVError(error.kind, error.summary, cause=error.cause, fix=error.fix) from None
    return WinRMHyperV(Sessions(settings))


def render_text(resolved: ResolvedPlan, check: bool) -> str:
    """The plan as commented, readable PowerShell."""
    plan = resolved.plan
    lines = [f"# {plan.title}", f"# runs on {plan.host.name} ({plan.host.fqdn})"]
    if resolved.vm is not None:
        vm = resolved.vm
        lines.append(
            f"# VM {vm.name} [{vm.id}] {vm.state}, {len(vm.disks)} disk(s), "
            f"configuration version {vm.configuration_version}"
        )
    if check:
        lines.append("# check only: the preflight runs Compare-VM, nothing moves")
        lines += [compare_invocation(i).render() for i in plan.invocations]
    else:
        lines.append(plan.render())
    return "\n".join(lines)


def render_json(request: Request, resolved: ResolvedPlan) -> str:
    """The request, the plan and (for checks) the Compare-VM call as one JSON object."""
    data: dict[str, object] = {"request": to_dict(request), "plan": resolved.plan.to_json()}
    if resolved.vm is not None:
        data["vm"] = {"id": resolved.vm.id, "name": resolved.vm.name, "host": resolved.vm.host}
    if isinstance(request, CheckRequest):
        data["check"] = [compare_invocation(i).to_json() for i in resolved.plan.invocations]
    return json.dumps(data, ensure_ascii=False)


def run_plan(args: argparse.Namespace, config: Config) -> int:
    """Parse, resolve against the hosts, print the plan."""
    request = parse(command_text(args.text), config.inventory)
    if isinstance(request, DrainRequest | DrainCheckRequest):
        return _run_drain_plan(args, config, request)
    require_change(request, "plan", args.text)
    port = connect(config)
    try:
        resolved = resolve_plan(port, config.inventory, request)
    finally:
        port.close()
    if args.json:
        print(render_json(request, resolved))
    else:
        print(render_text(resolved, isinstance(request, CheckRequest)))
    return EXIT_OK


def _run_drain_plan(
    args: argparse.Namespace, config: Config, request: DrainRequest | DrainCheckRequest
) -> int:
    """A drain's placement and moves, read from the live hosts (nothing is changed)."""
    port = connect(config)
    try:
        plan = plan_drain(port, config.inventory, request.drain)
    finally:
        port.close()
    print(drain_plan_json(plan) if args.json else render_drain_plan(plan))
    return EXIT_OK


HOST_COLUMNS = (
    "HOST",
    "REACHABLE",
    "AUTH",
    "MIGRATION",
    "MAX VM",
    "MAX STORAGE",
    "LM AUTH",
    "PERFORMANCE",
    "ANY NETWORK",
    "NETWORKS",
)


def host_row(host: Host, auth: str, answer: HostSettings | HyperVError) -> tuple[str, ...]:
    """One row of `hvbot hosts`."""
    if isinstance(answer, HyperVError):
        # A refused login proves the host answered.
        refused = answer.kind is ErrorKind.AUTHENTICATION
        login = f"{auth} refused" if refused else "-"
        reachable = "yes" if refused else "no"
        return (host.name, reachable, login, answer.summary, "", "", "", "", "", "")
    networks = ", ".join(f"{n.subnet} (prio {n.priority})" for n in answer.networks) or "-"
    return (
        host.name,
        "yes",
        f"{auth} ok",
        "enabled" if answer.migration_enabled else "disabled",
        str(answer.max_vm_migrations),
        str(answer.max_storage_migrations),
        answer.authentication,
        answer.performance,
        "yes" if answer.use_any_network else "no",
        networks,
    )


def format_table(rows: list[tuple[str, ...]]) -> str:
    """Rows as left-aligned columns."""
    table = [HOST_COLUMNS, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(HOST_COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in table
    )


def run_hosts(args: argparse.Namespace, config: Config) -> int:
    """Ask every inventory host for its migration settings, in parallel; print a table."""
    port = connect(config)
    hosts = list(config.inventory)

    def ask(host: Host) -> HostSettings | HyperVError:
        try:
            return port.host_settings(host)
        except HyperVError as error:
            return error

    try:
        with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
            answers = list(pool.map(ask, hosts))
    finally:
        port.close()
    rows = [host_row(h, config.winrm.auth, a) for h, a in zip(hosts, answers, strict=True)]
    print(format_table(rows))
    errors = [a for a in answers if isinstance(a, HyperVError)]
    # The table has room for the summary only: cause and fix follow, once per answer.
    alike: dict[str, list[HyperVError]] = {}
    for error in errors:
        alike.setdefault(error.summary, []).append(error)
    for summary, same in alike.items():
        first, names = same[0], ", ".join(e.host or "?" for e in same)
        print_error(HyperVError(first.kind, summary, cause=first.cause, fix=first.fix, host=names))
    return EXIT_FAILED if errors else EXIT_OK
