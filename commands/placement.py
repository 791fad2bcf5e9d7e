"""Where VMs go: one pure placement function, and the schedule of the moves it implies.

`place` puts each VM on the host where it fits, the most free memory first, given what the
hosts have now and what was already placed on them; a VM that fits nowhere is returned with
every host's reason. It reads nothing itself: a drain passes the VMs of one host, a later
`rebalance` can pass VMs of several (each VM's own host is never its destination).

`schedule` orders the moves under both ends' MaximumVirtualMachineMigrations, the rule a
drain follows when it starts moves; with known durations it gives the ideal schedule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from commands.findings import FindingCode
from commands.hyperv import VmInfo, is_shared_path, volume_of

GIB = 1024**3
RUNNING = "running"
# States that a drain may move with `include-stopped` (nothing runs, so no memory is needed).
STOPPED_STATES = frozenset(("off", "saved"))


def gib(n: int) -> str:
    """Bytes as GiB with one decimal, as people read memory and disk sizes."""
    return f"{n / GIB:.1f} GiB"


@dataclass(frozen=True)
class HostCapacity:
    """What a host offers to VMs coming in, as read from it before placing.

    `memory_free_bytes` is None when the host would not say (a restricted endpoint); such a
    host is used last and its memory is not checked. `volumes_free` maps `D:` or
    `\\\\server\\share` to free bytes. Names of switches and versions compare case-insensitively.
    """

    name: str
    memory_free_bytes: int | None
    switches: frozenset[str]
    supported_versions: frozenset[str]
    cpu_vendor: str
    cpu_model: str
    migration_enabled: bool = True
    max_vm_migrations: int = 2
    volumes_free: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Misfit:
    """Why a VM cannot go to a host (`host` None: to any host), with the code a preflight
    would give it."""

    host: str | None
    code: FindingCode
    message: str

    def __str__(self) -> str:
        return self.message if self.host is None else f"{self.host}: {self.message}"


@dataclass(frozen=True)
class Placed:
    """A VM and the host it goes to; `notes` are what an approver should know (not blocking)."""

    vm: VmInfo
    destination: str
    moves_storage: bool
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Unplaced:
    """A VM that fits on no host, with every reason (one or more per host)."""

    vm: VmInfo
    reasons: tuple[Misfit, ...]


@dataclass(frozen=True)
class PlacementPlan:
    """Every VM either placed or unplaced; placed VMs in the order their moves should start."""

    placed: tuple[Placed, ...]
    unplaced: tuple[Unplaced, ...]

    @property
    def complete(self) -> bool:
        """Whether every VM has a destination (for a drain: the host can be emptied)."""
        return not self.unplaced


PairMisfits = Mapping[tuple[str, str], Sequence[Misfit]]
"""Reasons learnt outside the pure checks, by (VM id, host name): Compare-VM's verdicts."""


def place(
    vms: Sequence[VmInfo],
    hosts: Sequence[HostCapacity],
    *,
    sources: Mapping[str, HostCapacity],
    include_storage: bool,
    known_misfits: PairMisfits | None = None,
) -> PlacementPlan:
    """Place each VM of `vms` on one of `hosts` (never the host it runs on).

    Biggest memory first (so the large VMs still find room), each on the fitting host with the
    most free memory left after the VMs already placed there; a host whose processor model
    differs from the VM's host while the VM's compatibility mode is off is taken only when no
    other fits (Compare-VM decides; its refusals come back as `known_misfits`).
    `sources` are the VMs' current hosts, by name, for their processor and migration switch.
    """
    misfits = known_misfits or {}
    memory_left = {h.name: h.memory_free_bytes for h in hosts}
    space_left = {h.name: dict(h.volumes_free) for h in hosts}
    placed: list[Placed] = []
    unplaced: list[Unplaced] = []
    for vm in sorted(vms, key=lambda v: (-_memory_need(v), v.name.casefold())):
        source = sources.get(vm.host)
        refusal = tuple(_vm_misfits(vm, source, include_storage))
        if refusal:
            unplaced.append(Unplaced(vm, refusal))
            continue
        reasons: list[Misfit] = []
        fitting: list[tuple[tuple[bool, bool, int, int], HostCapacity, tuple[str, ...]]] = []
        for index, host in enumerate(hosts):
            if host.name.casefold() == vm.host.casefold():
                continue
            found = [
                *_host_misfits(vm, source, host, memory_left[host.name]),
                *_storage_misfits(vm, host, space_left[host.name], include_storage),
                *misfits.get((vm.id, host.name), ()),
            ]
            if found:
                reasons += found
                continue
            free = memory_left[host.name]
            # Known memory before unknown, then no processor doubt, then the most free memory.
            rank = (free is None, _cpu_doubt(vm, source, host), -(free or 0), index)
            fitting.append((rank, host, tuple(_notes(vm, source, host))))
        if not fitting:
            if not reasons:
                reasons.append(Misfit(None, FindingCode.NO_DESTINATION, "no other host to go to"))
            unplaced.append(Unplaced(vm, tuple(reasons)))
            continue
        _, host, notes = min(fitting, key=lambda item: item[0])
        left = memory_left[host.name]
        if left is not None:
            memory_left[host.name] = left - _memory_need(vm)
        moves_storage = include_storage and bool(_local_bytes(vm))
        if moves_storage:
            for volume, needed in _local_bytes(vm).items():
                space = space_left[host.name]
                space[volume] = space.get(volume, 0) - needed
        placed.append(Placed(vm, host.name, moves_storage, notes))
    return PlacementPlan(tuple(placed), tuple(unplaced))


