"""A drain's plan: every VM of a host placed on its peers, each with its exact Move-VM.

`plan_drain` reads the source and the candidate hosts through the Hyper-V port, places the
VMs (`commands.placement.place`), asks Compare-VM about each chosen pair, and places again
around what Compare-VM refused, until every move it proposes has passed Compare-VM.
`render_drain_plan` is the text people read: the placement table, the VMs that fit nowhere
and why, and the PowerShell of each move in the order they start.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from commands.diagnosis import diagnose_incompatibility
from commands.findings import Finding, FindingCode, PreflightResult, Severity, code_of
from commands.hyperv import HyperVError, VmInfo
from commands.inventory import Host, Inventory
from commands.language import to_dict
from commands.placement import (
    STOPPED_STATES,
    HostCapacity,
    Job,
    Misfit,
    Placed,
    PlacementPlan,
    Slot,
    gib,
    place,
    schedule,
)
from commands.plans import Plan, compare_invocation, plan_move
from commands.ports import HyperVPort
from commands.requests import Drain, DrainCheckRequest, Move

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DrainMove:
    """One VM's move in a drain: where it goes (and why there) and the Move-VM that does it."""

    placed: Placed
    plan: Plan

    @property
    def vm(self) -> VmInfo:
        """The VM this move takes off the drained host."""
        return self.placed.vm

    def to_json(self) -> dict[str, object]:
        """The move as JSON: what the drain records a child migration from."""
        return {
            "vm": self.vm.name,
            "vm_id": self.vm.id,
            "destination": self.placed.destination,
            "memory_bytes": self.vm.memory_bytes,
            "moves_storage": self.placed.moves_storage,
            "notes": list(self.placed.notes),
            "invocation": self.plan.invocations[0].to_json(),
        }


@dataclass(frozen=True)
class DrainPlan:
    """What a drain would do now: the moves in start order, what stays, the hosts' limits."""

    drain: Drain
    source: Host
    moves: tuple[DrainMove, ...]
    placement: PlacementPlan
    left_stopped: tuple[VmInfo, ...]
    limits: Mapping[str, int]
    unavailable: Mapping[str, str]

    @property
    def empties_host(self) -> bool:
        """Whether every VM of the host has somewhere to go (stopped ones left aside)."""
        return self.placement.complete and not self.left_stopped

    def order(self) -> tuple[Slot, ...]:
        """The start order under both ends' limits, each move counted as one unit of time."""
        jobs = [Job(m.vm.name, self.source.name, m.placed.destination, 1.0) for m in self.moves]
        return schedule(jobs, self.limits)


def plan_drain(hyperv: HyperVPort, inventory: Inventory, drain: Drain) -> DrainPlan:
    """Read the hosts and plan `drain`. Raises HyperVError when the source cannot be read;
    a candidate host that does not answer is left out and named in `unavailable`."""
    source = drain.source
    vms = hyperv.list_vms(source)
    wanted = [v for v in vms if drain.include_stopped or v.state.casefold() not in STOPPED_STATES]
    left = tuple(v for v in vms if v not in wanted)
    source_capacity = _capacity(hyperv, source, with_storage=False)
    candidates = drain.destinations or tuple(h for h in inventory if h != source)
    hosts: list[HostCapacity] = []
    unavailable: dict[str, str] = {}
    for host in candidates:
        try:
            hosts.append(_capacity(hyperv, host, with_storage=drain.include_storage))
        except HyperVError as error:
            log.warning(
                "drain candidate unreadable", extra={"host": host.name, "error": str(error)}
            )
            unavailable[host.name] = error.summary
    by_name = {h.name: h for h in inventory}
    verdicts: dict[tuple[str, str], Sequence[Misfit]] = {}
    while True:
        placement = place(
            wanted,
            hosts,
            sources={source.name: source_capacity},
            include_storage=drain.include_storage,
            known_misfits=verdicts,
        )
        moves = [_move(drain, source, by_name[p.destination], p) for p in placement.placed]
        fresh = [m for m in moves if (m.vm.id, m.placed.destination) not in verdicts]
        for move in fresh:
            verdicts[(move.vm.id, move.placed.destination)] = _compare(hyperv, source, move)
        if all(not verdicts[(m.vm.id, m.placed.destination)] for m in moves):
            break
    limits = {h.name: h.max_vm_migrations for h in hosts}
    limits[source.name] = source_capacity.max_vm_migrations
    return DrainPlan(drain, source, tuple(moves), placement, left, limits, unavailable)


