"""The Slack app's one error handler: a person's mistake gets an ephemeral one-liner, anything
else a short reference in Slack and the whole trace in the log (never the exception's text,
which may hold a host's answer or a secret)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot.logs import new_reference
from commands.errors import Refusal
from commands.hyperv import HyperVError
from commands.workflow.context import error_text

log = logging.getLogger(__name__)

Tell = Callable[[str], None]


def refusal_line(error: BaseException) -> str | None:
    """The one line a person sees for an expected refusal, or None for anything unexpected."""
    if isinstance(error, Refusal):
        return error.line()
    if isinstance(error, HyperVError):
        return error_text(error)
    return None


def answer_failure(error: BaseException, tell: Tell, doing: str) -> None:
    """Tells the person what went wrong with what they asked (`doing`, e.g. "/migrate")."""
    line = refusal_line(error)
    if line is None:
        reference = new_reference()
        log.error(
            "slack request failed",
            exc_info=(type(error), error, error.__traceback__),
            extra={"reference": reference, "doing": doing},
        )
        line = (
            f"Something went wrong on hvbot's side while handling {doing} "
            f"(reference {reference}); the bot's log has the detail."
        )
    try:
        tell(line)
    except Exception:
        log.warning("could not tell the person about a failure", exc_info=True)


def guarded(work: Callable[[], None], tell: Tell, doing: str) -> None:
    """Runs `work`, answering any failure through `tell` (work on the bot's own executor)."""
    try:
        work()
    except Exception as error:
        answer_failure(error, tell, doing)


def bolt_error_handler(error: Exception, body: dict[str, Any], respond: Any) -> None:
    """bolt's global error handler: what escapes a listener (normally nothing: listeners only
    acknowledge and hand the work over) is answered the same way."""

    def tell(line: str) -> None:
        if respond is not None and body.get("response_url"):
            respond(text=line, response_type="ephemeral", replace_original=False)

    answer_failure(error, tell, "this request")
