"""Random sequences of people's actions, host events, crashes and restarts (hypothesis).

Whatever happens: every recorded transition is in the state machine's table, no request is
sent twice (each Move-VM the hosts see is backed by its own `invocation_sent` event, and no
request has two), a VM never has two open requests, and hosts never run more migrations than
their limit.
"""

from __future__ import annotations

import collections
import contextlib

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from commands.workflow.machine import ALLOWED, WorkflowError
from commands.workflow.records import OPEN_STATES, Actor, State
from support.workflow import (
    ALICE,
    BOB,
    CAROL,
    MALLORY,
    PLACE,
    REQUESTER,
    Crash,
    Rig,
    make_rig,
    move,
)

VMS = ("SRV-APP01", "SRV-APP02", "SRV-DB01")
HOSTS = ("HV-SRV01", "HV-SRV02", "HV-SRV03", "HV-CRIT")
PEOPLE = (REQUESTER, ALICE, BOB, CAROL, MALLORY)
LIMITS = {"HV-SRV01": 1, "HV-SRV02": 2, "HV-SRV03": 1, "HV-CRIT": 2}

people = st.sampled_from(PEOPLE)
picks = st.integers(min_value=0, max_value=50)


class WorkflowMachine(RuleBasedStateMachine):
    """One bot process at a time over a shared store and world; crashes replace the process."""

    def __init__(self) -> None:
        super().__init__()
        self.rig: Rig = make_rig(ttl_minutes=30)
        self.rig.world.limits.update(LIMITS)
        self.rig.world.on_start = self._on_start
        self.backing: set[int] = set()
        self.ids: list[int] = []

    def _on_start(self, vm: str) -> None:
        """Called by the fake host as a Move-VM arrives: find the event that allowed it."""
        store = self.rig.store
        open_for_vm = [r for r in store.open_requests() if r.vm == vm]
        assert len(open_for_vm) == 1, open_for_vm
        sent = [e for e in store.events(open_for_vm[0].id) if e.kind == "invocation_sent"]
        assert len(sent) == 1
        assert sent[0].seq not in self.backing, "a second Move-VM for one request"
        self.backing.add(sent[0].seq)

    def _pick(self, index: int) -> int | None:
        return self.ids[index % len(self.ids)] if self.ids else None

    def _restart(self) -> None:
        self.rig.world.crash_on_start = None
        self.rig.workflow.shutdown()
        self.rig.restart().recover()

    @initialize(vm=st.sampled_from(VMS), destination=st.sampled_from(HOSTS[1:]))
    def a_first_request(self, vm: str, destination: str) -> None:
        self.submit(vm, destination, REQUESTER)
        self.rig.run()

    @rule(vm=st.sampled_from(VMS), destination=st.sampled_from(HOSTS), actor=people)
    def submit(self, vm: str, destination: str, actor: Actor) -> None:
        try:
            record = self.rig.workflow.submit(move(vm, destination), actor, PLACE)
        except WorkflowError:
            assert self.rig.workflow.open_for_vm(vm) is not None
        else:
            self.ids.append(record.id)

    @rule(index=picks, actor=people)
    def approve(self, index: int, actor: Actor) -> None:
        request_id = self._pick(index)
        if request_id is not None:
            with contextlib.suppress(WorkflowError):
                self.rig.workflow.approve(request_id, actor)

    @rule()
    def approvers_approve_everything_waiting(self) -> None:
        for record in self.rig.workflow.open_requests():
            for approver in (ALICE, BOB):
                with contextlib.suppress(WorkflowError):
                    self.rig.workflow.approve(record.id, approver)
        self.work(10)

    @rule(index=picks, actor=people, reason=st.none() | st.just("no"))
    def reject(self, index: int, actor: Actor, reason: str | None) -> None:
        request_id = self._pick(index)
        if request_id is not None:
            with contextlib.suppress(WorkflowError):
                self.rig.workflow.reject(request_id, actor, reason)

    @rule(index=picks, actor=people, seen=st.none() | st.sampled_from(sorted(OPEN_STATES)))
    def cancel(self, index: int, actor: Actor, seen: State | None) -> None:
        request_id = self._pick(index)
        if request_id is not None:
            with contextlib.suppress(WorkflowError):
                self.rig.workflow.cancel(request_id, actor, seen=seen)

    @rule(minutes=st.integers(min_value=1, max_value=40))
    def time_passes(self, minutes: int) -> None:
        self.rig.clock.advance(minutes=minutes)
        self.rig.workflow.expire_stale()

    @rule(tasks=st.integers(min_value=1, max_value=30))
    def work(self, tasks: int) -> None:
        try:
            self.rig.run(tasks)
        except Crash:
            self._restart()

    @rule(index=picks, succeeded=st.booleans())
    def host_finishes_a_migration(self, index: int, succeeded: bool) -> None:
        running = [m for m in self.rig.world.migrations if m.outcome is None]
        if running:
            running[index % len(running)].finish(succeeded)

    @rule(vm=st.sampled_from(VMS), host=st.sampled_from(HOSTS))
    def someone_moves_a_vm_by_hand(self, vm: str, host: str) -> None:
        if not any(m.vm == vm and m.outcome is None for m in self.rig.world.migrations):
            self.rig.world.place_vm(vm, host)

    @rule(vm=st.sampled_from(VMS), message=st.none() | st.just("Destination out of memory."))
    def a_check_starts_or_stops_blocking(self, vm: str, message: str | None) -> None:
        if message is None:
            self.rig.preflight.blocking.pop(vm, None)
        else:
            self.rig.preflight.blocking[vm] = message

    @rule(moment=st.sampled_from(["before", "after"]))
    def the_next_send_crashes_the_process(self, moment: str) -> None:
        self.rig.world.crash_on_start = moment

    @rule()
    def the_process_dies_and_restarts(self) -> None:
        self._restart()

    def teardown(self) -> None:
        """Labels the run with what it reached (`--hypothesis-show-statistics`)."""
        reached = {e.state_to for e in self.rig.store.all_events() if e.state_to is not None}
        for state in sorted(reached):
            event(f"reached {state}")
        event(f"sends: {len(self.rig.world.starts)}")

    @invariant()
    def transitions_follow_the_table(self) -> None:
        for item in self.rig.store.all_events():
            if item.state_from is not None and item.state_to is not None:
                assert item.state_to in ALLOWED[item.state_from], item

    @invariant()
    def one_send_per_request(self) -> None:
        sent = collections.Counter(
            e.request_id for e in self.rig.store.all_events() if e.kind == "invocation_sent"
        )
        assert all(count == 1 for count in sent.values()), sent
        assert len(self.rig.world.starts) == len(self.backing)

    @invariant()
    def one_open_request_per_vm(self) -> None:
        open_vms = [r.vm for r in self.rig.store.open_requests() if r.vm]
        assert len(open_vms) == len(set(open_vms)), open_vms

    @invariant()
    def hosts_stay_within_their_limits(self) -> None:
        for host, limit in LIMITS.items():
            assert self.rig.world.active(host) <= limit, host

    @invariant()
    def running_requests_have_a_start_time(self) -> None:
        for record in self.rig.store.open_requests():
            if record.state is State.RUNNING:
                assert record.started_at is not None


WorkflowMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestWorkflowMachine = WorkflowMachine.TestCase
