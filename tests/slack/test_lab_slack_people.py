"""Who may use and approve: channel and requester allow-lists, Slack user groups as approvers."""

from __future__ import annotations

from dataclasses import replace

import pytest
from slack_sdk import WebClient

from bot.slack.directory import SlackEmails, SlackUserGroups
from commands.workflow.approvals import DirectoryError
from lab.slack.server import SlackStandIn
from support.slack_app import ALICE, BOB, CHANNEL, MALLORY, SlackRig, eventually


def web_client(slack: SlackStandIn) -> WebClient:
    return WebClient(token=slack.tokens.bot, base_url=slack.api_url)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_user_groups_are_read_from_slack_and_cached_briefly() -> None:
    with SlackStandIn() as slack:
        slack.workspace.set_usergroup("S0LEADS01", [BOB])
        clock = Clock()
        groups = SlackUserGroups(web_client(slack), ttl=60, clock=clock)
        assert groups.usergroup_members("S0LEADS01") == {BOB}
        slack.workspace.set_usergroup("S0LEADS01", [BOB, ALICE])
        clock.now = 30
        assert groups.usergroup_members("S0LEADS01") == {BOB}
        clock.now = 61
        assert groups.usergroup_members("S0LEADS01") == {BOB, ALICE}
        assert len(slack.calls("usergroups.users.list")) == 2


def test_a_directory_that_cannot_answer_says_so() -> None:
    with SlackStandIn() as slack:
        slack.faults.fail("usergroups.users.list", "internal_error")
        with pytest.raises(DirectoryError, match="S0LEADS01"):
            SlackUserGroups(web_client(slack)).usergroup_members("S0LEADS01")


def test_e_mails_come_from_users_info_an_address_is_kept_briefly_none_never() -> None:
    with SlackStandIn() as slack:
        slack.workspace.add_user(BOB, "bob", email="bob@lab.local")
        slack.workspace.add_user(MALLORY, "mallory", email="")
        clock = Clock()
        emails = SlackEmails(web_client(slack), ttl=60, clock=clock)
        assert emails(BOB) == "bob@lab.local"
        assert emails(MALLORY) is None
        slack.workspace.add_user(BOB, "bob", email="robert@lab.local")
        slack.workspace.add_user(MALLORY, "mallory", email="mallory@lab.local")
        clock.now = 30
        assert emails(BOB) == "bob@lab.local"
        assert emails(MALLORY) == "mallory@lab.local", "no address is never kept"
        clock.now = 61
        assert emails(BOB) == "robert@lab.local"
        assert len(slack.calls("users.info")) == 4
        slack.faults.fail("users.info", "internal_error")
        with pytest.raises(DirectoryError, match="Slack refused to read your e-mail address"):
            emails(ALICE)


def test_outside_the_allowed_channels_and_people_the_bot_says_why(rig: SlackRig) -> None:
    rig.config = replace(
        rig.config,
        slack=replace(rig.config.slack, channels=(CHANNEL,), requesters=(ALICE,)),
    )
    driver = rig.start("http")
    assert driver.slash("/migrate", "status", user=ALICE, channel="C0RANDOM1").acked
    assert driver.slash("/migrate", "status", user=MALLORY, channel=CHANNEL).acked
    eventually(
        lambda: any(
            "not enabled in this channel" in m.text
            for m in rig.slack.workspace.ephemerals("C0RANDOM1", ALICE)
        )
    )
    eventually(
        lambda: any(
            "not on hvbot's list" in m.text
            for m in rig.slack.workspace.ephemerals(CHANNEL, MALLORY)
        )
    )
    assert rig.services.workflow.open_requests() == []