def _memory_need(vm: VmInfo) -> int:
    # A stopped VM takes no memory until someone starts it.
    return vm.memory_bytes if vm.state.casefold() == RUNNING else 0


def _local_bytes(vm: VmInfo) -> dict[str, int]:
    """Bytes of the VM's local disks by volume: what include-storage copies. Empty when every
    disk is shared: like a single move, such a VM goes live without storage (its
    configuration files then need no volume of their own on the destination)."""
    needed: dict[str, int] = {}
    for disk in vm.disks:
        if not is_shared_path(disk.path):
            volume = volume_of(disk.path)
            needed[volume] = needed.get(volume, 0) + disk.size_bytes
    if needed and vm.path and not is_shared_path(vm.path):
        needed.setdefault(volume_of(vm.path), 0)
    return needed


def _vm_misfits(vm: VmInfo, source: HostCapacity | None, include_storage: bool) -> Iterable[Misfit]:
    """Reasons that hold whatever the destination: they need the VM or its host fixed."""
    state = vm.state.casefold()
    if state != RUNNING and state not in STOPPED_STATES:
        yield Misfit(
            None, FindingCode.VM_STATE, f"{vm.name} is {vm.state}; retry when it has settled"
        )
    if source is not None and not source.migration_enabled:
        yield Misfit(
            None,
            FindingCode.MIGRATION_DISABLED,
            f"live migration is disabled on {source.name} (/migrate host {source.name} enable)",
        )
    local = [d.path for d in vm.disks if not is_shared_path(d.path)]
    if local and not include_storage:
        yield Misfit(
            None,
            FindingCode.LOCAL_STORAGE,
            f"{vm.name} has disks on local storage ({', '.join(local)}); add include-storage",
        )
    for iso in vm.dvd_paths:
        if iso and not is_shared_path(iso):
            yield Misfit(
                None,
                FindingCode.LOCAL_ISO,
                f"{vm.name} has the ISO {iso} attached from a local path; eject it",
            )


def _host_misfits(
    vm: VmInfo, source: HostCapacity | None, host: HostCapacity, memory_left: int | None
) -> Iterable[Misfit]:
    if not host.migration_enabled:
        yield Misfit(host.name, FindingCode.MIGRATION_DISABLED, "live migration is disabled")
    need = _memory_need(vm)
    if memory_left is not None and need > memory_left:
        yield Misfit(
            host.name,
            FindingCode.NOT_ENOUGH_MEMORY,
            f"{gib(max(memory_left, 0))} free after the VMs placed there; {vm.name} needs "
            f"{gib(need)}",
        )
    switches = {s.casefold() for s in host.switches}
    for adapter in vm.adapters:
        if adapter.switch_name and adapter.switch_name.casefold() not in switches:
            yield Misfit(
                host.name,
                FindingCode.SWITCH_MISSING,
                f"no virtual switch '{adapter.switch_name}' (adapter '{adapter.name}')",
            )
    versions = {v.casefold() for v in host.supported_versions}
    if versions and vm.configuration_version.casefold() not in versions:
        yield Misfit(
            host.name,
            FindingCode.VERSION_UNSUPPORTED,
            f"does not support configuration version {vm.configuration_version}",
        )
    if (
        source is not None
        and vm.state.casefold() == RUNNING
        and source.cpu_vendor
        and host.cpu_vendor
        and source.cpu_vendor.casefold() != host.cpu_vendor.casefold()
    ):
        # Processor compatibility mode hides features within one vendor, never across vendors.
        yield Misfit(
            host.name,
            FindingCode.CPU_INCOMPATIBLE,
            f"{host.cpu_vendor} processors; {vm.name} runs on {source.cpu_vendor} "
            "(a running VM never moves across processor vendors)",
        )


