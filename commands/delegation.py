"""Kerberos constrained delegation between two Hyper-V hosts: what Active Directory must hold,
what is missing, and exactly which changes repair it.

Pure: an adapter (`bot/directory`) reads the two computer objects and hands them in as
`ComputerObject` values; the decisions are made here, so they are table-tested without a DC.

What a live migration with Kerberos needs (architecture §5; Microsoft, "Set up hosts for live
migration without Failover Clustering"), on the computer object of each source host S towards
each destination D:
- userAccountControl has TRUSTED_TO_AUTH_FOR_DELEGATION ("use any authentication protocol")
  and not TRUSTED_FOR_DELEGATION (unconstrained delegation, which Windows would use instead);
- msDS-AllowedToDelegateTo holds `Microsoft Virtual System Migration Service/<D FQDN>` and
  `/<D short name>`, and `cifs/<D FQDN>` and `cifs/<D short name>` (cifs: storage moves only);
- D's computer object carries those SPNs. A `HOST/` SPN stands for `cifs/` through the
  forest's sPNMappings (read on the test DC:
  `CN=Directory Service,CN=Windows NT,CN=Services,CN=Configuration` maps host to cifs).
Service names are compared case-insensitively, as AD does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from commands.findings import Finding, FindingCode, Severity
from commands.inventory import Host
from commands.workflow.approvals import DirectoryError

TRUSTED_FOR_DELEGATION = 0x80000
TRUSTED_TO_AUTH_FOR_DELEGATION = 0x1000000
_DELEGATION_FLAGS = TRUSTED_FOR_DELEGATION | TRUSTED_TO_AUTH_FOR_DELEGATION
MIGRATION_SERVICE = "Microsoft Virtual System Migration Service"
CIFS = "cifs"
# The service classes whose tickets are issued for a HOST/ SPN (sPNMappings, see above).
_HOST_ALIASES = frozenset({CIFS})

NEW_TICKETS = (
    "Hosts use the new delegation after `klist purge -li 0x3e7` on each of them "
    "(as administrator), or by themselves within about 15 minutes."
)


@dataclass(frozen=True)
class ComputerObject:
    """The attributes of a host's AD computer object that delegation depends on."""

    dn: str
    name: str
    dns_host_name: str | None
    user_account_control: int
    allowed_to_delegate_to: tuple[str, ...] = ()
    service_principal_names: tuple[str, ...] = ()


def snapshot(obj: ComputerObject | None) -> dict[str, Any] | None:
    """The delegation attributes of a computer object as read, for before/after in the audit
    log (None: no such object)."""
    if obj is None:
        return None
    return {
        "dn": obj.dn,
        "userAccountControl": obj.user_account_control,
        "msDS-AllowedToDelegateTo": list(obj.allowed_to_delegate_to),
        "servicePrincipalName": list(obj.service_principal_names),
    }


@dataclass(frozen=True)
class DelegationFinding:
    """One missing piece: on whose computer object, the evidence read, and the fix.

    `storage_only` marks what only storage moves need (the cifs service)."""

    code: FindingCode
    host: str
    message: str
    evidence: str
    fix: str
    storage_only: bool = False


@dataclass(frozen=True)
class DelegationReport:
    """The delegation between two hosts, both ways. `unknown` says why the directory could not
    tell (then there are no findings, and nothing is known to be right or wrong)."""

    first: Host
    second: Host
    findings: tuple[DelegationFinding, ...] = ()
    unknown: str | None = None

    @property
    def ok(self) -> bool:
        """Whether everything is known to be in place."""
        return self.unknown is None and not self.findings

    def lines(self) -> list[str]:
        """The report in words: a verdict, then each finding with its evidence and fix."""
        pair = f"{self.first.name} ↔ {self.second.name}"
        if self.unknown is not None:
            return [f"Kerberos delegation {pair}: unknown — {self.unknown}"]
        if not self.findings:
            return [
                f"Kerberos delegation {pair}: in place both ways "
                "(any protocol, no unconstrained delegation, migration service and cifs, SPNs)."
            ]
        lines = [f"Kerberos delegation {pair}: {len(self.findings)} problem(s)."]
        for f in self.findings:
            scope = " (storage moves)" if f.storage_only else ""
            lines.append(f"• {f.host}{scope}: {f.message} [{f.evidence}] Fix: {f.fix}")
        return lines


