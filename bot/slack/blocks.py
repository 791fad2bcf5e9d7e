"""What people see in Slack, as Block Kit built with slack_sdk's models (which check Slack's
own limits: text lengths, block and element counts). Every message also has a plain `text`,
which Slack shows in notifications and screen readers.

- The approval card: who asked and why, the VM, source → destination, each preflight finding
  with its fix, the exact PowerShell, approvals so far / needed, expiry; Approve, Reject (with
  a confirmation, and an optional reason typed in the card) and Cancel while it waits; the
  decisions instead of the buttons afterwards.
- The progress message in the card's thread: bar, percent, elapsed, phase, rate, Cancel.
- The final line, broadcast from the thread to the channel.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)

from bot.slack.actions import (
    APPROVE,
    CANCEL,
    REASON_BLOCK,
    REASON_INPUT,
    REJECT,
    STOP,
    button_value,
)
from commands.hyperv import JobState, MigrationOutcome, MigrationProgress
from commands.workflow.cards import ApprovalCard
from commands.workflow.machine import Step
from commands.workflow.notify import outcome_report
from commands.workflow.records import SYSTEM, AuditEvent, RequestRecord, State

# Slack cuts a section's text at 3000 characters; the PowerShell is shortened before that.
_SECTION_LIMIT = 3000
_BAR_CELLS = 20
_STATE_WORDS = {
    State.REQUESTED: "recorded",
    State.CHECKING: "being checked",
    State.AWAITING_APPROVAL: "waiting for approval",
    State.APPROVED: "approved, about to start",
    State.RUNNING: "running",
    State.SUCCEEDED: "succeeded",
    State.FAILED: "failed",
    State.REJECTED: "rejected",
    State.EXPIRED: "expired",
    State.CANCELLED: "cancelled",
    State.OUTCOME_UNKNOWN: "ended, outcome unknown",
}
# Audit event kinds that are people's decisions on a card, and how the card says them.
_DECISIONS = {
    Step.APPROVE.value: "approved",
    Step.REJECT.value: "rejected",
    Step.CANCEL.value: "cancelled",
    "cancel_requested": "asked to cancel",
}


def _mrkdwn(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text, verbatim=True)


def _clip(text: str, limit: int = _SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_time(at: dt.datetime) -> str:
    """A time every reader sees in their own time zone (UTC as the fallback text)."""
    epoch = int(at.timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{at:%Y-%m-%d %H:%M} UTC>"


def decisions(events: Sequence[AuditEvent]) -> list[str]:
    """Who decided what on the card, and when, in order."""
    lines = []
    for event in events:
        verb = _DECISIONS.get(event.kind)
        if verb is None or event.actor == SYSTEM:
            continue
        reason = event.data.get("reason")
        because = f": {reason}" if isinstance(reason, str) and reason else ""
        lines.append(f"<@{event.actor.slack_user_id}> {verb} {slack_time(event.at)}{because}")
    return lines


def card_blocks(
    card: ApprovalCard, record: RequestRecord, events: Sequence[AuditEvent]
) -> list[Block]:
    """The approval card as `record` now stands: buttons while it waits for approval, the
    decisions (from `events`) once made."""
    fields = [
        _mrkdwn(f"*Requested by*\n<@{card.requester}>"),
        _mrkdwn(f"*Reason*\n{card.reason or '_none given_'}"),
        _mrkdwn(f"*VM*\n{card.vm or '-'}"),
        _mrkdwn(f"*Hosts*\n{card.route}"),
        _mrkdwn(
            f"*Approvals*\n{len(record.approvals)} of {record.required_approvals}"
            + "".join(f" <@{user}>" for user in record.approvals)
        ),
    ]
    if card.expires_at is not None and record.state is State.AWAITING_APPROVAL:
        fields.append(_mrkdwn(f"*Expires*\n{slack_time(card.expires_at)}"))
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=_clip(card.title, 150))),
        SectionBlock(fields=fields),
    ]
    finding_lines = [
        f"• *{f.severity.value}*: {f.message}" + (f"\n   _Fix:_ {f.fix}" if f.fix else "")
        for f in card.findings
    ]
    if finding_lines:
        preflight = "*Preflight*\n" + "\n".join(finding_lines)
        blocks.append(SectionBlock(text=_mrkdwn(_clip(preflight))))
    if card.directory_changes:
        changes = _clip("\n".join(card.directory_changes), _SECTION_LIMIT - 60)
        blocks.append(
            SectionBlock(text=_mrkdwn(f"*Will change in Active Directory:*\n```{changes}```"))
        )
    else:
        powershell = _clip("\n".join(card.powershell), _SECTION_LIMIT - 60)
        blocks.append(
            SectionBlock(text=_mrkdwn(f"*Will run on {card.run_on or '?'}:*\n```{powershell}```"))
        )
    if record.state is State.AWAITING_APPROVAL:
        blocks += _decision_inputs(record)
    state = f"*{_STATE_WORDS[record.state].capitalize()}*"
    said = " · ".join([state, *decisions(events)])
    blocks.append(ContextBlock(elements=[_mrkdwn(_clip(said, 2000))]))
    return blocks


def _decision_inputs(record: RequestRecord) -> list[Block]:
    value = button_value(record)
    return [
        InputBlock(
            block_id=REASON_BLOCK,
            label=PlainTextObject(text="Reason (optional, shown if you reject)"),
            element=PlainTextInputElement(action_id=REASON_INPUT, max_length=300),
            optional=True,
        ),
        ActionsBlock(
            elements=[
                ButtonElement(text="Approve", action_id=APPROVE, value=value, style="primary"),
                ButtonElement(
                    text="Reject",
                    action_id=REJECT,
                    value=value,
                    style="danger",
                    confirm=ConfirmObject(
                        title="Reject this request?",
                        text=f"Request #{record.id} will not run. Any reason typed in the "
                        "card is recorded with your decision.",
                        confirm="Reject",
                        deny="Keep it",
                        style="danger",
                    ),
                ),
                ButtonElement(text="Cancel request", action_id=CANCEL, value=value),
            ]
        ),
    ]


def card_text(card: ApprovalCard, record: RequestRecord) -> str:
    """The card's plain text (notifications)."""
    return f"{card.title} ({card.route}): {_STATE_WORDS[record.state]}"


