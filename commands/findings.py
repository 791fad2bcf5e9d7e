"""What a preflight finds, and the port that finds it.

`HostPreflight` (`commands/preflight.py`) implements `Preflight` with the Hyper-V port; the
drain's placement (`commands/drain.py`) and the delegation rules (`commands/delegation.py`)
produce findings too. Every finding names its reason with one `FindingCode`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from commands.errors import sentence
from commands.hyperv import ErrorKind
from commands.inventory import Host
from commands.invocation import Invocation
from commands.requests import Request


class Severity(StrEnum):
    """How much a finding matters: blocking findings stop the request."""

    BLOCKING = "blocking"
    WARNING = "warning"
    INFO = "info"


class FindingCode(StrEnum):
    """Why a finding was made. The values are written to the audit log (event data
    `findings[].code`) and to drain plans' JSON: a value, once written, never changes."""

    # The request has no valid plan (a `PlanError`).
    PLAN = "plan"
    SOURCE_MISMATCH = "source_mismatch"
    VM_STATE = "vm_state"
    # Hosts and the VM, checked directly.
    CLUSTERED = "clustered"
    MIGRATION_DISABLED = "migration_disabled"
    AUTH_MISMATCH = "auth_mismatch"
    CREDSSP = "credssp"
    NOT_ENOUGH_MEMORY = "not_enough_memory"
    VERSION_UNSUPPORTED = "version_unsupported"
    SWITCH_MISSING = "switch_missing"
    LOCAL_ISO = "local_iso"
    LOCAL_STORAGE = "local_storage"
    PATH_MISSING = "path_missing"
    SHARE_UNCHECKED = "share_unchecked"
    NOT_ENOUGH_DISK = "not_enough_disk"
    NETWORK_ABSENT = "network_absent"
    NETWORK_PRESENT = "network_present"
    # What only Compare-VM tells (its kinds are mapped by `code_of`).
    CPU_INCOMPATIBLE = "cpu_incompatible"
    DELEGATION = "delegation"
    CREDENTIALS_NOT_RECOGNIZED = "credentials_not_recognized"
    MIGRATION_NETWORK = "migration_network"
    MIGRATION_LIMIT = "migration_limit"
    INVALID_PARAMETERS = "invalid_parameters"
    VM_NOT_FOUND = "vm_not_found"
    DNS = "dns"
    CANCELLED = "cancelled"
    REMOTE_ERROR = "remote_error"
    # Kerberos constrained delegation in the directory.
    DELEGATION_NO_COMPUTER = "delegation_no_computer"
    DELEGATION_TARGET_MISSING = "delegation_target_missing"
    DELEGATION_SPN_MISSING = "delegation_spn_missing"
    DELEGATION_PROTOCOL_TRANSITION = "delegation_protocol_transition"
    DELEGATION_UNCONSTRAINED = "delegation_unconstrained"
    DELEGATION_UNKNOWN = "delegation_unknown"
    DELEGATION_INCOMPLETE = "delegation_incomplete"
    # A delegation fix (a directory change) that cannot be made.
    DELEGATION_COMPLETE = "delegation_complete"
    DIRECTORY_NOT_CONFIGURED = "directory_not_configured"
    DIRECTORY_UNAVAILABLE = "directory_unavailable"
    DIRECTORY_READ_ONLY = "directory_read_only"
    # A drain's placement.
    NO_DESTINATION = "no_destination"
    FITS_NOWHERE = "fits_nowhere"
    STOPPED_LEFT = "stopped_left"
    NOTHING_TO_MOVE = "nothing_to_move"
    # A recorded code this version does not know (written by another version of the bot).
    OTHER = "other"

    @classmethod
    def parse(cls, value: str) -> FindingCode:
        """The code a recorded finding names; `OTHER` for one this version does not know, so
        an old or newer event still reads (its message and fix are what people see)."""
        try:
            return cls(value)
        except ValueError:
            return cls.OTHER


CODE_OF_KIND: Mapping[ErrorKind, FindingCode] = {
    ErrorKind.VM_STATE: FindingCode.VM_STATE,
    ErrorKind.MIGRATION_DISABLED: FindingCode.MIGRATION_DISABLED,
    ErrorKind.NOT_ENOUGH_MEMORY: FindingCode.NOT_ENOUGH_MEMORY,
    ErrorKind.VERSION_UNSUPPORTED: FindingCode.VERSION_UNSUPPORTED,
    ErrorKind.SWITCH_MISSING: FindingCode.SWITCH_MISSING,
    ErrorKind.LOCAL_ISO: FindingCode.LOCAL_ISO,
    ErrorKind.PATH_MISSING: FindingCode.PATH_MISSING,
    ErrorKind.NOT_ENOUGH_DISK: FindingCode.NOT_ENOUGH_DISK,
    ErrorKind.CPU_INCOMPATIBLE: FindingCode.CPU_INCOMPATIBLE,
    ErrorKind.DELEGATION: FindingCode.DELEGATION,
    ErrorKind.CREDENTIALS_NOT_RECOGNIZED: FindingCode.CREDENTIALS_NOT_RECOGNIZED,
    ErrorKind.MIGRATION_NETWORK: FindingCode.MIGRATION_NETWORK,
    ErrorKind.MIGRATION_LIMIT: FindingCode.MIGRATION_LIMIT,
    ErrorKind.INVALID_PARAMETERS: FindingCode.INVALID_PARAMETERS,
    ErrorKind.VM_NOT_FOUND: FindingCode.VM_NOT_FOUND,
    ErrorKind.DNS: FindingCode.DNS,
    ErrorKind.CANCELLED: FindingCode.CANCELLED,
    ErrorKind.REMOTE_ERROR: FindingCode.REMOTE_ERROR,
}
"""The finding code of each error kind a Compare-VM incompatibility can be diagnosed as
(`commands.diagnosis.COMPARE_KINDS`; a test holds the two together). A direct check and
Compare-VM that find the same thing share its code, so the preflight says it once."""


