"""`Handler.handle`: every form of the command language gets a reply, each kind of reply says
what it should, and failures come back as replies, never as exceptions."""

from __future__ import annotations

import typing

import pytest

from commands.delegation import (
    MIGRATION_SERVICE,
    TRUSTED_TO_AUTH_FOR_DELEGATION,
    ComputerObject,
    DelegationReport,
    RepairPlan,
    check_pair,
    delegation_targets,
    plan_repair,
)
from commands.errors import Refusal
from commands.hyperv import ErrorKind, HostSettings, HyperVError
from commands.inventory import Host
from commands.language import SUBCOMMANDS, parse
from commands.replies import Outcome, ReplyKind
from commands.requests import Request
from commands.workflow.approvals import DirectoryError
from commands.workflow.records import State
from support.workflow import INVENTORY, PLACE, REQUESTER, Rig, make_rig

# The help's examples, and the forms they leave out.
FORMS = [e.removeprefix("/migrate ") for s in SUBCOMMANDS for e in s.examples] + [
    "host HV-SRV02 disable",
    "host HV-SRV02 network remove 10.0.50.0/24",
]


class Directory:
    """A directory where the second host may not delegate cifs to the first (or that is down)."""

    def __init__(self, down: bool = False) -> None:
        self.down = down

    def _objects(self, first: Host, second: Host) -> tuple[ComputerObject, ComputerObject]:
        if self.down:
            raise DirectoryError("cannot reach the directory at ldaps://dc1")
        uac = 0x1000 | TRUSTED_TO_AUTH_FOR_DELEGATION

        def spns(h: Host) -> tuple[str, ...]:
            return tuple(f"{s}/{n}" for s in ("HOST", MIGRATION_SERVICE) for n in (h.fqdn, h.name))

        a = ComputerObject(
            "CN=A", first.name, first.fqdn, uac, delegation_targets(second), spns(first)
        )
        lacking = tuple(t for t in delegation_targets(first) if not t.startswith("cifs/"))
        return a, ComputerObject("CN=B", second.name, second.fqdn, uac, lacking, spns(second))

    def report(self, first: Host, second: Host) -> DelegationReport:
        if self.down:
            return DelegationReport(
                first, second, unknown="cannot reach the directory at ldaps://dc1"
            )
        a, b = self._objects(first, second)
        return DelegationReport(first, second, check_pair(first, a, second, b))

    def repair_plan(self, first: Host, second: Host) -> RepairPlan:
        a, b = self._objects(first, second)
        return plan_repair(first, a, second, b)


@pytest.fixture
def rig() -> Rig:
    return make_rig()


def test_the_examples_cover_every_request_type() -> None:
    parsed = {type(parse(text, INVENTORY)) for text in FORMS}
    assert parsed == set(typing.get_args(Request))


@pytest.mark.parametrize("text", FORMS)
def test_every_form_of_the_language_gets_a_reply(rig: Rig, text: str) -> None:
    reply = rig.handler().handle(text, REQUESTER, PLACE)
    assert reply.title.strip()
    assert "Internal error" not in reply.text()
    # Nothing is refused for a reason other than the request itself (no such request #42, the
    # directory, a drain not wired yet); every refusal says what would work.
    if reply.outcome is Outcome.REFUSED:
        assert reply.ephemeral
        assert any(word in reply.title for word in ("#42", "directory", "Drain", "drain"))


def test_a_change_is_recorded_at_once_and_its_card_reaches_the_notifier(rig: Rig) -> None:
    reply = rig.handler().handle("SRV-APP01 to HV-SRV02 reason patching", REQUESTER, PLACE)
    assert (reply.kind, reply.outcome) == (ReplyKind.RECORDED, Outcome.ANSWERED)
    assert reply.request_id == 1 and "recorded" in reply.title
    assert rig.workflow.get(1).state is State.REQUESTED  # the check runs later, elsewhere
    rig.run()
    (card,) = rig.notifier.cards
    assert card.request_id == 1 and card.requester == REQUESTER.slack_user_id
    assert card.reason == "patching" and card.route == "HV-SRV01 → HV-SRV02"
    assert card.powershell == ("Move-VM -Name 'SRV-APP01' -DestinationHost 'hv-srv02.lab.local'",)
    assert (card.approvals, card.required_approvals) == ((), 1)
    assert card.expires_at is not None
    assert "PS> Move-VM -Name 'SRV-APP01'" in "\n".join(card.lines())


def test_status_and_history_list_requests(rig: Rig) -> None:
    handler = rig.handler()
    assert handler.handle("status", REQUESTER, PLACE).title == "No request is open."
    handler.handle("SRV-APP01 to HV-SRV02", REQUESTER, PLACE)
    handler.handle("SRV-DB01 to HV-SRV03", REQUESTER, PLACE)
    rig.run()
    status = handler.handle("status", REQUESTER, PLACE)
    assert status.title == "Open requests:"
    assert [line.split()[:3] for line in status.lines] == [
        ["#1", "awaiting_approval", "SRV-APP01"],
        ["#2", "awaiting_approval", "SRV-DB01"],
    ]
    one = handler.handle("status #2", REQUESTER, PLACE)
    assert one.title.startswith("#2 awaiting_approval SRV-DB01 HV-SRV01 → HV-SRV03 by <@UREQ>")
    history = handler.handle("history SRV-APP01", REQUESTER, PLACE)
    assert history.title == "Requests of SRV-APP01, newest first:"
    assert [line.split()[0] for line in history.lines] == ["#1"]


