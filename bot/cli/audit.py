"""`hvbot audit`: read, export and verify the audit log (list, show, export, verify).

Bad input gives one line on stderr and exit status 2; a log that does not prove itself (see
`bot.store.chain`: every finding is named) gives exit 1.
The database is opened read-only when its schema is current, so an auditor needs read access
only. A reader that stops early (`hvbot audit export | head`) ends the command quietly with
status 141, as a process killed by SIGPIPE would.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import re
import sqlite3
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.config import AuditConfig, Config, ConfigError, Secrets, load_config
from bot.slack.witness import witnessed_heads
from bot.store import (
    AnchorFile,
    AuditKey,
    AuditKeyError,
    ChainReport,
    SqliteAuditStore,
    anchor_path,
    audit_key,
    database_path,
    default_anchor_path,
)
from bot.store.anchors import WitnessedHead
from bot.store.codec import jsonable, utc_text
from commands.clock import utc_now
from commands.language.values import escaped
from commands.workflow.records import Actor, AuditEvent, RequestRecord, State

_AGE = re.compile(r"^(\d+)\s*([mhdw])$", re.IGNORECASE)
_AGE_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
EXIT_BROKEN_PIPE = 128 + 13
_EXPORT_COLUMNS = (
    "seq",
    "at",
    "request_id",
    "kind",
    "actor_slack_id",
    "actor_account",
    "actor_name",
    "state_from",
    "state_to",
    "data",
    "prev_hash",
    "hash",
)


class AuditInputError(Exception):
    """A bad option value or a missing request: reported in one line, exit status 2."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `audit` and its actions to the `hvbot` parser."""
    source = argparse.ArgumentParser(add_help=False)
    source.add_argument("--config", metavar="FILE", help="hvbot.toml (default: $HVBOT_CONFIG)")
    source.add_argument("--db", metavar="FILE", help="the audit database (default: [audit])")
    audit = subparsers.add_parser("audit", help="read, export and verify the audit log")
    actions = audit.add_subparsers(dest="audit_action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", parents=[source], help="requests, newest first")
    listing.add_argument("--vm", help="only this VM")
    listing.add_argument("--host", help="only moves from or to this host")
    listing.add_argument("--since", metavar="T", help="created since: 2026-11-25[T14:00Z] or 24h")
    listing.add_argument("--state", help="only requests in this state")
    listing.add_argument("--limit", default="50", help="at most this many rows (default 50)")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    listing.set_defaults(func=_guarded(_list))

    show = actions.add_parser("show", parents=[source], help="one request's whole story")
    show.add_argument("id", help="the request id")
    show.add_argument("--json", action="store_true", help="JSON instead of text")
    show.set_defaults(func=_guarded(_show))

    export = actions.add_parser("export", parents=[source], help="every event, with hashes")
    export.add_argument("--format", required=True, choices=("csv", "json"))
    export.add_argument("--output", metavar="FILE", help="write here instead of stdout")
    export.set_defaults(func=_guarded(_export))

    verify = actions.add_parser(
        "verify",
        parents=[source],
        help="prove the log: keyed chain, anchors, requests rebuilt from their events",
    )
    verify.add_argument(
        "--key-file",
        metavar="FILE",
        help=f"the audit key (default: [audit] key_env or key_file, else ${AuditConfig.key_env})",
    )
    verify.add_argument(
        "--anchors", metavar="FILE", help="the anchor file (default: [audit] anchor_file)"
    )
    verify.set_defaults(func=_guarded(_verify))


