"""The migration job engine: Msvm_MigrationJob-like jobs that run in background threads.

A job keeps running when the pipeline that started it goes away (as on Windows, where the
VMMS service owns the migration); only RequestStateChange or a stopped Move-VM cancel it.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lab.world import winpath
from lab.world.compat import E_CANCELLED, E_TIMED_OUT, EVENT_FAILED, StorageTargets, hex_code
from lab.world.faults import FaultKind
from lab.world.model import HardDisk, Host, JobState, MigrationJob, VirtualMachine

if TYPE_CHECKING:
    from lab.world.world import World

EVENT_STARTED = 20413
EVENT_SUCCEEDED = 20415
EVENT_LONG_BLACKOUT = 20417
EVENT_LIMIT = 21501
# Storage-only moves (Move-VMStorage) are logged too; these three ids are guesses (NOTES.md).
EVENT_STORAGE_STARTED = 20414
EVENT_STORAGE_SUCCEEDED = 20418
EVENT_STORAGE_FAILED = 20419
SETUP_SECONDS = 2.0
# Pages dirtied while the memory copies: later passes send about 15 % more (a guess).
DIRTY_OVERHEAD = 1.15
LONG_BLACKOUT_SECONDS = 2.0
# WMI job error code for a failed or cancelled job (CIM "Failed"); the HRESULT is in the text.
JOB_FAILED_CODE = 32768
E_SEM_TIMEOUT = 0x80070079


@dataclass
class MovePlan:
    """What one migration does: which VM, from where to where, what moves."""

    vm: VirtualMachine
    source: Host
    destination: Host
    targets: StorageTargets | None
    retain_source: bool = False

    @property
    def storage_only(self) -> bool:
        """Move-VMStorage: the VM stays on its host."""
        return self.source is self.destination

    def moved_disks(self) -> list[tuple[HardDisk, str]]:
        """Each disk whose file moves, with its new path."""
        if self.targets is None:
            return []
        moved: list[tuple[HardDisk, str]] = []
        for disk in self.vm.disks:
            new = self.targets.new_path(disk.path)
            unchanged = new is not None and winpath.normalize(new) == winpath.normalize(disk.path)
            if new is not None and not (self.storage_only and unchanged):
                moved.append((disk, new))
        return moved

    def storage_bytes(self) -> int:
        """Bytes of virtual hard disk the move copies."""
        return sum(disk.size for disk, _ in self.moved_disks())


def duration_seconds(world: World, plan: MovePlan) -> float:
    """Simulated length of the migration."""
    rate = world.transfer_rate(plan.source, plan.destination)
    memory = 0 if plan.storage_only else plan.vm.memory_assigned * DIRTY_OVERHEAD
    return SETUP_SECONDS + (plan.storage_bytes() + memory) / rate


def blackout_seconds(world: World, plan: MovePlan) -> float:
    """Simulated time the VM is paused for the last pages: grows as the link slows."""
    rate = world.transfer_rate(plan.source, plan.destination)
    return round(0.05 + plan.vm.memory_assigned * 0.008 / rate, 2)


def start(world: World, plan: MovePlan) -> MigrationJob | None:
    """Register a job for `plan` and run it in a background thread.

    None if the VM already has a job that has not finished: the check and the registration
    happen under one lock, so two concurrent Move-VM calls never both start.
    """
    job = MigrationJob(
        instance_id=str(uuid.uuid4()).upper(),
        vm_id=plan.vm.id.upper(),
        vm_name=plan.vm.name,
        source=plan.source.name,
        destination=plan.destination.name,
        storage_only=plan.storage_only,
        start_time=plan.source.now(),
    )
    with world.lock:
        if is_migrating(world, plan.vm):
            return None
        job.sequence = max((j.sequence for j in world.jobs.values()), default=0) + 1
        world.jobs[job.instance_id] = job
    world.start_thread(
        threading.Thread(
            target=_run, args=(world, job, plan), daemon=True, name=f"lab-migration-{plan.vm.name}"
        )
    )
    return job


def is_migrating(world: World, vm: VirtualMachine) -> bool:
    """True while a job of `vm` has not finished."""
    with world.lock:
        return any(j.vm_id == vm.id.upper() and not j.finished for j in world.jobs.values())


def request_cancel(world: World, job: MigrationJob) -> int:
    """RequestStateChange(4): 0 if the job will stop, 4097 if it already finished."""
    with world.changed:
        if job.finished:
            return 4097
        job.cancel_requested.set()
        world.changed.notify_all()
        return 0


def must_wait(world: World, job: MigrationJob) -> bool:
    """True while `job` may not start (call with the world lock held).

    It waits while either host runs as many migrations of its kind as its limit allows, and
    while an older queued job of the same kind shares a host with it: queued migrations start
    in arrival order.
    """
    hosts = {job.source, job.destination}
    older = any(
        j.state is JobState.New
        and j.sequence < job.sequence
        and j.storage_only == job.storage_only
        and hosts & {j.source, j.destination}
        for j in world.jobs.values()
    )
    return older or at_limit(world, job)


def at_limit(world: World, job: MigrationJob) -> bool:
    """True when a host of `job` runs as many migrations of its kind as its limit allows (call
    with the world lock held). Only this queues a move in the 21501 sense: waiting behind an
    older job that has not started yet is the lab's own thread scheduling, not a limit."""
    for name in (job.source, job.destination):
        host = world.hosts[name.lower()]
        limit = host.max_storage_migrations if job.storage_only else host.max_vm_migrations
        if world.active_jobs(host, storage_only=job.storage_only) >= limit:
            return True
    return False


