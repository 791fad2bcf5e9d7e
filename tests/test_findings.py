"""Finding codes: one enum, values stable for the audit log, Compare-VM's kinds all mapped."""

from __future__ import annotations

import json

import pytest

from commands.diagnosis import COMPARE_KINDS, diagnose_incompatibility
from commands.findings import CODE_OF_KIND, Finding, FindingCode, Severity, code_of
from commands.hyperv import ErrorKind, Incompatibility
from commands.workflow.cards import recorded_findings
from commands.workflow.records import SYSTEM, AuditEvent
from support.clock import START

# Every code an earlier bot wrote to the audit log (read back from the code before the enum).
WRITTEN_BEFORE_THE_ENUM = (
    "plan",
    "source_mismatch",
    "vm_state",
    "clustered",
    "migration_disabled",
    "auth_mismatch",
    "credssp",
    "not_enough_memory",
    "version_unsupported",
    "switch_missing",
    "local_iso",
    "local_storage",
    "path_missing",
    "share_unchecked",
    "not_enough_disk",
    "network_absent",
    "network_present",
    "cpu_incompatible",
    "delegation",
    "credentials_not_recognized",
    "migration_network",
    "migration_limit",
    "invalid_parameters",
    "vm_not_found",
    "dns",
    "cancelled",
    "remote_error",
    "delegation_no_computer",
    "delegation_target_missing",
    "delegation_spn_missing",
    "delegation_protocol_transition",
    "delegation_unconstrained",
    "delegation_unknown",
    "delegation_incomplete",
    "no_destination",
    "fits_nowhere",
    "stopped_left",
    "nothing_to_move",
)


@pytest.mark.parametrize("kind", sorted(COMPARE_KINDS))
def test_every_kind_compare_vm_can_be_diagnosed_as_has_a_finding_code(kind: ErrorKind) -> None:
    assert kind in CODE_OF_KIND, f"add {kind!r} to CODE_OF_KIND in commands/findings.py"
    # Codes written before the enum were the kind's own value: old events keep meaning the same.
    assert code_of(kind).value == kind.value


def test_compare_kinds_are_what_the_diagnosis_can_return() -> None:
    assert ErrorKind.SWITCH_MISSING in COMPARE_KINDS  # by MessageId 33012
    assert ErrorKind.REMOTE_ERROR in COMPARE_KINDS  # nothing matched
    assert ErrorKind.CPU_INCOMPATIBLE in COMPARE_KINDS  # by its text
    # Only WinRM itself fails this way; a Compare-VM report never says it.
    assert ErrorKind.TLS not in COMPARE_KINDS
    item = Incompatibility(40000, "Something new went wrong on the host.")
    assert code_of(diagnose_incompatibility(item).kind) is FindingCode.REMOTE_ERROR


def test_a_kind_without_a_code_still_blocks_as_a_remote_error() -> None:
    assert ErrorKind.TLS not in CODE_OF_KIND
    assert code_of(ErrorKind.TLS) is FindingCode.REMOTE_ERROR


# Codes added since, each once: a value, once written, never changes either.
ADDED_SINCE = (
    "delegation_complete",
    "directory_not_configured",
    "directory_unavailable",
    "directory_read_only",
)


def test_codes_written_before_the_enum_keep_their_values() -> None:
    assert sorted(WRITTEN_BEFORE_THE_ENUM + ADDED_SINCE) == sorted(
        c.value for c in FindingCode if c is not FindingCode.OTHER
    )


def test_a_finding_is_stored_as_plain_strings_and_reads_back_equal() -> None:
    finding = Finding(Severity.BLOCKING, FindingCode.SWITCH_MISSING, "No switch 'X'.", "Create it.")
    stored = json.loads(json.dumps(finding.to_json()))
    assert stored == {
        "severity": "blocking",
        "code": "switch_missing",
        "message": "No switch 'X'.",
        "fix": "Create it.",
    }
    assert Finding.from_json(stored) == finding


def _checked(*findings: dict[str, str]) -> AuditEvent:
    return AuditEvent(1, 1, "checked", SYSTEM, START, {"findings": list(findings)})


def test_old_and_unknown_codes_in_the_audit_log_still_read_and_render() -> None:
    events = [
        _checked(
            {
                "severity": "blocking",
                "code": "local_iso",
                "message": "ISO on C:.",
                "fix": "Eject",
            },
            {"severity": "warning", "code": "from_a_newer_bot", "message": "Something new."},
            {"severity": "odd", "code": "", "message": "No code at all."},
        )
    ]
    iso, newer, bare = recorded_findings(events)
    assert (iso.severity, iso.code, iso.message, iso.fix) == (
        Severity.BLOCKING,
        FindingCode.LOCAL_ISO,
        "ISO on C:.",
        "Eject",
    )
    assert (newer.severity, newer.code, newer.message) == (
        Severity.WARNING,
        FindingCode.OTHER,
        "Something new.",
    )
    assert (bare.severity, bare.code) == (Severity.INFO, FindingCode.OTHER)
