"""The workflow's parts on their own: table, approvers, codec, slots, memory store, recovery."""

from __future__ import annotations

import datetime as dt

import pytest

from commands.findings import Finding, FindingCode, PreflightResult, Severity
from commands.invocation import Invocation, Parameter
from commands.requests import (
    AuthType,
    HostSetRequest,
    HostSetting,
    HostToggleRequest,
    MigrateRequest,
    Move,
    StatusRequest,
    StorageRequest,
    VhdMove,
    VmCompatibilityRequest,
)
from commands.workflow.approvals import (
    ApprovalPolicy,
    Approvers,
    DirectoryError,
    MemoryDirectory,
    UnknownAccount,
)
from commands.workflow.codec import (
    decode_request,
    encode_request,
    invocation_from_json,
    subject_of,
)
from commands.workflow.execution import material_changes
from commands.workflow.machine import ALLOWED, Step, WorkflowError, target_of
from commands.workflow.memory_store import MemoryAuditStore
from commands.workflow.records import (
    SYSTEM,
    TERMINAL_STATES,
    Actor,
    AuditEvent,
    EventDraft,
    NewRequest,
    RequestKind,
    RequestRecord,
    State,
)
from commands.workflow.recovery import Action, decide
from commands.workflow.scheduler import HostSlots, Pool, SlotKey
from support.workflow import INVENTORY, PLACE, REQUESTER, START, host, move


def record(state: State, **fields: object) -> RequestRecord:
    base = RequestRecord(
        id=7,
        kind=RequestKind.MIGRATION,
        state=state,
        version=3,
        requester=REQUESTER,
        place=PLACE,
        request={},
        created_at=START,
        updated_at=START,
    )
    return RequestRecord(**{**base.__dict__, **fields})


def test_the_table_is_the_designed_one() -> None:
    assert ALLOWED[State.REQUESTED] == {
        State.CHECKING,
        State.FAILED,
        State.CANCELLED,
        State.REQUESTED,
    }
    assert ALLOWED[State.AWAITING_APPROVAL] == {
        State.AWAITING_APPROVAL,
        State.APPROVED,
        State.REJECTED,
        State.EXPIRED,
        State.CANCELLED,
    }
    unknown = State.OUTCOME_UNKNOWN
    assert ALLOWED[State.APPROVED] == {
        State.APPROVED,
        State.RUNNING,
        State.FAILED,
        State.CANCELLED,
        unknown,
    }
    assert ALLOWED[State.RUNNING] == {
        State.RUNNING,
        State.SUCCEEDED,
        State.FAILED,
        State.CANCELLED,
        unknown,
    }
    for terminal in TERMINAL_STATES:
        assert ALLOWED[terminal] == frozenset()


def test_a_step_from_the_wrong_state_is_refused_in_words() -> None:
    with pytest.raises(
        WorkflowError, match=r"^Request #7 is already running; it cannot be approved now\.$"
    ):
        target_of(Step.APPROVE, record(State.RUNNING))
    with pytest.raises(WorkflowError, match="already finished"):
        target_of(Step.CANCEL, record(State.SUCCEEDED))
    assert target_of(Step.APPROVE, record(State.AWAITING_APPROVAL)) is State.AWAITING_APPROVAL
    assert (
        target_of(Step.APPROVE, record(State.AWAITING_APPROVAL), final_approval=True)
        is State.APPROVED
    )


def test_nested_ad_groups_count_and_cycles_end() -> None:
    directory = MemoryDirectory(
        ad_groups={"Top": ["Mid"], "Mid": ["Low", "Top"], "Low": ["LAB\\dave"]},
        accounts={"UDAVE": "LAB\\Dave"},
    )
    assert directory.is_in_ad_group(Actor("UDAVE"), "top")
    assert not directory.is_in_ad_group(Actor("UERIN", "LAB\\erin"), "Top")
    assert not directory.is_in_ad_group(Actor("UNOBODY"), "Top")


class _DownDirectory:
    def usergroup_members(self, group_id: str) -> frozenset[str]:
        raise DirectoryError("LDAP server unreachable")

    def is_in_ad_group(self, actor: Actor, group: str) -> bool:
        raise DirectoryError("LDAP server unreachable")


