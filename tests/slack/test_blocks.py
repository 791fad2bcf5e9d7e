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
from lab.slack.blocks import check_message

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


def drain_record(vms: int, state: State = State.AWAITING_APPROVAL) -> RequestRecord:
    """A checked drain of HV-SRV01 with `vms` moves spread over three hosts."""
    moves = [
        {
            "vm": f"SRV-APP{i:03d}",
            "destination": f"HV-SRV0{2 + i % 3}",
            "memory_bytes": (2 + i % 7) * 1024**3,
            "moves_storage": i % 5 == 0,
            "notes": ["compatibility mode needed"] if i % 11 == 0 else [],
        }
        for i in range(vms)
    ]
    rendered = [
        f"Move-VM -Name '{m['vm']}' -DestinationHost '{m['destination']}.lab.local'"
        + (" -IncludeStorage" if m["moves_storage"] else "")
        for m in moves
    ]
    return record(
        kind=RequestKind.DRAIN,
        state=state,
        vm=None,
        destination_host=None,
        invocation={"host": "HV-SRV01", "rendered": rendered, "details": {"moves": moves}},
    )


# The longest preflight a card shows (clipped at 3000 characters).
DRAIN_FINDINGS = [
    Finding(Severity.WARNING, FindingCode.FITS_NOWHERE, "SRV-BIG01 fits nowhere (" + "x" * 2900)
]


def test_a_drain_card_holds_its_placement_and_powershell_within_slack_limits_at_any_size() -> None:
    for vms in (3, 40, 120, 400):
        waiting = drain_record(vms)
        approvals = [
            AuditEvent(n, 12, "approved", Actor(f"U0APPROVER{n}"), NOW, {}) for n in range(40)
        ]
        for shown, events in ((waiting, []), (drain_record(vms, State.RUNNING), approvals)):
            card = approval_card(shown, DRAIN_FINDINGS)
            blocks = [b.to_dict() for b in ui.card_blocks(card, shown, events)]
            check_message(ui.card_text(card, shown), blocks)
        in_card, in_thread = ui.drain_parts(card)
        for text in in_thread:
            check_message(text, None)
            assert len(text) <= 3000
        everything = as_dicts(in_card) + "".join(in_thread)
        assert "drain of HV-SRV01" in as_dicts(ui.card_blocks(card, shown, []))
        positions = [everything.index(line) for line in card.powershell]
        assert positions == sorted(positions), vms
        for row in card.placement:
            assert f"{row.vm}  → {row.destination}" in everything
    # With a usual preflight, 40 VMs fit in the card itself; 120 send their PowerShell to the
    # thread and keep the table; 400 send both.
    usual = [Finding(Severity.WARNING, FindingCode.FITS_NOWHERE, "SRV-BIG01 fits nowhere.")]
    for vms, thread in ((40, ""), (120, "PowerShell of every move*"), (400, "placement table*")):
        in_card, in_thread = ui.drain_parts(approval_card(drain_record(vms), usual))
        assert bool(in_thread) is bool(thread)
        assert thread in as_dicts(in_card)
