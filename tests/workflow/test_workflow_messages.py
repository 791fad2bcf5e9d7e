"""What the workflow tells people: readable, naming hosts and fixes, with a reference to the
log when something unexpected broke."""

from __future__ import annotations

import logging
import re
from concurrent.futures import Executor

import pytest

from commands.findings import Finding, FindingCode, PreflightResult, Severity
from commands.hyperv import MigrationProgress
from commands.invocation import Invocation, Parameter
from commands.requests import HostShowRequest, Request, StatusRequest
from commands.workflow.codec import subject_of
from commands.workflow.context import Deps
from commands.workflow.machine import WorkflowError
from commands.workflow.records import State
from support.workflow import (
    ALICE,
    INVENTORY,
    PLACE,
    REQUESTER,
    Crash,
    ManualExecutor,
    Rig,
    host,
    kinds,
    make_rig,
    move,
)

SWITCH = Finding(
    Severity.BLOCKING,
    FindingCode.SWITCH_MISSING,
    "HV-SRV02 has no virtual switch 'vSwitch-Backup'.",
    "Create the switch 'vSwitch-Backup' on HV-SRV02.",
)
MEMORY = Finding(
    Severity.BLOCKING,
    FindingCode.NOT_ENOUGH_MEMORY,
    "HV-SRV02 has 2 GiB free; the VM needs 4 GiB",
    "Free memory",
)
REFERENCE = re.compile(r"\(reference ([0-9a-f]{6})\)")


def refused_with(*findings: Finding) -> PreflightResult:
    invocation = Invocation("Move-VM", (Parameter("Name", "SRV-APP01"),))
    return PreflightResult(findings, (invocation,), host("HV-SRV01"), host("HV-SRV02"), "id")


def checked(rig: Rig, monkeypatch: pytest.MonkeyPatch, result: PreflightResult) -> list[str]:
    monkeypatch.setattr(rig.preflight, "preflight", lambda _request: result)
    request_id = rig.workflow.submit(move("SRV-APP01"), REQUESTER, PLACE).id
    rig.run()
    assert rig.workflow.get(request_id).state is State.FAILED
    return rig.notifier.texts(request_id)


def test_one_blocking_finding_is_told_with_its_fix_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rig = make_rig()
    texts = checked(rig, monkeypatch, refused_with(SWITCH))
    assert texts[-1] == (
        "Request #1 cannot go ahead: HV-SRV02 has no virtual switch 'vSwitch-Backup'. "
        "Fix: Create the switch 'vSwitch-Backup' on HV-SRV02."
    )


def test_several_blocking_findings_get_a_line_each_with_clean_punctuation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rig = make_rig()
    info = Finding(Severity.INFO, FindingCode.STOPPED_LEFT, "Stopped, not moved: SRV-OLD.")
    texts = checked(rig, monkeypatch, refused_with(SWITCH, info, MEMORY))
    assert texts[-1].splitlines() == [
        "Request #1 cannot go ahead:",
        "• HV-SRV02 has no virtual switch 'vSwitch-Backup'. "
        "Fix: Create the switch 'vSwitch-Backup' on HV-SRV02.",
        "• HV-SRV02 has 2 GiB free; the VM needs 4 GiB. Fix: Free memory.",
    ]


def test_many_blocking_findings_stay_a_few_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    rig = make_rig()
    many = [Finding(Severity.BLOCKING, FindingCode.PATH_MISSING, f"Problem {n}.") for n in range(6)]
    lines = checked(rig, monkeypatch, refused_with(*many))[-1].splitlines()
    assert len(lines) <= 5
    assert lines[-1] == "• and 3 more: `/migrate check` with the same text lists them all."


def test_a_plan_that_cannot_be_made_says_so_in_a_sentence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rig = make_rig()
    texts = checked(rig, monkeypatch, PreflightResult((), (), None))
    assert texts[-1] == "Request #1 cannot go ahead: no plan could be made for it."


