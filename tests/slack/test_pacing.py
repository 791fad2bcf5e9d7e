"""The pacer keeps Slack's limits, coalesces progress, obeys Retry-After and loses nothing."""

from __future__ import annotations

import functools
import itertools
import math
import threading
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.slack.pacing import Call, Limits, Pacer, PaceState, retry_after


def edit(name: str, *, paced: bool = True) -> Call:
    return Call(send=lambda: name, slot="progress", edit=True, paced=paced)


def post(name: str) -> Call:
    return Call(send=lambda: name)


def drain(state: PaceState, now: float) -> list[tuple[Any, str]]:
    """Everything that may go at `now`, in order, recorded as sent."""
    out = []
    while not isinstance(picked := state.take(now), float):
        job, call = picked
        state.sent(job, call, now)
        out.append((job, call.send()))
    return out


def limited(status: int = 429, headers: dict[str, str] | None = None) -> SlackApiError:
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="http://127.0.0.1/api/chat.update",
        req_args={},
        data={"ok": False, "error": "ratelimited"},
        headers=headers if headers is not None else {"Retry-After": "7"},
        status_code=status,
    )
    return SlackApiError("ratelimited", response)  # type: ignore[no-untyped-call]


def test_a_newer_progress_value_replaces_the_waiting_one_and_keeps_its_place() -> None:
    state = PaceState(Limits(spacing=5))
    state.put("job1", edit("10%"))
    state.put("job2", edit("other"))
    assert drain(state, 0.0) == [("job1", "10%"), ("job2", "other")]
    state.put("job1", edit("20%"))
    state.put("job1", post("note"))
    state.put("job1", edit("30%"))
    assert state.take(1.0) == pytest.approx(4.0)
    assert drain(state, 5.0) == [("job1", "30%"), ("job1", "note")]


def test_edits_stay_under_the_workspace_and_per_job_budgets() -> None:
    limits = Limits(workspace=40, per_job=12, window=60, spacing=0)
    state = PaceState(limits)
    sent: list[tuple[float, Any]] = []
    now = 0.0
    while now < 180:
        for job in range(10):
            state.put(job, edit(f"{job}@{now}", paced=False))
        for job, _ in drain(state, now):
            sent.append((now, job))
        now += 0.5
    for start in range(0, 180):
        window = [job for at, job in sent if start <= at < start + 60]
        assert len(window) <= 40
        for job in range(10):
            assert window.count(job) <= 12
    assert len(sent) >= 100


def test_progress_edits_of_one_job_are_spaced() -> None:
    state = PaceState(Limits(spacing=5))
    times = []
    for tick in range(40):
        now = tick * 0.5
        state.put("job", edit(f"{tick}"))
        if drain(state, now):
            times.append(now)
    assert all(b - a >= 5 for a, b in itertools.pairwise(times))


def test_a_rate_limit_pauses_its_kind_and_the_call_is_made_again_first() -> None:
    state = PaceState()
    state.put("a", post("final of a"))
    state.put("b", post("card of b"))
    picked = state.take(0.0)
    assert not isinstance(picked, float)
    job, call = picked
    state.rate_limited(job, call, 0.0, 7.0)
    assert state.take(3.0) == pytest.approx(4.0)
    assert drain(state, 7.0) == [("a", "final of a"), ("b", "card of b")]


def test_a_rate_limited_progress_edit_yields_to_a_newer_value() -> None:
    state = PaceState()
    state.put("a", edit("10%"))
    picked = state.take(0.0)
    assert not isinstance(picked, float)
    state.put("a", edit("50%"))
    state.rate_limited(picked[0], picked[1], 0.0, 1.0)
    assert picked[1].result.cancelled()
    assert drain(state, 10.0) == [("a", "50%")]


def test_nothing_waiting_means_wait_forever() -> None:
    assert PaceState().take(0.0) == math.inf


def test_retry_after_is_read_from_a_429_only() -> None:
    assert retry_after(limited()) == 7.0
    assert retry_after(limited(headers={"retry-after": "2"})) == 2.0
    assert retry_after(limited(headers={})) == 1.0
    assert retry_after(limited(status=200)) is None


