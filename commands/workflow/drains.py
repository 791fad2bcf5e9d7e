"""A drain as workflow requests: one record of its own, one migration record per VM.

The drain's record goes through check and approval like any request (its preflight is the
placement, `commands.drain`). Once approved, the drain records one child migration per VM,
in the placement's start order, each with the exact Move-VM the approvers saw, checked and
approved on the drain's behalf (`drain` in the child's request names its parent). From there
a child is an ordinary migration: it waits for both hosts' slots, its preflight is repeated
while it is next in line (at most 20 s before its send), its `invocation_sent` guards the one
send, it is followed, re-attached after a restart and never sent twice. A move whose check
finds the world changed (the VM no longer fits where it was placed, moved, or its command
would differ) ends with `approval_void` and is not re-placed: the approvers approved each
exact Move-VM, so another host needs another approval. The summary line, the final sentence
and the drain's outcome (`changed_since_approval`) name it, what changed, and what to do:
drain the host again once this drain has ended, which places what is left anew.

The drain only watches: children's news goes into one summary message, replaced at most
every `summary_seconds` (latest wins; where it was posted is kept as the drain's
`progress_ts`, so a process taking over edits the same message), and when the last child
ends the drain ends with a final sentence ("HV-SRV01 is empty: 14 VMs moved in 22 min"),
reported as its end (`finished`).

`cancel` starts no further move: children not yet sent are cancelled, running ones finish.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from commands.errors import sentence
from commands.hyperv import HyperVError, MigrationOutcome, MigrationProgress
from commands.placement import Job, makespan, schedule
from commands.requests import MigrateRequest, Move
from commands.workflow.cards import ApprovalCard
from commands.workflow.codec import DRAIN_KEY, drain_of, encode_request, invocation_from_json
from commands.workflow.context import Deps, RaceLost
from commands.workflow.machine import Step, WorkflowError, who
from commands.workflow.notify import MessageRef, Notifier
from commands.workflow.records import (
    SYSTEM,
    Actor,
    EventDraft,
    NewRequest,
    RequestKind,
    RequestRecord,
    State,
)
from commands.workflow.store import SubjectBusy

logger = logging.getLogger(__name__)

CANCEL_ASKED = "drain_cancel_asked"
"""Audit event on the drain: someone asked it to start no further move."""
_BEFORE_APPROVAL = (State.REQUESTED, State.CHECKING, State.AWAITING_APPROVAL)


@dataclass
class _Line:
    """What the summary says about one child."""

    request_id: int
    vm: str
    destination: str
    state: State = State.APPROVED
    percent: int = 0
    elapsed: float = 0.0
    seconds: float | None = None
    blackout: float | None = None
    cause: str = ""
    void: bool = False


@dataclass
class _Live:
    """A drain this process reports on. Guarded by `Drains._lock`."""

    parent: RequestRecord
    lines: dict[int, _Line]
    limits: Mapping[str, int]
    started: dt.datetime
    cancel_asked: bool = False
    last_sent: float = float("-inf")
    timer: threading.Timer | None = None
    done: bool = False
    extra: list[str] = field(default_factory=list)


class DrainNotifier:
    """The notifier the workflow uses: children's news goes to their drain, the rest through."""

    def __init__(self, inner: Notifier) -> None:
        self.inner = inner
        self.drains: Drains | None = None

    def approval_needed(self, record: RequestRecord, card: ApprovalCard) -> MessageRef | None:
        """Passes a card through; a drain's moves are approved with their drain, never alone."""
        if drain_of(record) is not None:
            return None
        return self.inner.approval_needed(record, card)

    def request_updated(self, record: RequestRecord, message: str) -> None:
        """A child's message feeds its drain's summary; others pass through."""
        parent = drain_of(record)
        if parent is None or self.drains is None:
            self.inner.request_updated(record, message)
        else:
            self.drains.child_changed(parent, record, message)

    def progress(self, record: RequestRecord, progress: MigrationProgress) -> MessageRef | None:
        """A child's reading updates its line; others pass through."""
        parent = drain_of(record)
        if parent is None or self.drains is None:
            return self.inner.progress(record, progress)
        self.drains.child_progress(parent, record, progress)
        return None

    def finished(self, record: RequestRecord, outcome: MigrationOutcome | None) -> None:
        """A child's end updates its line (and may end the drain); others pass through."""
        parent = drain_of(record)
        if parent is None or self.drains is None:
            self.inner.finished(record, outcome)
        else:
            self.drains.child_finished(parent, record, outcome)

    def summary(self, record: RequestRecord, text: str) -> MessageRef | None:
        """Passes a drain's summary through."""
        return self.inner.summary(record, text)


