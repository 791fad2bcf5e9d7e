"""Clicks over real signed HTTP: forged, replayed, concurrent, refused; nothing else trusted."""

from __future__ import annotations

import itertools
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from urllib.parse import urlencode

import pytest

from bot.slack.actions import APPROVE, REASON_INPUT, REJECT
from commands.workflow.records import RequestRecord, State
from lab.slack.blocks import buttons
from lab.slack.driver import ButtonNotFound
from support.slack_app import ALICE, BOB, CAROL, CHANNEL, DAVE, MALLORY, SlackRig, eventually

MOVE = "SRV-APP01 to HV-SRV02 include-storage reason patch night"


def awaiting(rig: SlackRig, text: str = MOVE) -> RequestRecord:
    record = rig.submit(text, user=ALICE)
    rig.card(record.id)
    return rig.record(record.id)


def refusals(rig: SlackRig, request_id: int) -> list[dict[str, object]]:
    return [
        dict(e.data) | {"actor": e.actor.slack_user_id}
        for e in rig.services.workflow.events(request_id)
        if e.kind == "click_refused"
    ]


def test_a_bad_signature_or_a_stale_timestamp_is_refused_and_changes_nothing(
    rig: SlackRig,
) -> None:
    driver = rig.start("http")
    record = awaiting(rig)
    assert record.card_ts is not None
    payload = driver.build_click(CHANNEL, record.card_ts, APPROVE, user=BOB)
    body = urlencode({"payload": json.dumps(payload)}).encode()
    forged = driver.post_signed(body, secret="not-the-signing-secret")
    stale = driver.post_signed(body, timestamp=int(time.time()) - 6 * 60)
    assert (forged.status_code, stale.status_code) == (401, 401)
    events_before = len(rig.services.workflow.events(record.id))
    time.sleep(0.5)
    after = rig.record(record.id)
    assert after.state is State.AWAITING_APPROVAL and after.approvals == ()
    assert len(rig.services.workflow.events(record.id)) == events_before


def test_twenty_concurrent_approvals_start_one_migration_and_edit_the_card_once(
    rig: SlackRig,
) -> None:
    driver = rig.start("http")
    record = awaiting(rig)
    card_ts = record.card_ts
    assert card_ts is not None
    # Twenty people looking at the same card click at once.
    clicks = [
        driver.build_click(CHANNEL, card_ts, APPROVE, user) for user in [BOB, CAROL, DAVE] * 7
    ]
    with ThreadPoolExecutor(20) as pool:
        deliveries = list(pool.map(driver.send_interaction, clicks[:20]))
    assert all(d.acked for d in deliveries)
    done = rig.ended(record.id)
    assert done.state is State.SUCCEEDED
    assert len(rig.world.calls("Move-VM")) == 1
    approved = [e for e in rig.services.workflow.events(record.id) if e.kind == "approved"]
    assert len(approved) == 1
    assert len(refusals(rig, record.id)) == 19
    card = rig.slack.workspace.message(CHANNEL, card_ts)
    shown = [*(str(version.blocks) for version in card.edits), str(card.blocks)]
    approvers_shown = [sum(f"<@{u}> approved" in v for u in (BOB, CAROL, DAVE)) for v in shown]
    assert max(approvers_shown) == 1
    assert sum(1 for a, b in itertools.pairwise(approvers_shown) if b > a) == 1
    announcements = [m for m in rig.thread(done) if "approved by" in m.text]
    assert len(announcements) == 1


def critical_source(rig: SlackRig) -> None:
    """HV-SRV01 critical: its moves need two approvals, so a card changes while it waits."""
    hosts = tuple(replace(h, critical=h.name == "HV-SRV01") for h in rig.config.hosts)
    rig.config = replace(rig.config, hosts=hosts)


def test_forged_clicks_are_refused_and_one_on_an_older_card_still_counts(rig: SlackRig) -> None:
    critical_source(rig)
    driver = rig.start("http")
    first = awaiting(rig)
    second = awaiting(rig, "SRV-DB01 to HV-SRV02 include-storage reason other")
    assert first.card_ts is not None and second.card_ts is not None
    carol_saw = driver.build_click(CHANNEL, first.card_ts, APPROVE, user=CAROL)

    other_request = driver.build_click(CHANNEL, first.card_ts, APPROVE, user=BOB)
    other_request["actions"][0]["value"] = f"{second.id}:{second.version}"
    other_channel = driver.build_click(CHANNEL, first.card_ts, APPROVE, user=BOB)
    other_channel["channel"]["id"] = "C0ELSEWHERE"
    never_shown = driver.build_click(CHANNEL, first.card_ts, APPROVE, user=BOB)
    never_shown["actions"][0]["value"] = f"{first.id}:{first.version + 7}"
    for payload in (other_request, other_channel, never_shown):
        assert driver.send_interaction(payload).acked

    # Dave approves (1 of 2): the card changes. Carol clicks on the card as it was before:
    # what she approves has not changed, so hers is the second approval.
    assert driver.click(CHANNEL, first.card_ts, APPROVE, user=DAVE).acked
    eventually(lambda: rig.record(first.id).approvals == (DAVE,))
    assert driver.send_interaction(carol_saw).acked
    eventually(lambda: rig.record(first.id).state is not State.AWAITING_APPROVAL)
    assert rig.record(first.id).approvals == (DAVE, CAROL)

    eventually(lambda: len(refusals(rig, first.id)) + len(refusals(rig, second.id)) >= 3)
    assert rig.record(second.id).state is State.AWAITING_APPROVAL
    assert rig.record(second.id).approvals == ()
    reasons = [r["reason"] for r in refusals(rig, first.id) + refusals(rig, second.id)]
    assert len(reasons) == 3 and all("not on request" in str(r) for r in reasons)
    rig.ended(first.id)


