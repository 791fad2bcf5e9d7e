"""What hvbot knows about Hyper-V hosts and VMs, as typed values read from the hosts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import IntEnum, StrEnum


class JobState(IntEnum):
    """Msvm_MigrationJob.JobState (CIM_ConcreteJob)."""

    NEW = 2
    STARTING = 3
    RUNNING = 4
    SUSPENDED = 5
    SHUTTING_DOWN = 6
    COMPLETED = 7
    TERMINATED = 8
    KILLED = 9
    EXCEPTION = 10

    @property
    def finished(self) -> bool:
        """Whether the job will not change any more."""
        return self >= JobState.COMPLETED


class ErrorKind(StrEnum):
    """Everything that can go wrong talking to a host or moving a VM, classified."""

    HOST_UNREACHABLE = "host_unreachable"
    DNS = "dns"
    TLS = "tls"
    PROTOCOL_MISMATCH = "protocol_mismatch"
    AUTHENTICATION = "authentication"
    TIMEOUT = "timeout"
    WSMAN_FAULT = "wsman_fault"
    VM_NOT_FOUND = "vm_not_found"
    VM_AMBIGUOUS = "vm_ambiguous"
    DELEGATION = "delegation"
    CREDENTIALS_NOT_RECOGNIZED = "credentials_not_recognized"
    CPU_INCOMPATIBLE = "cpu_incompatible"
    SWITCH_MISSING = "switch_missing"
    MIGRATION_NETWORK = "migration_network"
    NOT_ENOUGH_MEMORY = "not_enough_memory"
    NOT_ENOUGH_DISK = "not_enough_disk"
    PATH_MISSING = "path_missing"
    VERSION_UNSUPPORTED = "version_unsupported"
    LOCAL_ISO = "local_iso"
    MIGRATION_LIMIT = "migration_limit"
    MIGRATION_DISABLED = "migration_disabled"
    VM_STATE = "vm_state"
    CANCELLED = "cancelled"
    NOT_STARTED = "not_started"
    OUTCOME_UNKNOWN = "outcome_unknown"
    INVALID_PARAMETERS = "invalid_parameters"
    REMOTE_ERROR = "remote_error"


class HyperVError(Exception):
    """A classified failure: safe to show `summary`, `cause` and `fix`; `detail` is for logs only.

    `detail` holds remote text with secrets scrubbed; it is never posted to chat.
    """

    def __init__(
        self,
        kind: ErrorKind,
        summary: str,
        *,
        cause: str = "",
        fix: str = "",
        detail: str = "",
        host: str | None = None,
    ) -> None:
        super().__init__(summary)
        self.kind = kind
        self.summary = summary
        self.cause = cause
        self.fix = fix
        self.detail = detail
        self.host = host

    def headline(self) -> str:
        """`host: summary`, or the summary alone: the first line shown to people."""
        return f"{self.host}: {self.summary}" if self.host else self.summary

    def details(self) -> tuple[str, ...]:
        """`cause: ...` and `fix: ...`, those that are known, one line each."""
        known = (("cause", self.cause), ("fix", self.fix))
        return tuple(f"{label}: {text}" for label, text in known if text)

    def sentence(self) -> str:
        """The error on one line: the summary, then its cause and fix."""
        parts = [self.summary]
        parts += [
            f"{label}: {text}" for label, text in (("Cause", self.cause), ("Fix", self.fix)) if text
        ]
        return " ".join(parts)


@dataclass(frozen=True)
class NetworkAdapter:
    """A VM network adapter and the virtual switch it is connected to (None: disconnected)."""

    name: str
    switch_name: str | None


@dataclass(frozen=True)
class HardDisk:
    """A VM hard disk: its file and size in bytes."""

    path: str
    size_bytes: int
    controller: str = ""


@dataclass(frozen=True)
class VmInfo:
    """A VM as read from the host that runs it."""

    id: str
    name: str
    host: str
    state: str
    memory_bytes: int
    processor_compatibility: bool
    configuration_version: str
    path: str
    adapters: tuple[NetworkAdapter, ...] = ()
    disks: tuple[HardDisk, ...] = ()
    dvd_paths: tuple[str, ...] = ()
    # A role of a failover cluster (Get-VM's IsClustered): the cluster moves it, not Move-VM.
    clustered: bool = False


@dataclass(frozen=True)
class MigrationNetwork:
    """An entry of Get-VMMigrationNetwork."""

    subnet: str
    priority: int


@dataclass(frozen=True)
class HostSettings:
    """A host's migration settings (Get-VMHost) and migration networks."""

    host: str
    migration_enabled: bool
    max_vm_migrations: int
    max_storage_migrations: int
    authentication: str
    performance: str
    use_any_network: bool
    networks: tuple[MigrationNetwork, ...] = ()
    logical_processors: int = 0
    memory_total_bytes: int = 0
    memory_free_bytes: int = 0


