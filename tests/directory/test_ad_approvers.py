"""AD-group approvers against the real DC: Slack user → e-mail → AD user → nested group."""

from __future__ import annotations

import pytest
from ldap3 import MODIFY_DELETE

from bot.directory import ActiveDirectory, AdGroupApprovers
from commands.workflow.approvals import ApprovalPolicy, Approvers, DirectoryError
from commands.workflow.machine import WorkflowError
from commands.workflow.records import Actor
from lab.directory import RunningDC
from lab.directory.objects import LabDirectory, admin_connection
from support.directory import settings, start_or_skip

EMAILS = {
    "UCAROL": "carol@example.com",
    "UDAVE": "dave@example.com",
    "UERIN": "erin@lab.local",
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def people(lab_dir: LabDirectory) -> dict[str, str]:
    """carol is in Leads, itself in HV-Approvers; dave is in no group; erin has a UPN only;
    frank has no e-mail at all."""
    carol = lab_dir.add_user("carol", mail="carol@example.com")
    dave = lab_dir.add_user("dave", mail="dave@example.com")
    erin = lab_dir.add_user("erin", upn="erin@lab.local")
    frank = lab_dir.add_user("frank")
    leads = lab_dir.add_group("Leads", [carol, erin, frank])
    approvers = lab_dir.add_group("HV-Approvers", [leads])
    return {
        "carol": carol,
        "dave": dave,
        "erin": erin,
        "frank": frank,
        "leads": leads,
        "HV-Approvers": approvers,
    }


def approvers_for(directory: ActiveDirectory, clock: Clock | None = None) -> Approvers:
    ad = AdGroupApprovers(directory, EMAILS.get, cache_seconds=60, clock=clock or Clock())
    return Approvers(ApprovalPolicy(ad_groups=("HV-Approvers",)), ad)


def test_nested_group_member_approves_and_non_member_does_not(
    people: dict[str, str], ad: ActiveDirectory
) -> None:
    approvers = approvers_for(ad)
    assert approvers.is_approver(Actor("UCAROL"))
    assert approvers.is_approver(Actor("UERIN"))
    assert not approvers.is_approver(Actor("UDAVE"))


def test_group_given_as_a_dn_works_too(people: dict[str, str], ad: ActiveDirectory) -> None:
    ad_approvers = AdGroupApprovers(ad, EMAILS.get)
    assert ad_approvers.is_in_ad_group(Actor("UCAROL"), people["HV-Approvers"])
    assert not ad_approvers.is_in_ad_group(Actor("UDAVE"), people["HV-Approvers"])


def test_a_user_without_e_mail_is_refused_with_the_reason(
    people: dict[str, str], ad: ActiveDirectory
) -> None:
    approvers = approvers_for(ad)
    # Slack gives no e-mail for UFRANK; frank's AD account has none either.
    with pytest.raises(WorkflowError) as no_email:
        approvers.is_approver(Actor("UFRANK"))
    assert no_email.value.message.startswith(
        "You are not an approver: Slack has no e-mail address for you, so hvbot cannot find "
        "your Active Directory account."
    )
    with pytest.raises(WorkflowError) as unknown:
        approvers.is_approver(Actor("UFRANK", directory_account="frank@example.com"))
    assert unknown.value.message == (
        "You are not an approver: no Active Directory user has the e-mail or UPN frank@example.com."
    )


def test_an_unknown_group_is_refused_not_granted(
    people: dict[str, str], ad: ActiveDirectory
) -> None:
    ad_approvers = AdGroupApprovers(ad, EMAILS.get)
    with pytest.raises(DirectoryError, match="not in the directory"):
        ad_approvers.is_in_ad_group(Actor("UCAROL"), "No-Such-Group")


def test_a_yes_is_cached_briefly_and_a_no_is_never_cached(
    people: dict[str, str], ad: ActiveDirectory, lab_dir: LabDirectory
) -> None:
    clock = Clock()
    approvers = approvers_for(ad, clock)
    assert approvers.is_approver(Actor("UCAROL"))
    lab_dir.conn.modify(people["leads"], {"member": [(MODIFY_DELETE, [people["carol"]])]})
    clock.now += 30
    assert approvers.is_approver(Actor("UCAROL")), "within the cache's minute"
    clock.now += 31
    assert not approvers.is_approver(Actor("UCAROL")), "the directory said no"
    assert not approvers.is_approver(Actor("UCAROL")), "and the no is not forgotten"


def test_directory_down_fails_closed_with_a_clear_message(dc: RunningDC) -> None:
    own = start_or_skip()
    try:
        unit = LabDirectory(admin_connection(own), own.base_dn, "approvers")
        carol = unit.add_user("carol", mail="carol@example.com")
        unit.add_group("HV-Approvers", [carol])
        directory = ActiveDirectory(settings(own), own.base_dn)
        approvers = approvers_for(directory)
        assert approvers.is_approver(Actor("UCAROL"))
    finally:
        own.stop()
    with pytest.raises(WorkflowError) as refused:
        approvers.is_approver(Actor("UDAVE"))
    assert str(refused.value) == (
        f"Cannot check approver groups right now: cannot reach the directory at {own.uri} "
        "(connection refused or dropped)"
    )
