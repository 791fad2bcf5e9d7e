"""Slack user groups as approvers (`usergroups.users.list`), and people's e-mail addresses
for AD-group approvers (`users.info`), each cached briefly.

An approval click asks "is this person in group S…?"; twenty people clicking at once must not
cost twenty Web API calls (Tier 2, about 20 per minute), and a member removed from the group
must lose the right soon: the members are kept `ttl` seconds. AD groups are answered by the
directory adapter given as `ad`, if any, which finds people by the e-mail `SlackEmails` reads.
Slack that cannot answer is a `DirectoryError`: the approval is refused, never granted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import SlackResponse

from commands.workflow.approvals import ApproverDirectory, DirectoryError
from commands.workflow.records import Actor

DEFAULT_TTL = 60.0
T = TypeVar("T")


class _Kept(Generic[T]):
    """Answers kept `ttl` seconds by key; one question to Slack at a time, so many clicks at
    once cost one call."""

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: dict[str, tuple[float, T]] = {}

    def get(self, key: str, ask: Callable[[], T | None]) -> T | None:
        """The answer kept for `key` if fresh, else `ask()`'s (kept unless None)."""
        now = self._clock()
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and now - kept[0] < self._ttl:
                return kept[1]
            answer = ask()
            if answer is not None:
                self._kept[key] = (now, answer)
            return answer


class SlackUserGroups:
    """An `ApproverDirectory` for Slack user groups (and AD groups through `ad`)."""

    def __init__(
        self,
        client: WebClient,
        *,
        ad: ApproverDirectory | None = None,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ad = ad
        self._members: _Kept[frozenset[str]] = _Kept(ttl, clock)

    def usergroup_members(self, group_id: str) -> frozenset[str]:
        """The members of `group_id` from Slack, at most `ttl` seconds old."""

        def ask() -> frozenset[str]:
            response = _ask_slack(
                lambda: self._client.usergroups_users_list(usergroup=group_id),
                f"list user group {group_id}",
            )
            return frozenset(str(user) for user in response.get("users") or ())

        return self._members.get(group_id, ask) or frozenset()

    def is_in_ad_group(self, actor: Actor, group: str) -> bool:
        """Answered by the AD adapter; without one, nobody is in an AD group."""
        return self._ad is not None and self._ad.is_in_ad_group(actor, group)


class SlackEmails:
    """Slack user id → the e-mail of the person's Slack profile (`users.info`; the address is
    there only with the users:read.email scope). An address is kept `ttl` seconds; "no
    address" is never kept (a profile may show one any time)."""

    def __init__(
        self,
        client: WebClient,
        *,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._emails: _Kept[str] = _Kept(ttl, clock)

    def __call__(self, slack_user_id: str) -> str | None:
        """The e-mail Slack shows for `slack_user_id`, None when it shows none. Raises
        DirectoryError when Slack cannot answer."""

        def ask() -> str | None:
            response = _ask_slack(
                lambda: self._client.users_info(user=slack_user_id), "read your e-mail address"
            )
            profile = (response.get("user") or {}).get("profile") or {}
            email = profile.get("email")
            return email.strip() or None if isinstance(email, str) else None

        return self._emails.get(slack_user_id, ask)


def _ask_slack(call: Callable[[], SlackResponse], doing: str) -> SlackResponse:
    """`call()`, its failures as a DirectoryError saying what could not be done."""
    try:
        return call()
    except SlackApiError as exc:
        raise DirectoryError(f"Slack refused to {doing} ({exc.response.get('error')})") from exc
    except (SlackClientError, OSError) as exc:
        raise DirectoryError(f"Slack could not be reached to {doing}") from exc
