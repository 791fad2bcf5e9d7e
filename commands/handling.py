"""One way from chat text to a reply: `Handler.handle(text, actor, place) -> Reply`.

Every front end (Slack, `hvbot say` and the other CLI commands, the demo) calls this and only
renders the `Reply`. Read-only requests are answered from the audit log and the hosts;
changing ones are submitted to the workflow and answered at once ("recorded, checking"): the
card, progress and the end reach people later through the notifier port.

`handle` may talk to hosts (a check, `host`, `diagnose`) and so take seconds: a chat front end
calls it after acknowledging the command, never on a thread that must answer at once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import assert_never

from commands.clock import utc_now
from commands.diagnosis import diagnose_events
from commands.drain import plan_drain, render_drain_plan
from commands.errors import Refusal
from commands.findings import Finding, Preflight, PreflightResult
from commands.hyperv import ErrorKind, HostSettings, HyperVError
from commands.inventory import Host, Inventory
from commands.language import ParseError, help_text, parse, render
from commands.ports import DelegationChecker, HyperVPort
from commands.replies import Outcome, Reply, ReplyKind, refused
from commands.requests import (
    CancelRequest,
    CheckRequest,
    DelegationRequest,
    DiagnoseRequest,
    DrainCancelRequest,
    DrainCheckRequest,
    DrainRequest,
    HelpRequest,
    HistoryRequest,
    HostNetworkAddRequest,
    HostNetworkRemoveRequest,
    HostSetRequest,
    HostShowRequest,
    HostToggleRequest,
    MigrateRequest,
    Move,
    Request,
    StatusRequest,
    StorageRequest,
    VmCompatibilityRequest,
)
from commands.workflow.approvals import DirectoryError
from commands.workflow.cards import recorded_findings
from commands.workflow.context import InternalError
from commands.workflow.records import Actor, Place, RequestRecord
from commands.workflow.service import Workflow
from commands.workflow.store import AuditStore

logger = logging.getLogger(__name__)

# Host errors that are the hosts' answer "no such thing", not a failure to answer.
_ANSWERED_NO = frozenset({ErrorKind.VM_NOT_FOUND, ErrorKind.VM_AMBIGUOUS})
HISTORY_DEFAULT = 10
# How far back `diagnose <vm>` reads the host's Hyper-V event log.
EVENTS_WINDOW = dt.timedelta(hours=24)


class Handler:
    """Answers `/migrate` text. Thread-safe as long as its collaborators are."""

    def __init__(
        self,
        *,
        inventory: Inventory,
        workflow: Workflow,
        store: AuditStore,
        preflight: Preflight,
        hyperv: HyperVPort,
        delegation: DelegationChecker,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self._inventory = inventory
        self._workflow = workflow
        self._store = store
        self._preflight = preflight
        self._hyperv = hyperv
        self._delegation = delegation
        self._clock = clock

    def handle(self, text: str, actor: Actor, place: Place) -> Reply:
        """The reply to `actor` typing `/migrate text` in `place`. Never raises for bad input
        or a host's refusal; an unexpected failure is logged and answered with a reference."""
        try:
            request = parse(text, self._inventory)
        except ParseError as refusal:
            return refused(refusal.line())
        try:
            return self.answer(request, actor, place)
        except Refusal as refusal:
            return refused(refusal.line())
        except HyperVError as error:
            outcome = Outcome.REFUSED if error.kind in _ANSWERED_NO else Outcome.FAILED
            return Reply(
                ReplyKind.FAILURE, error.headline(), error.details(), outcome, ephemeral=True
            )
        except DirectoryError as error:
            return Reply(
                ReplyKind.FAILURE,
                f"The directory could not answer: {error}",
                outcome=Outcome.FAILED,
                ephemeral=True,
            )
        except Exception:
            internal = InternalError.logged(logger, "handling failed", text=text)
            return Reply(
                ReplyKind.FAILURE,
                internal.text(f"answering /migrate {render(request)}"),
                outcome=Outcome.FAILED,
                ephemeral=True,
            )

    def answer(self, request: Request, actor: Actor, place: Place) -> Reply:
        """The reply to a parsed request; raises `Refusal` or `HyperVError` when refused."""
        match request:
            case HelpRequest(topic=topic):
                return Reply(ReplyKind.HELP, *_head(help_text(topic)), ephemeral=True)
            case StatusRequest(request_id=request_id, vm=vm):
                return self._status(request_id, vm)
            case HistoryRequest(vm=vm, host=host, last=last):
                return self._history(vm, host, last)
            case HostShowRequest(host=host):
                settings = self._hyperv.host_settings(host)
                return Reply(
                    ReplyKind.HOST,
                    f"{host.name}: live migration settings",
                    (*settings_lines(settings),),
                )
            case CheckRequest():
                return check_reply(self._preflight.preflight(request))
            case DiagnoseRequest(request_id=request_id, vm=vm, destination=destination):
                if request_id is not None:
                    return self._diagnose_request(request_id)
                assert vm is not None, "the language gives an id or a VM"
                return self._diagnose_vm(vm, destination)
            case DelegationRequest(first=first, second=second, fix=fix):
                if fix and not self._delegation.repair_plan(first, second).empty:
                    return self._submit(request, actor, place)
                # A check, or a fix with nothing to change: answered at once, nothing recorded.
                return self._delegation_reply(first, second)
            case CancelRequest(request_id=request_id):
                return _cancelled(self._workflow.cancel(request_id, actor))
            case DrainCheckRequest(drain=drain):
                plan = plan_drain(self._hyperv, self._inventory, drain)
                return Reply(ReplyKind.DRAIN, *_head(render_drain_plan(plan)))
            case DrainCancelRequest(request_id=request_id):
                return _cancelled(self._workflow.cancel_drain(request_id, actor))
            case (
                DrainRequest()
                | MigrateRequest()
                | StorageRequest()
                | VmCompatibilityRequest()
                | HostToggleRequest()
                | HostSetRequest()
                | HostNetworkAddRequest()
                | HostNetworkRemoveRequest()
            ):
                return self._submit(request, actor, place)
            case _:
                assert_never(request)

    def _submit(self, request: Request, actor: Actor, place: Place) -> Reply:
        record = self._workflow.submit(request, actor, place)
        return Reply(
            ReplyKind.RECORDED,
            f"Request #{record.id} recorded ({render(request)}); checking it now.",
            request_id=record.id,
        )

    def _status(self, request_id: int | None, vm: str | None) -> Reply:
        records = self._workflow.status(request_id, vm)
        if not records:
            about = f" for {vm}" if vm else ""
            return Reply(ReplyKind.STATUS, f"No request{about} is open.")
        lines = []
        for record in records:
            position = self._workflow.queue_position(record.id)
            queued = f" (queued: {position} in line)" if position else ""
            lines.append(record_line(record) + queued)
        title = "Open requests:" if request_id is None and vm is None else lines.pop(0)
        return Reply(ReplyKind.STATUS, title, tuple(lines), request_id=request_id)

    def _history(self, vm: str | None, host: Host | None, last: int | None) -> Reply:
        records = self._store.search(
            vm=vm, host=host.name if host else None, limit=last or HISTORY_DEFAULT
        )
        about = f" of {vm or host}" if vm or host else ""
        if not records:
            return Reply(ReplyKind.HISTORY, f"No request{about} in the audit log.")
        lines = tuple(record_line(record) for record in records)
        return Reply(ReplyKind.HISTORY, f"Requests{about}, newest first:", lines)

    def _diagnose_request(self, request_id: int) -> Reply:
        record = self._workflow.get(request_id)
        lines = [f"state: {record.state.value}"]
        error = (record.outcome or {}).get("error") or {}
        for label in ("summary", "cause", "fix", "reference"):
            if error.get(label):
                lines.append(f"{label}: {error[label]}")
        findings = recorded_findings(self._workflow.events(request_id))
        lines += finding_lines(findings)
        if not error and not findings:
            lines.append("nothing went wrong that the audit log recorded")
        if record.vm and record.destination_host:
            lines.append(
                f"to check the move now: /migrate diagnose {record.vm} to {record.destination_host}"
            )
        return Reply(ReplyKind.DIAGNOSIS, record_line(record), tuple(lines), request_id=record.id)

    def _diagnose_vm(self, vm: str, destination: Host | None) -> Reply:
        if destination is not None:
            result = self._preflight.preflight(CheckRequest(Move(vm, destination)))
            verdict = (
                "nothing would stop this move now"
                if result.ok
                else "this move would be refused; each cause with its fix:"
            )
            title = f"Diagnosis of {vm} → {destination.name}"
            return Reply(ReplyKind.DIAGNOSIS, title, (verdict, *finding_lines(result.findings)))
        info = self._hyperv.find_vm(vm)
        host = self._inventory.find(info.host)
        lines = [f"{info.name} is {info.state.lower()} on {info.host}"]
        if host is not None:
            events = self._hyperv.events_since(host, self._clock() - EVENTS_WINDOW)
            found = diagnose_events(events)
            if found is None:
                lines.append(f"no migration error in {host.name}'s Hyper-V log in the last day")
            else:
                lines += [
                    f"last error: {found.summary}",
                    f"cause: {found.cause}",
                    f"fix: {found.fix}",
                ]
        lines.append(f"to check a move: /migrate diagnose {info.name} to <host>")
        return Reply(ReplyKind.DIAGNOSIS, f"Diagnosis of {info.name}", tuple(lines))

    def _delegation_reply(self, first: Host, second: Host) -> Reply:
        title = f"Kerberos delegation between {first.name} and {second.name}"
        report = self._delegation.report(first, second)
        lines = report.lines()
        if report.ok:
            lines.append("nothing to change")
        outcome = Outcome.ANSWERED if report.ok else Outcome.FAILED
        return Reply(ReplyKind.DELEGATION, title, tuple(lines), outcome=outcome)


