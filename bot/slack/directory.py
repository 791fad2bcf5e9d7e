"""Slack user groups as approvers: `usergroups.users.list`, cached briefly.

An approval click asks "is this person in group S…?"; twenty people clicking at once must not
cost twenty Web API calls (Tier 2, about 20 per minute), and a member removed from the group
must lose the right soon: the members are kept `ttl` seconds. AD groups are answered by the
directory adapter given as `ad`, if any.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from commands.workflow.approvals import ApproverDirectory, DirectoryError
from commands.workflow.records import Actor

DEFAULT_TTL = 60.0


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
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}

    def usergroup_members(self, group_id: str) -> frozenset[str]:
        """The members of `group_id` from Slack, at most `ttl` seconds old."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(group_id)
            if cached is not None and now - cached[0] < self._ttl:
                return cached[1]
            try:
                response = self._client.usergroups_users_list(usergroup=group_id)
            except SlackApiError as exc:
                raise DirectoryError(
                    f"Slack did not list user group {group_id} ({exc.response.get('error')})"
                ) from exc
            except (SlackClientError, OSError) as exc:
                raise DirectoryError("Slack could not be reached to list a user group") from exc
            members = frozenset(str(user) for user in response.get("users") or ())
            self._cache[group_id] = (now, members)
            return members

    def is_in_ad_group(self, actor: Actor, group: str) -> bool:
        """Answered by the AD adapter; without one, nobody is in an AD group."""
        return self._ad is not None and self._ad.is_in_ad_group(actor, group)