@dataclass(frozen=True)
class ObjectChange:
    """The LDAP changes to one computer object. `uac_before == uac_after` leaves the flags."""

    dn: str
    host: str
    uac_before: int
    uac_after: int
    add_delegate_to: tuple[str, ...] = ()
    add_spns: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether nothing changes on this object."""
        return self.uac_before == self.uac_after and not self.add_delegate_to and not self.add_spns

    def lines(self) -> list[str]:
        """Each change in words, the unconstrained-delegation one said explicitly."""
        out: list[str] = []
        before, after = self.uac_before, self.uac_after
        if after & TRUSTED_TO_AUTH_FOR_DELEGATION and not before & TRUSTED_TO_AUTH_FOR_DELEGATION:
            out.append(
                f"{self.host}: set TRUSTED_TO_AUTH_FOR_DELEGATION (use any authentication "
                f"protocol); userAccountControl {before:#x} → {after:#x}"
            )
        if before & TRUSTED_FOR_DELEGATION and not after & TRUSTED_FOR_DELEGATION:
            out.append(
                f"{self.host}: turn OFF unconstrained delegation (TRUSTED_FOR_DELEGATION was on); "
                f"userAccountControl {before:#x} → {after:#x}"
            )
        out += [f"{self.host}: add msDS-AllowedToDelegateTo {v}" for v in self.add_delegate_to]
        out += [f"{self.host}: add servicePrincipalName {v}" for v in self.add_spns]
        return out

    def audit(self) -> dict[str, object]:
        """Before/after values for the audit log."""
        return {
            "dn": self.dn,
            "userAccountControl": {"before": self.uac_before, "after": self.uac_after},
            "msDS-AllowedToDelegateTo": {"added": list(self.add_delegate_to)},
            "servicePrincipalName": {"added": list(self.add_spns)},
        }

    def to_json(self) -> dict[str, Any]:
        """The change as approvers approved it, to store on the request (`from_json`)."""
        return {
            "dn": self.dn,
            "host": self.host,
            "uac_before": self.uac_before,
            "uac_after": self.uac_after,
            "add_delegate_to": list(self.add_delegate_to),
            "add_spns": list(self.add_spns),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ObjectChange:
        """The change `to_json` stored."""
        return cls(
            dn=str(data["dn"]),
            host=str(data["host"]),
            uac_before=int(data["uac_before"]),
            uac_after=int(data["uac_after"]),
            add_delegate_to=tuple(str(v) for v in data.get("add_delegate_to", ())),
            add_spns=tuple(str(v) for v in data.get("add_spns", ())),
        )

    def missing(self, obj: ComputerObject | None) -> list[str]:
        """What of this change `obj` (read back) does not hold; empty when all of it is in
        force. Only the two delegation flags of userAccountControl are compared: the others
        are not this change's."""
        if obj is None:
            return [f"{self.host}: its computer object is gone"]
        out: list[str] = []
        uac = obj.user_account_control
        if uac & _DELEGATION_FLAGS != self.uac_after & _DELEGATION_FLAGS:
            out.append(
                f"{self.host}: userAccountControl is {uac:#x}, its delegation flags are not "
                f"those of {self.uac_after:#x}"
            )
        held = _folded(obj.allowed_to_delegate_to)
        out += [
            f"{self.host}: msDS-AllowedToDelegateTo lacks {v}"
            for v in self.add_delegate_to
            if v.casefold() not in held
        ]
        spns = _folded(obj.service_principal_names)
        out += [
            f"{self.host}: servicePrincipalName lacks {v}"
            for v in self.add_spns
            if v.casefold() not in spns
        ]
        return out


