"""The one list of subcommands: it drives the parser, `/migrate help` and the README table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from commands.language import admin, drain, moves, queries
from commands.language.cursor import Cursor
from commands.requests import HelpRequest, Request


@dataclass(frozen=True)
class Subcommand:
    """One form of `/migrate`: `name` is its first word, except the bare move (`migrate`)."""

    name: str
    usage: str
    summary: str
    help: str
    examples: tuple[str, ...]
    parse: Callable[[Cursor], Request]

    @property
    def word(self) -> str | None:
        """The first word that picks this subcommand; None for the bare `<vm> to <host>` move."""
        return None if self.name == BARE_NAME else self.name


def _parse_help(cursor: Cursor) -> HelpRequest:
    token = cursor.peek()
    if token is None:
        return HelpRequest()
    cursor.take("a topic")
    topic = token.keyword() or token.text.casefold()
    if topic not in TOPICS:
        cursor.unknown(token, TOPICS, "as a help topic")
    cursor.end(f"help {topic}")
    return HelpRequest(topic=topic)


BARE_NAME = "migrate"
_MOVE_OPTIONS_USAGE = (
    "[from <host>] [include-storage] [storage-path <path>] [vm-path <path>] [reason <text>]"
)
_MOVE_OPTIONS_HELP = (
    "Options, in any order after `to <host>`: `from <host>` (refuse unless the VM is there), "
    "`include-storage` (move the disks too), `storage-path <path>` (put configuration and disks "
    "in this folder on the destination; implies include-storage), `vm-path <path>` (put the "
    "configuration files here; with storage-path the disks go to storage-path), "
    "`reason <text>` (everything after it, shown to approvers and kept in the audit log). "
    "Hosts come from the inventory (short name or FQDN); paths are absolute Windows paths."
)

SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand(
        name=BARE_NAME,
        usage=f"/migrate <vm> to <host> {_MOVE_OPTIONS_USAGE}",
        summary="Live-migrate a running VM to another host, after preflight and approval.",
        help="Checks that the move can work, asks an approver, then runs Move-VM on the "
        "source host and reports progress in the thread. " + _MOVE_OPTIONS_HELP,
        examples=(
            "/migrate SRV-APP01 to HV-SRV02",
            "/migrate SRV-APP01 to HV-SRV02 storage-path D:\\Hyper-V\\SRV-APP01 reason patching",
        ),
        parse=moves.parse_migrate,
    ),
    Subcommand(
        name="check",
        usage=f"/migrate check <vm> to <host> {_MOVE_OPTIONS_USAGE}",
        summary="Preflight a move only: no approval, changes nothing.",
        help="Runs every preflight check of the move (Compare-VM, versions, switches, "
        "delegation, free space) and reports; nothing is changed. " + _MOVE_OPTIONS_HELP,
        examples=("/migrate check SRV-APP01 to HV-SRV02 include-storage",),
        parse=moves.parse_check,
    ),
    Subcommand(
        name="storage",
        usage="/migrate storage <vm> to <path> | storage <vm> vhd <src> to <dst> "
        "[vhd <src> to <dst> ...] [vm-path <path>] [reason <text>]",
        summary="Move a VM's storage on its current host (Move-VMStorage).",
        help="`to <path>` moves configuration and every disk to one folder; "
        "`vhd <src> to <dst>` moves one disk file (repeat it per disk, same extension); "
        "`vm-path <path>` moves the configuration files. The VM stays on its host and running.",
        examples=(
            '/migrate storage SRV-APP01 to "E:\\Hyper-V\\SRV-APP01"',
            "/migrate storage SRV-APP01 vhd D:\\VMs\\app.vhdx to E:\\VMs\\app.vhdx",
        ),
        parse=moves.parse_storage,
    ),
    Subcommand(
        name="status",
        usage="/migrate status [#<id>|<vm>]",
        summary="Show what is running, or one request by id or VM.",
        help="Without an argument lists open requests. `#42` (or `42`) picks a request; "
        "anything else is a VM name (quote a VM whose name is only digits).",
        examples=("/migrate status", "/migrate status #42", "/migrate status SRV-APP01"),
        parse=queries.parse_status,
    ),
    Subcommand(
        name="cancel",
        usage="/migrate cancel #<id>",
        summary="Cancel a pending or running request.",
        help="Withdraws a request awaiting approval, or stops a running migration "
        "(the job is cancelled on the host; the VM stays where it was).",
        examples=("/migrate cancel #42",),
        parse=queries.parse_cancel,
    ),
    Subcommand(
        name="history",
        usage="/migrate history [<vm>|<host>] [last <n>]",
        summary="Past requests from the audit log.",
        help="Filters by VM or host (an unquoted inventory host name means the host; quote it "
        f"to mean a VM of that name). `last <n>` limits the list (1-{queries.MAX_HISTORY}).",
        examples=("/migrate history SRV-APP01 last 5", "/migrate history HV-SRV01"),
        parse=queries.parse_history,
    ),
    Subcommand(
        name="diagnose",
        usage="/migrate diagnose #<id> | diagnose <vm> [to <host>]",
        summary="Run the troubleshooting checks and explain causes and fixes.",
        help="For a failed request, explains the failure; for a VM (and optionally a "
        "destination), checks delegation, authentication, switches, processor compatibility, "
        "memory, paths and TCP 6600.",
        examples=("/migrate diagnose #42", "/migrate diagnose SRV-APP01 to HV-SRV02"),
        parse=queries.parse_diagnose,
    ),
    Subcommand(
        name="host",
        usage="/migrate host <host> [enable | disable | set <setting> <value> "
        "| network add <cidr> [priority <n>] | network remove <cidr>]",
        summary="Show or change a host's live migration settings.",
        help="Alone, shows the settings (Get-VMHost, migration networks). `enable`/`disable` "
        "switch live migration. Settings: `max-migrations <n>`, `max-storage-migrations <n>` "
        f"(1-{admin.MAX_MIGRATIONS}), `auth kerberos|credssp`, "
        "`performance tcpip|compression|smb`, `any-network on|off`. Networks take a subnet "
        f"with its prefix length (IPv4 or IPv6) and a priority (1-{admin.MAX_PRIORITY}).",
        examples=(
            "/migrate host HV-SRV01",
            "/migrate host HV-SRV01 set auth kerberos",
            "/migrate host HV-SRV01 network add 10.0.50.0/24 priority 1",
        ),
        parse=admin.parse_host,
    ),
    Subcommand(
        name="vm",
        usage="/migrate vm <vm> compatibility on|off",
        summary="Processor compatibility mode for moves between different CPUs.",
        help="Sets Set-VMProcessor -CompatibilityForMigrationEnabled; the VM must be off.",
        examples=("/migrate vm SRV-APP01 compatibility on",),
        parse=admin.parse_vm,
    ),
    Subcommand(
        name="delegation",
        usage="/migrate delegation <host> <host> [fix]",
        summary="Check Kerberos constrained delegation between two hosts, both ways.",
        help="Checks both computer objects in Active Directory (delegation flags, "
        "Microsoft Virtual System Migration Service and cifs entries); `fix` puts exactly the "
        "missing changes on an approval card, then writes them and reads them back.",
        examples=(
            "/migrate delegation HV-SRV01 HV-SRV02",
            "/migrate delegation HV-SRV01 HV-SRV02 fix",
        ),
        parse=admin.parse_delegation,
    ),
    Subcommand(
        name="drain",
        usage="/migrate drain <host> [to <host> [<host> ...]] [include-storage] "
        "[include-stopped] [reason <text>] | drain check <host> [...] | drain cancel #<id>",
        summary="Empty a host for maintenance: every VM moved off, with one approval.",
        help="Places each running VM of the host on another inventory host (or only on the "
        "hosts after `to`) where it fits: enough free memory, its virtual switches, its "
        "configuration version, a compatible processor, free space when storage moves too, "
        "live migration enabled; the most free memory first, within each host's "
        "MaximumVirtualMachineMigrations. One approval card shows the whole placement and "
        "every Move-VM; a VM that fits nowhere is named with why. `include-storage` moves "
        "the disks too, `include-stopped` the VMs that are off as well. `drain check` only "
        "shows the plan; `drain cancel #<id>` starts no further move (running ones finish).",
        examples=(
            "/migrate drain HV-SRV01 reason patch night",
            "/migrate drain check HV-SRV01 to HV-SRV02 HV-SRV03 include-storage",
            "/migrate drain cancel #42",
        ),
        parse=drain.parse_drain,
    ),
    Subcommand(
        name="help",
        usage="/migrate help [<topic>]",
        summary="This help, or the help of one subcommand.",
        help="Topics are the subcommand names; `migrate` is the move itself.",
        examples=("/migrate help", "/migrate help storage"),
        parse=_parse_help,
    ),
)

BY_WORD: dict[str, Subcommand] = {s.word: s for s in SUBCOMMANDS if s.word is not None}
BY_NAME: dict[str, Subcommand] = {s.name: s for s in SUBCOMMANDS}
TOPICS: tuple[str, ...] = tuple(BY_NAME)
BARE = BY_NAME[BARE_NAME]
GENERAL_USAGE = "/migrate <vm> to <host> [options] — or /migrate help"