def _storage_misfits(
    vm: VmInfo, host: HostCapacity, space_left: Mapping[str, int], include_storage: bool
) -> Iterable[Misfit]:
    if not include_storage:
        return
    for volume, needed in _local_bytes(vm).items():
        free = space_left.get(volume)
        if free is None:
            yield Misfit(
                host.name,
                FindingCode.PATH_MISSING,
                f"no {volume} volume for the files of {vm.name} (they keep their paths)",
            )
        elif needed > free:
            yield Misfit(
                host.name,
                FindingCode.NOT_ENOUGH_DISK,
                f"{gib(max(free, 0))} free on {volume} after the VMs placed there; "
                f"{vm.name}'s disks need {gib(needed)}",
            )


def _cpu_doubt(vm: VmInfo, source: HostCapacity | None, host: HostCapacity) -> bool:
    """Same vendor, another model, compatibility mode off: only Compare-VM can tell."""
    return (
        source is not None
        and vm.state.casefold() == RUNNING
        and not vm.processor_compatibility
        and bool(source.cpu_model and host.cpu_model)
        and source.cpu_model.casefold() != host.cpu_model.casefold()
    )


def _notes(vm: VmInfo, source: HostCapacity | None, host: HostCapacity) -> Iterable[str]:
    if _cpu_doubt(vm, source, host):
        yield (
            f"another processor model than {vm.host} and compatibility mode off: Compare-VM decides"
        )
    if host.memory_free_bytes is None:
        yield f"{host.name} does not report its free memory: not checked"
    if vm.state.casefold() != RUNNING:
        yield f"{vm.state.lower()}: moved without running"


# -- the schedule ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One move to schedule: its key, both ends, and how long it takes (estimated or measured)."""

    key: str
    source: str
    destination: str
    seconds: float = 0.0


@dataclass(frozen=True)
class Slot:
    """When a job starts and ends in a schedule (seconds from the start)."""

    key: str
    start: float
    end: float


def startable(
    waiting: Sequence[Job], running: Iterable[Job], limits: Mapping[str, int]
) -> list[Job]:
    """The waiting jobs to start now, in order: each while both its hosts are under their limit.

    A job that does not fit does not hold back later ones on other hosts. A host missing
    from `limits` counts as a limit of 1.
    """
    busy: dict[str, int] = {}
    for job in running:
        for host in (job.source, job.destination):
            busy[host] = busy.get(host, 0) + 1
    chosen: list[Job] = []
    for job in waiting:
        ends = (job.source, job.destination)
        if all(busy.get(h, 0) < max(1, limits.get(h, 1)) for h in ends):
            for host in ends:
                busy[host] = busy.get(host, 0) + 1
            chosen.append(job)
    return chosen


def schedule(jobs: Sequence[Job], limits: Mapping[str, int]) -> tuple[Slot, ...]:
    """Every job's start and end when each starts as soon as `startable` lets it."""
    waiting = list(jobs)
    running: list[tuple[float, Job]] = []
    slots: list[Slot] = []
    now = 0.0
    while waiting or running:
        for job in startable(waiting, (j for _, j in running), limits):
            waiting.remove(job)
            running.append((now + job.seconds, job))
            slots.append(Slot(job.key, now, now + job.seconds))
        if not running:
            break
        now = min(end for end, _ in running)
        running = [(end, job) for end, job in running if end > now]
    return tuple(slots)


def makespan(slots: Iterable[Slot]) -> float:
    """When the last job of a schedule ends."""
    return max((s.end for s in slots), default=0.0)