def _vmid(plan: MovePlan) -> str:
    return f"(Virtual machine ID {plan.vm.id.upper()})"


def _run(world: World, job: MigrationJob, plan: MovePlan) -> None:
    with world.changed:
        queued = False
        while must_wait(world, job):
            if not queued and not plan.storage_only and at_limit(world, job):
                world.log_event(
                    plan.source,
                    EVENT_LIMIT,
                    "Warning",
                    f"Migration of '{plan.vm.name}' is queued: the simultaneous "
                    f"migration limit has been reached {_vmid(plan)}.",
                )
                queued = True
            if job.cancel_requested.is_set():
                _finish(world, job, plan, JobState.Terminated, _cancel_text(plan), E_CANCELLED)
                return
            world.changed.wait(0.02)
        job.state = JobState.Running
        for host in (plan.source, plan.destination):
            running = world.active_jobs(host, storage_only=plan.storage_only)
            world.peak_running[host.name] = max(world.peak_running.get(host.name, 0), running)
        _log_start(world, plan)
        world.changed.notify_all()
        duration = duration_seconds(world, plan)
        fail = world.fault(FaultKind.FAIL_AT_PERCENT, plan.destination.name, plan.vm.name)
    scale = max(world.time_scale, 1e-6)
    tick = min(max(duration * scale / 100, 0.002), 0.05)
    started = time.monotonic()
    while True:
        job.cancel_requested.wait(tick)
        with world.changed:
            simulated = (time.monotonic() - started) / scale
            job.elapsed = simulated
            if job.cancel_requested.is_set():
                _finish(world, job, plan, JobState.Terminated, _cancel_text(plan), E_CANCELLED)
                return
            percent = min(int(simulated / duration * 100), 99)
            if fail is not None and percent >= fail.percent:
                job.percent = fail.percent
                text, hresult = _failure(plan)
                _finish(world, job, plan, JobState.Exception, text, hresult)
                return
            if simulated >= duration:
                _commit(world, plan)
                job.percent = 100
                _finish(world, job, plan, JobState.Completed, "", None)
                return
            job.percent = percent
            world.changed.notify_all()


def _cancel_text(plan: MovePlan) -> str:
    return (
        f"Virtual machine migration operation for '{plan.vm.name}' was cancelled "
        f"{_vmid(plan)}. The operation was canceled by the user "
        f"({hex_code(E_CANCELLED)})."
    )


