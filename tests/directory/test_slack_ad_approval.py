"""AD-group approval from a Slack click, end to end: the Slack app (over real signed HTTP from
the stand-in) reads the clicker's e-mail with `users.info`, finds the AD user on a real DC and
checks nested membership of `[approvals] ad_groups`. The card approved here is a delegation
fix typed as `/migrate` in Slack, so it also goes through the Slack app end to end."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ldap3 import MODIFY_ADD, MODIFY_DELETE, MODIFY_REPLACE

from bot.config import Secrets, parse_config
from bot.slack.actions import APPROVE
from commands.workflow.records import TERMINAL_STATES, RequestRecord, State
from lab.directory import RunningDC
from lab.directory.domain import APPROVER_GROUP, LabComputer, LabDomain, seed_domain
from lab.directory.objects import LabDirectory, admin_connection
from lab.running import start_lab
from lab.slack.server import SlackStandIn
from lab.world import load_scenario
from support.directory import start_or_skip
from support.slack_app import ALICE, CAROL, CHANNEL, DAVE, MALLORY, SlackRig, eventually

ERIN = "U0ERIN001"
FIX = "delegation HV-SRV01 HV-SRV02 fix"


@dataclass
class AdSlack:
    rig: SlackRig
    domain: LabDomain


@pytest.fixture
def ad_slack(dc: RunningDC, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AdSlack]:
    """The lab, the stand-in, a DC of its own whose HV-Approvers holds Leads (carol, erin);
    dave is in AD but in no group; mallory's Slack profile has no e-mail. Nobody approves by
    Slack id: only AD groups."""
    monkeypatch.delenv("SLACK_CLIENT_ID", raising=False)
    monkeypatch.delenv("SLACK_CLIENT_SECRET", raising=False)
    world = load_scenario(None, time_scale=0.005)
    own = start_or_skip()
    try:
        computers = [
            LabComputer(h.name, h.fqdn, tuple(h.delegation_to)) for h in world.hosts.values()
        ]
        domain = seed_domain(own, computers)
        conn = admin_connection(own)
        people = LabDirectory(conn, own.base_dn, "people")
        carol = people.add_user("carol", mail="carol@lab.local")
        erin = people.add_user("erin", mail="erin@lab.local")
        people.add_user("dave", mail="dave@lab.local")
        leads = people.add_group("Leads", [carol, erin])
        # The seeded approver group (which holds `lead`) gets a nested group.
        conn.modify(
            f"CN={APPROVER_GROUP},OU=hvbot,{own.base_dn}", {"member": [(MODIFY_ADD, [leads])]}
        )
        conn.unbind()
        with start_lab(world) as lab, SlackStandIn() as slack:
            for user, name in ((CAROL, "carol"), (DAVE, "dave"), (ERIN, "erin")):
                slack.workspace.add_user(user, name, email=f"{name}@lab.local")
            slack.workspace.add_user(MALLORY, "mallory", email="")
            text = (
                lab.config_fragment()
                + "\n"
                + slack.config_fragment(http_port=3000, mode="http")
                + "\n"
                + domain.config_fragment()
                + f'\n[approvals]\nad_groups = ["{APPROVER_GROUP}"]\n'
                + "\n[executor]\npoll_seconds = 0.1\n"
                + f'\n[audit]\ndatabase = "{tmp_path / "audit.db"}"\n'
            )
            secrets = Secrets.from_environ(
                {
                    "HVBOT_WINRM_USER": lab.username,
                    "HVBOT_WINRM_PASSWORD": lab.password,
                    **slack.environment(),
                    **domain.environment(),
                }
            )
            rig = SlackRig(world, slack, parse_config(tomllib.loads(text)), secrets, tmp_path, text)
            try:
                yield AdSlack(rig, domain)
            finally:
                rig.stop()
                world.wait_idle()
    finally:
        own.stop()


def told(rig: SlackRig, user: str, count: int) -> list[str]:
    """The ephemeral lines `user` has seen, once there are `count` of them."""

    def seen() -> list[str] | None:
        lines = [m.text for m in rig.slack.workspace.ephemerals(CHANNEL, user)]
        return lines if len(lines) >= count else None

    return eventually(seen, what=f"{count} ephemeral line(s) for {user}")


def refusals(rig: SlackRig, request_id: int) -> list[tuple[str, str]]:
    return [
        (e.actor.slack_user_id, str(e.data["reason"]))
        for e in rig.services.workflow.events(request_id)
        if e.kind == "click_refused"
    ]


def break_srv01(domain: LabDomain) -> str:
    dn = f"CN=HV-SRV01,{domain.hosts_dn}"
    conn = admin_connection(domain.dc)
    conn.modify(
        dn,
        {
            "msDS-AllowedToDelegateTo": [
                (MODIFY_DELETE, ["cifs/HV-SRV02.lab.local", "cifs/HV-SRV02"])
            ],
            "userAccountControl": [(MODIFY_REPLACE, [str(0x1000 | 0x80000 | 0x1000000)])],
        },
    )
    conn.unbind()
    return dn


def typed(rig: SlackRig, text: str, user: str = ALICE) -> RequestRecord:
    """`/migrate text` typed in Slack; the request once its card is posted."""
    assert rig.driver is not None
    assert rig.driver.slash("/migrate", text, user=user, channel=CHANNEL).acked

    def carded() -> RequestRecord | None:
        found = rig.services.workflow.open_requests()
        return found[-1] if found and found[-1].card_ts is not None else None

    return eventually(carded, what=f"the card of /migrate {text}")


def test_ad_group_members_approve_from_slack_and_others_are_refused(ad_slack: AdSlack) -> None:
    rig = ad_slack.rig
    driver = rig.start("http")
    dn = break_srv01(ad_slack.domain)
    record = typed(rig, FIX)
    assert record.card_ts is not None
    card = rig.slack.workspace.message(CHANNEL, record.card_ts)
    assert "Will change in Active Directory" in str(card.blocks)
    assert "turn OFF unconstrained delegation" in str(card.blocks)

    driver.click(CHANNEL, record.card_ts, APPROVE, DAVE)
    assert told(rig, DAVE, 1)[-1] == f"You are not an approver for request #{record.id}."
    driver.click(CHANNEL, record.card_ts, APPROVE, MALLORY)
    no_email = told(rig, MALLORY, 1)[-1]
    assert no_email.startswith("You are not an approver: Slack has no e-mail address for you")
    assert [who for who, _ in refusals(rig, record.id)] == [DAVE, MALLORY]
    assert rig.record(record.id).state is State.AWAITING_APPROVAL

    driver.click(CHANNEL, record.card_ts, APPROVE, CAROL)
    done = rig.settled(record.id, TERMINAL_STATES)
    assert done.state is State.SUCCEEDED
    conn = admin_connection(ad_slack.domain.dc)
    conn.search(dn, "(objectClass=*)", search_scope="BASE", attributes=["userAccountControl"])
    assert str(conn.entries[0].userAccountControl) == str(0x1001000)
    conn.unbind()
    rig.idle()
    final = [m.text for m in rig.thread(done) if "klist purge -li 0x3e7" in m.text]
    assert final, [m.text for m in rig.thread(done)]


def test_a_directory_that_is_down_refuses_the_approval(ad_slack: AdSlack) -> None:
    rig = ad_slack.rig
    driver = rig.start("http")
    record = typed(rig, "host HV-SRV03 set max-migrations 3")
    assert record.card_ts is not None
    ad_slack.domain.dc.stop()
    driver.click(CHANNEL, record.card_ts, APPROVE, ERIN)
    line = told(rig, ERIN, 1)[-1]
    assert line.startswith("Cannot check approver groups right now: cannot reach the directory")
    assert rig.record(record.id).state is State.AWAITING_APPROVAL
    assert [who for who, _ in refusals(rig, record.id)] == [ERIN]
