"""The preflight port: what the workflow needs to know about a request before approval and
again right before it runs, and how to tell whether the world changed in between.

The checks themselves (Compare-VM, switches, memory, paths, delegation...) and the plan live
elsewhere; `bot/` adapts them to `Preflight`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from commands.inventory import Host
from commands.invocation import Invocation
from commands.requests import Request
from commands.workflow.codec import invocations_from_record
from commands.workflow.records import RequestRecord


class Severity(StrEnum):
    """How much a finding matters: blocking findings stop the request."""

    BLOCKING = "blocking"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    """One preflight observation, in words safe to show (never raw remote text)."""

    severity: Severity
    code: str
    message: str
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        """A JSON-ready form for the audit log."""
        return {
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class PreflightResult:
    """The checks' findings and the exact plan: `invocations` to run, in order, on `host`.

    `host` is the source host for moves (Move-VM runs there, architecture §5) and the target host
    for setting changes. `vm_id` is the VM's GUID when a VM is involved. A drain also names
    the `others` hosts it fills (their critical flag counts for approvals), keeps its
    placement in `details` and shows approvers `text` (the placement table).
    """

    findings: tuple[Finding, ...]
    invocations: tuple[Invocation, ...]
    host: Host | None
    destination: Host | None = None
    vm_id: str | None = None
    others: tuple[Host, ...] = ()
    details: Mapping[str, Any] | None = None
    text: str = ""

    @property
    def blocking(self) -> tuple[Finding, ...]:
        """The findings that stop the request."""
        return tuple(f for f in self.findings if f.severity is Severity.BLOCKING)

    @property
    def ok(self) -> bool:
        """Whether the request may go on: a plan exists and nothing blocks."""
        return bool(self.invocations) and self.host is not None and not self.blocking

    def plan_fields(self) -> dict[str, Any]:
        """The record fields this result sets (the exact invocations approvers will see)."""
        invocation: dict[str, Any] = {
            "host": self.host.name if self.host else None,
            "rendered": [inv.render() for inv in self.invocations],
            "invocations": [inv.to_json() for inv in self.invocations],
        }
        if self.details is not None:
            invocation["details"] = dict(self.details)
        return {
            "invocation": invocation,
            "source_host": self.host.name if self.host else None,
            "destination_host": self.destination.name if self.destination else None,
            "vm_id": self.vm_id,
        }


_SHOWN_FINDINGS = 3
"""Blocking findings told in chat; the rest are counted (a refusal stays a few lines)."""


def sentence(text: str) -> str:
    """`text` ending in a full stop (unless it already ends a sentence)."""
    text = text.strip()
    return text if not text or text[-1] in ".!?" else f"{text}."


def blocking_text(blocking: Sequence[Finding]) -> str:
    """Why a request cannot go ahead, for people: each blocking finding with its fix, on one
    line when there is one, else a line each (a few at most), ready to follow a colon."""
    if not blocking:
        return "no plan could be made for it."
    lines = [
        sentence(f.message) + (f" Fix: {sentence(f.fix)}" if f.fix else "")
        for f in blocking[:_SHOWN_FINDINGS]
    ]
    if len(lines) == 1:
        return lines[0]
    hidden = len(blocking) - _SHOWN_FINDINGS
    if hidden > 0:
        lines.append(f"and {hidden} more: `/migrate check` with the same text lists them all.")
    return "".join(f"\n• {line}" for line in lines)


class Preflight(Protocol):
    """Checks a request against the hosts as they are now; changes nothing.

    Raises `commands.hyperv.HyperVError` when a host cannot be asked.
    """

    def preflight(self, request: Request) -> PreflightResult:
        """The findings and the exact plan for `request`, from the hosts as they are now."""
        ...


def material_changes(approved: RequestRecord, fresh: PreflightResult) -> list[str]:
    """Why an approval no longer covers what would run now; empty when nothing material changed.

    Material: a finding that now blocks, the VM on another host or re-created (new id), or any
    difference in the exact invocations. Warnings and info findings are not material.
    """
    changes = [f"now blocked: {f.message}" for f in fresh.blocking]
    fresh_host = fresh.host.name if fresh.host else None
    if (
        approved.source_host
        and fresh_host
        and fresh_host.casefold() != approved.source_host.casefold()
    ):
        changes.append(f"it is now on {fresh_host}, not {approved.source_host}")
    if approved.vm_id and fresh.vm_id and approved.vm_id.casefold() != fresh.vm_id.casefold():
        changes.append("the VM has a different id (was it re-created?)")
    was = [inv.render() for inv in invocations_from_record(approved.invocation)]
    now = [inv.render() for inv in fresh.invocations]
    if was != now:
        changes.append("the command would now be: " + "; ".join(now or ["(nothing)"]))
    return changes