def _capacity(hyperv: HyperVPort, host: Host, *, with_storage: bool) -> HostCapacity:
    settings = hyperv.host_settings(host)
    processor = hyperv.processor(host)
    volumes = hyperv.volumes(host) if with_storage else ()
    return HostCapacity(
        name=host.name,
        # 0 is what a host that will not say reports (see WinRMHyperV._free_memory).
        memory_free_bytes=settings.memory_free_bytes or None,
        switches=frozenset(hyperv.switches(host)),
        supported_versions=frozenset(hyperv.supported_versions(host)),
        cpu_vendor=processor.vendor,
        cpu_model=processor.model,
        migration_enabled=settings.migration_enabled,
        max_vm_migrations=max(1, settings.max_vm_migrations),
        volumes_free={v.path.rstrip("\\").upper(): v.free_bytes for v in volumes},
    )


def _move(drain: Drain, source: Host, destination: Host, placed: Placed) -> DrainMove:
    move = Move(
        vm=placed.vm.name,
        destination=destination,
        source=source,
        include_storage=placed.moves_storage,
        reason=drain.reason,
    )
    return DrainMove(placed, plan_move(move, placed.vm, source))


def _compare(hyperv: HyperVPort, source: Host, move: DrainMove) -> tuple[Misfit, ...]:
    report = hyperv.compare(source, compare_invocation(move.plan.invocations[0]))
    misfits = []
    for item in report:
        diagnosis = diagnose_incompatibility(item)
        # The remote text stays in the log; people get the knowledge base's words.
        log.info(
            "compare-vm incompatibility",
            extra={"vm": move.vm.name, "message_id": item.message_id, "remote": item.message},
        )
        misfits.append(
            Misfit(
                move.placed.destination,
                code_of(diagnosis.kind),
                f"Compare-VM: {diagnosis.summary} (MessageId {item.message_id})",
            )
        )
    return tuple(misfits)


def headline(plan: DrainPlan) -> str:
    """One line: how many VMs go, and whether the host ends up empty."""
    source = plan.source.name
    total = len(plan.moves) + len(plan.placement.unplaced) + len(plan.left_stopped)
    moving = f"{len(plan.moves)} of {total} VMs of {source} placed"
    if plan.empties_host:
        return f"{moving}: {source} can be emptied."
    stuck = [u.vm.name for u in plan.placement.unplaced]
    parts = []
    if len(stuck) == 1:
        parts.append(f"{stuck[0]} fits nowhere")
    elif stuck:
        more = f" and {len(stuck) - 3} more" if len(stuck) > 3 else ""
        parts.append(f"{len(stuck)} VMs fit nowhere ({', '.join(stuck[:3])}{more})")
    if plan.left_stopped:
        parts.append(f"{len(plan.left_stopped)} stopped stay (add include-stopped)")
    return f"{moving}; {'; '.join(parts)}: {source} cannot be emptied."


def why(reasons: Sequence[Misfit]) -> str:
    """Reasons as one line, grouped by host: `HV-SRV03: no switch 'X', version 10.0 ...`."""
    by_host: dict[str | None, list[str]] = {}
    for misfit in reasons:
        by_host.setdefault(misfit.host, []).append(misfit.message)
    return "; ".join(
        ", ".join(texts) if host is None else f"{host}: {', '.join(texts)}"
        for host, texts in by_host.items()
    )


