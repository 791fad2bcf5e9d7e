"""The composition root: the one place where configuration, adapters and the core meet.

`build_services` wires the WinRM Hyper-V adapter, the SQLite audit store, the preflight and
the workflow, with the workflow's own executor (never a chat framework's listener threads).
The Slack app, the CLI drivers and the demo all start from here.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from bot.config import Config, ConfigError, Secrets
from bot.directory import ActiveDirectory, AdGroupApprovers, open_directory
from bot.directory.approvers import EmailLookup
from bot.store import SqliteAuditStore, open_store
from bot.winrm.hyperv import WinRMHyperV
from bot.winrm.session import ConnectionSettings, Sessions
from commands.handling import Handler
from commands.ports import DelegationChecker, NoDirectory
from commands.preflight import HostPreflight
from commands.workflow.approvals import (
    ApprovalPolicy,
    ApproverDirectory,
    Approvers,
    MemoryDirectory,
)
from commands.workflow.notify import Notifier, ProgressCadence
from commands.workflow.records import TERMINAL_STATES, RequestRecord, State
from commands.workflow.service import Workflow

log = logging.getLogger(__name__)

# Where a request rests until someone acts: waiting for approval, or finished.
SETTLED_STATES = TERMINAL_STATES | {State.AWAITING_APPROVAL}

P = ParamSpec("P")
T = TypeVar("T")


class ContextExecutor(ThreadPoolExecutor):
    """A thread pool whose tasks run in the submitter's context, so that the log fields bound
    where a request is handled (`bot.logs.bind(request_id=...)`) follow its work onto the
    pool, and onto the tasks that work submits in turn."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Schedule `fn(*args, **kwargs)` in a copy of the caller's context."""
        context = contextvars.copy_context()
        return super().submit(functools.partial(context.run, fn, *args, **kwargs))


@dataclass
class Services:
    """Everything a front end (Slack, CLI, demo) needs, wired together."""

    config: Config
    hyperv: WinRMHyperV
    store: SqliteAuditStore
    preflight: HostPreflight
    workflow: Workflow
    executor: ThreadPoolExecutor
    approvers: Approvers
    handler: Handler
    directory: ActiveDirectory | None

    def wait_for(
        self, request_id: int, until: frozenset[State], poll_seconds: float = 0.05
    ) -> RequestRecord:
        """The request once it reaches one of `until` (read from the store, so it also sees
        what other threads of this process and other processes did)."""
        while True:
            record = self.workflow.get(request_id)
            if record.state in until:
                return record
            time.sleep(poll_seconds)

    def close(self) -> None:
        """Stop following migrations (they stay recorded as running), then release resources."""
        self.workflow.shutdown()
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.hyperv.close()
        self.store.close()
        if self.directory is not None:
            self.directory.close()


def approval_policy(config: Config) -> ApprovalPolicy:
    """The `[approvals]` section as the core's policy."""
    section = config.approvals
    return ApprovalPolicy(
        users=frozenset(section.users),
        usergroups=section.usergroups,
        ad_groups=section.ad_groups,
        allow_self_approval=section.allow_self_approval,
        required_critical=section.required_critical,
        ttl=dt.timedelta(minutes=section.ttl_minutes),
    )


def build_services(
    config: Config,
    secrets: Secrets,
    notifier: Notifier,
    *,
    directory: ApproverDirectory | None = None,
    delegation: DelegationChecker | None = None,
    cadence: ProgressCadence | None = None,
    email_of: EmailLookup | None = None,
) -> Services:
    """Wire the bot. `directory` answers group questions for approvals; with `[directory]` and
    `[approvals] ad_groups`, AD groups are answered by the directory instead (Slack users
    matched by the e-mail `email_of` gives, or the actor's own directory account). `delegation`
    reads Kerberos delegation (default: `[directory]`, which also checks it in the preflight
    of moves between Kerberos hosts; without any, `/migrate delegation` says the directory is
    not configured); `cadence` paces progress reports (the core's default).
    Raises ConfigError when `[directory]` is set but its account is not."""
    try:
        ad = open_directory(config, secrets)
    except ValueError as missing:
        raise ConfigError([str(missing)]) from None
    if ad is not None and config.approvals.ad_groups:
        # AD groups from the directory; Slack user groups still from the `directory` given.
        directory = AdGroupApprovers(
            ad,
            email_of or _no_email,
            usergroups=directory,
            cache_seconds=config.directory.cache_seconds,
        )
    if directory is None:
        if config.approvals.usergroups or config.approvals.ad_groups:
            log.warning(
                "approver groups are configured but no directory is wired; "
                "only approvals.users can approve"
            )
        directory = MemoryDirectory()
    hyperv = WinRMHyperV(
        Sessions(ConnectionSettings.from_config(config, secrets)),
        poll_interval=config.executor.poll_seconds,
    )
    store = open_store(config, secrets)
    preflight = HostPreflight(hyperv, config.inventory, ad)
    executor = ContextExecutor(max_workers=config.executor.workers, thread_name_prefix="hvbot-work")
    approvers = Approvers(approval_policy(config), directory)
    workflow = Workflow(
        store=store,
        hyperv=hyperv,
        preflight=preflight,
        approvers=approvers,
        notifier=notifier,
        inventory=config.inventory,
        executor=executor,
        poll_seconds=config.executor.poll_seconds,
        cadence=cadence,
        directory=ad,
    )
    handler = Handler(
        inventory=config.inventory,
        workflow=workflow,
        store=store,
        preflight=preflight,
        hyperv=hyperv,
        delegation=delegation or ad or NoDirectory(),
    )
    return Services(config, hyperv, store, preflight, workflow, executor, approvers, handler, ad)


def _no_email(slack_user_id: str) -> None:
    """Without Slack (command line, demo) nobody's e-mail is known."""
    return None