def progress_bar(percent: int) -> str:
    """`[██████░░░░░░░░░░░░░░]`."""
    filled = max(0, min(_BAR_CELLS, round(percent * _BAR_CELLS / 100)))
    return "[" + "█" * filled + "░" * (_BAR_CELLS - filled) + "]"


def duration(seconds: float) -> str:
    """`4m 05s`, `12.3 s`."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def progress_text(record: RequestRecord, progress: MigrationProgress) -> str:
    """One line: bar, percent, elapsed, phase and the transfer rate when known."""
    parts = [
        f"`{progress_bar(progress.percent)}` {progress.percent}%",
        f"{duration(progress.elapsed_seconds)} elapsed",
        progress.state.name.lower().replace("_", " "),
    ]
    if progress.bytes_transferred and progress.elapsed_seconds > 0:
        rate = progress.bytes_transferred / progress.elapsed_seconds / 1024**2
        parts.append(f"{rate:,.0f} MiB/s")
    return f"#{record.id} {record.vm or record.source_host}: " + " · ".join(parts)


def summary_blocks(text: str) -> list[Block]:
    """A drain's summary: its lines as they are, PowerShell-free plain text."""
    return [SectionBlock(text=_mrkdwn(_clip(text)))]


def progress_blocks(record: RequestRecord, text: str, *, running: bool) -> list[Block]:
    """The progress message: its line, and a Cancel button while the move runs."""
    blocks: list[Block] = [SectionBlock(text=_mrkdwn(_clip(text)))]
    if running:
        blocks.append(
            ActionsBlock(
                elements=[
                    ButtonElement(
                        text="Cancel migration",
                        action_id=STOP,
                        value=button_value(record),
                        style="danger",
                        confirm=ConfirmObject(
                            title="Cancel this migration?",
                            text="The host is asked to stop the move; the VM stays where it "
                            "is if the host can still stop it.",
                            confirm="Cancel it",
                            deny="Let it run",
                        ),
                    )
                ]
            )
        )
    return blocks


def final_text(record: RequestRecord, outcome: MigrationOutcome | None) -> str:
    """The end, as broadcast to the channel: duration, blackout, where the VM is now; on
    failure the cause and the fix."""
    subject = record.vm or record.source_host or "?"
    report = outcome_report(record)
    if report:
        mark = ":white_check_mark:" if record.state is State.SUCCEEDED else ":x:"
        return "\n".join([f"{mark} Request #{record.id} {_STATE_WORDS[record.state]}.", *report])
    if record.state is State.SUCCEEDED:
        if outcome is None:
            return f":white_check_mark: Request #{record.id} ({subject}) applied."
        blackout = (
            f", blackout {outcome.blackout_seconds:g} s"
            if outcome.blackout_seconds is not None
            else ""
        )
        where = record.destination_host or record.source_host
        return (
            f":white_check_mark: {subject} is now on {where}: request #{record.id} succeeded "
            f"in {duration(outcome.duration_seconds)}{blackout}."
        )
    lines = [f":x: Request #{record.id} ({subject}) {_STATE_WORDS[record.state]}."]
    error = outcome.error if outcome is not None else None
    if error is not None:
        lines[0] = (
            f":x: Request #{record.id} ({subject}) failed after "
            f"{duration(outcome.duration_seconds if outcome else 0)}: {error.summary}"
        )
        if error.cause:
            lines.append(f"*Cause:* {error.cause}")
        if error.fix:
            lines.append(f"*Fix:* {error.fix}")
    return "\n".join(lines)


def ended_progress(record: RequestRecord, outcome: MigrationOutcome | None, last_line: str) -> str:
    """The progress message's last form: a full bar for a success, else the last reading."""
    line = last_line
    if record.state is State.SUCCEEDED and outcome is not None:
        done = MigrationProgress(JobState.COMPLETED, 100, outcome.duration_seconds)
        line = progress_text(record, done)
    return f"{line}\n*{_STATE_WORDS[record.state].capitalize()}*"


def job_phase(progress: MigrationProgress) -> bool:
    """Whether a Cancel still makes sense for this reading."""
    return not JobState(progress.state).finished
