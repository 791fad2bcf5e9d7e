"""Who may approve, reject and cancel a request, how many approvals it needs, and for how long.

Approvers come from three sources: Slack user ids, Slack user groups and Active Directory
groups (nested membership). Group lookups go through `ApproverDirectory`, a port: `bot/`
provides Slack (`usergroups.users.list`) and LDAP implementations, tests `MemoryDirectory`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from commands.inventory import Host
from commands.workflow.machine import WorkflowError
from commands.workflow.records import Actor, RequestRecord


class DirectoryError(Exception):
    """The directory could not answer (LDAP or Slack unreachable); the message is safe to show."""


class UnknownAccount(Exception):
    """The directory cannot tell who a person is (Slack gives no e-mail, no directory user has
    it): a "no" to every group, with the reason to tell them (safe to show)."""


class ApproverDirectory(Protocol):
    """Group memberships the approval policy needs. Both methods may raise `DirectoryError`;
    `is_in_ad_group` raises `UnknownAccount` when it cannot tell who the actor is."""

    def usergroup_members(self, group_id: str) -> frozenset[str]:
        """The Slack user ids in Slack user group `group_id` (S0123...)."""
        ...

    def is_in_ad_group(self, actor: Actor, group: str) -> bool:
        """Whether the directory account behind `actor` is in AD group `group`, nested included."""
        ...


class MemoryDirectory:
    """An `ApproverDirectory` from plain mappings, with nested AD groups resolved here.

    `accounts` maps Slack user ids to directory accounts (for actors that carry none);
    `ad_groups` maps a group name to its members, which are accounts or other group names.
    """

    def __init__(
        self,
        *,
        usergroups: Mapping[str, Iterable[str]] | None = None,
        ad_groups: Mapping[str, Iterable[str]] | None = None,
        accounts: Mapping[str, str] | None = None,
    ) -> None:
        self._usergroups = {k: frozenset(v) for k, v in (usergroups or {}).items()}
        self._ad_groups = {
            k.casefold(): {m.casefold() for m in v} for k, v in (ad_groups or {}).items()
        }
        self._accounts = dict(accounts or {})

    def usergroup_members(self, group_id: str) -> frozenset[str]:
        """The members of `group_id`, empty when unknown."""
        return self._usergroups.get(group_id, frozenset())

    def is_in_ad_group(self, actor: Actor, group: str) -> bool:
        """Walks nested groups breadth-first; a cycle in the groups cannot loop forever."""
        account = actor.directory_account or self._accounts.get(actor.slack_user_id)
        if account is None:
            return False
        wanted = account.casefold()
        seen: set[str] = set()
        pending = [group.casefold()]
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            members = self._ad_groups.get(name, set())
            if wanted in members:
                return True
            pending.extend(m for m in members if m in self._ad_groups)
        return False


@dataclass(frozen=True)
class ApprovalPolicy:
    """The `[approvals]` configuration, as the core sees it."""

    users: frozenset[str] = frozenset()
    usergroups: tuple[str, ...] = ()
    ad_groups: tuple[str, ...] = ()
    allow_self_approval: bool = False
    required_critical: int = 2
    ttl: dt.timedelta = dt.timedelta(minutes=60)


class Approvers:
    """Applies an `ApprovalPolicy` with the help of a directory."""

    def __init__(self, policy: ApprovalPolicy, directory: ApproverDirectory) -> None:
        self.policy = policy
        self._directory = directory

    def is_approver(self, actor: Actor) -> bool:
        """Whether `actor` is an approver through any source; cheapest sources first. Raises
        WorkflowError when a group cannot be checked now or the directory cannot tell who
        `actor` is (each with its reason): it never grants then."""
        policy = self.policy
        if actor.slack_user_id in policy.users:
            return True
        try:
            if any(
                actor.slack_user_id in self._directory.usergroup_members(group)
                for group in policy.usergroups
            ):
                return True
            return any(self._directory.is_in_ad_group(actor, group) for group in policy.ad_groups)
        except UnknownAccount as exc:
            raise WorkflowError(f"You are not an approver: {exc}") from exc
        except DirectoryError as exc:
            raise WorkflowError(f"Cannot check approver groups right now: {exc}") from exc

    def required_for(self, hosts: Iterable[Host | None]) -> int:
        """How many distinct approvers a request touching `hosts` needs."""
        critical = any(host is not None and host.critical for host in hosts)
        return max(1, self.policy.required_critical) if critical else 1

    def expires_at(self, now: dt.datetime) -> dt.datetime:
        """When an approval card posted at `now` stops accepting clicks."""
        return now + self.policy.ttl

    def check_may_approve(self, record: RequestRecord, actor: Actor) -> None:
        """Refuses (WorkflowError) unless `actor` may add an approval to `record` now."""
        if actor.slack_user_id == record.requester.slack_user_id and not (
            self.policy.allow_self_approval
        ):
            raise WorkflowError(f"You cannot approve your own request #{record.id}.")
        if not self.is_approver(actor):
            raise WorkflowError(f"You are not an approver for request #{record.id}.")
        if actor.slack_user_id in record.approvals:
            raise WorkflowError(
                f"You already approved request #{record.id} "
                f"({len(record.approvals)} of {record.required_approvals})."
            )

    def check_may_reject(self, record: RequestRecord, actor: Actor) -> None:
        """Refuses unless `actor` is an approver (the requester cancels instead)."""
        if not self.is_approver(actor):
            raise WorkflowError(f"You are not an approver for request #{record.id}.")

    def check_may_cancel(self, record: RequestRecord, actor: Actor) -> None:
        """Refuses unless `actor` made the request or is an approver."""
        if actor.slack_user_id == record.requester.slack_user_id:
            return
        if not self.is_approver(actor):
            raise WorkflowError(
                f"Only the requester or an approver can cancel request #{record.id}."
            )
