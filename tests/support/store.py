"""Builders shared by the audit store tests: actors, requests, event drafts."""

from __future__ import annotations

from commands.workflow.records import Actor, EventDraft, NewRequest, Place, RequestKind

ALICE = Actor(slack_user_id="U0ALICE", directory_account="LAB\\alice", display_name="Alice")
BOB = Actor(slack_user_id="U0BOB", directory_account="LAB\\bob")


def new_request(
    vm: str = "SRV-APP01",
    source: str = "HV-SRV01",
    destination: str = "HV-SRV02",
    requester: Actor = ALICE,
) -> NewRequest:
    """A migration request as the workflow would record it."""
    return NewRequest(
        kind=RequestKind.MIGRATION,
        requester=requester,
        place=Place(channel="C0OPS", thread_ts="1732560000.000100"),
        request={"vm": vm, "to": destination, "include_storage": False},
        vm=vm,
        source_host=source,
        destination_host=destination,
        reason="patching",
    )


def draft(kind: str, actor: Actor = ALICE, **data: object) -> EventDraft:
    """An event draft with `data` as keyword arguments."""
    return EventDraft(kind=kind, actor=actor, data=data)
