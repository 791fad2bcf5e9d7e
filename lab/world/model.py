"""The state of the simulated Hyper-V estate: plain dataclasses, guarded by `World`'s lock."""

from __future__ import annotations

import datetime as dt
import enum
import threading
from dataclasses import dataclass, field

from lab.world import winpath

GIB = 1024**3


class VMState(enum.IntEnum):
    """Microsoft.HyperV.PowerShell.VMState (values as Windows Server 2022 reports them)."""

    Other = 1
    Running = 2
    Off = 3
    Stopping = 4
    Saved = 6
    Paused = 9
    Starting = 10
    Reset = 11
    Saving = 32773
    Pausing = 32776
    Resuming = 32777


class AuthType(enum.IntEnum):
    """Microsoft.HyperV.PowerShell.MigrationAuthenticationType."""

    CredSSP = 0
    Kerberos = 1


class Performance(enum.IntEnum):
    """Microsoft.HyperV.PowerShell.VMMigrationPerformance."""

    TCPIP = 0
    Compression = 1
    SMB = 2


class SwitchType(enum.IntEnum):
    """Microsoft.HyperV.PowerShell.VMSwitchType."""

    Private = 0
    Internal = 1
    External = 2


class JobState(enum.IntEnum):
    """CIM_ConcreteJob.JobState."""

    New = 2
    Starting = 3
    Running = 4
    Suspended = 5
    ShuttingDown = 6
    Completed = 7
    Terminated = 8
    Killed = 9
    Exception = 10


FINISHED_JOB_STATES = frozenset(
    {JobState.Completed, JobState.Terminated, JobState.Killed, JobState.Exception}
)


VMMS_LOG = "Microsoft-Windows-Hyper-V-VMMS-Admin"
HA_LOG = "Microsoft-Windows-Hyper-V-High-Availability-Admin"
LOG_PROVIDERS = {
    VMMS_LOG: "Microsoft-Windows-Hyper-V-VMMS",
    HA_LOG: "Microsoft-Windows-Hyper-V-High-Availability",
}


@dataclass
class Volume:
    """A fixed NTFS/ReFS volume with a drive letter."""

    letter: str
    size: int
    free: int
    label: str = ""
    file_system: str = "NTFS"


@dataclass
class VirtualSwitch:
    """A Hyper-V virtual switch."""

    name: str
    switch_type: SwitchType
    id: str


@dataclass
class NetworkAdapter:
    """A VM network adapter and the switch it is connected to ('' when not connected)."""

    name: str
    switch_name: str
    mac: str


@dataclass
class HardDisk:
    """A virtual hard disk attached to a SCSI (or IDE) controller."""

    path: str
    size: int
    max_size: int = 0
    controller_type: str = "SCSI"
    controller_number: int = 0
    controller_location: int = 0


@dataclass
class DvdDrive:
    """A virtual DVD drive, with an ISO path or empty."""

    path: str
    controller_number: int = 0
    controller_location: int = 1


@dataclass
class VirtualMachine:
    """A virtual machine on a host."""

    id: str
    name: str
    state: VMState
    memory_startup: int
    processor_count: int
    version: str
    path: str
    generation: int = 2
    compatibility_for_migration: bool = False
    # A role of a failover cluster (Get-VM's IsClustered): Windows moves it through the cluster.
    clustered: bool = False
    adapters: list[NetworkAdapter] = field(default_factory=list)
    disks: list[HardDisk] = field(default_factory=list)
    dvds: list[DvdDrive] = field(default_factory=list)

    @property
    def memory_assigned(self) -> int:
        """Memory the VM holds on its host: all of it when it runs, none when off or saved."""
        return self.memory_startup if self.state in _HOLDS_MEMORY else 0


_HOLDS_MEMORY = frozenset({VMState.Running, VMState.Paused, VMState.Starting, VMState.Stopping})


@dataclass
class MigrationNetwork:
    """A subnet the host accepts live migrations on."""

    subnet: str
    priority: int


@dataclass
class Event:
    """A record of a Hyper-V event log (VMMS-Admin, or High-Availability-Admin)."""

    record_id: int
    event_id: int
    level: str
    time: dt.datetime
    message: str
    log: str = VMMS_LOG