@dataclass(frozen=True)
class Processor:
    """A host's processor (Win32_Processor): `vendor` is its Manufacturer (GenuineIntel,
    AuthenticAMD), `model` its Name; empty when the host would not say."""

    vendor: str
    model: str


@dataclass(frozen=True)
class Volume:
    """A volume (drive letter or mount path) and its free space."""

    path: str
    size_bytes: int
    free_bytes: int


@dataclass(frozen=True)
class HostFacts:
    """What one read of a host tells a preflight: settings, switches, volumes, versions, paths.

    `paths` maps each path asked about to whether Test-Path saw it from the host's session.
    """

    settings: HostSettings
    switches: tuple[str, ...] = ()
    volumes: tuple[Volume, ...] = ()
    supported_versions: tuple[str, ...] = ()
    paths: tuple[tuple[str, bool], ...] = ()


@dataclass(frozen=True)
class Survey:
    """One parallel read of the inventory for a move: the VM, with the facts of the host that
    runs it and of the destination."""

    vm: VmInfo
    facts: tuple[HostFacts, ...] = ()

    def facts_of(self, host: str) -> HostFacts | None:
        """The facts read of `host` (by name), if it was read."""
        return next((f for f in self.facts if f.settings.host.casefold() == host.casefold()), None)


@dataclass(frozen=True)
class Incompatibility:
    """One entry of a Compare-VM report."""

    message_id: int
    message: str
    source: str = ""


@dataclass(frozen=True)
class HostEvent:
    """An event of the Microsoft-Windows-Hyper-V-VMMS-Admin log."""

    event_id: int
    time_created: dt.datetime
    level: str
    message: str


@dataclass(frozen=True)
class MigrationProgress:
    """One reading of the migration job on the source host."""

    state: JobState
    percent: int
    elapsed_seconds: float
    bytes_transferred: int | None = None
    bytes_total: int | None = None
    error_code: int | None = None
    error_description: str | None = None
    cancellable: bool = False


@dataclass(frozen=True)
class MigrationOutcome:
    """How a migration ended.

    `duration_seconds` is the host job's ElapsedTime when the job was seen (the truth on
    Windows, whoever followed the move), else the bot's clock since the move was sent.
    """

    succeeded: bool
    duration_seconds: float
    blackout_seconds: float | None = None
    error: HyperVError | None = None
    events: tuple[HostEvent, ...] = ()
    evidence: tuple[str, ...] = ()


class CancelMethod(StrEnum):
    """How a cancel was carried out, so people are told which happened."""

    JOB_STATE_CHANGE = "job_state_change"
    PIPELINE_STOP = "pipeline_stop"
    TOO_LATE = "too_late"


def volume_of(path: str) -> str:
    """The volume a path lives on: `D:` or `\\\\server\\share`."""
    if path.startswith("\\\\"):
        return "\\\\" + "\\".join(path[2:].split("\\")[:2])
    return path[:2].upper()


def is_shared_path(path: str) -> bool:
    """Whether every host can reach the file: an SMB share or a cluster shared volume."""
    return path.startswith("\\\\") or path.casefold()[1:].startswith(":\\clusterstorage\\")
