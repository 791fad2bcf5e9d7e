"""The delegation decision on its own: computer objects in, findings and repair plan out."""

from __future__ import annotations

from dataclasses import replace

import pytest

from commands.delegation import (
    MIGRATION_SERVICE,
    TRUSTED_FOR_DELEGATION,
    TRUSTED_TO_AUTH_FOR_DELEGATION,
    ComputerObject,
    DelegationReport,
    check_direction,
    check_pair,
    delegation_targets,
    move_findings,
    plan_repair,
)
from commands.findings import Severity
from commands.inventory import Host
from commands.workflow.approvals import DirectoryError

A = Host("HV-A", "hv-a.corp.example")
B = Host("HV-B", "hv-b.corp.example")
WORKSTATION = 0x1000
GOOD_UAC = WORKSTATION | TRUSTED_TO_AUTH_FOR_DELEGATION


def spns(host: Host) -> tuple[str, ...]:
    return tuple(f"{s}/{n}" for s in ("HOST", MIGRATION_SERVICE) for n in (host.fqdn, host.name))


def obj(host: Host, peer: Host, **changes: object) -> ComputerObject:
    base = ComputerObject(
        dn=f"CN={host.name},OU=Hosts,DC=corp,DC=example",
        name=host.name,
        dns_host_name=host.fqdn,
        user_account_control=GOOD_UAC,
        allowed_to_delegate_to=delegation_targets(peer),
        service_principal_names=spns(host),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def codes(findings: object) -> list[tuple[str, str]]:
    return [(f.code, f.host) for f in findings]  # type: ignore[attr-defined]


def without(values: tuple[str, ...], prefix: str) -> tuple[str, ...]:
    return tuple(v for v in values if not v.casefold().startswith(prefix.casefold()))


CASES = [
    ("complete", {}, {}, []),
    (
        "cifs missing on A",
        {"allowed_to_delegate_to": without(delegation_targets(B), "cifs/")},
        {},
        [("delegation_target_missing", "HV-A")] * 2,
    ),
    (
        "migration service missing on B",
        {},
        {"allowed_to_delegate_to": without(delegation_targets(A), MIGRATION_SERVICE)},
        [("delegation_target_missing", "HV-B")] * 2,
    ),
    (
        "one direction only (B delegates nowhere, no any-protocol)",
        {},
        {"allowed_to_delegate_to": (), "user_account_control": WORKSTATION},
        [("delegation_protocol_transition", "HV-B")] + [("delegation_target_missing", "HV-B")] * 4,
    ),
    (
        "unconstrained on A",
        {"user_account_control": GOOD_UAC | TRUSTED_FOR_DELEGATION},
        {},
        [("delegation_unconstrained", "HV-A")],
    ),
    (
        "short names only on A",
        {"allowed_to_delegate_to": (f"{MIGRATION_SERVICE}/HV-B", "cifs/HV-B")},
        {},
        [("delegation_target_missing", "HV-A")] * 2,
    ),
    (
        "B lacks the migration service SPNs",
        {},
        {"service_principal_names": (f"HOST/{B.fqdn}", f"HOST/{B.name}")},
        [("delegation_spn_missing", "HV-B")] * 2,
    ),
    (
        "case differs everywhere: still complete",
        {"allowed_to_delegate_to": tuple(v.upper() for v in delegation_targets(B))},
        {"service_principal_names": tuple(v.lower() for v in spns(B))},
        [],
    ),
]


@pytest.mark.parametrize(("name", "a", "b", "expected"), CASES, ids=[c[0] for c in CASES])
def test_check_pair_table(
    name: str, a: dict[str, object], b: dict[str, object], expected: list[tuple[str, str]]
) -> None:
    findings = check_pair(A, obj(A, B, **a), B, obj(B, A, **b))
    assert sorted(codes(findings)) == sorted(expected)
    # Every finding carries its evidence and a fix.
    assert all(f.evidence and f.fix and f.message for f in findings)


def test_cifs_findings_are_for_storage_moves_only() -> None:
    a = obj(A, B, allowed_to_delegate_to=without(delegation_targets(B), "cifs/"))
    findings = check_direction(A, a, B, obj(B, A))
    assert {f.storage_only for f in findings} == {True}
    assert "holds Microsoft Virtual System Migration Service/hv-b.corp.example" in (
        findings[0].evidence
    )


def test_a_host_spn_stands_for_cifs_but_not_for_the_migration_service() -> None:
    only_host = (f"HOST/{B.fqdn}", f"HOST/{B.name}")
    findings = check_direction(A, obj(A, B), B, obj(B, A, service_principal_names=only_host))
    missing = sorted(f.message for f in findings)
    assert missing == [
        f"has no SPN {MIGRATION_SERVICE}/HV-B",
        f"has no SPN {MIGRATION_SERVICE}/{B.fqdn}",
    ]


def test_a_missing_computer_object_is_said_once_and_cannot_be_repaired() -> None:
    findings = check_pair(A, obj(A, B), B, None)
    assert codes(findings) == [("delegation_no_computer", "HV-B")]
    plan = plan_repair(A, obj(A, B), B, None)
    assert plan.changes == ()
    assert [f.host for f in plan.cannot] == ["HV-B"]


def test_repair_plan_adds_exactly_what_is_missing_and_says_unconstrained_explicitly() -> None:
    a = obj(
        A,
        B,
        user_account_control=WORKSTATION | TRUSTED_FOR_DELEGATION,
        allowed_to_delegate_to=(f"{MIGRATION_SERVICE}/HV-B",),
    )
    plan = plan_repair(A, a, B, obj(B, A))
    (change,) = plan.changes
    assert change.host == "HV-A"
    assert change.uac_after == WORKSTATION | TRUSTED_TO_AUTH_FOR_DELEGATION
    assert change.add_delegate_to == (
        f"{MIGRATION_SERVICE}/{B.fqdn}",
        f"cifs/{B.fqdn}",
        "cifs/HV-B",
    )
    assert change.add_spns == ()
    text = "\n".join(plan.lines())
    assert "turn OFF unconstrained delegation (TRUSTED_FOR_DELEGATION was on)" in text
    assert "0x81000 → 0x1001000" in text
    assert change.audit()["userAccountControl"] == {"before": 0x81000, "after": 0x1001000}


def test_repair_never_mentions_unconstrained_when_it_was_off() -> None:
    plan = plan_repair(A, obj(A, B, user_account_control=WORKSTATION), B, obj(B, A))
    text = "\n".join(plan.lines())
    assert "unconstrained" not in text
    assert "set TRUSTED_TO_AUTH_FOR_DELEGATION" in text


def test_repaired_objects_plan_nothing_and_check_green() -> None:
    broken_a = obj(A, B, allowed_to_delegate_to=(), user_account_control=WORKSTATION)
    broken_b = obj(B, A, service_principal_names=())
    plan = plan_repair(A, broken_a, B, broken_b)
    fixed = {c.host: (c.uac_after, c.add_delegate_to, c.add_spns) for c in plan.changes}
    repaired_a = replace(
        broken_a, user_account_control=fixed["HV-A"][0], allowed_to_delegate_to=fixed["HV-A"][1]
    )
    repaired_b = replace(broken_b, service_principal_names=fixed["HV-B"][2])
    assert check_pair(A, repaired_a, B, repaired_b) == ()
    assert plan_repair(A, repaired_a, B, repaired_b).empty


def test_report_words() -> None:
    unknown = DelegationReport(A, B, unknown="cannot reach the directory at ldaps://dc1")
    assert unknown.lines() == [
        "Kerberos delegation HV-A ↔ HV-B: unknown — cannot reach the directory at ldaps://dc1"
    ]
    assert not unknown.ok
    assert DelegationReport(A, B).ok


class Computers:
    """A `DelegationDirectory` from a dict; `down` makes every read fail like a dead DC."""

    def __init__(self, objects: dict[str, ComputerObject | None], down: bool = False) -> None:
        self.objects = objects
        self.down = down

    def computer(self, host: Host) -> ComputerObject | None:
        if self.down:
            raise DirectoryError("cannot reach the directory at ldaps://dc1")
        return self.objects.get(host.name)

    def write_refusal(self) -> str | None:
        return "read-only"

    def apply(self, change: object) -> None:
        raise AssertionError("never written")


def test_move_findings_block_on_the_move_direction_and_cifs_only_with_storage() -> None:
    a = obj(A, B, allowed_to_delegate_to=without(delegation_targets(B), "cifs/"))
    b = obj(B, A, allowed_to_delegate_to=())
    directory = Computers({"HV-A": a, "HV-B": b})
    assert move_findings(directory, A, B, storage=False) == ()
    with_storage = move_findings(directory, A, B, storage=True)
    assert [f.severity for f in with_storage] == [Severity.BLOCKING] * 2
    assert with_storage[0].message == (
        "Kerberos delegation: HV-A may not delegate to cifs/hv-b.corp.example "
        f"(msDS-AllowedToDelegateTo holds {MIGRATION_SERVICE}/hv-b.corp.example, "
        f"{MIGRATION_SERVICE}/HV-B)."
    )
    assert with_storage[0].fix.endswith("/migrate delegation HV-A HV-B fix")
    # B → A is broken, which the move A → B does not need; the other way it blocks.
    assert len(move_findings(directory, B, A, storage=False)) == 2


def test_move_findings_say_unknown_and_never_block_when_the_directory_is_down() -> None:
    (finding,) = move_findings(Computers({}, down=True), A, B, storage=True)
    assert finding.severity is Severity.WARNING
    assert finding.code == "delegation_unknown"
    assert finding.message == (
        "Kerberos delegation HV-A → HV-B is unknown: cannot reach the directory at ldaps://dc1."
    )