def test_a_directory_outage_is_a_refusal_not_a_crash() -> None:
    approvers = Approvers(ApprovalPolicy(usergroups=("S1",)), _DownDirectory())
    with pytest.raises(WorkflowError, match="Cannot check approver groups right now"):
        approvers.is_approver(Actor("UX"))
    assert Approvers(ApprovalPolicy(users=frozenset({"UX"})), _DownDirectory()).is_approver(
        Actor("UX")
    )


class _NoAccount:
    def usergroup_members(self, group_id: str) -> frozenset[str]:
        return frozenset()

    def is_in_ad_group(self, actor: Actor, group: str) -> bool:
        raise UnknownAccount("Slack has no e-mail address for you.")


def test_a_person_the_directory_cannot_place_is_refused_with_the_reason() -> None:
    approvers = Approvers(ApprovalPolicy(ad_groups=("HV-Approvers",)), _NoAccount())
    with pytest.raises(WorkflowError) as refused:
        approvers.is_approver(Actor("UX"))
    assert refused.value.message == "You are not an approver: Slack has no e-mail address for you."
    listed = Approvers(ApprovalPolicy(users=frozenset({"UX"}), ad_groups=("G",)), _NoAccount())
    assert listed.is_approver(Actor("UX"))


def test_critical_hosts_need_the_configured_number_of_approvers() -> None:
    crit, plain = host("HV-CRIT"), host("HV-SRV01")
    approvers = Approvers(ApprovalPolicy(required_critical=3), MemoryDirectory())
    assert approvers.required_for([plain, crit]) == 3
    assert approvers.required_for([plain, None]) == 1


@pytest.mark.parametrize(
    "request_",
    [
        move("SRV-APP01", "HV-SRV03"),
        StorageRequest(
            vm="SRV-APP01",
            vhds=(VhdMove("D:\\a.vhdx", "E:\\a.vhdx"),),
            vm_path="E:\\VMs",
            reason="disk full",
        ),
        HostSetRequest(host=host("HV-SRV02"), setting=HostSetting.AUTH, value=AuthType.KERBEROS),
        HostSetRequest(host=host("HV-SRV02"), setting=HostSetting.ANY_NETWORK, value=True),
        HostSetRequest(host=host("HV-SRV02"), setting=HostSetting.MAX_MIGRATIONS, value=3),
        HostToggleRequest(host=host("HV-SRV01"), enabled=False),
        VmCompatibilityRequest(vm="SRV-APP01", enabled=True),
    ],
)
def test_requests_come_back_from_the_store_as_they_went_in(request_: object) -> None:
    stored = encode_request(request_)  # type: ignore[arg-type]
    assert decode_request(stored, INVENTORY) == request_


def test_a_request_naming_a_host_gone_from_the_inventory_is_refused() -> None:
    stored = encode_request(move("SRV-APP01", "HV-SRV03"))
    stored["move"]["destination"] = "HV-OLD"
    with pytest.raises(WorkflowError, match="HV-OLD is no longer in the inventory"):
        decode_request(stored, INVENTORY)


def test_only_changing_requests_enter_the_workflow() -> None:
    with pytest.raises(WorkflowError, match="needs no approval"):
        subject_of(StatusRequest())
    source, dest = host("HV-SRV01"), host("HV-SRV02")
    subject = subject_of(MigrateRequest(Move("SRV-APP01", dest, source)))
    assert (subject.kind, subject.vm, subject.host, subject.destination) == (
        "migration",
        "SRV-APP01",
        source,
        dest,
    )


def test_invocations_survive_json() -> None:
    invocation = Invocation(
        "Move-VM",
        (
            Parameter("Name", "SRV-APP01"),
            Parameter("VirtualMachinePath", "E:\\VMs"),
            Parameter(
                "Vhds", ({"SourceFilePath": "D:\\a.vhdx", "DestinationFilePath": "F:\\a.vhdx"},)
            ),
            Parameter("IncludeStorage"),
        ),
    )
    assert invocation_from_json(invocation.to_json()) == invocation


