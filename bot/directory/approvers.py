"""AD-group approvers: Slack user → e-mail → AD user → nested membership of a group.

A "yes" is kept for a short while (the same person clicking twice, several groups); a "no" is
never kept, and it also forgets an earlier "yes", so a person removed from a group stops
approving as soon as the directory says so. A directory that cannot answer refuses (the
workflow then tells the approver why): it never grants.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from bot.directory.active_directory import ActiveDirectory
from commands.workflow.approvals import (
    ApproverDirectory,
    DirectoryError,
    MemoryDirectory,
    UnknownAccount,
)
from commands.workflow.records import Actor

log = logging.getLogger(__name__)

EmailLookup = Callable[[str], str | None]


class AdGroupApprovers:
    """An `ApproverDirectory` whose AD groups are answered by Active Directory.

    `email_of` maps a Slack user id to the e-mail Slack knows (users.info, scope
    users:read.email); an actor's own `directory_account` (an e-mail or UPN) wins over it.
    Slack user groups are answered by `usergroups` (empty by default)."""

    def __init__(
        self,
        directory: ActiveDirectory,
        email_of: EmailLookup,
        *,
        usergroups: ApproverDirectory | None = None,
        cache_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._directory = directory
        self._email_of = email_of
        self._usergroups = usergroups or MemoryDirectory()
        self._ttl = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._granted: dict[tuple[str, str], float] = {}

    def usergroup_members(self, group_id: str) -> frozenset[str]:
        """Slack user groups are not in AD: asked of the Slack side."""
        return self._usergroups.usergroup_members(group_id)

    def is_in_ad_group(self, actor: Actor, group: str) -> bool:
        """Whether the AD account behind `actor` is in `group`, nested included. Raises
        DirectoryError (safe message) when the directory cannot tell, UnknownAccount when
        `actor` has no e-mail or no AD user has it."""
        key = (actor.slack_user_id, group.casefold())
        with self._lock:
            until = self._granted.get(key)
            if until is not None and self._clock() < until:
                return True
        try:
            member = self._ask(actor, group)
        except UnknownAccount:
            with self._lock:
                self._granted.pop(key, None)
            raise
        with self._lock:
            if member:
                self._granted[key] = self._clock() + self._ttl
            else:
                self._granted.pop(key, None)
        return member

    def _ask(self, actor: Actor, group: str) -> bool:
        account = actor.directory_account or self._email_of(actor.slack_user_id)
        if not account:
            raise UnknownAccount(
                "Slack has no e-mail address for you, so hvbot cannot find your Active "
                "Directory account. Ask a Slack admin to show your profile's e-mail to apps "
                "(hvbot reads it with the users:read.email scope)."
            )
        user = self._directory.find_user(account)
        if user is None:
            raise UnknownAccount(f"no Active Directory user has the e-mail or UPN {account}.")
        group_dn = self._directory.group_dn(group)
        if group_dn is None:
            raise DirectoryError(f"the approver group {group} is not in the directory")
        return self._directory.is_member(user.dn, group_dn)
