"""Button clicks: Approve, Reject and Cancel on an approval card, Cancel under a progress bar.

Only `user.id` is trusted from a click (architecture §4). A button's value carries the request id
and the card's version, nothing else; the request is read from the store, and the click must
come from the message the bot posted for it, in the channel it was posted in, with a version
the card has had. A click on an older version still counts: while a request waits, only the
approvals collected change (another approver's approval is not what one approves), so two
approvers clicking at the same moment on a card that needs both both count; a request decided
meanwhile is refused by the workflow, which says who decided. Every
refused click is said to the clicker alone and recorded in the audit log.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.slack.context import SlackContext
from commands.workflow.machine import WorkflowError
from commands.workflow.records import Actor, EventDraft, RequestRecord, State
from commands.workflow.service import Workflow

log = logging.getLogger(__name__)

APPROVE = "hvbot_approve"
REJECT = "hvbot_reject"
CANCEL = "hvbot_cancel"
STOP = "hvbot_stop"
REASON_BLOCK, REASON_INPUT = "hvbot_reason", "hvbot_reason_text"
_VALUE = re.compile(r"^(\d{1,12}):(\d{1,12})$")


def button_value(record: RequestRecord) -> str:
    """What a button of `record`'s card carries: its id and the version shown."""
    return f"{record.id}:{record.version}"


@dataclass(frozen=True)
class Click:
    """A click as Slack delivered it, reduced to what the bot uses."""

    action_id: str
    value: str
    user: str
    channel: str | None
    message_ts: str | None
    reason: str | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Click:
        """Reads a `block_actions` payload."""
        action = (body.get("actions") or [{}])[0]
        values = (body.get("state") or {}).get("values") or {}
        typed = ((values.get(REASON_BLOCK) or {}).get(REASON_INPUT) or {}).get("value")
        return cls(
            action_id=str(action.get("action_id", "")),
            value=str(action.get("value", "")),
            user=str((body.get("user") or {}).get("id", "")),
            channel=(body.get("channel") or {}).get("id"),
            message_ts=(body.get("container") or {}).get("message_ts"),
            reason=" ".join(typed.split()) if isinstance(typed, str) and typed.strip() else None,
        )


def register(app: App, context: SlackContext) -> None:
    """Listens to the card's and the progress message's buttons."""

    def on_click(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        click = Click.from_body(body)

        def tell(line: str) -> None:
            respond(text=line, response_type="ephemeral", replace_original=False)

        context.run(lambda: handle_click(context, click), tell, "your click")

    for action_id in (APPROVE, REJECT, CANCEL, STOP):
        app.action(action_id)(on_click)


def handle_click(context: SlackContext, click: Click) -> None:
    """Carries out a click, or raises WorkflowError (recorded) saying why it was refused."""
    match = _VALUE.match(click.value)
    if match is None:
        raise WorkflowError("That button does not belong to an hvbot request.")
    request_id, version = int(match.group(1)), int(match.group(2))
    workflow = context.services.workflow
    record = workflow.get(request_id)
    actor = Actor(click.user)
    try:
        _check_origin(record, click, version)
        _act(workflow, click, request_id, actor)
    except WorkflowError as refusal:
        context.services.store.append(
            request_id,
            EventDraft(
                "click_refused",
                actor,
                {"action": click.action_id, "version": version, "reason": refusal.message},
            ),
        )
        raise


def _act(workflow: Workflow, click: Click, request_id: int, actor: Actor) -> None:
    if click.action_id == APPROVE:
        workflow.approve(request_id, actor)
    elif click.action_id == REJECT:
        workflow.reject(request_id, actor, click.reason)
    elif click.action_id == CANCEL:
        # The card's Cancel means "this request, as it waits for approval".
        workflow.cancel(request_id, actor, seen=State.AWAITING_APPROVAL)
    else:
        workflow.cancel(request_id, actor)


def _check_origin(record: RequestRecord, click: Click, version: int) -> None:
    """Refuses a click that does not come from this request's own message, as it was shown.
    While a request waits for approval nothing on its card changes but the approvals
    collected (the plan is fixed once checked), so a click made on any version the card has
    had still means what the clicker saw; what was decided meanwhile the workflow refuses."""
    messages = {record.card_ts, record.progress_ts} - {None}
    if (
        click.channel != record.place.channel
        or click.message_ts not in messages
        or not 1 <= version <= record.version
    ):
        raise WorkflowError(
            f"That button is not on request #{record.id}'s own messages; "
            "use the buttons on its card."
        )
