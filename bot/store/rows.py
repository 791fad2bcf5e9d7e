"""Rows of the `requests` and `events` tables as the workflow's records and events."""

from __future__ import annotations

import sqlite3
from typing import Any

from bot.store.codec import loads_or_none, parse_utc
from commands.workflow.records import (
    Actor,
    AuditEvent,
    Place,
    RequestKind,
    RequestRecord,
    State,
)


def _state(value: str | None) -> State | None:
    return None if value is None else State(value)


def record_from_row(row: sqlite3.Row) -> RequestRecord:
    """A `requests` row as a RequestRecord."""
    created_at = parse_utc(row["created_at"])
    updated_at = parse_utc(row["updated_at"])
    assert created_at is not None and updated_at is not None  # NOT NULL columns
    return RequestRecord(
        id=row["id"],
        kind=RequestKind(row["kind"]),
        state=State(row["state"]),
        version=row["version"],
        requester=Actor(
            slack_user_id=row["requester_slack_id"],
            directory_account=row["requester_account"],
            display_name=row["requester_name"],
        ),
        place=Place(channel=row["channel"], thread_ts=row["thread_ts"]),
        request=loads_or_none(row["request"]),
        created_at=created_at,
        updated_at=updated_at,
        vm=row["vm"],
        source_host=row["source_host"],
        destination_host=row["destination_host"],
        reason=row["reason"],
        invocation=loads_or_none(row["invocation"]),
        approvals=tuple(loads_or_none(row["approvals"]) or ()),
        required_approvals=row["required_approvals"],
        expires_at=parse_utc(row["expires_at"]),
        started_at=parse_utc(row["started_at"]),
        finished_at=parse_utc(row["finished_at"]),
        vm_id=row["vm_id"],
        card_ts=row["card_ts"],
        progress_ts=row["progress_ts"],
        outcome=loads_or_none(row["outcome"]),
    )


def event_from_row(row: sqlite3.Row) -> AuditEvent:
    """An `events` row as an AuditEvent."""
    at = parse_utc(row["at"])
    assert at is not None  # NOT NULL column
    return AuditEvent(
        seq=row["seq"],
        request_id=row["request_id"],
        kind=row["kind"],
        actor=Actor(
            slack_user_id=row["actor_slack_id"],
            directory_account=row["actor_account"],
            display_name=row["actor_name"],
        ),
        at=at,
        data=loads_or_none(row["data"]),
        state_from=_state(row["state_from"]),
        state_to=_state(row["state_to"]),
    )


def hashed_content(row: sqlite3.Row | dict[str, Any]) -> dict[str, Any]:
    """The part of an `events` row that its hash covers, in the shape that was hashed.

    `key_id` and `changes` count only when set: events older than them were hashed without.
    """
    names = row.keys()
    optional = {
        name: row[name] if name == "key_id" else loads_or_none(row[name])
        for name in ("key_id", "changes")
        if name in names and row[name] is not None
    }
    return optional | {
        "seq": row["seq"],
        "request_id": row["request_id"],
        "kind": row["kind"],
        "actor": {
            "slack_user_id": row["actor_slack_id"],
            "directory_account": row["actor_account"],
            "display_name": row["actor_name"],
        },
        "at": row["at"],
        "data": loads_or_none(row["data"]),
        "state_from": row["state_from"],
        "state_to": row["state_to"],
        "prev_hash": row["prev_hash"],
    }
