"""What people see in Slack, as Block Kit built with slack_sdk's models (which check Slack's
own limits: text lengths, block and element counts). Every message also has a plain `text`,
which Slack shows in notifications and screen readers.

- The approval card: who asked and why, the VM, source → destination, each preflight finding
  with its fix, the exact PowerShell, approvals so far / needed, expiry; Approve, Reject (with
  a confirmation, and an optional reason typed in the card) and Cancel while it waits; the
  decisions instead of the buttons afterwards. A drain's card adds its placement table (VM →
  host, memory, storage, findings) in as many sections as it needs; when the PowerShell of
  every move would outgrow one message, it goes to the card's thread (`powershell_replies`)
  and the card says so.
- The progress message in the card's thread: bar, percent, elapsed, phase, rate, Cancel.
- The final line, broadcast from the thread to the channel.
"""

from __future__ import annotations

import datetime as dt
import json
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
from commands.placement import gib
from commands.workflow.cards import ApprovalCard
from commands.workflow.machine import Step
from commands.workflow.notify import outcome_report
from commands.workflow.records import SYSTEM, AuditEvent, RequestKind, RequestRecord, State

# Slack cuts a section's text at 3000 characters; the PowerShell is shortened before that.
_SECTION_LIMIT = 3000
# Slack refuses a message of more than 50 blocks or about 13,000 characters of serialised
# blocks (lab/slack/NOTES.md). A drain's card stays under both with room for what is added
# while it waits and after: the reason input and buttons (~1,600), the decisions (at most
# _CONTEXT_LIMIT) and more approvers' mentions.
_CARD_BLOCKS = 40
_CARD_CHARACTERS = 12_500
_CONTEXT_LIMIT = 2000
_CARD_RESERVE = 4_500
_ROW_LIMIT = 300
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
    waiting = record.state is State.AWAITING_APPROVAL
    blocks = _card_head(card, record.approvals, record.required_approvals, waiting=waiting)
    if card.placement:
        blocks += drain_parts(card)[0]
    elif card.directory_changes:
        changes = _clip("\n".join(card.directory_changes), _SECTION_LIMIT - 60)
        blocks.append(
            SectionBlock(text=_mrkdwn(f"*Will change in Active Directory:*\n```{changes}```"))
        )
    else:
        powershell = _clip("\n".join(card.powershell), _SECTION_LIMIT - 60)
        blocks.append(
            SectionBlock(text=_mrkdwn(f"*Will run on {card.run_on or '?'}:*\n```{powershell}```"))
        )
    if waiting:
        blocks += _decision_inputs(record)
    state = f"*{_STATE_WORDS[record.state].capitalize()}*"
    said = " · ".join([state, *decisions(events)])
    blocks.append(ContextBlock(elements=[_mrkdwn(_clip(said, _CONTEXT_LIMIT))]))
    return blocks


def _card_head(
    card: ApprovalCard, approvals: Sequence[str], required: int, *, waiting: bool
) -> list[Block]:
    """Title, who/why/what/where, approvals, expiry and the preflight's findings."""
    subject = (
        f"*VMs*\n{len(card.placement)} to move" if card.placement else f"*VM*\n{card.vm or '-'}"
    )
    fields = [
        _mrkdwn(f"*Requested by*\n<@{card.requester}>"),
        _mrkdwn(f"*Reason*\n{card.reason or '_none given_'}"),
        _mrkdwn(subject),
        _mrkdwn(f"*Hosts*\n{card.route}"),
        _mrkdwn(
            f"*Approvals*\n{len(approvals)} of {required}"
            + "".join(f" <@{user}>" for user in approvals)
        ),
    ]
    if card.expires_at is not None and waiting:
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
    return blocks


