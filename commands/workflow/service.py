"""The `Workflow` service: the API the Slack layer and the CLI call to drive requests.

```
wf = Workflow(store=..., hyperv=..., preflight=..., approvers=..., notifier=...,
              inventory=..., executor=ThreadPoolExecutor(config.executor.workers))
record = wf.submit(request, actor, place)  # recorded; the preflight runs on the executor
wf.approve(record.id, approver)            # last approval needed queues it; it starts itself
wf.reject(record.id, approver, "not now")  # or wf.cancel(record.id, actor)
wf.recover()                               # once at start (idempotent)
wf.shutdown()                              # stops following and the expiry timer
```
Approvals past their TTL expire by themselves: a timer thread submits `expire_stale` to the
executor every `expiry_seconds` once a request waits for approval (or `recover` ran).

Public methods return the record as it now stands or raise `WorkflowError`, whose `message` is
one line to show the person who asked (and `winner` the actor who got there first, if any).
They do store writes only; hosts are talked to on the executor passed in, never on the
caller's thread (a chat framework's listener pool must stay free).

One open request per VM (and per host for setting changes) is the store's rule, enforced in
the transaction that creates a request, so it holds across processes sharing one database;
so do the store's conditional updates of every state change.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor

from commands.clock import utc_now
from commands.delegation import DelegationDirectory
from commands.findings import Preflight, blocking_text
from commands.hyperv import HyperVError
from commands.inventory import Inventory
from commands.ports import HyperVPort
from commands.requests import Request
from commands.workflow.approvals import Approvers
from commands.workflow.cards import approval_card
from commands.workflow.codec import decode_request, encode_request, subject_of
from commands.workflow.context import Deps, InternalError, RaceLost, error_data, error_text
from commands.workflow.dispatch import Dispatcher, slot_keys
from commands.workflow.drains import DrainNotifier, Drains
from commands.workflow.machine import Step, WorkflowError, who
from commands.workflow.notify import Notifier, ProgressCadence
from commands.workflow.records import (
    SYSTEM,
    Actor,
    AuditEvent,
    EventDraft,
    NewRequest,
    Place,
    RequestKind,
    RequestRecord,
    State,
)
from commands.workflow.recovery import Action, Decision, decide, requeue_order
from commands.workflow.store import AuditStore, SubjectBusy
from commands.workflow.ticker import Ticker

logger = logging.getLogger(__name__)


class Workflow:
    """Drives requests from submission to their final state. Thread-safe."""

    def __init__(
        self,
        *,
        store: AuditStore,
        hyperv: HyperVPort,
        preflight: Preflight,
        approvers: Approvers,
        notifier: Notifier,
        inventory: Inventory,
        executor: Executor,
        clock: Callable[[], dt.datetime] = utc_now,
        poll_seconds: float = 2.0,
        expiry_seconds: float = 30.0,
        summary_seconds: float = 5.0,
        cadence: ProgressCadence | None = None,
        directory: DelegationDirectory | None = None,
    ) -> None:
        # Drains' moves report to their drain's one summary, not to the chat one by one.
        routed = DrainNotifier(notifier)
        self._deps = Deps(
            store=store,
            hyperv=hyperv,
            preflight=preflight,
            approvers=approvers,
            notifier=routed,
            inventory=inventory,
            executor=executor,
            clock=clock,
            poll_seconds=poll_seconds,
            cadence=cadence or ProgressCadence(),
            directory=directory,
        )
        self._dispatch = Dispatcher(self._deps)
        self._slots = self._dispatch.slots
        self._runner = self._dispatch.runner
        self._drains = Drains(
            self._deps,
            self._dispatch.enqueue,
            # A drain's cancel stops moves not started yet; one sent meanwhile runs to its end.
            lambda child_id, actor: self.cancel(child_id, actor, started_too=False),
            summary_seconds=summary_seconds,
        )
        routed.drains = self._drains
        self._expiry = Ticker(
            expiry_seconds, self._expire_task, self._deps.run_task, "hvbot-expiry"
        )

    # --- people's actions -------------------------------------------------------------

    def submit(self, request: Request, actor: Actor, place: Place) -> RequestRecord:
        """Records a changing request (move, storage move, host or VM setting) and starts its
        preflight on the executor. Refuses a request for a VM (or a host's settings) that
        already has an open one, naming it."""
        subject = subject_of(request)
        encoded = encode_request(request)
        try:
            record = self._deps.store.create(
                NewRequest(
                    kind=subject.kind,
                    requester=actor,
                    place=place,
                    request=encoded,
                    vm=subject.vm,
                    source_host=subject.host.name if subject.host else None,
                    destination_host=subject.destination.name if subject.destination else None,
                    reason=subject.reason,
                ),
                EventDraft("submitted", actor, {"request": encoded}),
            )
        except SubjectBusy as busy:
            clash = busy.holder
            raise WorkflowError(
                f"{clash.vm or clash.source_host} already has open request #{clash.id} "
                f"({clash.state.value}, by {who(clash.requester)}); wait for it or cancel it."
            ) from None
        # No message here: whoever submitted answers "recorded" (`commands.handling`).
        self._deps.run_task(self._check, record.id)
        return record

    def approve(self, request_id: int, actor: Actor) -> RequestRecord:
        """Adds `actor`'s approval. The last one needed approves the request, which then queues
        for its hosts and starts by itself. Two approvers at once both count; a double click
        counts once."""
        approvers = self._deps.approvers
        while True:
            record = self._awaiting(request_id)
            approvers.check_may_approve(record, actor)
            approvals = (*record.approvals, actor.slack_user_id)
            final = len(approvals) >= record.required_approvals
            try:
                record = self._deps.step(
                    record,
                    Step.APPROVE,
                    actor,
                    {"approvals": len(approvals), "required": record.required_approvals},
                    {"approvals": approvals},
                    final_approval=final,
                )
            except RaceLost as lost:
                if lost.record.state is State.AWAITING_APPROVAL:
                    continue
                raise
            break
        count = f"{len(approvals)} of {record.required_approvals}"
        if final:
            self._deps.tell(record, f"Request #{record.id} approved by {who(actor)} ({count}).")
            if record.kind == RequestKind.DRAIN:
                self._deps.run_task(self._drains.start, record.id)
            else:
                self._dispatch.enqueue(record)
        else:
            self._deps.tell(record, f"Request #{record.id}: approval {count} from {who(actor)}.")
        return record

    def reject(self, request_id: int, actor: Actor, reason: str | None = None) -> RequestRecord:
        """Rejects a request waiting for approval; `reason` is optional."""
        while True:
            record = self._awaiting(request_id)
            self._deps.approvers.check_may_reject(record, actor)
            try:
                record = self._deps.step(record, Step.REJECT, actor, {"reason": reason})
            except RaceLost as lost:
                if lost.record.state is State.AWAITING_APPROVAL:
                    continue
                raise
            break
        because = f": {reason}" if reason else "."
        self._deps.tell(record, f"Request #{record.id} rejected by {who(actor)}{because}")
        return record

    def cancel(
        self,
        request_id: int,
        actor: Actor,
        *,
        seen: State | None = None,
        started_too: bool = True,
    ) -> RequestRecord:
        """Cancels a request, by its requester or an approver. Pending: cancelled at once.
        Started or running: the host is asked to stop and the host's answer sets the final
        state. `seen` is the state the caller was looking at (a card's buttons): if the request
        has left it meanwhile, the caller is told who moved it instead of cancelling.
        `started_too=False` (a drain stopping its moves) cancels only a request not started:
        one started meanwhile refuses with WorkflowError and runs to its end."""
        deps = self._deps
        record = deps.record(request_id)
        deps.approvers.check_may_cancel(record, actor)
        if seen is not None and record.state is not seen:
            raise self._moved_on(record)
        if record.kind == RequestKind.DRAIN and record.state is State.RUNNING:
            return self._drains.cancel(record, actor)
        if not self._runner.claim(request_id, cancel_by=actor):
            if not started_too:
                raise WorkflowError(f"Request #{request_id} is starting; it runs to its end.")
            # Being started, followed or cancelled here: stopping is the runner's job, unless
            # the caller saw an earlier state (the record read above may predate the approval).
            record = deps.record(request_id)
            if seen is not None and record.state is not seen:
                raise self._moved_on(record)
            if not self._runner.request_cancel(request_id, actor):
                record = deps.record(request_id)
                raise self._moved_on(record)
            record = deps.record(request_id)
            deps.tell(record, f"{who(actor)} asked to cancel request #{record.id}; stopping it.")
            return record
        try:
            record = self._cancel_pending(record, actor)
        except _Started as started:
            self._runner.release(request_id)
            if not started_too:
                raise
            return self._runner.cancel_elsewhere(started.record, actor)
        except WorkflowError:
            self._runner.release(request_id)
            # An approval that won meanwhile may have found the request held by this cancel
            # and skipped it: queue it again so it still starts.
            fresh = deps.record(request_id)
            if fresh.state is State.APPROVED:
                self._dispatch.enqueue(fresh)
            raise
        self._runner.release(request_id)
        self._dispatch.released(request_id)
        deps.tell(record, f"Request #{record.id} cancelled by {who(actor)}.")
        return record

    def cancel_drain(self, request_id: int, actor: Actor) -> RequestRecord:
        """`/migrate drain cancel #id`: a running drain starts no further move (running ones
        finish); a drain not started yet is cancelled whole."""
        record = self._deps.record(request_id)
        if record.kind != RequestKind.DRAIN:
            raise WorkflowError(
                f"Request #{request_id} is not a drain; to cancel it: /migrate cancel #{request_id}"
            )
        return self.cancel(request_id, actor)

    # --- reading ----------------------------------------------------------------------

    def get(self, request_id: int) -> RequestRecord:
        """The request, or WorkflowError if there is none with that id."""
        return self._deps.record(request_id)

    def events(self, request_id: int) -> Sequence[AuditEvent]:
        """The request's audit events, in order."""
        return self._deps.store.events(request_id)

    def open_requests(self) -> Sequence[RequestRecord]:
        """Every open request, oldest first (`/migrate status`)."""
        return self._deps.store.open_requests()

    def open_for_vm(self, vm: str) -> RequestRecord | None:
        """The VM's open request, if any (`/migrate status <vm>`)."""
        return next(
            (r for r in self.open_requests() if r.vm and r.vm.casefold() == vm.casefold()), None
        )

    def status(self, request_id: int | None = None, vm: str | None = None) -> list[RequestRecord]:
        """`/migrate status [<id>|<vm>]`: one request (a drain followed by its moves); the VM's
        open request, else its latest; or, with neither, every open request."""
        if request_id is not None:
            record = self.get(request_id)
            return [
                record,
                *(self.drain_moves(record.id) if record.kind == RequestKind.DRAIN else ()),
            ]
        if vm is not None:
            found = self.open_for_vm(vm)
            return [found] if found else list(self._deps.store.search(vm=vm, limit=1))
        return list(self.open_requests())

    def drain_moves(self, request_id: int) -> list[RequestRecord]:
        """A drain's moves (child requests) in start order; empty before it starts."""
        return self._drains.children(request_id)

    def queue_position(self, request_id: int) -> int | None:
        """1-based place of an approved request waiting for a host slot; None otherwise."""
        return self._slots.position(request_id)

    # --- time and restarts ------------------------------------------------------------

    def expire_stale(self) -> list[RequestRecord]:
        """Expires every request whose approval TTL has passed; returns them."""
        now = self._deps.clock()
        expired = []
        for record in self._deps.store.open_requests():
            if _is_stale(record, now):
                done = self._expire(record)
                if done is not None:
                    expired.append(done)
        return expired

    def recover(self) -> list[Decision]:
        """Picks up what an earlier process left open (see `commands.workflow.recovery`).
        Safe to call again: requests this process already handles are left alone."""
        deps = self._deps
        now = deps.clock()
        decisions = [
            decide(record, deps.store.events(record.id), now)
            for record in deps.store.open_requests()
            if not self._runner.in_flight(record.id)
        ]
        drains = [d.record for d in decisions if d.action is Action.RESUME_DRAIN]
        for decision in decisions:
            record = decision.record
            match decision.action:
                case Action.RECHECK:
                    deps.run_task(self._check, record.id)
                case Action.EXPIRE:
                    self._expire(record)
                case Action.REATTACH if decision.started_at is not None:
                    if self._runner.claim(record.id):
                        self._slots.occupy(record.id, slot_keys(record))
                        deps.run_task(self._runner.reattach, record, decision.started_at)
                case Action.OUTCOME_UNKNOWN:
                    self._outcome_unknown(record)
                case Action.READ_BACK:
                    if self._runner.claim(record.id):
                        deps.run_task(self._runner.recover_change, record)
        for decision in requeue_order(decisions):
            self._dispatch.queue(decision.record)
        self._drains.resume(drains)
        deps.run_task(self._dispatch.pump)
        self._expiry.start()
        return decisions

    def shutdown(self) -> None:
        """Stops following migrations (they stay `running`; `recover` resumes them) and the
        expiry timer. The executor belongs to the caller, who shuts it down afterwards."""
        self._expiry.stop()
        self._dispatch.stop()
        self._runner.stop()

    def _expire_task(self) -> None:
        self.expire_stale()

    # --- inside -----------------------------------------------------------------------

    def _check(self, request_id: int) -> None:
        """Executor task: preflight, then wait for approval or fail with the findings."""
        deps = self._deps
        record = deps.record(request_id)
        if record.state not in (State.REQUESTED, State.CHECKING):
            return
        record = deps.step(record, Step.CHECK, SYSTEM, versioned=False)
        try:
            result = deps.preflight.preflight(decode_request(record.request, deps.inventory))
        except (HyperVError, WorkflowError) as exc:
            self._check_failed(record, error_data(exc), _cannot_go_ahead(record, error_text(exc)))
            return
        except Exception:
            internal = InternalError.logged(logger, "preflight failed", request_id=request_id)
            self._check_failed(
                record, internal.data, internal.text(f"checking request #{record.id}")
            )
            return
        findings = [f.to_json() for f in result.findings]
        if not result.ok:
            why = _cannot_go_ahead(record, blocking_text(result.blocking))
            self._check_failed(record, {"findings": findings}, why)
            return
        required = deps.approvers.required_for([result.host, result.destination, *result.others])
        expires = deps.approvers.expires_at(deps.clock())
        record = deps.step(
            record,
            Step.CHECKED,
            SYSTEM,
            {"findings": findings, "rendered": [i.render() for i in result.invocations]},
            {**result.plan_fields(), "required_approvals": required, "expires_at": expires},
            versioned=False,
        )
        deps.tell(
            record,
            f"Request #{record.id} checked; it needs {required} approval(s) "
            f"before {expires:%H:%M} UTC." + (f"\n{result.text}" if result.text else ""),
        )
        deps.tell_approval_needed(record, approval_card(record, result.findings))
        self._expiry.start()

    def _check_failed(self, record: RequestRecord, data: dict[str, object], message: str) -> None:
        record = self._deps.step(
            record,
            Step.CHECK_FAILED,
            SYSTEM,
            data,
            {"finished_at": self._deps.clock()},
            versioned=False,
        )
        self._deps.tell(record, message)

    def _awaiting(self, request_id: int) -> RequestRecord:
        """The record if it still waits for approval (expiring it if its TTL passed)."""
        record = self._deps.record(request_id)
        if _is_stale(record, self._deps.clock()):
            self._expire(record)
            record = self._deps.record(request_id)
        if record.state is not State.AWAITING_APPROVAL:
            raise self._moved_on(record)
        return record

    def _cancel_pending(self, record: RequestRecord, actor: Actor) -> RequestRecord:
        while True:
            # An approved request whose invocation was sent may be moving on its host already:
            # it is stopped on its host, not by a state change. The cancel below is versioned,
            # so a send recorded after this check makes it lose instead.
            sent = record.state is State.APPROVED and self._deps.was_sent(record.id)
            if record.state is State.RUNNING or sent:
                raise _Started(record)
            try:
                return self._deps.step(record, Step.CANCEL, actor)
            except RaceLost as lost:
                if lost.record.state is not record.state:
                    raise
                record = lost.record

    def _expire(self, record: RequestRecord) -> RequestRecord | None:
        try:
            record = self._deps.step(
                record, Step.EXPIRE, SYSTEM, {"expires_at": str(record.expires_at)}
            )
        except RaceLost:
            return None
        self._deps.tell(record, f"Request #{record.id} expired: not approved in time.")
        return record

    def _outcome_unknown(self, record: RequestRecord) -> None:
        why = "the bot restarted while applying it; its result is unknown"
        record = self._deps.step(
            record,
            Step.UNKNOWN,
            SYSTEM,
            {"error": {"kind": "outcome_unknown", "summary": why}},
            {"finished_at": self._deps.clock()},
            versioned=False,
        )
        host = record.source_host or "the host"
        self._deps.tell(record, f"Request #{record.id}: {why}. Check with `/migrate host {host}`.")

    def _moved_on(self, record: RequestRecord) -> WorkflowError:
        """The refusal for someone acting on a request that has moved on: who moved it."""
        return RaceLost(record, self._deps.store.events(record.id))


def _is_stale(record: RequestRecord, now: dt.datetime) -> bool:
    return (
        record.state is State.AWAITING_APPROVAL
        and record.expires_at is not None
        and record.expires_at <= now
    )


def _cannot_go_ahead(record: RequestRecord, why: str) -> str:
    separator = "" if why.startswith("\n") else " "
    return f"Request #{record.id} cannot go ahead:{separator}{why}"


class _Started(WorkflowError):
    """The request to cancel was sent to its host already: it is stopped there."""

    def __init__(self, record: RequestRecord) -> None:
        super().__init__(f"Request #{record.id} has started.")
        self.record = record
