"""Block Kit: the card, progress and final lines hold the facts and stay within Slack's limits."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from slack_sdk.models.blocks import Block

from bot.slack import blocks as ui
from bot.slack.actions import APPROVE, CANCEL, REJECT, STOP
from commands.findings import Finding, FindingCode, Severity
from commands.hyperv import ErrorKind, HyperVError, JobState, MigrationOutcome, MigrationProgress
from commands.workflow.cards import approval_card
from commands.workflow.records import Actor, AuditEvent, Place, RequestKind, RequestRecord, State

NOW = dt.datetime(2026, 11, 30, 7, 0, tzinfo=dt.UTC)


def record(**changes: object) -> RequestRecord:
    base = RequestRecord(
        id=12,
        kind=RequestKind.MIGRATION,
        state=State.AWAITING_APPROVAL,
        version=4,
        requester=Actor("U0ALICE01"),
        place=Place("C0OPS0001"),
        request={},
        created_at=NOW,
        updated_at=NOW,
        vm="SRV-APP01",
        source_host="HV-SRV01",
        destination_host="HV-SRV02",
        reason="patch night",
        invocation={"host": "HV-SRV01", "rendered": ["Move-VM -Name 'SRV-APP01' ..."]},
        required_approvals=2,
        approvals=("U0BOB0001",),
        expires_at=NOW + dt.timedelta(hours=1),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def as_dicts(blocks: Sequence[Block]) -> str:
    return str([b.to_dict() for b in blocks])


def test_the_card_shows_every_fact_and_carries_only_id_and_version_in_its_buttons() -> None:
    findings = [Finding(Severity.WARNING, FindingCode.LOCAL_ISO, "ISO attached", "Eject it")]
    shown = ui.card_blocks(approval_card(record(), findings), record(), [])
    text = as_dicts(shown)
    for fact in (
        "<@U0ALICE01>",
        "patch night",
        "SRV-APP01",
        "HV-SRV01 → HV-SRV02",
        "1 of 2",
        "<@U0BOB0001>",
        "ISO attached",
        "Eject it",
        "Move-VM -Name 'SRV-APP01'",
        "<!date^",
    ):
        assert fact in text, fact
    buttons = [
        e for b in shown for e in (b.to_dict().get("elements") or []) if e["type"] == "button"
    ]
    assert {b["action_id"] for b in buttons} == {APPROVE, REJECT, CANCEL}
    assert {b["value"] for b in buttons} == {"12:4"}
    assert next(b for b in buttons if b["action_id"] == REJECT)["confirm"]


def test_a_decided_card_has_no_buttons_and_says_who_decided_when() -> None:
    event = AuditEvent(7, 12, "rejected", Actor("U0BOB0001"), NOW, {"reason": "not tonight"})
    rejected = record(state=State.REJECTED)
    text = as_dicts(ui.card_blocks(approval_card(rejected, []), rejected, [event]))
    assert "button" not in text
    assert "<@U0BOB0001> rejected" in text and "not tonight" in text and "Rejected" in text


def test_a_huge_invocation_is_clipped_to_what_slack_accepts() -> None:
    huge = record(invocation={"host": "HV-SRV01", "rendered": ["x" * 10_000]})
    for block in ui.card_blocks(approval_card(huge, []), huge, []):
        block.to_dict()
        text = block.to_dict().get("text", {}).get("text", "")
        assert len(text) <= 3000


def test_progress_line_has_bar_percent_elapsed_phase_and_rate() -> None:
    reading = MigrationProgress(JobState.RUNNING, 40, 75.0, bytes_transferred=4 * 1024**3)
    line = ui.progress_text(record(state=State.RUNNING), reading)
    assert "████████░░░░░░░░░░░░" in line and "40%" in line and "1m 15s" in line
    assert "running" in line and "MiB/s" in line
    assert STOP in as_dicts(ui.progress_blocks(record(), line, running=True))
    assert STOP not in as_dicts(ui.progress_blocks(record(), line, running=False))


def test_the_final_line_says_where_the_vm_is_or_the_cause_and_fix() -> None:
    done = ui.final_text(
        record(state=State.SUCCEEDED), MigrationOutcome(True, 250.0, blackout_seconds=0.3)
    )
    assert "SRV-APP01 is now on HV-SRV02" in done and "4m 10s" in done and "0.3 s" in done
    error = HyperVError(
        ErrorKind.MIGRATION_NETWORK, "the move failed", cause="TCP 6600 blocked", fix="open it"
    )
    failed = ui.final_text(record(state=State.FAILED), MigrationOutcome(False, 30.0, error=error))
    assert "failed after 30.0 s" in failed and "TCP 6600 blocked" in failed and "open it" in failed