@pytest.mark.parametrize(
    ("request_", "typed"),
    [(StatusRequest(), "/migrate status"), (HostShowRequest(host("HV-SRV01")), "/migrate host")],
)
def test_a_request_outside_the_workflow_is_named_as_people_type_it(
    request_: Request, typed: str
) -> None:
    with pytest.raises(WorkflowError) as refused:
        subject_of(request_)
    message = refused.value.message
    assert message.startswith(f"`{typed}` needs no approval")
    assert "Request" not in message
    assert "`/migrate <vm> to <host>`" in message


def test_a_move_another_process_follows_is_cancelled_from_here_once() -> None:
    rig = make_rig()
    request_id = rig.workflow.submit(move("SRV-APP01"), REQUESTER, PLACE).id
    rig.run()
    rig.workflow.approve(request_id, ALICE)
    rig.run(5)
    assert rig.workflow.get(request_id).state is State.RUNNING
    executor = ManualExecutor()
    elsewhere = rig.other_process(executor)
    assert elsewhere.cancel(request_id, REQUESTER).state is State.RUNNING
    # A second ask, from any process, is told who asked first; nothing more is recorded.
    with pytest.raises(WorkflowError, match=r"^Cancelling request #1 was already asked by <@UREQ>"):
        rig.workflow.cancel(request_id, ALICE)
    executor.run_all()
    rig.run()
    assert rig.workflow.get(request_id).state is State.CANCELLED
    told = rig.notifier.texts(request_id)
    assert "<@UREQ> asked to cancel request #1; asking HV-SRV01 to stop it." in told
    assert kinds(rig, request_id).count("cancel_requested") == 1
    assert kinds(rig, request_id).count("cancel_sent") == 1
    assert len(rig.world.starts) == 1