def _failure(plan: MovePlan) -> tuple[str, int]:
    """The text and HRESULT of a move that breaks down halfway (the `fail_at_percent` fault).

    A live migration loses its connection to the destination; a storage move on one host has
    no connection to lose, so its file copy times out instead (wording and code guessed).
    """
    if plan.storage_only:
        disks = plan.moved_disks()
        copied = disks[0][0].path if disks else plan.vm.path
        return (
            f"Storage migration for virtual machine '{plan.vm.name}' failed. {_vmid(plan)} "
            f"Failed to copy file '{copied}': The semaphore timeout period has expired. "
            f"({hex_code(E_SEM_TIMEOUT)}).",
            E_SEM_TIMEOUT,
        )
    return (
        f"Virtual machine migration operation for '{plan.vm.name}' failed at migration "
        f"source '{plan.source.name}'. {_vmid(plan)} The Virtual Machine Management Service "
        f"lost the connection with host '{plan.destination.name}': A connection attempt "
        "failed because the connected party did not properly respond after a period of "
        "time, or established connection failed because connected host has failed to "
        f"respond. ({hex_code(E_TIMED_OUT)}).",
        E_TIMED_OUT,
    )


def _finish(
    world: World, job: MigrationJob, plan: MovePlan, state: JobState, text: str, hresult: int | None
) -> None:
    job.state = state
    job.cancellable = False
    job.finished_monotonic = time.monotonic()
    if state is not JobState.Completed:
        job.error_code = JOB_FAILED_CODE
        job.error_description = text
        job.hresult = hresult
    _log_end(world, plan, state, text)
    world.changed.notify_all()


def _log_start(world: World, plan: MovePlan) -> None:
    vm = plan.vm.name
    if plan.storage_only:
        text = f"Storage migration for virtual machine '{vm}' started {_vmid(plan)}."
        world.log_event(plan.source, EVENT_STORAGE_STARTED, "Information", text)
        return
    world.log_event(
        plan.source,
        EVENT_STARTED,
        "Information",
        f"Virtual machine migration operation for '{vm}' started: "
        f"live migration to host '{plan.destination.name}' {_vmid(plan)}.",
    )


def _log_end(world: World, plan: MovePlan, state: JobState, text: str) -> None:
    vm = plan.vm.name
    if state is not JobState.Completed:
        world.log_event(
            plan.source, EVENT_STORAGE_FAILED if plan.storage_only else EVENT_FAILED, "Error", text
        )
    elif plan.storage_only:
        world.log_event(
            plan.source,
            EVENT_STORAGE_SUCCEEDED,
            "Information",
            f"Storage migration for virtual machine '{vm}' completed successfully {_vmid(plan)}.",
        )
    elif (blackout := blackout_seconds(world, plan)) > LONG_BLACKOUT_SECONDS:
        world.log_event(
            plan.source,
            EVENT_LONG_BLACKOUT,
            "Warning",
            f"Live migration of '{vm}' completed with an unexpectedly "
            f"long blackout time of {blackout} seconds {_vmid(plan)}.",
        )
    else:
        world.log_event(
            plan.source,
            EVENT_SUCCEEDED,
            "Information",
            f"Live migration of '{vm}' succeeded with a blackout time "
            f"of {blackout} seconds {_vmid(plan)}.",
        )


def _commit(world: World, plan: MovePlan) -> None:
    """Move the VM and its files; adjust free space on both ends."""
    vm, source, destination = plan.vm, plan.source, plan.destination
    for disk, new in plan.moved_disks():
        _move_file(source, destination, disk.path, new, disk.size, plan.retain_source)
        disk.path = new
    if plan.targets is not None and plan.targets.config:
        vm.path = plan.targets.config
        destination.add_folder(plan.targets.config)
    if not plan.storage_only:
        del source.vms[vm.id.lower()]
        destination.vms[vm.id.lower()] = vm


def _move_file(
    source: Host, destination: Host, old: str, new: str, size: int, retain: bool
) -> None:
    if not retain:
        source.files.pop(winpath.normalize(old), None)
        if (vol := source.volumes.get(winpath.drive(old))) is not None:
            vol.free += size
    destination.add_file(new, size)
    if (vol := destination.volumes.get(winpath.drive(new))) is not None:
        vol.free = max(vol.free - size, 0)