def check_reply(result: PreflightResult) -> Reply:
    """A preflight as a reply: each finding with its fix, the verdict, and what would run."""
    lines = list(finding_lines(result.findings))
    for invocation in result.invocations:
        lines += [f"would run on {result.host}:", f"  PS> {invocation.render()}"]
    verdict = "ready to go" if result.ok else "would be refused"
    outcome = Outcome.ANSWERED if result.ok else Outcome.FAILED
    return Reply(ReplyKind.CHECK, f"preflight: {verdict}", tuple(lines), outcome)


def finding_lines(findings: Sequence[Finding]) -> list[str]:
    """Each finding on a line, its fix on the next."""
    lines = []
    for finding in findings:
        lines.append(f"{finding.severity.value}: {finding.message}")
        if finding.fix:
            lines.append(f"  fix: {finding.fix}")
    return lines


def settings_lines(settings: HostSettings) -> list[str]:
    """A host's live migration settings, one per line."""
    networks = ", ".join(f"{n.subnet} (priority {n.priority})" for n in settings.networks)
    lines = [
        f"live migration: {'enabled' if settings.migration_enabled else 'disabled'}",
        f"simultaneous live migrations: {settings.max_vm_migrations}",
        f"simultaneous storage migrations: {settings.max_storage_migrations}",
        f"authentication: {settings.authentication}",
        f"performance option: {settings.performance}",
        "networks: " + ("any" if settings.use_any_network else networks or "none"),
    ]
    if settings.memory_total_bytes:
        free, total = settings.memory_free_bytes / 1024**3, settings.memory_total_bytes / 1024**3
        lines.append(f"memory: {free:.1f} GiB free of {total:.1f} GiB")
    return lines


def record_line(record: RequestRecord) -> str:
    """One request on one line: id, state, what, where, who, and how it ended."""
    route = record.source_host or "?"
    if record.destination_host:
        route += f" → {record.destination_host}"
    outcome = record.outcome or {}
    error = outcome.get("error") or {}
    ended = error.get("summary") or (
        f"{outcome['duration_seconds']:.1f} s" if "duration_seconds" in outcome else ""
    )
    what = record.vm or record.kind.replace("_", " ")
    line = (
        f"#{record.id} {record.state.value} {what} {route} by <@{record.requester.slack_user_id}>"
    )
    return f"{line}: {ended}" if ended else line


def _cancelled(record: RequestRecord) -> Reply:
    return Reply(
        ReplyKind.CANCELLED, f"Request #{record.id} is {record.state.value}.", request_id=record.id
    )


def _head(text: str) -> tuple[str, tuple[str, ...]]:
    first, *rest = text.splitlines()
    return first, tuple(rest)