class Drains:
    """Records a drain's moves, watches them, and keeps its summary. Thread-safe."""

    def __init__(
        self,
        deps: Deps,
        enqueue: Callable[[RequestRecord], None],
        cancel_child: Callable[[int, Actor], RequestRecord],
        *,
        summary_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._deps = deps
        self._enqueue = enqueue
        self._cancel_child = cancel_child
        self._summary_seconds = summary_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._live: dict[int, _Live] = {}

    # --- starting ---------------------------------------------------------------------

    def start(self, parent_id: int) -> None:
        """Executor task for an approved drain: record (or adopt) its moves, then queue them."""
        deps = self._deps
        parent = deps.record(parent_id)
        if parent.state is not State.APPROVED:
            return
        details = (parent.invocation or {}).get("details", {})
        adopted = {r.vm.casefold(): r for r in self.children_open(parent_id) if r.vm}
        children: list[RequestRecord] = []
        skipped: list[str] = []
        for move in details.get("moves", ()):
            child = adopted.get(str(move["vm"]).casefold())
            if child is None:
                try:
                    child = self._record_child(parent, move)
                except SubjectBusy as busy:
                    skipped.append(
                        f"{move['vm']}: not moved, it has open request #{busy.holder.id}"
                    )
                    continue
            children.append(self._approve_child(parent, child, move))
        try:
            parent = deps.step(
                parent,
                Step.START,
                SYSTEM,
                {"children": [c.id for c in children], "skipped": skipped},
                {"started_at": deps.clock()},
                versioned=False,
            )
        except RaceLost:
            # Cancelled while its moves were being recorded: none of them may start.
            for child in children:
                self._cancel_quietly(child.id, SYSTEM)
            return
        live = self._watch(parent, children)
        live.extra = skipped
        for child in children:
            self._enqueue(child)
        self._refresh(parent.id, force=True)

    def _record_child(self, parent: RequestRecord, move: Mapping[str, Any]) -> RequestRecord:
        deps = self._deps
        request = MigrateRequest(
            Move(
                vm=str(move["vm"]),
                destination=deps.host(str(move["destination"])),
                source=deps.host(parent.source_host),
                include_storage=bool(move["moves_storage"]),
                reason=parent.reason,
            )
        )
        encoded = {**encode_request(request), DRAIN_KEY: parent.id}
        return deps.store.create(
            NewRequest(
                kind=RequestKind.MIGRATION,
                requester=parent.requester,
                place=parent.place,
                request=encoded,
                vm=request.move.vm,
                source_host=parent.source_host,
                destination_host=request.move.destination.name,
                reason=parent.reason,
            ),
            EventDraft("submitted", parent.requester, {"request": encoded, DRAIN_KEY: parent.id}),
        )

    def _approve_child(
        self, parent: RequestRecord, child: RequestRecord, move: Mapping[str, Any]
    ) -> RequestRecord:
        """Takes a child from `requested` to `approved` with the drain's plan and approvals
        (each step once: a restart in the middle goes on from where it was)."""
        deps = self._deps
        invocation = invocation_from_json(move["invocation"])
        on_behalf = {DRAIN_KEY: parent.id}
        if child.state in (State.REQUESTED, State.CHECKING):
            child = deps.step(child, Step.CHECK, SYSTEM, on_behalf, versioned=False)
            child = deps.step(
                child,
                Step.CHECKED,
                SYSTEM,
                {**on_behalf, "findings": [], "rendered": [invocation.render()]},
                {
                    "invocation": {
                        "host": parent.source_host,
                        "rendered": [invocation.render()],
                        "invocations": [invocation.to_json()],
                    },
                    "vm_id": str(move["vm_id"]),
                    "required_approvals": 1,
                },
                versioned=False,
            )
        if child.state is State.AWAITING_APPROVAL:
            child = deps.step(
                child,
                Step.APPROVE,
                SYSTEM,
                {**on_behalf, "approved_by": list(parent.approvals)},
                {"approvals": parent.approvals},
                final_approval=True,
            )
        return child

    # --- after a restart --------------------------------------------------------------

    def resume(self, records: Sequence[RequestRecord]) -> None:
        """Picks up drains (and their moves not yet approved) an earlier process left open."""
        parents = {r.id: r for r in records if drain_of(r) is None}
        for orphan in (r for r in records if drain_of(r) is not None):
            parent_id = drain_of(orphan)
            assert parent_id is not None
            parent = self._deps.record(parent_id)
            if parent.state.terminal or parent.state is State.RUNNING:
                # Its drain ended or started without it: it must not start on its own.
                self._cancel_quietly(orphan.id, SYSTEM)
            else:
                parents.setdefault(parent.id, parent)
        for parent in parents.values():
            if parent.state is State.APPROVED:
                self._deps.run_task(self.start, parent.id)
            elif parent.state is State.RUNNING:
                self._watch(parent, self.children(parent.id))
                self._deps.run_task(self._refresh_or_finish, parent.id)

    def _refresh_or_finish(self, parent_id: int) -> None:
        if not self._maybe_finish(parent_id):
            self._refresh(parent_id, force=True)

    # --- children's news --------------------------------------------------------------

    def child_changed(self, parent_id: int, child: RequestRecord, message: str) -> None:
        """A child's state changed (queued, started, void, could not start, cancelled)."""
        line = self._line(parent_id, child)
        if line is not None and child.state in (State.FAILED, State.CANCELLED):
            changes = self._void_changes(child.id)
            with self._lock:
                if changes is not None:
                    line.void, line.cause = True, "; ".join(changes)
                line.cause = line.cause or _cause(message)
        self._refresh(parent_id)
        if child.state.terminal:
            self._maybe_finish(parent_id)

    def child_progress(
        self, parent_id: int, child: RequestRecord, progress: MigrationProgress
    ) -> None:
        """A fresh reading of a running child."""
        line = self._line(parent_id, child)
        if line is not None:
            with self._lock:
                line.percent, line.elapsed = progress.percent, progress.elapsed_seconds
        self._refresh(parent_id)

    def child_finished(
        self, parent_id: int, child: RequestRecord, outcome: MigrationOutcome | None
    ) -> None:
        """A child ended after running: its time, blackout or cause; maybe the drain's end."""
        line = self._line(parent_id, child)
        if line is not None and outcome is not None:
            with self._lock:
                line.seconds, line.blackout = outcome.duration_seconds, outcome.blackout_seconds
                if outcome.error is not None:
                    error = outcome.error
                    line.cause = " ".join(
                        p for p in (sentence(error.summary), error.fix and f"Fix: {error.fix}") if p
                    )
        self._refresh(parent_id)
        self._maybe_finish(parent_id)

    def _line(self, parent_id: int, child: RequestRecord) -> _Line | None:
        with self._lock:
            live = self._live.get(parent_id)
            line = None if live is None else live.lines.get(child.id)
            if line is not None:
                line.state = child.state
            return line

    # --- cancel -----------------------------------------------------------------------

    def cancel(self, parent: RequestRecord, actor: Actor) -> RequestRecord:
        """Starts no further move of a running drain; running moves finish."""
        deps = self._deps
        deps.store.append(parent.id, EventDraft(CANCEL_ASKED, actor))
        with self._lock:
            live = self._live.get(parent.id)
            if live is not None:
                live.cancel_asked = True
        stopped = 0
        for child in self.children(parent.id):
            if child.state is State.APPROVED and not deps.was_sent(child.id):
                stopped += self._cancel_quietly(child.id, actor)
        deps.tell(
            parent,
            f"{who(actor)} asked drain #{parent.id} to stop: {stopped} move(s) will not start; "
            "running moves finish (cancel one with /migrate cancel #<id>).",
        )
        self._refresh(parent.id, force=True)
        self._maybe_finish(parent.id)
        return deps.record(parent.id)

    def _cancel_quietly(self, child_id: int, actor: Actor) -> int:
        try:
            if actor == SYSTEM:
                # A move whose drain ended or never started. Versioned, and never once sent:
                # a send recorded meanwhile makes this step lose, as any cancel would.
                child = self._deps.record(child_id)
                if self._deps.was_sent(child_id):
                    return 0
                self._deps.step(child, Step.CANCEL, SYSTEM, {DRAIN_KEY: drain_of(child)})
            else:
                self._cancel_child(child_id, actor)
        except WorkflowError as refused:
            # It started meanwhile (it then runs to its end) or ended: nothing to stop.
            logger.info(
                "drain move not cancelled", extra={"request_id": child_id, "why": str(refused)}
            )
            return 0
        return 1

    # --- reading ----------------------------------------------------------------------

    def children(self, parent_id: int) -> list[RequestRecord]:
        """The drain's moves in start order (those recorded when it started)."""
        started = next(
            (e for e in self._deps.store.events(parent_id) if e.kind == Step.START.value), None
        )
        ids = [] if started is None else list(started.data.get("children", ()))
        return [self._deps.record(i) for i in ids]

    def children_open(self, parent_id: int) -> list[RequestRecord]:
        """The drain's moves still open (including those recorded before it started)."""
        return [r for r in self._deps.store.open_requests() if drain_of(r) == parent_id]

    # --- the summary ------------------------------------------------------------------

    def _watch(self, parent: RequestRecord, children: Sequence[RequestRecord]) -> _Live:
        details = (parent.invocation or {}).get("details", {})
        lines = {
            c.id: _Line(c.id, c.vm or "?", c.destination_host or "?", c.state) for c in children
        }
        for child in children:
            self._restore(lines[child.id], child)
        asked = any(e.kind == CANCEL_ASKED for e in self._deps.store.events(parent.id))
        live = _Live(
            parent,
            lines,
            dict(details.get("limits", {})),
            parent.started_at or self._deps.clock(),
            cancel_asked=asked,
        )
        with self._lock:
            self._live[parent.id] = live
        return live

    def _restore(self, line: _Line, child: RequestRecord) -> None:
        """A line from a stored child (after a restart): its outcome, if it has one."""
        outcome = child.outcome or {}
        if child.state is State.SUCCEEDED:
            line.seconds = outcome.get("duration_seconds")
            line.blackout = outcome.get("blackout_seconds")
        elif child.state.terminal:
            changes = self._void_changes(child.id)
            error = outcome.get("error") or {}
            line.void = changes is not None
            line.cause = "; ".join(changes or ()) or str(error.get("summary") or child.state.value)

    def _void_changes(self, child_id: int) -> list[str] | None:
        """What the check before its start found changed, for a move whose approval it voided
        (the VM no longer fits where it was placed, or moved, or its command would differ)."""
        for event in self._deps.store.events(child_id):
            if event.kind == Step.VOID.value:
                return [str(c) for c in event.data.get("changes", ())]
        return None

    def _refresh(self, parent_id: int, *, force: bool = False) -> None:
        """Sends the summary now if due (or forced), else once the interval has passed."""
        with self._lock:
            live = self._live.get(parent_id)
            if live is None or (live.done and not force):
                return
            wait = live.last_sent + self._summary_seconds - self._monotonic()
            if wait > 0 and not force:
                if live.timer is None:
                    live.timer = threading.Timer(wait, self._deps.run_task, (self._due, parent_id))
                    live.timer.daemon = True
                    live.timer.start()
                return
            if live.timer is not None:
                live.timer.cancel()
                live.timer = None
            live.last_sent = self._monotonic()
            text = summary_text(live, self._deps.clock())
            parent = live.parent
        posted = self._deps.tell_summary(parent, text)
        if posted is not None:
            with self._lock:
                live.parent = dataclasses.replace(live.parent, progress_ts=posted)

    def _due(self, parent_id: int) -> None:
        with self._lock:
            live = self._live.get(parent_id)
            if live is None or live.done:
                # The drain's end sent its last summary since this timer fired.
                return
            live.timer = None
        self._refresh(parent_id, force=True)

    # --- the end ----------------------------------------------------------------------

    def _maybe_finish(self, parent_id: int) -> bool:
        """Ends the drain once every child has ended; True if it has ended (here or before)."""
        deps = self._deps
        children = self.children(parent_id)
        if any(not c.state.terminal for c in children):
            return False
        parent = deps.record(parent_id)
        if parent.state is not State.RUNNING:
            return parent.state.terminal
        cancel_asked = any(e.kind == CANCEL_ASKED for e in deps.store.events(parent_id))
        with self._lock:
            live = self._live.get(parent_id)
            for child in children if live is not None else ():
                line = live.lines.get(child.id) if live is not None else None
                if line is not None and line.state is not child.state:
                    line.state = child.state
                    self._restore(line, child)
        moved = [c.vm for c in children if c.state is State.SUCCEEDED]
        ended = [c for c in children if c.state is State.FAILED]
        changed = {c.id: self._void_changes(c.id) for c in ended}
        failed = [c for c in ended if changed[c.id] is None]
        void = [c for c in ended if changed[c.id] is not None]
        cancelled = [c.vm for c in children if c.state is State.CANCELLED]
        remaining = self._remaining(parent)
        elapsed = (deps.clock() - (parent.started_at or parent.created_at)).total_seconds()
        final = final_sentence(
            parent.source_host or "?",
            len(moved),
            elapsed,
            [(c.vm or "?", self._cause_of(parent_id, c)) for c in failed],
            len(cancelled),
            remaining,
            [(c.vm or "?", "; ".join(changed[c.id] or ())) for c in void],
        )
        step = Step.FAIL if ended else Step.STOPPED if cancel_asked and cancelled else Step.SUCCEED
        outcome = {
            "moved": moved,
            "failed": [c.vm for c in failed],
            "changed_since_approval": [c.vm for c in void],
            "cancelled": cancelled,
            "remaining": remaining,
            "elapsed_seconds": round(elapsed, 1),
            "summary": final,
        }
        try:
            parent = deps.step(
                parent,
                step,
                SYSTEM,
                outcome,
                {"finished_at": deps.clock(), "outcome": outcome},
                versioned=False,
            )
        except RaceLost:
            return True
        with self._lock:
            if live is not None:
                live.parent = parent
        self._refresh(parent_id, force=True)
        with self._lock:
            if live is not None:
                live.done = True
        deps.tell_finished(parent, None)
        return True

    def _cause_of(self, parent_id: int, child: RequestRecord) -> str:
        with self._lock:
            live = self._live.get(parent_id)
            line = None if live is None else live.lines.get(child.id)
            return line.cause if line is not None and line.cause else "failed"

    def _remaining(self, parent: RequestRecord) -> list[str] | None:
        """The VMs still on the drained host, asked of the host; None if it cannot say."""
        try:
            return [
                vm.name for vm in self._deps.hyperv.list_vms(self._deps.host(parent.source_host))
            ]
        except (HyperVError, WorkflowError) as exc:
            logger.warning("drained host not readable", extra={"error": str(exc)})
            return None


def _cause(message: str) -> str:
    """A child's message without its leading "Request #n" words, for its summary line."""
    head, _, rest = message.partition(": ")
    return rest if head.startswith(("Request #", "Approval of request #")) and rest else message


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _line_text(line: _Line) -> str:
    head = f"#{line.request_id} {line.vm} → {line.destination}: "
    if line.state is State.SUCCEEDED:
        blackout = f", blackout {line.blackout:.1f} s" if line.blackout is not None else ""
        return head + f"done in {_duration(line.seconds or 0)}{blackout}"
    if line.state is State.RUNNING:
        return head + f"running {line.percent}%"
    if line.state is State.FAILED and line.void:
        return head + f"not moved, changed since approval: {line.cause}"
    if line.state is State.FAILED:
        return head + f"failed: {line.cause or 'see the request'}"
    if line.state is State.CANCELLED:
        return head + "cancelled, not started"
    return head + "queued"


def _eta(live: _Live) -> float | None:
    """Seconds left by the schedule of what is still to run, at the mean time of the moves
    done so far; None before any move has ended."""
    done = [x.seconds for x in live.lines.values() if x.seconds is not None]
    if not done:
        return None
    mean = sum(done) / len(done)
    source = live.parent.source_host or "?"
    jobs = [
        Job(str(x.request_id), source, x.destination, max(mean - x.elapsed, 0.0))
        for x in live.lines.values()
        if x.state is State.RUNNING
    ] + [
        Job(str(x.request_id), source, x.destination, mean)
        for x in live.lines.values()
        if not x.state.terminal and x.state is not State.RUNNING
    ]
    return makespan(schedule(jobs, live.limits))


def summary_text(live: _Live, now: dt.datetime) -> str:
    """The drain's summary: a headline with counts, elapsed and time left, then a line per VM."""
    lines = list(live.lines.values())
    count = {s: sum(x.state is s for x in lines) for s in State}
    queued = sum(not x.state.terminal and x.state is not State.RUNNING for x in lines)
    elapsed = (now - live.started).total_seconds()
    parts = [f"{count[State.SUCCEEDED]} of {len(lines)} moved"]
    parts += [f"{count[State.RUNNING]} running", f"{queued} queued"]
    if count[State.FAILED]:
        parts.append(f"{count[State.FAILED]} failed")
    if count[State.CANCELLED]:
        parts.append(f"{count[State.CANCELLED]} cancelled")
    timing = f"{_duration(elapsed)} elapsed"
    if live.parent.state.terminal:
        timing += ", finished"
    else:
        eta = _eta(live)
        timing += ", time left unknown yet" if eta is None else f", about {_duration(eta)} left"
    stop = (
        " (stopping: no new moves)" if live.cancel_asked and not live.parent.state.terminal else ""
    )
    head = (
        f"Drain #{live.parent.id} of {live.parent.source_host}{stop}: {', '.join(parts)}; {timing}"
    )
    return "\n".join([head, *_vm_lines(lines), *live.extra])


# Past this many VMs the summary would outgrow one chat message (Slack: 3000 characters per
# section): the moves that ended well and those still queued are then counted, not listed.
MAX_LISTED = 30


def _vm_lines(lines: list[_Line]) -> list[str]:
    """A line per VM; for a large drain, every running, failed or cancelled VM and a count of
    the rest, so the message stays one message however many VMs there are."""
    if len(lines) <= MAX_LISTED:
        return [_line_text(x) for x in lines]
    done = [x for x in lines if x.state is State.SUCCEEDED]
    waiting = [x for x in lines if not x.state.terminal and x.state is not State.RUNNING]
    shown = [x for x in lines if x not in done and x not in waiting]
    room = max(MAX_LISTED - len(shown), 0)
    text = [_line_text(x) for x in shown]
    if done:
        text.append(f"{len(done)} done: " + _names(done, room))
    if waiting:
        text.append(f"{len(waiting)} queued, next: " + _names(waiting, room))
    return text


def _names(lines: list[_Line], room: int) -> str:
    listed = ", ".join(x.vm for x in lines[: max(room, 3)])
    more = len(lines) - max(room, 3)
    return listed + (f" and {more} more" if more > 0 else "")


def final_sentence(
    source: str,
    moved: int,
    elapsed: float,
    failed: Sequence[tuple[str, str]],
    cancelled: int,
    remaining: Sequence[str] | None,
    changed: Sequence[tuple[str, str]] = (),
) -> str:
    """The drain's last word, e.g. "HV-SRV01 is empty: 14 VMs moved in 22 min; 1 failed: …".

    `changed` are the moves whose check right before their start voided their approval (the
    VM no longer fit where it was placed, or moved): they are not re-placed, since the
    approvers approved each exact command; a new drain of the host places them anew."""
    if remaining is None:
        state = f"{source} may not be empty (it could not be asked)"
    elif not remaining:
        state = f"{source} is empty"
    else:
        shown = ", ".join(remaining[:5]) + (
            f" and {len(remaining) - 5} more" if len(remaining) > 5 else ""
        )
        state = f"{source} still holds {len(remaining)} VM(s) ({shown})"
    text = f"{state}: {moved} VM{'s' if moved != 1 else ''} moved in {_duration(elapsed)}"
    if failed:
        text += f"; {len(failed)} failed: " + "; ".join(f"{vm} ({why})" for vm, why in failed)
    if changed:
        text += (
            f"; {len(changed)} not moved, changed since approval: "
            + "; ".join(f"{vm} ({why})" for vm, why in changed)
            + f" — to move {'it' if len(changed) == 1 else 'them'}, drain {source} again once "
            "this drain has ended (it places what is left anew, for a new approval)"
        )
    if cancelled:
        text += f"; {cancelled} not started (cancelled)"
    return text + "."