def test_two_approvers_clicking_at_once_on_a_card_that_needs_both_both_count(
    rig: SlackRig,
) -> None:
    critical_source(rig)
    driver = rig.start("http")
    record = awaiting(rig)
    assert record.card_ts is not None and record.required_approvals == 2
    clicks = [driver.build_click(CHANNEL, record.card_ts, APPROVE, u) for u in (BOB, CAROL)]
    with ThreadPoolExecutor(2) as pool:
        deliveries = list(pool.map(driver.send_interaction, clicks))
    assert all(d.acked for d in deliveries)
    done = rig.ended(record.id)
    assert done.state is State.SUCCEEDED
    assert sorted(done.approvals) == sorted((BOB, CAROL))
    assert refusals(rig, record.id) == []
    assert len(rig.world.calls("Move-VM")) == 1
    assert not told(rig, BOB) and not told(rig, CAROL)


def test_a_reject_with_a_reason_typed_in_the_card_shows_and_records_the_reason(
    rig: SlackRig,
) -> None:
    driver = rig.start("http")
    record = awaiting(rig)
    assert record.card_ts is not None
    why = "the maintenance window moved to Sunday"
    with pytest.raises(ButtonNotFound):
        driver.build_click(CHANNEL, record.card_ts, REJECT, BOB, typed={"no_such_input": why})
    assert driver.click(CHANNEL, record.card_ts, REJECT, BOB, typed={REASON_INPUT: why}).acked
    done = rig.settled(record.id, frozenset({State.REJECTED}))
    [rejected] = [e for e in rig.services.workflow.events(done.id) if e.kind == "rejected"]
    assert rejected.data["reason"] == why and rejected.actor.slack_user_id == BOB
    ts = record.card_ts
    eventually(
        lambda: f"<@{BOB}> rejected" in str(rig.slack.workspace.message(CHANNEL, ts).blocks),
        what="the card's last edit",
    )
    card = rig.slack.workspace.message(CHANNEL, ts)
    assert f": {why}" in str(card.blocks) and not buttons(card.blocks)
    said = eventually(lambda: [m.text for m in rig.thread(done) if why in m.text])
    assert said == [f"Request #{done.id} rejected by <@{BOB}>: {why}"]


def test_self_approval_and_non_approvers_are_refused_told_and_audited(rig: SlackRig) -> None:
    driver = rig.start("http")
    record = awaiting(rig)
    assert record.card_ts is not None
    assert driver.click(CHANNEL, record.card_ts, APPROVE, user=ALICE).acked
    assert driver.click(CHANNEL, record.card_ts, APPROVE, user=MALLORY).acked
    eventually(lambda: len(refusals(rig, record.id)) == 2)
    by_actor = {r["actor"]: str(r["reason"]) for r in refusals(rig, record.id)}
    assert "own request" in by_actor[ALICE]
    assert "not an approver" in by_actor[MALLORY]
    assert rig.record(record.id).state is State.AWAITING_APPROVAL
    eventually(lambda: any("own request" in t for t in told(rig, ALICE)))
    eventually(lambda: any("not an approver" in t for t in told(rig, MALLORY)))


def told(rig: SlackRig, user: str) -> list[str]:
    """What `user` alone was shown in the channel."""
    return [m.text for m in rig.slack.workspace.ephemerals(CHANNEL, user)]


def test_an_internal_failure_gives_a_reference_in_slack_and_the_trace_in_the_log(
    rig: SlackRig, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = rig.start("http")
    record = awaiting(rig)
    assert record.card_ts is not None

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("internal detail nobody in Slack should see")

    monkeypatch.setattr(rig.services.workflow, "approve", broken)
    assert driver.click(CHANNEL, record.card_ts, APPROVE, user=BOB).acked
    line = eventually(lambda: next(iter(told(rig, BOB)), None))
    reference = re.search(r"reference ([0-9a-f]{6})", line)
    assert reference and "internal detail" not in line
    logged = [r for r in caplog.records if getattr(r, "reference", None) == reference.group(1)]
    assert logged and logged[0].exc_info is not None
    assert "internal detail" in str(logged[0].exc_info[1])