def test_each_host_queue_is_first_come_first_served() -> None:
    store = MemoryAuditStore(lambda: START)
    for n in range(3):
        store.create(
            NewRequest(RequestKind.MIGRATION, REQUESTER, PLACE, {}, vm=f"VM{n}"),
            EventDraft("submitted", REQUESTER),
        )
    slots = HostSlots(store.claim_slots)
    a, b = SlotKey("HV-A", Pool.VM), SlotKey("HV-B", Pool.VM)
    slots.occupy(1, (b,))
    slots.enqueue(2, (a, b))
    slots.enqueue(3, (a,))
    slots.enqueue(3, (a,))
    assert slots.take({a: 1, b: 1}) == []
    assert slots.queued() == [2, 3]
    # A final transition frees the slots, in the store, whichever process made it.
    store.transition(1, [State.REQUESTED], State.CANCELLED, EventDraft("cancelled", REQUESTER))
    assert slots.take({a: 1, b: 1}) == [2]
    assert (store.slot_holders()[a], slots.position(3)) == ((2,), 1)
    store.transition(2, [State.REQUESTED], State.CANCELLED, EventDraft("cancelled", REQUESTER))
    assert slots.take({a: 1, b: 1}) == [3]


def test_the_memory_store_applies_exactly_the_expected_change() -> None:
    store = MemoryAuditStore(lambda: START)
    created = store.create(
        NewRequest(RequestKind.MIGRATION, REQUESTER, PLACE, {"type": "x"}, vm="SRV-APP01"),
        EventDraft("submitted", REQUESTER),
    )
    draft = EventDraft("check_started", SYSTEM)
    moved = store.transition(
        created.id, {State.REQUESTED}, State.CHECKING, draft, expected_version=1
    )
    assert moved.applied and moved.record.version == 2
    stale = store.transition(created.id, {State.CHECKING}, State.FAILED, draft, expected_version=1)
    assert not stale.applied and stale.winner is not None and stale.winner.kind == "check_started"
    wrong = store.transition(created.id, {State.REQUESTED}, State.CHECKING, draft)
    assert not wrong.applied and wrong.record.state is State.CHECKING
    with pytest.raises(ValueError, match="cannot change"):
        store.transition(
            created.id, {State.CHECKING}, State.CHECKING, draft, changes={"state": "x"}
        )
    assert [e.kind for e in store.events(created.id)] == ["submitted", "check_started"]
    assert [r.id for r in store.search(vm="srv-app01")] == [created.id]


def _sent(at: dt.datetime) -> AuditEvent:
    return AuditEvent(1, 7, "invocation_sent", SYSTEM, at, {})


def test_recovery_never_resends_what_may_have_started() -> None:
    now = START + dt.timedelta(hours=1)
    sent_at = START + dt.timedelta(minutes=5)
    assert decide(record(State.APPROVED), [], now).action is Action.REQUEUE
    reattach = decide(record(State.APPROVED), [_sent(sent_at)], now)
    assert (reattach.action, reattach.started_at) == (Action.REATTACH, sent_at)
    assert (
        decide(record(State.RUNNING, kind=RequestKind.HOST_CHANGE), [], now).action
        is Action.OUTCOME_UNKNOWN
    )
    assert decide(record(State.CHECKING), [], now).action is Action.RECHECK
    stale = record(State.AWAITING_APPROVAL, expires_at=now)
    assert decide(stale, [], now).action is Action.EXPIRE


def test_only_material_changes_void_an_approval() -> None:
    source, dest = host("HV-SRV01"), host("HV-SRV02")
    invocation = Invocation("Move-VM", (Parameter("Name", "SRV-APP01"),))
    approved = PreflightResult((), (invocation,), source, dest, "id-1")
    base = record(State.APPROVED, **approved.plan_fields())
    warning = Finding(Severity.WARNING, FindingCode.CREDSSP, "CredSSP needs a signed-in user.")
    assert (
        material_changes(base, PreflightResult((warning,), (invocation,), source, dest, "ID-1"))
        == []
    )
    other = Invocation("Move-VM", (Parameter("Name", "SRV-APP01"), Parameter("IncludeStorage")))
    changed = material_changes(base, PreflightResult((), (other,), source, dest, "id-2"))
    assert changed == [
        "the VM has a different id (was it re-created?)",
        "the command would now be: Move-VM -Name 'SRV-APP01' -IncludeStorage",
    ]