def drain_parts(card: ApprovalCard) -> tuple[list[Block], list[str]]:
    """A drain's placement table and PowerShell: the sections the card holds, and the messages
    that carry in its thread, in order, what would outgrow the card (first the PowerShell,
    then the table too). Decided from what never changes on the card, so every redraw agrees
    with what was posted in the thread."""
    table = _sections("Placement", placement_lines(card))
    shell = _sections(f"Will run on {card.run_on or '?'}, in this order", card.powershell)
    # The card's head while it waits (its expiry shown), with room for everything it gains.
    head = _card_head(card, card.approvals, card.required_approvals, waiting=True)
    splits: list[tuple[list[Block], list[Block]]] = [
        (table + shell, []),
        (table, shell),
        ([], table + shell),
    ]
    in_card, in_thread = next(
        ((kept, moved) for kept, moved in splits if _fits([*head, *kept])), splits[-1]
    )
    texts = [b.text.text for b in in_thread if isinstance(b, SectionBlock) and b.text]
    if texts:
        what = "The exact PowerShell of every move" + (
            "" if in_card else " and the placement table"
        )
        plural = "s" if len(texts) != 1 else ""
        in_card = [
            *in_card,
            SectionBlock(
                text=_mrkdwn(
                    f"*{what}* are in this card's thread ({len(texts)} message{plural}), "
                    f"in the order the moves run on {card.run_on or '?'}."
                )
            ),
        ]
    return in_card, texts


def _fits(blocks: Sequence[Block]) -> bool:
    size = len(json.dumps([b.to_dict() for b in blocks])) + _CARD_RESERVE
    return len(blocks) <= _CARD_BLOCKS and size <= _CARD_CHARACTERS


def placement_lines(card: ApprovalCard) -> list[str]:
    """A drain's placement as aligned rows: VM → host, memory, storage yes/no, findings."""
    rows = [("VM", "→ host", "memory", "storage", "findings")]
    rows += [
        (
            r.vm,
            f"→ {r.destination}",
            gib(r.memory_bytes),
            "yes" if r.moves_storage else "no",
            "; ".join(r.notes) or "-",
        )
        for r in card.placement
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    aligned = [
        "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[4]])
        for row in rows
    ]
    return [_clip(line, _ROW_LIMIT) for line in aligned]


def _sections(title: str, lines: Sequence[str]) -> list[Block]:
    """`lines` as code blocks under `title`, in as few sections as Slack's limit allows."""
    chunks = _chunks(lines, _SECTION_LIMIT - len(title) - 30)
    return [
        SectionBlock(
            text=_mrkdwn(
                (f"*{title} ({n}/{len(chunks)})*" if len(chunks) > 1 else f"*{title}*")
                + f"\n```{chunk}```"
            )
        )
        for n, chunk in enumerate(chunks, start=1)
    ]


def _chunks(lines: Sequence[str], limit: int) -> list[str]:
    """`lines` joined in order into as few texts of at most `limit` characters as they fit."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        line = _clip(line, limit)
        if current and len(current) + 1 + len(line) > limit:
            chunks.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks


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
    bar = f"`{progress_bar(progress.percent)}` {progress.percent}%"
    parts = [bar, f"{duration(progress.elapsed_seconds)} elapsed", *_reading(progress)]
    return f"#{record.id} {record.vm or record.source_host}: " + " · ".join(parts)


# A board line's names are cut so that a full board stays one message (bot.slack.board).
_BOARD_VM, _BOARD_HOST = 30, 24


def board_line(record: RequestRecord, progress: MigrationProgress) -> str:
    """A move's line on its place's board: id, VM, source → destination, percent, elapsed,
    phase and the rate when known."""
    vm = _clip(record.vm or "?", _BOARD_VM)
    route = f"{_clip(record.source_host or '?', _BOARD_HOST)} → "
    route += _clip(record.destination_host or "?", _BOARD_HOST)
    parts = [f"*{progress.percent}%*", duration(progress.elapsed_seconds), *_reading(progress)]
    return f"#{record.id} *{vm}* {route} · " + " · ".join(parts)


def _reading(progress: MigrationProgress) -> list[str]:
    """The phase, and the transfer rate when the host reports bytes."""
    parts = [progress.state.name.lower().replace("_", " ")]
    if progress.bytes_transferred and progress.elapsed_seconds > 0:
        rate = progress.bytes_transferred / progress.elapsed_seconds / 1024**2
        parts.append(f"{rate:,.0f} MiB/s")
    return parts


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
    failure the cause and the fix. A drain's is its final sentence."""
    subject = record.vm or record.source_host or "?"
    said = (record.outcome or {}).get("summary")
    if record.kind == RequestKind.DRAIN and isinstance(said, str):
        icon = ":white_check_mark:" if record.state is State.SUCCEEDED else ":warning:"
        return f"{icon} Drain #{record.id}: {said}"
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