def test_host_shows_its_settings(rig: Rig) -> None:
    reply = rig.handler().handle("host HV-SRV02", REQUESTER, PLACE)
    assert reply.kind is ReplyKind.HOST and reply.title == "HV-SRV02: live migration settings"
    assert "simultaneous live migrations: 2" in reply.lines
    assert "authentication: Kerberos" in reply.lines


def test_check_and_diagnose_name_what_blocks_with_its_fix(rig: Rig) -> None:
    rig.preflight.blocking["SRV-DB01"] = "HV-SRV03 has no virtual switch 'LAN'."
    handler = rig.handler()
    check = handler.handle("check SRV-DB01 to HV-SRV03", REQUESTER, PLACE)
    assert (check.title, check.outcome) == ("preflight: would be refused", Outcome.FAILED)
    assert "blocking: HV-SRV03 has no virtual switch 'LAN'." in check.lines
    diagnosis = handler.handle("diagnose SRV-DB01 to HV-SRV03", REQUESTER, PLACE)
    assert diagnosis.title == "Diagnosis of SRV-DB01 → HV-SRV03"
    assert "blocking: HV-SRV03 has no virtual switch 'LAN'." in diagnosis.lines
    assert rig.store.search() == []  # read-only: nothing recorded


def test_diagnose_of_a_request_tells_its_recorded_findings(rig: Rig) -> None:
    rig.preflight.blocking["SRV-DB01"] = "HV-SRV03 has no virtual switch 'LAN'."
    handler = rig.handler()
    handler.handle("SRV-DB01 to HV-SRV03", REQUESTER, PLACE)
    rig.run()
    reply = handler.handle("diagnose #1", REQUESTER, PLACE)
    assert reply.title.startswith("#1 failed SRV-DB01")
    assert "blocking: HV-SRV03 has no virtual switch 'LAN'." in reply.lines


def test_delegation_through_the_directory_port(rig: Rig) -> None:
    refused = rig.handler().handle("delegation HV-SRV01 HV-SRV02", REQUESTER, PLACE)
    assert refused.outcome is Outcome.REFUSED and "directory is not configured" in refused.title
    reply = rig.handler(Directory()).handle("delegation HV-SRV01 HV-SRV02", REQUESTER, PLACE)
    assert reply.outcome is Outcome.FAILED
    assert reply.lines[0] == "Kerberos delegation HV-SRV01 ↔ HV-SRV02: 2 problem(s)."
    assert reply.lines[1].startswith(
        "• HV-SRV02 (storage moves): may not delegate to cifs/hv-srv01.lab.local"
    )


def test_a_delegation_fix_with_changes_is_recorded_for_approval(rig: Rig) -> None:
    text = "delegation HV-SRV01 HV-SRV02 fix"
    reply = rig.handler(Directory()).handle(text, REQUESTER, PLACE)
    assert reply.kind is ReplyKind.RECORDED
    assert (
        reply.title == f"Request #{reply.request_id} recorded (/migrate {text}); checking it now."
    )


def test_a_directory_that_cannot_answer_is_said_not_raised(rig: Rig) -> None:
    down = rig.handler(Directory(down=True))
    report = down.handle("delegation HV-SRV01 HV-SRV02", REQUESTER, PLACE)
    assert report.lines == (
        "Kerberos delegation HV-SRV01 ↔ HV-SRV02: unknown — cannot reach the directory at "
        "ldaps://dc1",
    )
    fix = down.handle("delegation HV-SRV01 HV-SRV02 fix", REQUESTER, PLACE)
    assert (fix.kind, fix.outcome) == (ReplyKind.FAILURE, Outcome.FAILED)
    assert fix.title == "The directory could not answer: cannot reach the directory at ldaps://dc1"


def test_refusals_are_one_line_with_a_fix(rig: Rig) -> None:
    reply = rig.handler().handle("SRV-* to HV-SRV02", REQUESTER, PLACE)
    assert (reply.kind, reply.outcome, reply.ephemeral) == (
        ReplyKind.REFUSAL,
        Outcome.REFUSED,
        True,
    )
    assert "\n" not in reply.text() and "Usage:" in reply.title
    assert Refusal("No.", "Try this.").line() == "No. Try this."


def test_host_errors_are_answered_with_cause_and_fix(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(host: Host) -> HostSettings:
        raise HyperVError(
            ErrorKind.HOST_UNREACHABLE, "No answer.", cause="Down.", fix="Start it.", host="H"
        )

    monkeypatch.setattr(rig.world, "host_settings", unreachable)
    reply = rig.handler().handle("host HV-SRV01", REQUESTER, PLACE)
    assert (reply.outcome, reply.title) == (Outcome.FAILED, "H: No answer.")
    assert reply.lines == ("cause: Down.", "fix: Start it.")
    missing = rig.handler().handle("diagnose SRV-NOPE", REQUESTER, PLACE)
    assert missing.outcome is Outcome.REFUSED and "SRV-NOPE" in missing.title


def test_an_unexpected_failure_is_a_reply_with_a_reference(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(host: Host) -> HostSettings:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(rig.world, "host_settings", broken)
    reply = rig.handler().handle("host HV-SRV01", REQUESTER, PLACE)
    assert reply.outcome is Outcome.FAILED and "reference" in reply.title
    assert "secret detail" not in reply.text()
    assert any(r.exc_info for r in caplog.records)