def test_an_internal_error_in_the_check_gives_people_a_reference_to_the_log(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    rig = make_rig()

    def broken(_request: Request) -> PreflightResult:
        raise RuntimeError("boom")

    monkeypatch.setattr(rig.preflight, "preflight", broken)
    request_id = rig.workflow.submit(move("SRV-APP01"), REQUESTER, PLACE).id
    with caplog.at_level(logging.ERROR):
        rig.run()
    told = rig.notifier.texts(request_id)[-1]
    found = REFERENCE.search(told)
    assert found is not None
    reference = found.group(1)
    assert told == (
        f"Internal error while checking request #1 (reference {reference}); "
        "the bot's log has the detail."
    )
    (logged,) = [r for r in caplog.records if getattr(r, "reference", None) == reference]
    assert logged.exc_info is not None and getattr(logged, "request_id", None) == request_id
    assert rig.store.events(request_id)[-1].data["error"] == {
        "kind": "internal",
        "reference": reference,
    }


def test_an_internal_error_at_the_start_gives_people_a_reference_too(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    rig = make_rig()
    request_id = rig.workflow.submit(move("SRV-APP01"), REQUESTER, PLACE).id
    rig.run()

    def broken(_request: Request) -> PreflightResult:
        raise RuntimeError("boom")

    monkeypatch.setattr(rig.preflight, "preflight", broken)
    rig.workflow.approve(request_id, ALICE)
    with caplog.at_level(logging.ERROR):
        rig.run()
    told = rig.notifier.texts(request_id)[-1]
    found = REFERENCE.search(told)
    assert found is not None
    assert told == (
        f"Internal error while starting request #1 (reference {found.group(1)}); "
        "the bot's log has the detail. Nothing was run."
    )
    assert rig.store.events(request_id)[-1].data["error"]["reference"] == found.group(1)
    assert any(getattr(r, "reference", None) == found.group(1) for r in caplog.records)


def test_a_failed_background_task_is_logged_with_a_reference(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = make_rig()
    executor = ManualExecutor()
    deps = deps_on(rig, executor)

    def broken() -> None:
        raise RuntimeError("boom")

    deps.run_task(broken)
    with caplog.at_level(logging.ERROR):
        executor.run_all()
    (logged,) = caplog.records
    assert re.fullmatch(r"[0-9a-f]{6}", str(getattr(logged, "reference", "")))
    assert getattr(logged, "task", None) == "broken" and logged.exc_info is not None


def deps_on(rig: Rig, executor: Executor) -> Deps:
    return Deps(
        store=rig.store,
        hyperv=rig.world,
        preflight=rig.preflight,
        approvers=rig.approvers,
        notifier=rig.notifier,
        inventory=INVENTORY,
        executor=executor,
        clock=rig.clock,
    )


def running(rig: Rig) -> int:
    request_id = rig.workflow.submit(move("SRV-APP01"), REQUESTER, PLACE).id
    rig.run()
    rig.workflow.approve(request_id, ALICE)
    return request_id


def test_lost_contact_names_the_host_and_people_hear_again_while_it_lasts_and_when_it_ends() -> (
    None
):
    rig = make_rig(poll_seconds=0.0)
    request_id = running(rig)
    rig.world.poll_failures = 10_000
    rig.run(30)
    lost = [m for m in rig.notifier.texts(request_id) if "contact" in m]
    assert lost == [
        "Lost contact with HV-SRV01 while following request #1: The host did not answer in "
        "time. The move itself continues on HV-SRV01 (a lost connection does not stop it); the "
        "bot retries about every 1 s and reports here every 5 min until contact is back."
    ]
    rig.clock.advance(minutes=5)
    rig.run(30)
    rig.clock.advance(minutes=2)
    rig.run(30)
    still = [m for m in rig.notifier.texts(request_id) if m.startswith("Still no contact")]
    assert still == [
        "Still no contact with HV-SRV01 for request #1 after 5 min; the bot keeps retrying."
    ]
    rig.world.poll_failures = 0
    rig.clock.advance(minutes=1)
    rig.run(3)
    assert rig.notifier.texts(request_id)[-1] == (
        "Contact with HV-SRV01 is back after 8 min; following request #1 again."
    )
    assert kinds(rig, request_id).count("contact_lost") == 1
    assert kinds(rig, request_id).count("contact_restored") == 1
    rig.world.migrations[0].finish()
    rig.run()
    assert rig.workflow.get(request_id).state is State.SUCCEEDED


def test_a_host_that_cannot_be_reached_after_a_restart_is_named_and_reminded() -> None:
    rig = make_rig()
    request_id = running(rig)
    rig.world.crash_on_start = "after"
    with pytest.raises(Crash):
        rig.run()
    rig.world.crash_on_start = None
    rig.world.unreachable.add("HV-SRV01")
    rig.restart().recover()
    rig.run(20)
    rig.clock.advance(minutes=5)
    rig.run(20)
    texts = rig.notifier.texts(request_id)
    assert (
        "Cannot follow request #1 after a restart yet: HV-SRV01 does not answer. The bot "
        "retries about every 1 s and reports here every 5 min until HV-SRV01 answers."
    ) in texts
    assert texts[-1] == (
        "Still no contact with HV-SRV01 for request #1 after 5 min; the bot keeps retrying."
    )
    rig.world.unreachable.clear()
    rig.run(5)
    assert rig.workflow.get(request_id).state is State.RUNNING
    assert any("again after a restart" in m for m in rig.notifier.texts(request_id))


def test_an_unexpected_polling_failure_is_told_with_a_reference(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = make_rig()
    request_id = running(rig)
    rig.run(3)
    migration = rig.world.migrations[0]
    real_poll = migration.poll

    def broken_once() -> MigrationProgress:
        monkeypatch.setattr(migration, "poll", real_poll)
        raise RuntimeError("boom")

    monkeypatch.setattr(migration, "poll", broken_once)
    with caplog.at_level(logging.ERROR):
        rig.run(3)
    (lost,) = [m for m in rig.notifier.texts(request_id) if m.startswith("Lost contact")]
    found = REFERENCE.search(lost)
    assert found is not None
    assert lost.startswith(
        f"Lost contact with HV-SRV01 while following request #1: Internal error while asking "
        f"HV-SRV01 (reference {found.group(1)}); the bot's log has the detail. The move itself"
    )
    assert any(getattr(r, "reference", None) == found.group(1) for r in caplog.records)
    assert rig.notifier.texts(request_id)[-1].startswith("Contact with HV-SRV01 is back")