def code_of(kind: ErrorKind) -> FindingCode:
    """The finding code of a diagnosed Compare-VM incompatibility. A kind without a mapping
    is a defect the tests catch; at run time it still blocks, as a remote error."""
    return CODE_OF_KIND.get(kind, FindingCode.REMOTE_ERROR)


@dataclass(frozen=True)
class Finding:
    """One preflight observation, in words safe to show (never raw remote text)."""

    severity: Severity
    code: FindingCode
    message: str
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        """A JSON-ready form for the audit log."""
        return {
            "severity": self.severity.value,
            "code": self.code.value,
            "message": self.message,
            "fix": self.fix,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Finding:
        """A finding as the audit log recorded it (any version's: unknown severities read as
        info, unknown codes as `FindingCode.OTHER`)."""
        severity = str(data.get("severity", ""))
        known = severity in {s.value for s in Severity}
        return cls(
            Severity(severity) if known else Severity.INFO,
            FindingCode.parse(str(data.get("code", ""))),
            str(data.get("message", "")),
            str(data.get("fix", "")),
        )


def blocking(code: FindingCode, message: str, fix: str = "") -> Finding:
    """A finding that stops the request."""
    return Finding(Severity.BLOCKING, code, message, fix)


def warning(code: FindingCode, message: str, fix: str = "") -> Finding:
    """A finding approvers should read; it does not stop the request."""
    return Finding(Severity.WARNING, code, message, fix)


class PlannedChange(Protocol):
    """A change to something other than a host (an Active Directory object), planned exactly:
    its words for the approval card and its stored form (`commands.delegation.ObjectChange`)."""

    def lines(self) -> list[str]:
        """Each change in words, as approvers see it."""
        ...

    def to_json(self) -> dict[str, Any]:
        """The exact change, to store on the request and compare before it runs."""
        ...


DIRECTORY_KEY = "directory"
"""Where a record's `invocation` keeps the exact directory changes approved."""


@dataclass(frozen=True)
class PreflightResult:
    """The checks' findings and the exact plan: `invocations` to run, in order, on `host`.

    `host` is the source host for moves (Move-VM runs there, architecture §5) and the target host
    for setting changes. `vm_id` is the VM's GUID when a VM is involved. A drain also names
    the `others` hosts it fills (their critical flag counts for approvals), keeps its
    placement in `details` and shows approvers `text` (the placement table). A directory
    change has no invocation: `changes` are written to Active Directory instead.
    """

    findings: tuple[Finding, ...]
    invocations: tuple[Invocation, ...]
    host: Host | None
    destination: Host | None = None
    vm_id: str | None = None
    others: tuple[Host, ...] = ()
    details: Mapping[str, Any] | None = None
    text: str = ""
    changes: tuple[PlannedChange, ...] = ()

    @property
    def blocking(self) -> tuple[Finding, ...]:
        """The findings that stop the request."""
        return tuple(f for f in self.findings if f.severity is Severity.BLOCKING)

    @property
    def ok(self) -> bool:
        """Whether the request may go on: a plan exists and nothing blocks."""
        planned = bool(self.invocations) or bool(self.changes)
        return planned and self.host is not None and not self.blocking

    @property
    def rendered(self) -> list[str]:
        """What approvers approve, one line each: the PowerShell, then the directory changes."""
        return [inv.render() for inv in self.invocations] + [
            line for change in self.changes for line in change.lines()
        ]

    def plan_fields(self) -> dict[str, Any]:
        """The record fields this result sets (the exact invocations approvers will see)."""
        invocation: dict[str, Any] = {
            "host": self.host.name if self.host else None,
            "rendered": self.rendered,
            "invocations": [inv.to_json() for inv in self.invocations],
        }
        if self.details is not None:
            invocation["details"] = dict(self.details)
        if self.changes:
            invocation[DIRECTORY_KEY] = [change.to_json() for change in self.changes]
        return {
            "invocation": invocation,
            "source_host": self.host.name if self.host else None,
            "destination_host": self.destination.name if self.destination else None,
            "vm_id": self.vm_id,
        }


_SHOWN_FINDINGS = 3
"""Blocking findings told in chat; the rest are counted (a refusal stays a few lines)."""


def blocking_text(findings: Sequence[Finding]) -> str:
    """Why a request cannot go ahead, for people: each blocking finding with its fix, on one
    line when there is one, else a line each (a few at most), ready to follow a colon."""
    if not findings:
        return "no plan could be made for it."
    lines = [
        sentence(f.message) + (f" Fix: {sentence(f.fix)}" if f.fix else "")
        for f in findings[:_SHOWN_FINDINGS]
    ]
    if len(lines) == 1:
        return lines[0]
    hidden = len(findings) - _SHOWN_FINDINGS
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