@dataclass(frozen=True)
class RepairPlan:
    """Exactly what `fix` would change, and what it cannot repair (a missing object)."""

    changes: tuple[ObjectChange, ...] = ()
    cannot: tuple[DelegationFinding, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether there is nothing to change."""
        return not self.changes

    def lines(self) -> list[str]:
        """Every change, then what needs a person."""
        out = [line for change in self.changes for line in change.lines()]
        out += [f"cannot fix: {f.host}: {f.message} Fix: {f.fix}" for f in self.cannot]
        return out


def delegation_targets(peer: Host, *, storage: bool = True) -> tuple[str, ...]:
    """The msDS-AllowedToDelegateTo values a host needs towards `peer`."""
    services = (MIGRATION_SERVICE, CIFS) if storage else (MIGRATION_SERVICE,)
    return tuple(f"{s}/{n}" for s in services for n in (peer.fqdn, peer.name))


def _folded(values: Iterable[str]) -> set[str]:
    return {v.casefold() for v in values}


def _has_spn(obj: ComputerObject, spn: str) -> bool:
    spns = _folded(obj.service_principal_names)
    service, _, name = spn.partition("/")
    if spn.casefold() in spns:
        return True
    return service.casefold() in _HOST_ALIASES and f"host/{name}".casefold() in spns


def _missing_object(host: Host) -> DelegationFinding:
    return DelegationFinding(
        FindingCode.DELEGATION_NO_COMPUTER,
        host.name,
        "no computer object in the directory",
        f"no computer with sAMAccountName {host.name}$ or dNSHostName {host.fqdn}",
        f"Join {host.name} to the domain, or correct its name in the inventory.",
    )


def check_direction(
    source: Host, source_obj: ComputerObject | None, dest: Host, dest_obj: ComputerObject | None
) -> tuple[DelegationFinding, ...]:
    """What is missing for `source` to migrate VMs to `dest` with Kerberos."""
    findings: list[DelegationFinding] = []
    if source_obj is None:
        findings.append(_missing_object(source))
    else:
        findings += _flag_findings(source, source_obj)
        present = _folded(source_obj.allowed_to_delegate_to)
        held = ", ".join(source_obj.allowed_to_delegate_to) or "nothing"
        for target in delegation_targets(dest):
            if target.casefold() not in present:
                findings.append(
                    DelegationFinding(
                        FindingCode.DELEGATION_TARGET_MISSING,
                        source.name,
                        f"may not delegate to {target}",
                        f"msDS-AllowedToDelegateTo holds {held}",
                        f"Add {target} to the delegation list of {source.name}.",
                        storage_only=target.startswith(CIFS + "/"),
                    )
                )
    if dest_obj is None:
        findings.append(_missing_object(dest))
    else:
        spns = ", ".join(dest_obj.service_principal_names) or "none"
        for target in delegation_targets(dest):
            if not _has_spn(dest_obj, target):
                findings.append(
                    DelegationFinding(
                        FindingCode.DELEGATION_SPN_MISSING,
                        dest.name,
                        f"has no SPN {target}",
                        f"servicePrincipalName: {spns}",
                        f'Register the SPN on {dest.name} (setspn -S "{target}" {dest.name}).',
                        storage_only=target.startswith(CIFS + "/"),
                    )
                )
    return tuple(findings)


def _flag_findings(host: Host, obj: ComputerObject) -> list[DelegationFinding]:
    uac = obj.user_account_control
    findings: list[DelegationFinding] = []
    if not uac & TRUSTED_TO_AUTH_FOR_DELEGATION:
        findings.append(
            DelegationFinding(
                FindingCode.DELEGATION_PROTOCOL_TRANSITION,
                host.name,
                "is not trusted to delegate with any authentication protocol",
                f"userAccountControl {uac:#x} lacks TRUSTED_TO_AUTH_FOR_DELEGATION (0x1000000)",
                "Choose 'Trust this computer for delegation to specified services only' with "
                "'Use any authentication protocol'.",
            )
        )
    if uac & TRUSTED_FOR_DELEGATION:
        findings.append(
            DelegationFinding(
                FindingCode.DELEGATION_UNCONSTRAINED,
                host.name,
                "has unconstrained delegation on (trusted to delegate to any service; not "
                "the constrained setup Hyper-V documents)",
                f"userAccountControl {uac:#x} has TRUSTED_FOR_DELEGATION (0x80000)",
                "Turn unconstrained delegation off; use delegation to specified services only.",
            )
        )
    return findings


def check_pair(
    first: Host,
    first_obj: ComputerObject | None,
    second: Host,
    second_obj: ComputerObject | None,
) -> tuple[DelegationFinding, ...]:
    """Both directions; a piece both directions miss (a missing object) is said once."""
    both = check_direction(first, first_obj, second, second_obj) + check_direction(
        second, second_obj, first, first_obj
    )
    return tuple(dict.fromkeys(both))


def plan_repair(
    first: Host,
    first_obj: ComputerObject | None,
    second: Host,
    second_obj: ComputerObject | None,
) -> RepairPlan:
    """Exactly the changes that make `check_pair` green: values added, flags set, unconstrained
    delegation turned off only where it is on. An already repaired pair plans nothing."""
    findings = check_pair(first, first_obj, second, second_obj)
    cannot = tuple(f for f in findings if f.code == FindingCode.DELEGATION_NO_COMPUTER)
    if cannot:
        return RepairPlan(cannot=cannot)
    assert first_obj is not None and second_obj is not None
    changes = [
        _object_change(host, obj, peer, peer_obj)
        for host, obj, peer, peer_obj in (
            (first, first_obj, second, second_obj),
            (second, second_obj, first, first_obj),
        )
    ]
    return RepairPlan(changes=tuple(c for c in changes if not c.empty))


def _object_change(
    host: Host, obj: ComputerObject, peer: Host, peer_obj: ComputerObject
) -> ObjectChange:
    present = _folded(obj.allowed_to_delegate_to)
    uac = obj.user_account_control
    return ObjectChange(
        dn=obj.dn,
        host=host.name,
        uac_before=uac,
        uac_after=(uac | TRUSTED_TO_AUTH_FOR_DELEGATION) & ~TRUSTED_FOR_DELEGATION,
        add_delegate_to=tuple(t for t in delegation_targets(peer) if t.casefold() not in present),
        # The SPNs this host must carry for the peer to delegate to it.
        add_spns=tuple(t for t in delegation_targets(host) if not _has_spn(obj, t)),
    )


class DelegationDirectory(Protocol):
    """Computer objects from the directory. Raises `DirectoryError` (message safe to show)."""

    def computer(self, host: Host) -> ComputerObject | None:
        """The computer object of `host` (by short name or FQDN), None when there is none."""
        ...

    def write_refusal(self) -> str | None:
        """Why changes cannot be written (no write-capable account), or None when they can."""
        ...

    def apply(self, change: ObjectChange) -> None:
        """Write `change` to its object; refuses if the object changed since it was read."""
        ...


def read_report(directory: DelegationDirectory, first: Host, second: Host) -> DelegationReport:
    """The delegation report of a pair; a directory that cannot answer makes it "unknown"."""
    try:
        first_obj, second_obj = directory.computer(first), directory.computer(second)
    except DirectoryError as exc:
        return DelegationReport(first, second, unknown=str(exc))
    return DelegationReport(first, second, check_pair(first, first_obj, second, second_obj))


def plan_for(directory: DelegationDirectory, first: Host, second: Host) -> RepairPlan:
    """Read both objects now and plan their repair. Raises `DirectoryError`."""
    return plan_repair(first, directory.computer(first), second, directory.computer(second))


def move_findings(
    directory: DelegationDirectory, source: Host, dest: Host, *, storage: bool
) -> tuple[Finding, ...]:
    """The preflight's findings on delegation for a Kerberos move from `source` to `dest`:
    each missing piece blocks (cifs only for storage moves); a directory that cannot answer
    is a warning that says why, so it never blocks the move nor hides the other checks."""
    try:
        found = check_direction(source, directory.computer(source), dest, directory.computer(dest))
    except DirectoryError as exc:
        return (
            Finding(
                Severity.WARNING,
                FindingCode.DELEGATION_UNKNOWN,
                f"Kerberos delegation {source.name} → {dest.name} is unknown: {exc}.",
                f"Check it when the directory answers: /migrate delegation {source.name} "
                f"{dest.name}",
            ),
        )
    repair = f" Every change needed: /migrate delegation {source.name} {dest.name} fix"
    return tuple(
        Finding(
            Severity.BLOCKING,
            f.code,
            f"Kerberos delegation: {f.host} {f.message} ({f.evidence}).",
            f.fix + repair,
        )
        for f in found
        if storage or not f.storage_only
    )


def switch_findings(
    directory: DelegationDirectory, host: Host, peers: Iterable[Host]
) -> tuple[Finding, ...]:
    """Warnings for the card of switching `host` to Kerberos: each peer it cannot migrate to
    or from yet (the switch itself is fine; moves would fail at once with 0x8009030E). A
    directory that cannot answer is said once, not once per peer."""
    warnings: list[Finding] = []
    for peer in peers:
        found = [
            f
            for source, dest in ((host, peer), (peer, host))
            for f in move_findings(directory, source, dest, storage=False)
        ]
        unknown = [f for f in found if f.code == FindingCode.DELEGATION_UNKNOWN]
        if unknown:
            return (unknown[0],)
        if found:
            warnings.append(
                Finding(
                    Severity.WARNING,
                    FindingCode.DELEGATION_INCOMPLETE,
                    f"Kerberos delegation between {host.name} and {peer.name} is not in place "
                    f"({len(found)} missing piece(s)): moves between them would fail at once.",
                    f"/migrate delegation {host.name} {peer.name} (and its fix)",
                )
            )
    return tuple(warnings)