def render_drain_plan(plan: DrainPlan) -> str:
    """The plan as text: headline, placement table, misfits, limits and each move's PowerShell."""
    lines = [headline(plan), ""]
    rows: list[tuple[str, ...]] = [("VM", "to host", "memory", "storage", "findings")]
    for move in plan.moves:
        placed = move.placed
        rows.append(
            (
                placed.vm.name,
                placed.destination,
                gib(placed.vm.memory_bytes),
                "yes" if placed.moves_storage else "no",
                "; ".join(placed.notes),
            )
        )
    lines += _table(rows)
    if plan.placement.unplaced:
        lines += ["", "Fits nowhere:"]
        for unplaced in plan.placement.unplaced:
            lines.append(
                f"- {unplaced.vm.name} ({gib(unplaced.vm.memory_bytes)}): {why(unplaced.reasons)}"
            )
    if plan.left_stopped:
        names = ", ".join(v.name for v in plan.left_stopped)
        lines += ["", f"Stopped, not moved (add include-stopped): {names}"]
    for host, problem in plan.unavailable.items():
        lines += ["", f"{host} did not answer and is not used: {problem}"]
    limits = ", ".join(f"{h} {n}" for h, n in plan.limits.items())
    lines += ["", f"Migrations at a time (MaximumVirtualMachineMigrations): {limits}"]
    if plan.moves:
        by_vm = {m.vm.name: m for m in plan.moves}
        lines += ["", f"PowerShell, run on {plan.source.name} in this order:"]
        for slot in sorted(plan.order(), key=lambda s: s.start):
            lines.append(by_vm[slot.key].plan.render())
    return "\n".join(lines)


def drain_plan_json(plan: DrainPlan) -> str:
    """The plan as one JSON object: each move with its invocation, each misfit with its code."""
    data = {
        "request": to_dict(DrainCheckRequest(plan.drain)),
        "empties_host": plan.empties_host,
        "moves": [m.to_json() for m in plan.moves],
        "unplaced": [
            {
                "vm": u.vm.name,
                "reasons": [
                    {"host": r.host, "code": r.code.value, "message": r.message} for r in u.reasons
                ],
            }
            for u in plan.placement.unplaced
        ],
        FindingCode.STOPPED_LEFT: [v.name for v in plan.left_stopped],
        "unavailable": dict(plan.unavailable),
        "limits": dict(plan.limits),
    }
    return json.dumps(data, ensure_ascii=False)


def drain_preflight(plan: DrainPlan, inventory: Inventory) -> PreflightResult:
    """The plan as the workflow's preflight result: the moves' Move-VMs in start order, a
    warning per VM that fits nowhere (the rest may still go if an approver agrees), and the
    placement in `details` for the drain to record one move per VM from."""
    by_vm = {m.vm.name: m for m in plan.moves}
    ordered = [by_vm[slot.key] for slot in sorted(plan.order(), key=lambda s: s.start)]
    findings = [
        Finding(
            Severity.WARNING,
            FindingCode.FITS_NOWHERE,
            f"{u.vm.name} fits nowhere ({why(u.reasons)}); it stays on {plan.source.name}.",
        )
        for u in plan.placement.unplaced
    ]
    if plan.left_stopped:
        names = ", ".join(v.name for v in plan.left_stopped)
        findings.append(
            Finding(Severity.INFO, FindingCode.STOPPED_LEFT, f"Stopped, not moved: {names}.")
        )
    if not ordered:
        findings.append(
            Finding(
                Severity.BLOCKING,
                FindingCode.NOTHING_TO_MOVE,
                f"No VM of {plan.source.name} can move: {headline(plan)}",
                "Fix what the placement says, or name other hosts after `to`.",
            )
        )
    destinations = {m.placed.destination for m in ordered}
    details = {
        "moves": [m.to_json() for m in ordered],
        "unplaced": [u.vm.name for u in plan.placement.unplaced],
        FindingCode.STOPPED_LEFT: [v.name for v in plan.left_stopped],
        "limits": dict(plan.limits),
    }
    return PreflightResult(
        findings=tuple(findings),
        invocations=tuple(m.plan.invocations[0] for m in ordered),
        host=plan.source,
        others=tuple(h for h in inventory if h.name in destinations),
        details=details,
        text=render_drain_plan(plan),
    )


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
