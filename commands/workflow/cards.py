"""The approval card: everything an approver must see before clicking Approve, built once here.

Front ends only render it: the terminal as text (`ApprovalCard.lines`), Slack as Block Kit.
The findings come from the preflight that checked the request; the PowerShell is the exact
text that will run, taken from the record (what approvers approve is what runs).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from commands.findings import DIRECTORY_KEY, Finding
from commands.workflow.records import AuditEvent, RequestRecord


@dataclass(frozen=True)
class PlacementRow:
    """One move of a drain as approvers see it: the VM, where it goes, its memory, whether its
    storage moves, and what the placement noted."""

    vm: str
    destination: str
    memory_bytes: int
    moves_storage: bool
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApprovalCard:
    """Who asks, why, where, what the checks found (each with its fix), the exact PowerShell
    and on which host it runs, the approvals so far and needed, and when the card expires.
    A drain's card also has its placement, one row per move in start order."""

    request_id: int
    kind: str
    vm: str | None
    requester: str
    reason: str | None
    source_host: str | None
    destination_host: str | None
    findings: tuple[Finding, ...]
    run_on: str | None
    powershell: tuple[str, ...]
    approvals: tuple[str, ...]
    required_approvals: int
    expires_at: dt.datetime | None
    directory_changes: tuple[str, ...] = ()
    placement: tuple[PlacementRow, ...] = ()

    @property
    def title(self) -> str:
        """`Request #42 — migrate of SRV-APP01`, `Request #7 — drain of HV-SRV01`; a directory
        change names its hosts."""
        what = self.kind.replace("_", " ")
        if self.directory_changes:
            return f"Request #{self.request_id} — {what}: Kerberos delegation {self.route}"
        subject = self.vm or (self.source_host if self.placement else None) or "-"
        return f"Request #{self.request_id} — {what} of {subject}"

    @property
    def route(self) -> str:
        """`HV-SRV01 → HV-SRV02`, or the one host of a change made in place; `↔` for the
        two hosts of a directory change (both ways); a drain's source and every host it
        fills."""
        route = self.source_host or "?"
        if self.placement:
            filled = dict.fromkeys(sorted(r.destination for r in self.placement))
            return f"{route} → {', '.join(filled)}"
        arrow = "↔" if self.directory_changes else "→"
        return f"{route} {arrow} {self.destination_host}" if self.destination_host else route

    def lines(self) -> list[str]:
        """The card as text; users appear as chat mentions (`<@U123>`)."""
        lines = [self.title, f"  hosts:     {self.route}", f"  requested: <@{self.requester}>"]
        if self.reason:
            lines.append(f"  reason:    {self.reason}")
        approved = ", ".join(f"<@{user}>" for user in self.approvals)
        lines.append(
            f"  approvals: {len(self.approvals)} of {self.required_approvals} needed"
            + (f" ({approved})" if approved else "")
        )
        if self.expires_at is not None:
            lines.append(f"  expires:   {self.expires_at:%Y-%m-%d %H:%M} UTC")
        for finding in self.findings:
            fix = f" Fix: {finding.fix}" if finding.fix else ""
            lines.append(f"  {finding.severity.value}: {finding.message}{fix}")
        if self.directory_changes:
            lines.append("  will change in Active Directory:")
            lines += [f"    - {text}" for text in self.directory_changes]
            return lines
        lines.append(f"  will run on {self.run_on or '?'}:")
        lines += [f"    PS> {text}" for text in self.powershell]
        return lines


def approval_card(record: RequestRecord, findings: Sequence[Finding]) -> ApprovalCard:
    """The card of a checked request, from its record and its preflight's findings."""
    invocation = record.invocation or {}
    changed = bool(invocation.get(DIRECTORY_KEY))
    rendered = tuple(invocation.get("rendered", ()))
    return ApprovalCard(
        request_id=record.id,
        kind=record.kind,
        vm=record.vm,
        requester=record.requester.slack_user_id,
        reason=record.reason,
        source_host=record.source_host,
        destination_host=record.destination_host,
        findings=tuple(findings),
        run_on=invocation.get("host") or record.source_host,
        powershell=() if changed else rendered,
        directory_changes=rendered if changed else (),
        approvals=record.approvals,
        required_approvals=record.required_approvals,
        expires_at=record.expires_at,
        placement=tuple(_row(m) for m in invocation.get("details", {}).get("moves", ())),
    )


def _row(move: Mapping[str, Any]) -> PlacementRow:
    """A drain's recorded move (`commands.drain.DrainMove.to_json`) as a card row."""
    return PlacementRow(
        vm=str(move.get("vm", "?")),
        destination=str(move.get("destination", "?")),
        memory_bytes=int(move.get("memory_bytes") or 0),
        moves_storage=bool(move.get("moves_storage")),
        notes=tuple(str(n) for n in move.get("notes", ())),
    )


def recorded_findings(events: Sequence[AuditEvent]) -> tuple[Finding, ...]:
    """The findings recorded by the latest check of a request (for a card built again later)."""
    for event in reversed(events):
        found = event.data.get("findings")
        if isinstance(found, list):
            return tuple(Finding.from_json(item) for item in found if isinstance(item, Mapping))
    return ()
