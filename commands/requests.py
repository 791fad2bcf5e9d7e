"""Typed, immutable requests: what the command language produces and everything else consumes.

Every request is already validated: VM names carry no wildcard or control character, hosts
come from the inventory, paths are absolute Windows paths. Later code never re-parses text.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from commands.inventory import Host


class HostSetting(StrEnum):
    """Host migration settings a chat user may change (`/migrate host H set ...`)."""

    MAX_MIGRATIONS = "max-migrations"
    MAX_STORAGE_MIGRATIONS = "max-storage-migrations"
    AUTH = "auth"
    PERFORMANCE = "performance"
    ANY_NETWORK = "any-network"


class AuthType(StrEnum):
    """Live migration authentication (VirtualMachineMigrationAuthenticationType)."""

    KERBEROS = "Kerberos"
    CREDSSP = "CredSSP"


class PerformanceOption(StrEnum):
    """VirtualMachineMigrationPerformanceOption."""

    TCPIP = "TCPIP"
    COMPRESSION = "Compression"
    SMB = "SMB"


@dataclass(frozen=True)
class VhdMove:
    """One disk of a storage move: its current path and where it goes."""

    source: str
    destination: str


@dataclass(frozen=True)
class Move:
    """A VM move to another host, as `/migrate` and `/migrate check` describe it."""

    vm: str
    destination: Host
    source: Host | None = None
    include_storage: bool = False
    storage_path: str | None = None
    vm_path: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class MigrateRequest:
    """`/migrate <vm> to <host> ...`: check, approve, run."""

    move: Move


@dataclass(frozen=True)
class CheckRequest:
    """`/migrate check <vm> to <host> ...`: preflight only, changes nothing."""

    move: Move


@dataclass(frozen=True)
class StorageRequest:
    """`/migrate storage <vm> to <path>` or per-disk `vhd <src> to <dst>` moves on the same host."""

    vm: str
    storage_path: str | None = None
    vhds: tuple[VhdMove, ...] = ()
    vm_path: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class StatusRequest:
    """`/migrate status [<id>|<vm>]`."""

    request_id: int | None = None
    vm: str | None = None


@dataclass(frozen=True)
class CancelRequest:
    """`/migrate cancel <id>`."""

    request_id: int


@dataclass(frozen=True)
class HistoryRequest:
    """`/migrate history [<vm>|<host>] [last <n>]`."""

    vm: str | None = None
    host: Host | None = None
    last: int | None = None


@dataclass(frozen=True)
class DiagnoseRequest:
    """`/migrate diagnose <id>` or `/migrate diagnose <vm> [to <host>]`."""

    request_id: int | None = None
    vm: str | None = None
    destination: Host | None = None


@dataclass(frozen=True)
class HostShowRequest:
    """`/migrate host <host>`: show the host's migration settings."""

    host: Host


@dataclass(frozen=True)
class HostToggleRequest:
    """`/migrate host <host> enable|disable` (Enable-/Disable-VMMigration)."""

    host: Host
    enabled: bool


@dataclass(frozen=True)
class HostSetRequest:
    """`/migrate host <host> set <setting> <value>`; value typed by setting."""

    host: Host
    setting: HostSetting
    value: int | bool | AuthType | PerformanceOption


@dataclass(frozen=True)
class HostNetworkAddRequest:
    """`/migrate host <host> network add <cidr> [priority <n>]`."""

    host: Host
    subnet: str
    priority: int | None = None


@dataclass(frozen=True)
class HostNetworkRemoveRequest:
    """`/migrate host <host> network remove <cidr>`."""

    host: Host
    subnet: str


@dataclass(frozen=True)
class VmCompatibilityRequest:
    """`/migrate vm <vm> compatibility on|off` (processor compatibility mode; VM must be off)."""

    vm: str
    enabled: bool


@dataclass(frozen=True)
class DelegationRequest:
    """`/migrate delegation <host> <host> [fix]`: Kerberos constrained delegation both ways."""

    first: Host
    second: Host
    fix: bool = False


@dataclass(frozen=True)
class Drain:
    """Empty `source` for maintenance: every running VM (and, if asked, the stopped ones) goes
    to one of `destinations`, or to any other inventory host when none are named."""

    source: Host
    destinations: tuple[Host, ...] = ()
    include_storage: bool = False
    include_stopped: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class DrainRequest:
    """`/migrate drain <host> ...`: place every VM, one approval, then move them all."""

    drain: Drain


@dataclass(frozen=True)
class DrainCheckRequest:
    """`/migrate drain check <host> ...`: the placement and the moves only, changes nothing."""

    drain: Drain


@dataclass(frozen=True)
class DrainCancelRequest:
    """`/migrate drain cancel <id>`: start no further move of the drain; running ones finish."""

    request_id: int


@dataclass(frozen=True)
class HelpRequest:
    """`/migrate help [<topic>]`."""

    topic: str | None = None


Request = (
    MigrateRequest
    | CheckRequest
    | StorageRequest
    | StatusRequest
    | CancelRequest
    | HistoryRequest
    | DiagnoseRequest
    | HostShowRequest
    | HostToggleRequest
    | HostSetRequest
    | HostNetworkAddRequest
    | HostNetworkRemoveRequest
    | VmCompatibilityRequest
    | DelegationRequest
    | DrainRequest
    | DrainCheckRequest
    | DrainCancelRequest
    | HelpRequest
)

HostChange = HostToggleRequest | HostSetRequest | HostNetworkAddRequest | HostNetworkRemoveRequest
"""The requests that change a host's migration settings."""

PlannedRequest = (
    MigrateRequest | CheckRequest | StorageRequest | VmCompatibilityRequest | HostChange
)
"""The requests that become cmdlet invocations on a host (a plan); the others only read."""


def runs_on_a_host(request: Request) -> bool:
    """Whether `request` has a plan of cmdlets to run (or, for `check`, to check)."""
    return isinstance(request, PlannedRequest)