def test_the_pacer_retries_through_a_storm_of_429s_in_order() -> None:
    made: list[str] = []
    refusals = iter(range(5))
    lock = threading.Lock()

    def send(name: str) -> str:
        with lock:
            if next(refusals, None) is not None:
                raise limited(headers={"Retry-After": "0"})
            made.append(name)
        return name

    pacer = Pacer(Limits(spacing=0))
    try:
        futures = [
            pacer.submit("job", Call(send=functools.partial(send, name)))
            for name in ("card", "progress", "final")
        ]
        assert [f.result(timeout=30) for f in futures] == ["card", "progress", "final"]
        assert made == ["card", "progress", "final"]
        assert pacer.idle(timeout=30)
    finally:
        pacer.stop()


def test_a_failed_call_reports_its_error_and_the_next_still_goes() -> None:
    def boom() -> None:
        raise limited(status=404)

    pacer = Pacer()
    try:
        failed = pacer.submit("job", Call(send=boom))
        ok = pacer.submit("job", Call(send=lambda: "fine"))
        assert ok.result(timeout=30) == "fine"
        with pytest.raises(SlackApiError):
            failed.result(timeout=30)
    finally:
        pacer.stop()


def test_news_goes_before_progress_and_the_stalest_progress_goes_first() -> None:
    state = PaceState(Limits(spacing=0, overdue=10))
    state.put("stale", edit("stale 10%"))
    assert drain(state, 0.0) == [("stale", "stale 10%")]
    state.put("fresh", edit("fresh 10%"))
    assert drain(state, 5.0) == [("fresh", "fresh 10%")]
    state.put("fresh", edit("fresh 20%"))
    state.put("stale", edit("stale 20%"))
    state.put("other", post("final of other"))
    assert [name for _, name in drain(state, 9.0)] == [
        "final of other",
        "stale 20%",
        "fresh 20%",
    ]


def test_progress_not_shown_for_too_long_goes_before_news() -> None:
    state = PaceState(Limits(spacing=0, overdue=10, edit_burst=10))
    state.put("board", edit("board 10%"))
    assert drain(state, 0.0) == [("board", "board 10%")]
    for card in range(5):
        state.put(f"card{card}", edit(f"card {card}", paced=False))
    state.put("board", edit("board 60%"))
    assert [name for _, name in drain(state, 10.0)] == ["board 60%"] + [
        f"card {n}" for n in range(5)
    ]


def in_channel(name: str, channel: str) -> Call:
    return Call(send=lambda: name, channel=channel)


def test_posts_to_one_channel_are_spaced_after_a_burst_and_hold_up_nothing_else() -> None:
    state = PaceState(Limits(post_spacing=1.0, post_burst=3))
    for n in range(6):
        state.put(f"job{n}", in_channel(f"busy {n}", "C1"))
    state.put("quiet", in_channel("quiet", "C2"))
    state.put("card", edit("card edit", paced=False))
    first = [name for _, name in drain(state, 0.0)]
    assert first == ["busy 0", "busy 1", "busy 2", "quiet", "card edit"]
    assert state.take(0.0) == pytest.approx(1.0)
    assert [name for _, name in drain(state, 1.0)] == ["busy 3"]
    assert [name for _, name in drain(state, 3.0)] == ["busy 4", "busy 5"]


def test_a_rate_limited_post_pauses_that_channel_only() -> None:
    state = PaceState(Limits(post_burst=10))
    state.put("a", in_channel("post in C1", "C1"))
    picked = state.take(0.0)
    assert not isinstance(picked, float)
    state.rate_limited(picked[0], picked[1], 0.0, 30.0)
    state.put("b", in_channel("post in C2", "C2"))
    state.put("c", edit("edit", paced=False))
    state.put("d", in_channel("another in C1", "C1"))
    assert [name for _, name in drain(state, 1.0)] == ["post in C2", "edit"]
    assert [name for _, name in drain(state, 30.0)] == ["post in C1", "another in C1"]


def test_the_edit_budget_is_spread_so_a_storm_of_card_edits_leaves_progress_its_turns() -> None:
    state = PaceState(Limits(spacing=5, overdue=8))
    for card in range(200):
        state.put(f"card{card}", edit(f"card {card}", paced=False))
    board_at: list[float] = []
    now = 0.0
    while now < 180:
        state.put("board", edit(f"board at {now}"))
        for job, _ in drain(state, now):
            if job == "board":
                board_at.append(now)
        now += 0.5
    assert max(b - a for a, b in itertools.pairwise(board_at)) <= 15
    assert len(board_at) >= 180 / 10
