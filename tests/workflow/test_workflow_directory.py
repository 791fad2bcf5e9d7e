"""`/migrate delegation A B fix` as a change like any other: recorded, checked, shown on a card
with exactly the directory changes, approved by someone else, written once, read back, and
ended from the read-back only — also across crashes (an in-memory directory here; the real DC
in tests/directory/test_delegation_workflow.py)."""

from __future__ import annotations

import dataclasses

import pytest

from commands.delegation import NEW_TICKETS, TRUSTED_TO_AUTH_FOR_DELEGATION
from commands.replies import ReplyKind
from commands.workflow.machine import WorkflowError
from commands.workflow.records import State
from commands.workflow.recovery import Action
from support.delegation import WORKSTATION, MemoryDelegation, bare, complete
from support.workflow import (
    ALICE,
    PLACE,
    REQUESTER,
    Crash,
    RaceStore,
    Rig,
    host,
    kinds,
    make_rig,
)

A, B = host("HV-SRV01"), host("HV-SRV02")
TEXT = "delegation HV-SRV01 HV-SRV02 fix"
CHANGES = [
    "HV-SRV01: set TRUSTED_TO_AUTH_FOR_DELEGATION (use any authentication protocol); "
    "userAccountControl 0x81000 → 0x1001000",
    "HV-SRV01: turn OFF unconstrained delegation (TRUSTED_FOR_DELEGATION was on); "
    "userAccountControl 0x81000 → 0x1001000",
    "HV-SRV01: add msDS-AllowedToDelegateTo Microsoft Virtual System Migration "
    "Service/hv-srv02.lab.local",
    "HV-SRV01: add msDS-AllowedToDelegateTo Microsoft Virtual System Migration Service/HV-SRV02",
    "HV-SRV01: add msDS-AllowedToDelegateTo cifs/hv-srv02.lab.local",
    "HV-SRV01: add msDS-AllowedToDelegateTo cifs/HV-SRV02",
]


def rig_with(directory: MemoryDelegation, **options: object) -> Rig:
    rig = make_rig(**options)  # type: ignore[arg-type]
    rig.directory = directory
    rig.preflight.directory = directory
    rig.restart(rig.executor)
    return rig


def one_side_broken() -> MemoryDelegation:
    """HV-SRV01 has unconstrained delegation and no list; HV-SRV02 is complete."""
    _, b = complete(A, B)
    return MemoryDelegation(bare(A), b)


def checked(rig: Rig) -> int:
    assert isinstance(rig.directory, MemoryDelegation)
    reply = rig.handler(rig.directory).handle(TEXT, REQUESTER, PLACE)
    assert reply.kind is ReplyKind.RECORDED and reply.request_id is not None
    rig.run()
    assert rig.workflow.get(reply.request_id).state is State.AWAITING_APPROVAL
    return reply.request_id


def test_the_fix_is_approved_like_any_change_written_once_and_read_back() -> None:
    directory = one_side_broken()
    rig = rig_with(directory)
    request_id = checked(rig)

    (card,) = rig.notifier.cards
    assert card.directory_changes == tuple(CHANGES)
    assert card.powershell == ()
    assert card.title == f"Request #{request_id} — directory change: Kerberos delegation " + (
        "HV-SRV01 ↔ HV-SRV02"
    )
    assert "  will change in Active Directory:" in card.lines()
    assert directory.writes == []  # nothing before approval

    with pytest.raises(WorkflowError, match="own request"):
        rig.workflow.approve(request_id, REQUESTER)
    rig.workflow.approve(request_id, ALICE)
    rig.run()

    record = rig.workflow.get(request_id)
    assert record.state is State.SUCCEEDED
    assert len(directory.writes) == 1
    a = directory.objects["hv-srv01"]
    assert a.user_account_control == WORKSTATION | TRUSTED_TO_AUTH_FOR_DELEGATION
    assert kinds(rig, request_id)[-3:] == ["invocation_sent", "started", "succeeded"]
    events = {e.kind: e.data for e in rig.store.events(request_id)}
    assert events["invocation_sent"]["rendered"] == CHANGES
    assert events["started"]["before"]["HV-SRV01"]["userAccountControl"] == 0x81000
    assert events["succeeded"]["after"]["HV-SRV01"]["userAccountControl"] == 0x1001000
    assert events["succeeded"]["before"]["HV-SRV01"]["msDS-AllowedToDelegateTo"] == []
    assert "cifs/HV-SRV02" in events["succeeded"]["after"]["HV-SRV01"]["msDS-AllowedToDelegateTo"]
    assert record.outcome is not None and NEW_TICKETS in record.outcome["lines"]
    assert rig.notifier.finals == [(request_id, "succeeded")]

    again = rig.handler(directory).handle(TEXT, REQUESTER, PLACE)
    assert again.kind is ReplyKind.DELEGATION
    assert again.lines[-1] == "nothing to change"
    assert len(rig.store.search()) == 1  # nothing recorded for it