# The failure of a live migration (21501, 21502) and the destination's configuration failure
# (21125) are written by the Hyper-V-High-Availability provider (Microsoft's KB2475761
# diagnostic reads them there); the rest of the migration events by VMMS.
HA_EVENTS = frozenset({21125, 21501, 21502})


@dataclass
class Host:
    """A Hyper-V host with every migration setting of architecture §5."""

    name: str
    domain: str
    cpu_vendor: str
    cpu_model: str
    cpu_feature_level: int
    logical_processors: int
    memory_total: int
    memory_reserved: int
    supported_versions: list[str]
    default_version: str
    migration_enabled: bool = True
    max_vm_migrations: int = 2
    max_storage_migrations: int = 2
    auth_type: AuthType = AuthType.CredSSP
    performance: Performance = Performance.Compression
    use_any_network: bool = False
    delegation_to: set[str] = field(default_factory=set)
    virtual_machine_path: str = "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V"
    virtual_hard_disk_path: str = "C:\\ProgramData\\Microsoft\\Windows\\Virtual Hard Disks"
    volumes: dict[str, Volume] = field(default_factory=dict)
    folders: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, int]] = field(default_factory=dict)
    switches: list[VirtualSwitch] = field(default_factory=list)
    networks: list[MigrationNetwork] = field(default_factory=list)
    vms: dict[str, VirtualMachine] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    # How far this host's clock runs ahead of the real one (behind when negative): domain
    # members drift within seconds, Kerberos tolerates 5 minutes.
    clock_offset_seconds: float = 0.0

    def now(self) -> dt.datetime:
        """The time on this host's own clock (what it stamps jobs, events, Get-Date with)."""
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.clock_offset_seconds)

    @property
    def fqdn(self) -> str:
        """Fully qualified DNS name."""
        return f"{self.name}.{self.domain}"

    @property
    def memory_free(self) -> int:
        """Physical memory not used by the host OS or by running VMs."""
        used = sum(vm.memory_assigned for vm in self.vms.values())
        return max(self.memory_total - self.memory_reserved - used, 0)

    def add_folder(self, path: str) -> None:
        """Create `path` and every folder above it."""
        for folder in [path, *winpath.ancestors(path)]:
            self.folders.setdefault(winpath.normalize(folder), folder.rstrip("\\") or folder)

    def has_folder(self, path: str) -> bool:
        """True if `path` is an existing folder (a volume root counts)."""
        key = winpath.normalize(path)
        if len(key) == 3 and key[1:] == ":\\":
            return key[0].upper() in self.volumes
        return key in self.folders

    def add_file(self, path: str, size: int) -> None:
        """Create a file (and its folder); free space is the caller's business."""
        self.add_folder(winpath.parent(path))
        self.files[winpath.normalize(path)] = (path, size)

    def has_file(self, path: str) -> bool:
        """True if `path` is an existing file."""
        return winpath.normalize(path) in self.files

    def find_vm(self, name: str) -> VirtualMachine | None:
        """The VM called `name` (case-insensitive), if any."""
        wanted = name.lower()
        return next((vm for vm in self.vms.values() if vm.name.lower() == wanted), None)

    def switch(self, name: str) -> VirtualSwitch | None:
        """The switch called `name` (case-insensitive), if any."""
        wanted = name.lower()
        return next((sw for sw in self.switches if sw.name.lower() == wanted), None)


@dataclass
class MigrationJob:
    """An Msvm_MigrationJob: one live or storage migration as WMI reports it."""

    instance_id: str
    vm_id: str
    vm_name: str
    source: str
    destination: str
    storage_only: bool
    start_time: dt.datetime
    sequence: int = 0
    state: JobState = JobState.New
    percent: int = 0
    elapsed: float = 0.0
    error_code: int = 0
    error_description: str = ""
    hresult: int | None = None
    cancellable: bool = True
    finished_monotonic: float | None = None
    cancel_requested: threading.Event = field(default_factory=threading.Event)

    @property
    def finished(self) -> bool:
        """True once the job reached a final state."""
        return self.state in FINISHED_JOB_STATES


@dataclass(frozen=True)
class CallRecord:
    """One cmdlet invocation as the lab received it."""

    host: str
    user: str
    cmdlet: str
    parameters: tuple[tuple[str | None, object], ...]
    time: dt.datetime
