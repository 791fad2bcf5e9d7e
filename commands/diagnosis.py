"""The troubleshooting knowledge base: what a Hyper-V failure means and how to fix it.

Sources: architecture §5 (HRESULTs, event ids, Compare-VM message ids) and the seed's own
troubleshooting table. Pure functions over text and numbers; the adapters feed them error
records, faults, Compare-VM reports and events, and get back a `Diagnosis` to show people.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from commands.hyperv import ErrorKind, HostEvent, HyperVError, Incompatibility


@dataclass(frozen=True)
class Diagnosis:
    """A short summary, the probable cause and the fix; all safe to show in chat."""

    kind: ErrorKind
    summary: str
    cause: str
    fix: str

    def error(
        self, *, detail: str = "", host: str | None = None, summary: str | None = None
    ) -> HyperVError:
        """This diagnosis as the exception the ports raise (`detail` is for the log only).

        `summary` replaces the generic one when the caller knows better (names the VM).
        """
        return HyperVError(
            self.kind,
            summary or self.summary,
            cause=self.cause,
            fix=self.fix,
            detail=detail,
            host=host,
        )


_KERBEROS_FIX = (
    "Use Kerberos migration authentication on both hosts and configure constrained "
    "delegation on each host's computer object for 'Microsoft Virtual System Migration "
    "Service' and 'cifs' to the other host (/migrate delegation <host> <host> fix)."
)

KNOWLEDGE: dict[ErrorKind, Diagnosis] = {
    d.kind: d
    for d in (
        Diagnosis(
            ErrorKind.HOST_UNREACHABLE,
            "The host did not answer on its WinRM port.",
            "The host is down, WinRM is not listening, or a firewall blocks the port.",
            "Check that the host is up and that `winrm quickconfig` ran; open TCP 5985/5986.",
        ),
        Diagnosis(
            ErrorKind.DNS,
            "The host name does not resolve.",
            "The FQDN in the inventory is wrong or DNS does not know the host.",
            "Fix the host's fqdn in hvbot.toml or its DNS record.",
        ),
        Diagnosis(
            ErrorKind.TLS,
            "The host's TLS certificate could not be validated.",
            "The certificate is self-signed, expired, or issued for another name.",
            "Install a certificate for the host's FQDN from a CA the bot trusts "
            "(winrm.ca_file), or fix the inventory name.",
        ),
        Diagnosis(
            ErrorKind.PROTOCOL_MISMATCH,
            "The host's WinRM port does not speak the protocol the bot used (TLS or plain HTTP).",
            "The host answered without TLS on this port, or closed a plain HTTP request "
            "because the port expects TLS: wrong port, or winrm.ssl does not match the listener.",
            "Make winrm.ssl match the listener (5985 http / 5986 https), or fix the host's "
            "port in hvbot.toml.",
        ),
        Diagnosis(
            ErrorKind.AUTHENTICATION,
            "The host refused the bot's credentials.",
            "Wrong user or password, expired account, or an auth method the host does not allow.",
            "Check the service account in the configured environment variables and the "
            "host's WinRM authentication settings.",
        ),
        Diagnosis(
            ErrorKind.TIMEOUT,
            "The host is not answering: nothing came back within the call's deadline.",
            "The host is overloaded, or the network between the bot and the host is slow.",
            "Retry later; if it persists, check the host (WinRM service, load) or raise "
            "winrm.read_timeout, the deadline of each call to a host.",
        ),
        Diagnosis(
            ErrorKind.WSMAN_FAULT,
            "WinRM refused the request.",
            "The WS-Management service on the host returned a fault.",
            "Check the host's WinRM service and event log (Microsoft-Windows-WinRM/Operational).",
        ),
        Diagnosis(
            ErrorKind.VM_NOT_FOUND,
            # Generic: a host's own "unable to find a virtual machine" record lands here too.
            # The adapter names the VM (and the host or the inventory) when it knows them.
            "The host has no VM with that name.",
            "The name is misspelled, or the VM runs on a host outside the inventory.",
            "Check the exact VM name with Get-VM on the hosts.",
        ),
        Diagnosis(
            ErrorKind.VM_AMBIGUOUS,
            "More than one host has a VM with that name.",
            "Several VMs share the name (for example an old copy left after a move).",
            "Say which host with `from <host>`, or rename one of the VMs.",
        ),
        Diagnosis(
            ErrorKind.DELEGATION,
            "No credentials were available for the migration (0x8009030E).",
            "Kerberos constrained delegation is missing, or CredSSP is used without being "
            "signed in on the source host.",
            _KERBEROS_FIX,
        ),
        Diagnosis(
            ErrorKind.CREDENTIALS_NOT_RECOGNIZED,
            "The destination did not recognize the credentials (0x8009030D).",
            "The move was started from a third machine (double hop), or delegation changed "
            "and the hosts still hold old Kerberos tickets.",
            "Start the move from the source host (the bot does), or use Kerberos with "
            "constrained delegation; then run `klist purge -li 0x3e7` on the source "
            "or wait about 15 minutes.",
        ),
        Diagnosis(
            ErrorKind.CPU_INCOMPATIBLE,
            "The destination's processor is not compatible with the VM.",
            "The hosts have different CPU generations and processor compatibility mode is off.",
            "Turn the VM off, enable compatibility mode (/migrate vm <vm> compatibility on), "
            "start it and retry.",
        ),
        Diagnosis(
            ErrorKind.SWITCH_MISSING,
            "The destination has no virtual switch with the name the VM uses.",
            "A network adapter of the VM is connected to a switch missing on the destination.",
            "Create the same vSwitch on the destination, or reconnect the adapter to a "
            "switch that exists on both hosts.",
        ),
        Diagnosis(
            ErrorKind.MIGRATION_NETWORK,
            "The hosts could not open the migration connection.",
            "TCP 6600 is blocked between the hosts, or the migration listener is down.",
            "Open TCP 6600 between the hosts, check the migration networks "
            "(/migrate host <host>) and restart VMMS if needed.",
        ),
        Diagnosis(
            ErrorKind.NOT_ENOUGH_MEMORY,
            "The destination does not have enough free memory for the VM.",
            "Other VMs use the destination's memory.",
            "Free memory on the destination or pick another host.",
        ),
        Diagnosis(
            ErrorKind.NOT_ENOUGH_DISK,
            "The destination volume does not have enough free space for the VM's disks.",
            "The destination path is on a volume that is too full.",
            "Free space or pick another storage path.",
        ),
        Diagnosis(
            ErrorKind.PATH_MISSING,
            "A destination path does not exist or is not accessible.",
            "The folder was not created on the destination, or the path is wrong.",
            "Create the folder on the destination host, or fix the path.",
        ),
        Diagnosis(
            ErrorKind.VERSION_UNSUPPORTED,
            "The destination does not support the VM's configuration version.",
            "The destination runs an older Hyper-V than the VM's configuration version needs.",
            "Pick a destination that lists the version in Get-VMHostSupportedVersion.",
        ),
        Diagnosis(
            ErrorKind.LOCAL_ISO,
            "An ISO is attached from a path local to the source host.",
            "The destination cannot reach the ISO file the VM's DVD drive uses.",
            "Eject the ISO (Set-VMDvdDrive -Path $null) or use a path both hosts reach.",
        ),
        Diagnosis(
            ErrorKind.MIGRATION_LIMIT,
            "The host already runs as many migrations as it allows.",
            "MaximumVirtualMachineMigrations is reached (event 21501).",
            "Wait for a running migration to finish, or raise the limit "
            "(/migrate host <host> set max-migrations <n>).",
        ),
        Diagnosis(
            ErrorKind.MIGRATION_DISABLED,
            "Live migration is disabled on a host.",
            "Enable-VMMigration has not been run on that host.",
            "Enable it (/migrate host <host> enable).",
        ),
        Diagnosis(
            ErrorKind.VM_STATE,
            "The VM is not in a state that allows this operation.",
            "Some changes (processor compatibility) need the VM turned off.",
            "Turn the VM off first, or choose another operation.",
        ),
        Diagnosis(
            ErrorKind.CANCELLED,
            "The migration was cancelled.",
            "Someone asked to stop it.",
            "Nothing to fix; start it again when ready.",
        ),
        Diagnosis(
            ErrorKind.NOT_STARTED,
            "The move never started: the hosts show no trace of it.",
            "The bot stopped between recording the request and sending it to the host.",
            "Nothing changed on the hosts; ask for the move again.",
        ),
        Diagnosis(
            ErrorKind.OUTCOME_UNKNOWN,
            "The outcome is unknown: what the hosts say does not settle it.",
            "The hosts' job, events and the VM's location disagree, or are gone.",
            "Check where the VM and its files are and the host's VMMS-Admin log.",
        ),
        Diagnosis(
            ErrorKind.INVALID_PARAMETERS,
            "PowerShell rejected the parameters of the command.",
            "The parameters do not form a valid parameter set for this cmdlet.",
            "This is a bot defect: report it with the request id.",
        ),
        Diagnosis(
            ErrorKind.REMOTE_ERROR,
            "The host reported an error.",
            "See the host's Hyper-V-VMMS-Admin event log for details.",
            "Check the events listed with the failure, then retry.",
        ),
    )
}

_HRESULT = re.compile(r"0x[0-9a-fA-F]{8}")

_BY_HRESULT: dict[int, ErrorKind] = {
    0x8009030E: ErrorKind.DELEGATION,
    # SEC_E_WRONG_PRINCIPAL: a ticket for a service name the peer does not hold (its SPN).
    0x80090322: ErrorKind.DELEGATION,
    0x8009030D: ErrorKind.CREDENTIALS_NOT_RECOGNIZED,
    0x8007274C: ErrorKind.MIGRATION_NETWORK,
    0x8007274D: ErrorKind.MIGRATION_NETWORK,
    0x8007271D: ErrorKind.MIGRATION_NETWORK,
    0x800705AA: ErrorKind.NOT_ENOUGH_MEMORY,
    0x8007000E: ErrorKind.NOT_ENOUGH_MEMORY,
    0x80070070: ErrorKind.NOT_ENOUGH_DISK,
    0x80070003: ErrorKind.PATH_MISSING,
    0x800704C7: ErrorKind.CANCELLED,
    0x80072AF9: ErrorKind.DNS,
}

# Message fragments as Windows writes them (English locale), most specific first.
_BY_TEXT: tuple[tuple[re.Pattern[str], ErrorKind], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), kind)
    for pattern, kind in (
        (r"no credentials are available in the security package", ErrorKind.DELEGATION),
        # The other forms Windows words a Kerberos/delegation failure in (unverified texts):
        # the source could not authenticate to the peer, had no suitable credentials, or
        # says so outright.
        (r"failed to authenticate the connection", ErrorKind.DELEGATION),
        (r"no suitable credentials", ErrorKind.DELEGATION),
        (r"constrained delegation|kerberos", ErrorKind.DELEGATION),
        (
            r"credentials supplied to the package were not recognized",
            ErrorKind.CREDENTIALS_NOT_RECOGNIZED,
        ),
        (r"could not find (ethernet )?switch", ErrorKind.SWITCH_MISSING),
        (r"hardware on the destination computer is not compatible", ErrorKind.CPU_INCOMPATIBLE),
        (r"processor-specific features not supported", ErrorKind.CPU_INCOMPATIBLE),
        (r"configuration version", ErrorKind.VERSION_UNSUPPORTED),
        (r"(simultaneous|concurrent) (live )?migrations?", ErrorKind.MIGRATION_LIMIT),
        (r"migration limit", ErrorKind.MIGRATION_LIMIT),
        (r"(not enough|insufficient) (system )?memory", ErrorKind.NOT_ENOUGH_MEMORY),
        (r"(not enough|insufficient) (disk )?space", ErrorKind.NOT_ENOUGH_DISK),
        (r"\.iso\b|virtual dvd", ErrorKind.LOCAL_ISO),
        (r"migration (is )?(not enabled|disabled)", ErrorKind.MIGRATION_DISABLED),
        (
            r"(does not exist|cannot find path|path not found|cannot find the (path|file))",
            ErrorKind.PATH_MISSING,
        ),
        (r"parameter set cannot be resolved", ErrorKind.INVALID_PARAMETERS),
        (r"(unable to|could not) find a virtual machine", ErrorKind.VM_NOT_FOUND),
        (
            r"virtual machine is (in an invalid|not in a valid|in its current) state",
            ErrorKind.VM_STATE,
        ),
        (r"must be (turned )?off", ErrorKind.VM_STATE),
        (r"cancel+ed", ErrorKind.CANCELLED),
        (r"(connection|connect).*(refused|failed)|port 6600", ErrorKind.MIGRATION_NETWORK),
    )
)

# FullyQualifiedErrorId prefixes that PowerShell itself raises before the cmdlet runs.
_BY_FQEID: tuple[tuple[str, ErrorKind], ...] = (
    ("AmbiguousParameterSet", ErrorKind.INVALID_PARAMETERS),
    ("NamedParameterNotFound", ErrorKind.INVALID_PARAMETERS),
    ("MissingArgument", ErrorKind.INVALID_PARAMETERS),
    ("ParameterArgumentValidationError", ErrorKind.INVALID_PARAMETERS),
    ("CannotConvertArgumentNoMessage", ErrorKind.INVALID_PARAMETERS),
    ("ParameterArgumentTransformationError", ErrorKind.INVALID_PARAMETERS),
    ("CommandNotFoundException", ErrorKind.INVALID_PARAMETERS),
    ("PathNotFound", ErrorKind.PATH_MISSING),
    ("ItemNotFoundException", ErrorKind.PATH_MISSING),
)

_BY_MESSAGE_ID: dict[int, ErrorKind] = {
    33012: ErrorKind.SWITCH_MISSING,
}

COMPARE_KINDS: frozenset[ErrorKind] = frozenset(
    {
        *_BY_MESSAGE_ID.values(),
        *_BY_HRESULT.values(),
        *(kind for _, kind in _BY_TEXT),
        ErrorKind.REMOTE_ERROR,
    }
)
"""Every kind `diagnose_incompatibility` can tell (a Compare-VM report carries no
FullyQualifiedErrorId): each needs a finding code (`commands.findings.code_of`)."""

EVENT_MIGRATION_STARTED = 20413
EVENT_MIGRATION_SUCCEEDED = 20415
EVENT_MIGRATION_SLOW_BLACKOUT = 20417
EVENT_MIGRATION_LIMIT = 21501
EVENT_MIGRATION_FAILED = 21502
EVENT_DESTINATION_CONFIG_FAILED = 21125
EVENT_NO_CREDENTIALS = 20306

_BY_EVENT: dict[int, ErrorKind] = {
    EVENT_MIGRATION_LIMIT: ErrorKind.MIGRATION_LIMIT,
    EVENT_NO_CREDENTIALS: ErrorKind.DELEGATION,
}

FAILURE_EVENTS = frozenset(
    {
        EVENT_MIGRATION_LIMIT,
        EVENT_MIGRATION_FAILED,
        EVENT_DESTINATION_CONFIG_FAILED,
        EVENT_NO_CREDENTIALS,
    }
)
SUCCESS_EVENTS = frozenset({EVENT_MIGRATION_SUCCEEDED, EVENT_MIGRATION_SLOW_BLACKOUT})


def hresults(text: str) -> tuple[int, ...]:
    """Every HRESULT written as 0x........ in `text`, in order."""
    return tuple(int(h, 16) for h in _HRESULT.findall(text))


def kind_of(text: str, *, fq_error_id: str = "", hresult: int | None = None) -> ErrorKind | None:
    """The error kind that `text` (and its FullyQualifiedErrorId, HRESULT) points to, if any.

    HRESULTs are the most specific evidence, then the message, then the FQEID (generic ids
    like `InvalidParameter,...` say less than a message naming a switch).
    """
    for code in ((hresult,) if hresult is not None else ()) + hresults(text):
        # An HRESULT arrives signed from .NET (-2146893042); compare on 32 bits.
        kind = _BY_HRESULT.get(code & 0xFFFFFFFF)
        if kind is not None:
            return kind
    for pattern, kind in _BY_TEXT:
        if pattern.search(text):
            return kind
    for prefix, kind in _BY_FQEID:
        if fq_error_id.startswith(prefix):
            return kind
    return None


def diagnose(text: str, *, fq_error_id: str = "", hresult: int | None = None) -> Diagnosis:
    """The diagnosis of one error text; a generic remote error when nothing matches."""
    kind = kind_of(text, fq_error_id=fq_error_id, hresult=hresult) or ErrorKind.REMOTE_ERROR
    return KNOWLEDGE[kind]


def diagnose_incompatibility(item: Incompatibility) -> Diagnosis:
    """What one Compare-VM incompatibility means (by MessageId, else by its message)."""
    kind = _BY_MESSAGE_ID.get(item.message_id) or kind_of(item.message)
    return KNOWLEDGE[kind or ErrorKind.REMOTE_ERROR]


def diagnose_events(events: Iterable[HostEvent]) -> Diagnosis | None:
    """The diagnosis told by the first failure event among `events`, if any."""
    for event in events:
        if event.event_id not in FAILURE_EVENTS:
            continue
        kind = kind_of(event.message) or _BY_EVENT.get(event.event_id) or ErrorKind.REMOTE_ERROR
        return KNOWLEDGE[kind]
    return None


_BLACKOUT = re.compile(
    r"blackout[^0-9]*([0-9]+(?:[.,][0-9]+)?)\s*(ms|milliseconds?|s|seconds?)?", re.I
)


def blackout_seconds(event: HostEvent) -> float | None:
    """The blackout time written in a 20415/20417 event, in seconds, if the text has one."""
    if event.event_id not in SUCCESS_EVENTS:
        return None
    match = _BLACKOUT.search(event.message)
    if match is None:
        return None
    value = float(match.group(1).replace(",", "."))
    unit = (match.group(2) or "s").casefold()
    return value / 1000 if unit.startswith("m") else value


SEED_TROUBLESHOOTING: tuple[tuple[str, str, str], ...] = (
    (
        "Migration fails at once",
        "Kerberos delegation is wrong",
        "Check the SPNs and the constrained delegation (/migrate delegation <host> <host>)",
    ),
    (
        "Migration is very slow",
        "Saturated network or compression off",
        "Use a dedicated migration network; set performance compression",
    ),
    (
        "VM does not start on the destination",
        "Virtual switch missing",
        "Create the same vSwitch on the destination",
    ),
    (
        "CPU compatibility error",
        "Different CPU generations",
        "Enable CompatibilityForMigrationEnabled (VM turned off)",
    ),
    (
        "Storage inaccessible",
        "Destination path does not exist",
        "Check the paths on the destination host",
    ),
)
"""The seed's troubleshooting table (symptom, probable cause, fix), for `/migrate help`."""