def _guarded(action: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            code = action(args)
            # Flush here, where a reader that went away can still be told apart.
            sys.stdout.flush()
            return code
        except BrokenPipeError:
            _silence_stdout()
            return EXIT_BROKEN_PIPE
        except ConfigError as exc:
            _fail("; ".join(exc.problems))
        except (AuditInputError, AuditKeyError) as exc:
            _fail(str(exc))
        except sqlite3.DatabaseError as exc:
            _fail(f"cannot read the audit database: {exc}")
        except OSError as exc:
            _fail(f"{exc.filename or 'output'}: {exc.strerror}")
        return 2

    return run


def _silence_stdout() -> None:
    # The interpreter flushes stdout again at exit; pointing it at /dev/null keeps that flush
    # from raising a second BrokenPipeError with a traceback.
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


def _fail(message: str) -> None:
    print(f"hvbot audit: {message}", file=sys.stderr)


def _config(args: argparse.Namespace) -> Config | None:
    # `--db` alone is enough: an auditor may have the database and no configuration.
    return load_config(args.config) if args.config or not args.db else None


def _database(args: argparse.Namespace, config: Config | None) -> Path:
    path = Path(args.db) if args.db or config is None else database_path(config)
    if not path.is_file():
        raise AuditInputError(f"no audit database at {path}")
    return path


def _open(args: argparse.Namespace, key: AuditKey | None = None) -> SqliteAuditStore:
    return SqliteAuditStore.for_reading(_database(args, _config(args)), key)


def _key(args: argparse.Namespace, config: Config | None) -> AuditKey | None:
    if args.key_file:
        return AuditKey.from_file(Path(args.key_file))
    secrets = Secrets.from_environ()
    if config is not None:
        return audit_key(config, secrets)
    from_env = secrets.get(AuditConfig.key_env)
    return AuditKey.from_text(from_env, f"${AuditConfig.key_env}") if from_env else None


def parse_since(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """An ISO date or time (UTC unless it says otherwise) or an age such as `30m`, `24h`, `7d`."""
    age = _AGE.match(text.strip())
    if age:
        delta = dt.timedelta(**{_AGE_UNITS[age.group(2).lower()]: int(age.group(1))})
        return (now or utc_now()) - delta
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise AuditInputError(
            f"bad --since {text!r}: use a date or time like 2026-11-25 or 2026-11-25T14:00Z, "
            "or an age like 30m, 24h, 7d"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def parse_state(text: str) -> State:
    """A state name, as stored (`awaiting_approval`) or with dashes."""
    try:
        return State(text.strip().lower().replace("-", "_"))
    except ValueError:
        known = ", ".join(s.value for s in State)
        raise AuditInputError(f"unknown state {text!r} (known: {known})") from None


def _positive_int(text: str, what: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) == 0:
        raise AuditInputError(f"{what} must be a positive whole number, got {text!r}")
    return int(text)


def _list(args: argparse.Namespace) -> int:
    since = parse_since(args.since) if args.since else None
    state = parse_state(args.state) if args.state else None
    limit = _positive_int(args.limit, "--limit")
    with _open(args) as store:
        records = store.search(vm=args.vm, host=args.host, since=since, state=state, limit=limit)
    if args.json:
        _print_json([jsonable(r) for r in records])
        return 0
    rows = [
        (
            str(r.id),
            r.state.value,
            r.kind,
            r.vm or "",
            r.source_host or "",
            r.destination_host or "",
            _who(r.requester),
            _when(r.created_at),
        )
        for r in records
    ]
    header = ("ID", "STATE", "KIND", "VM", "FROM", "TO", "REQUESTER", "CREATED (UTC)")
    _print_table(header, rows)
    return 0


def _show(args: argparse.Namespace) -> int:
    request_id = _positive_int(args.id, "the request id")
    with _open(args) as store:
        record = store.get(request_id)
        if record is None:
            raise AuditInputError(f"no request with id {request_id}")
        events = store.events(request_id)
        disagreements = store.disagreements(request_id)
    if args.json:
        _print_json(
            {
                "request": jsonable(record),
                "events": [jsonable(e) for e in events],
                "disagreements": disagreements,
            }
        )
    else:
        print("\n".join(story_lines(record, events)))
    if disagreements:
        # The row is what `list` and chat show; when its own events say otherwise, the row
        # was edited by hand and the events (proved by `verify`) are the record.
        _fail(
            f"WARNING: request {request_id}'s row disagrees with its events: "
            + "; ".join(disagreements)
            + " — believe the events, and run `hvbot audit verify`"
        )
    return 0


def story_lines(record: RequestRecord, events: Sequence[AuditEvent]) -> list[str]:
    """A request's record and every event, in order, as lines for a person to read."""
    fields = [
        ("State", f"{record.state.value} (version {record.version})"),
        ("VM", " ".join(filter(None, (record.vm, record.vm_id and f"[{record.vm_id}]")))),
        ("From → to", f"{record.source_host or '?'} → {record.destination_host or '?'}"),
        ("Requested by", _who(record.requester)),
        ("Where", " thread ".join(filter(None, (record.place.channel, record.place.thread_ts)))),
        ("Reason", record.reason or ""),
        ("Created", _when(record.created_at)),
        ("Updated", _when(record.updated_at)),
        ("Expires", _when(record.expires_at)),
        ("Started", _when(record.started_at)),
        ("Finished", _when(record.finished_at)),
        (
            "Approvals",
            f"{', '.join(record.approvals) or 'none'} ({record.required_approvals} needed)",
        ),
        ("Request", _compact(record.request)),
        ("Invocation", _compact(record.invocation)),
        ("Outcome", _compact(record.outcome)),
    ]
    lines = [f"Request {record.id} · {record.kind}"]
    lines += [f"  {name:<13} {value}" for name, value in fields if value]
    lines.append(f"Events ({len(events)})")
    for event in events:
        change = ""
        if event.state_to is not None:
            start = event.state_from.value if event.state_from else "·"
            change = f"  {start} → {event.state_to.value}"
        lines.append(
            f"  #{event.seq:<6} {_when(event.at)}  {event.kind}  by {_who(event.actor)}{change}"
        )
        if event.data:
            lines.append(f"           {_compact(event.data)}")
    # Stored text may predate the language's refusals, or come from a hand edit: invisible and
    # direction-changing characters are shown as escapes, never interpreted by the terminal.
    return [escaped(line) for line in lines]


def _export(args: argparse.Namespace) -> int:
    with _open(args) as store:
        rows = store.export_rows()
        if args.output:
            with open(args.output, "w", encoding="utf-8", newline="") as out:
                _write_export(args.format, rows, out)
        else:
            _write_export(args.format, rows, sys.stdout)
    return 0


def _write_export(kind: str, rows: Iterable[dict[str, Any]], out: TextIO) -> None:
    if kind == "csv":
        writer = csv.DictWriter(out, fieldnames=_EXPORT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        return
    # Streamed element by element: a million events must not have to fit in memory.
    out.write("[")
    for i, row in enumerate(rows):
        out.write(",\n" if i else "\n")
        row = {k: row[k] for k in _EXPORT_COLUMNS}
        row["data"] = json.loads(row["data"])
        out.write(json.dumps(row, ensure_ascii=False))
    out.write("\n]\n")


def _verify(args: argparse.Namespace) -> int:
    config = _config(args)
    path = _database(args, config)
    key = _key(args, config)
    if args.anchors:
        anchors = Path(args.anchors)
    else:
        anchors = default_anchor_path(path) if config is None else anchor_path(config)
    slack = read_slack_witness(config)
    with SqliteAuditStore.for_reading(path, key) as store:
        report = store.verify(AnchorFile(anchors, key).read(), slack.heads)
    lines = verify_lines(report, key, anchors)
    if slack.line:
        lines.append(slack.line)
    print("\n".join(lines))
    return 0 if report.ok and slack.read else 1


@dataclass(frozen=True)
class SlackReading:
    """The heads read back from `[audit] slack_channel`, and the line that says so. `read` is
    False when the channel is configured but could not be read: verify then fails, since
    the one witness out of an intruder's reach was not compared."""

    heads: tuple[WitnessedHead, ...] = ()
    line: str = ""
    read: bool = True


def read_slack_witness(config: Config | None) -> SlackReading:
    """Reads the Slack audit channel back with the bot token, when one is configured."""
    channel = config.audit.slack_channel if config is not None else None
    if config is None or not channel:
        return SlackReading()
    name = config.slack.bot_token_env
    token = Secrets.from_environ().get(name)
    if not token:
        return SlackReading(
            line=f"NOT VERIFIED: Slack channel {channel} not read: ${name} is not set", read=False
        )
    client = WebClient(token=token, base_url=config.slack.api_url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=5))
    try:
        heads = witnessed_heads(client, channel)
    except SlackApiError as error:
        reason = str(error.response.get("error") or error.response.status_code)
        return SlackReading(
            line=f"NOT VERIFIED: Slack channel {channel} not read: Slack answered {reason}",
            read=False,
        )
    except OSError as error:
        return SlackReading(
            line=f"NOT VERIFIED: Slack channel {channel} not read: {type(error).__name__}",
            read=False,
        )
    return SlackReading(
        tuple(heads), f"  Slack channel {channel}: {len(heads)} witnessed heads compared"
    )


def verify_lines(report: ChainReport, key: AuditKey | None, anchors: Path) -> list[str]:
    """What `verify` found, named, or OK with what was proved and what could not be."""
    lines = [f"{finding.name}: {finding.message}" for finding in report.findings]
    if report.ok:
        lines.append(f"OK: {report.count} events, chain intact, head hash {report.head_hash}")
    else:
        where = (
            f"the chain holds for its first {report.count} events"
            if report.broken
            else f"the chain links hold over {report.count} events"
        )
        lines.append(
            f"FAILED: {len(report.findings)} findings; {where}, head hash {report.head_hash}"
        )
    if key is None:
        lines.append(
            "  key: none — the chain is plain sha256: anyone who can write the database can "
            f"recompute it; set ${AuditConfig.key_env} or [audit] key_file"
        )
    else:
        lines.append(f"  key: {key.source} (key id {key.key_id}), {report.keyed} events signed")
    lines.append(f"  anchors: {report.anchors} read from {anchors}")
    lines.append(f"  requests: {report.requests} rebuilt from their events and compared")
    lines.append(
        "  compare the head with a copy kept elsewhere: a log and anchor file cut back "
        "together look intact from here"
    )
    return lines


def _who(actor: Actor) -> str:
    extra = actor.directory_account or actor.display_name
    return f"{actor.slack_user_id} ({extra})" if extra else actor.slack_user_id


def _when(moment: dt.datetime | None) -> str:
    return "" if moment is None else utc_text(moment).replace("+00:00", "Z")


def _compact(value: Any) -> str:
    return "" if value is None else json.dumps(jsonable(value), ensure_ascii=False)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