def test_without_a_write_account_nothing_is_written_and_the_request_says_why() -> None:
    directory = one_side_broken()
    directory.writable = False
    rig = rig_with(directory)
    reply = rig.handler(directory).handle(TEXT, REQUESTER, PLACE)
    assert reply.request_id is not None
    rig.run()
    assert rig.workflow.get(reply.request_id).state is State.FAILED
    (why,) = [m for m in rig.notifier.texts(reply.request_id) if "cannot go ahead" in m]
    assert "no write-capable directory account is configured" in why
    assert "nothing can be written" in why
    assert directory.writes == []


def test_the_account_removed_after_approval_stops_it_before_the_send() -> None:
    directory = one_side_broken()
    rig = rig_with(directory)
    request_id = checked(rig)
    rig.workflow.approve(request_id, ALICE)
    directory.writable = False
    rig.run()
    assert rig.workflow.get(request_id).state is State.FAILED
    assert "invocation_sent" not in kinds(rig, request_id)
    assert directory.writes == []


def failure_of(directory: MemoryDelegation) -> str:
    """The summary of the failure an approved fix ends in, against `directory`."""
    rig = rig_with(directory)
    request_id = checked(rig)
    rig.workflow.approve(request_id, ALICE)
    rig.run()
    record = rig.workflow.get(request_id)
    assert record.state is State.FAILED
    assert record.outcome is not None
    summary: str = record.outcome["error"]["summary"]
    return summary


def test_writes_the_directory_drops_are_a_failure_from_the_read_back() -> None:
    directory = one_side_broken()
    directory.lose = True
    summary = failure_of(directory)
    assert summary.startswith("the directory does not hold what was asked: HV-SRV01:")
    assert "msDS-AllowedToDelegateTo lacks cifs/HV-SRV02" in summary


def test_a_refused_write_fails_with_the_reason() -> None:
    directory = one_side_broken()
    directory.fail_write = {"HV-SRV01"}
    assert failure_of(directory) == "writing HV-SRV01 failed: insufficient access rights."


def test_a_read_back_that_fails_is_outcome_unknown() -> None:
    directory = one_side_broken()
    rig = rig_with(directory)
    request_id = checked(rig)
    rig.workflow.approve(request_id, ALICE)

    def down_after(change: object) -> None:
        directory.down = True

    directory.on_apply = down_after
    rig.run()
    record = rig.workflow.get(request_id)
    assert record.state is State.OUTCOME_UNKNOWN
    assert record.outcome is not None
    assert "whether the changes are in force is unknown" in record.outcome["error"]["summary"]
    assert len(directory.writes) == 1


def test_a_change_made_meanwhile_voids_the_approval() -> None:
    directory = one_side_broken()
    rig = rig_with(directory)
    request_id = checked(rig)
    a = directory.objects["hv-srv01"]
    directory.objects["hv-srv01"] = dataclasses.replace(a, user_account_control=WORKSTATION)
    rig.workflow.approve(request_id, ALICE)
    rig.run()
    assert rig.workflow.get(request_id).state is State.FAILED
    assert "approval_void" in kinds(rig, request_id)
    assert directory.writes == []


@pytest.mark.parametrize("written", [False, True])
def test_a_crash_after_the_send_is_read_back_never_written_again(written: bool) -> None:
    directory = one_side_broken()
    rig = rig_with(directory, store=RaceStore)
    request_id = checked(rig)
    rig.workflow.approve(request_id, ALICE)

    def crash(*_: object) -> None:
        raise Crash

    if written:
        assert isinstance(rig.store, RaceStore)
        rig.store.before_writing["succeeded"] = crash
    else:
        directory.on_apply = crash
    with pytest.raises(Crash):
        rig.run()
    directory.on_apply = None
    assert kinds(rig, request_id)[-2:] == ["invocation_sent", "started"]

    decisions = rig.restart().recover()
    assert [d.action for d in decisions] == [Action.READ_BACK]
    rig.run()
    record = rig.workflow.get(request_id)
    assert record.state is (State.SUCCEEDED if written else State.FAILED)
    assert len(directory.writes) == (1 if written else 0)
    assert kinds(rig, request_id).count("invocation_sent") == 1
    assert rig.restart().recover() == []
