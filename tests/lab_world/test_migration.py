"""Move-VM and Move-VMStorage: progress, jobs, events, limits, cancel, lingering, concurrency."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from lab.pipeline import (
    CommandCall,
    InvocationContext,
    LabError,
    LabObject,
    LabValue,
    TerminatingError,
)
from lab.world import Fault, FaultKind, World, migration
from lab.world.model import GIB, JobState, Performance
from support.lab_world import (
    LIVE,
    RecordingSink,
    Runner,
    event_ids,
    host_of,
    move,
    run_on,
    start_move,
    wait_for_job,
)

APP01 = "SRV-APP01"
LIVE_ID = "0B8E4D21-7C3A-4F6E-8D1B-2E3F4A5B6C72"
OS_DISK = "D:\\Hyper-V\\Virtual Hard Disks\\SRV-APP01-OS.vhdx"
DATA_DISK = "D:\\Hyper-V\\Virtual Hard Disks\\SRV-APP01-Data.vhdx"


def test_live_migration_moves_the_vm_and_reports_rising_progress(run: Runner, world: World) -> None:
    sink = move(run, LIVE, "HV-SRV02.lab.local", ("Passthru", None))
    assert sink.errors == []
    percents = [p.percent for p in sink.progress]
    assert len(percents) > 3 and percents == sorted(percents) and percents[-1] == 100
    (moved,) = sink.output
    assert isinstance(moved, LabObject) and moved.properties["ComputerName"] == "HV-SRV02"
    assert run("HV-SRV01", "Get-VM", ("Name", LIVE)).errors
    assert len(run("HV-SRV02", "Get-VM", ("Name", LIVE)).output) == 1
    assert event_ids(world, "HV-SRV01") == [20413, 20415]
    assert "blackout time of" in host_of(world, "HV-SRV01").events[-1].message
    assert len(world.calls("Move-VM")) == 1


def test_memory_follows_the_vm(run: Runner, world: World) -> None:
    src, dst = world.host("HV-SRV01"), world.host("HV-SRV02")
    assert src is not None and dst is not None
    before = (src.memory_free, dst.memory_free)
    move(run, LIVE, "HV-SRV02.lab.local")
    assert (src.memory_free, dst.memory_free) == (before[0] + 16 * GIB, before[1] - 16 * GIB)


def test_shared_nothing_with_destination_storage_path_moves_files(
    run: Runner, world: World
) -> None:
    src, dst = world.host("HV-SRV01"), world.host("HV-SRV02")
    assert src is not None and dst is not None
    free_src, free_dst = src.volumes["D"].free, dst.volumes["D"].free
    sink = move(
        run,
        APP01,
        "HV-SRV02",
        ("IncludeStorage", None),
        ("DestinationStoragePath", "D:\\Hyper-V\\Virtual Machines"),
    )
    assert sink.errors == []
    disks = run("HV-SRV02", "Get-VMHardDiskDrive", ("VMName", APP01)).objects
    assert [d.properties["Path"] for d in disks] == [
        "D:\\Hyper-V\\Virtual Machines\\SRV-APP01-OS.vhdx",
        "D:\\Hyper-V\\Virtual Machines\\SRV-APP01-Data.vhdx",
    ]
    assert src.volumes["D"].free == free_src + 60 * GIB
    assert dst.volumes["D"].free == free_dst - 60 * GIB
    assert run("HV-SRV01", "Test-Path", ("Path", OS_DISK)).output == [False]
    assert run(
        "HV-SRV02", "Test-Path", ("Path", "D:\\Hyper-V\\Virtual Machines\\SRV-APP01-OS.vhdx")
    ).output == [True]


def test_config_here_disks_there_with_vhds(run: Runner) -> None:
    sink = move(
        run,
        APP01,
        "HV-SRV02",
        ("VirtualMachinePath", "D:\\Hyper-V\\Virtual Machines\\SRV-APP01"),
        (
            "Vhds",
            [
                {"SourceFilePath": OS_DISK, "DestinationFilePath": "E:\\VHD\\SRV-APP01-OS.vhdx"},
                {
                    "SourceFilePath": DATA_DISK,
                    "DestinationFilePath": "E:\\VHD\\SRV-APP01-Data.vhdx",
                },
            ],
        ),
    )
    assert sink.errors == []
    vm = run("HV-SRV02", "Get-VM", ("Name", APP01)).objects[0]
    assert vm.properties["Path"] == "D:\\Hyper-V\\Virtual Machines\\SRV-APP01"
    paths = [
        d.properties["Path"]
        for d in run("HV-SRV02", "Get-VMHardDiskDrive", ("VMName", APP01)).objects
    ]
    assert paths == ["E:\\VHD\\SRV-APP01-OS.vhdx", "E:\\VHD\\SRV-APP01-Data.vhdx"]


def test_vhds_entry_for_a_disk_the_vm_does_not_have(run: Runner) -> None:
    with pytest.raises(TerminatingError) as caught:
        move(
            run,
            APP01,
            "HV-SRV02",
            ("VirtualMachinePath", "D:\\VMs"),
            ("Vhds", [{"SourceFilePath": "D:\\other.vhdx", "DestinationFilePath": "E:\\x"}]),
        )
    assert "is not attached to virtual machine 'SRV-APP01'" in caught.value.error.message


def test_destination_storage_path_needs_include_storage(run: Runner) -> None:
    with pytest.raises(TerminatingError):
        move(run, APP01, "HV-SRV02", ("DestinationStoragePath", "D:\\VMs"))


def test_move_vm_storage_between_volumes(run: Runner, world: World) -> None:
    host = world.host("HV-SRV01")
    assert host is not None
    d_free, e_free = host.volumes["D"].free, host.volumes["E"].free
    sink = run(
        "HV-SRV01",
        "Move-VMStorage",
        ("VMName", APP01),
        ("DestinationStoragePath", "E:\\Hyper-V\\SRV-APP01"),
    )
    assert sink.errors == [] and sink.progress[-1].percent == 100
    assert (host.volumes["D"].free, host.volumes["E"].free) == (
        d_free + 60 * GIB,
        e_free - 60 * GIB,
    )
    assert host.has_file("E:\\Hyper-V\\SRV-APP01\\SRV-APP01-Data.vhdx")


def test_move_vm_storage_with_vhds(run: Runner, world: World) -> None:
    sink = run(
        "HV-SRV01",
        "Move-VMStorage",
        ("VMName", APP01),
        (
            "Vhds",
            [{"SourceFilePath": DATA_DISK, "DestinationFilePath": "E:\\Data\\SRV-APP01-Data.vhdx"}],
        ),
    )
    assert sink.errors == []
    paths = [
        d.properties["Path"]
        for d in run("HV-SRV01", "Get-VMHardDiskDrive", ("VMName", APP01)).objects
    ]
    assert paths == [OS_DISK, "E:\\Data\\SRV-APP01-Data.vhdx"]


def test_compression_beats_tcpip_on_a_slow_link_and_smb_is_fastest(world: World) -> None:
    src, dst = world.host("HV-SRV01"), world.host("HV-SRV02")
    assert src is not None and dst is not None
    rates = {}
    for option in Performance:
        src.performance = option
        rates[option] = world.transfer_rate(src, dst)
    assert rates[Performance.TCPIP] < rates[Performance.Compression] < rates[Performance.SMB]


def test_migration_job_is_visible_while_running_then_lingers_and_vanishes(
    world: World,
) -> None:
    world.time_scale = 0.004  # SRV-DB01 live: ~0.3 s real
    world.linger_seconds = 25  # 0.1 s real
    thread = threading.Thread(
        target=run_on,
        args=(world, "HV-SRV01", ("Move-VM", [("Name", LIVE), ("DestinationHost", "HV-SRV02")])),
    )
    thread.start()
    seen: list[tuple[LabValue, LabValue]] = []
    deadline = time.monotonic() + 5
    while thread.is_alive() and time.monotonic() < deadline:
        jobs = run_on(
            world,
            "HV-SRV01",
            (
                "Get-CimInstance",
                [
                    ("Namespace", "root\\virtualization\\v2"),
                    ("ClassName", "Msvm_MigrationJob"),
                    ("Filter", f"VirtualSystemName='{LIVE_ID}'"),
                ],
            ),
        ).objects
        seen.extend((job.properties["JobState"], job.properties["PercentComplete"]) for job in jobs)
        time.sleep(0.01)
    thread.join()
    running = [int(str(p)) for s, p in seen if s == JobState.Running]
    assert running and running == sorted(running) and max(running) > min(running)
    after = run_on(
        world,
        "HV-SRV02",
        (
            "Get-CimInstance",
            [("Namespace", "root/virtualization/v2"), ("ClassName", "Msvm_MigrationJob")],
        ),
    ).objects
    (job,) = after
    assert job.properties["JobState"] == 7 and job.properties["PercentComplete"] == 100
    assert job.type_names[0] == (
        "Microsoft.Management.Infrastructure.CimInstance#root/virtualization/v2/Msvm_MigrationJob"
    )
    time.sleep(0.15)
    assert (
        run_on(
            world,
            "HV-SRV02",
            (
                "Get-CimInstance",
                [("Namespace", "root/virtualization/v2"), ("ClassName", "Msvm_MigrationJob")],
            ),
        ).output
        == []
    )


def test_cancel_through_request_state_change(world: World) -> None:
    world.time_scale = 0.05  # ~2 s: plenty of time to cancel
    thread, sink = start_move(world, LIVE, "HV-SRV02")
    instance = wait_for_job(world)
    result = run_on(
        world,
        "HV-SRV01",
        (
            "Invoke-CimMethod",
            [
                ("Query", f"SELECT * FROM Msvm_MigrationJob WHERE InstanceID='{instance}'"),
                ("Namespace", "root\\virtualization\\v2"),
                ("MethodName", "RequestStateChange"),
                ("Arguments", {"RequestedState": 4}),
            ],
        ),
    ).objects
    thread.join(5)
    assert [r.properties["ReturnValue"] for r in result] == [0]
    (error,) = sink.errors
    assert "0x800704C7" in error.message
    assert world.jobs[instance].state is JobState.Terminated
    assert host_of(world, "HV-SRV01").find_vm(LIVE) is not None
    assert event_ids(world, "HV-SRV01") == [20413, 21502]
    again = run_on(
        world,
        "HV-SRV01",
        (
            "Invoke-CimMethod",
            [
                ("InputObject", {"InstanceID": instance}),
                ("MethodName", "RequestStateChange"),
                ("Arguments", {"RequestedState": 4}),
            ],
        ),
    ).objects
    assert [r.properties["ReturnValue"] for r in again] == [4097]


def test_stopping_the_pipeline_cancels_the_migration(world: World) -> None:
    world.time_scale = 0.05
    stop = threading.Event()
    thread, sink = start_move(world, LIVE, "HV-SRV02", stop=stop)
    instance = wait_for_job(world)
    stop.set()
    thread.join(5)
    assert world.jobs[instance].state is JobState.Terminated
    assert sink.errors == []
    assert host_of(world, "HV-SRV01").find_vm(LIVE) is not None


def test_migration_survives_the_caller_going_away(world: World) -> None:
    class GoneSink(RecordingSink):
        def write_progress(self, *args: object, **kwargs: object) -> None:
            raise ConnectionResetError("client disconnected")

    world.time_scale = 0.005
    with pytest.raises(ConnectionResetError):
        world.run_pipeline(
            InvocationContext("HV-SRV01", "u"),
            [CommandCall("Move-VM", (("Name", LIVE), ("DestinationHost", "HV-SRV02")))],
            GoneSink(),
        )
    assert world.wait_idle(5)
    assert host_of(world, "HV-SRV02").find_vm(LIVE) is not None
    assert event_ids(world, "HV-SRV01")[-1] == 20415


def test_limit_queues_extra_migrations(world: World) -> None:
    world.time_scale = 0.001
    src = world.host("HV-SRV01")
    assert src is not None
    src.max_vm_migrations = 1
    for name in ("SRV-DB01", "SRV-TEST01"):
        vm = src.find_vm(name)
        assert vm is not None
        vm.compatibility_for_migration = True
    threads = [
        start_move(world, vm, "HV-SRV02", storage=True) for vm in (APP01, "SRV-DB01", "SRV-TEST01")
    ]
    for thread, sink in threads:
        thread.join(10)
        assert sink.errors == []
    assert world.peak_running["HV-SRV01"] == 1
    waited = [
        p.status for _, sink in threads for p in sink.progress if p.status.startswith("Queued")
    ]
    assert waited
    assert 21501 in event_ids(world, "HV-SRV01")
    assert event_ids(world, "HV-SRV01").count(20415) == 3


def test_concurrent_migrations_within_the_limit_overlap(world: World) -> None:
    world.time_scale = 0.002
    web = host_of(world, "HV-SRV02").find_vm("SRV-WEB01")
    assert web is not None
    web.dvds.clear()
    threads = [
        start_move(world, APP01, "HV-SRV02", storage=True),
        start_move(world, "SRV-WEB01", "HV-SRV01", source="HV-SRV02", storage=True),
    ]
    for thread, sink in threads:
        thread.join(10)
        assert sink.errors == [], sink.errors
    assert world.peak_running["HV-SRV02"] == 2
    assert host_of(world, "HV-SRV01").find_vm("SRV-WEB01") is not None


def test_finished_job_reports_error_fields(world: World) -> None:
    world.inject(Fault(FaultKind.FAIL_AT_PERCENT, host="HV-SRV02", percent=30))
    sink = run_on(world, "HV-SRV01", ("Move-VM", [("Name", LIVE), ("DestinationHost", "HV-SRV02")]))
    (error,) = sink.errors
    assert isinstance(error, LabError) and error.hresult == 0x8007274C
    job = next(iter(world.jobs.values()))
    assert job.state is JobState.Exception and job.percent == 30
    assert job.error_code == 32768 and "0x8007274C" in job.error_description
    assert max(p.percent for p in sink.progress) <= 30


def test_a_freed_slot_goes_to_the_oldest_queued_migration(world: World) -> None:
    world.time_scale = 0.001
    source = host_of(world, "HV-SRV01")
    source.max_vm_migrations = 1
    for machine in source.vms.values():
        machine.compatibility_for_migration = True
    order = [APP01, "SRV-TEST01", "SRV-DB01"]  # the longest first: the others queue behind it
    started = [start_move(world, order[0], "HV-SRV02", storage=True)]
    wait_for_job(world, JobState.Running)
    for count, vm in enumerate(order[1:], start=2):
        started.append(start_move(world, vm, "HV-SRV02", storage=True))
        while len(world.jobs) < count:
            time.sleep(0.001)
    with world.lock:
        running, older, newer = sorted(world.jobs.values(), key=lambda j: j.sequence)
        assert (running.state, older.state, newer.state) == (JobState.Running,) + (
            JobState.New,
        ) * 2
        # One slot frees while both wait: only the older one may take it, whoever looks first.
        source.max_vm_migrations = 2
        assert not migration.must_wait(world, older)
        assert migration.must_wait(world, newer)
        # Waiting behind an older job that has not started is order, not the limit (no 21501).
        assert not migration.at_limit(world, newer)
    for thread, sink in started:
        thread.join(10)
        assert sink.errors == []
    begun = [e.message for e in source.events if e.event_id == 20413]
    assert [next(vm for vm in order if f"'{vm}'" in m) for m in begun] == order


def _storage_move(run: Runner, destination: str) -> RecordingSink:
    return run(
        "HV-SRV01", "Move-VMStorage", ("VMName", APP01), ("DestinationStoragePath", destination)
    )


def test_storage_moves_are_logged_on_their_host(run: Runner, world: World) -> None:
    assert _storage_move(run, "E:\\Hyper-V\\SRV-APP01").errors == []
    assert _storage_move(run, "Q:\\Nowhere").errors
    world.inject(Fault(FaultKind.FAIL_AT_PERCENT, host="HV-SRV01", percent=50))
    (broken,) = _storage_move(run, "D:\\Hyper-V\\Back").errors
    assert broken.hresult == 0x80070079 and "Storage migration for" in broken.message
    started, succeeded, failed = (
        migration.EVENT_STORAGE_STARTED,
        migration.EVENT_STORAGE_SUCCEEDED,
        migration.EVENT_STORAGE_FAILED,
    )
    assert event_ids(world, "HV-SRV01") == [started, succeeded, failed, started, failed]
    assert all(f"'{APP01}'" in e.message for e in host_of(world, "HV-SRV01").events)
    assert event_ids(world, "HV-SRV02") == []


def _job_readings(world: World, host: str) -> list[tuple[str, int, float, int]]:
    """(InstanceID, JobState, ElapsedTime in seconds, PercentComplete) of each visible job."""
    found = []
    for job in run_on(
        world,
        host,
        (
            "Get-CimInstance",
            [("Namespace", "root\\virtualization\\v2"), ("ClassName", "Msvm_MigrationJob")],
        ),
    ).objects:
        elapsed = job.properties["ElapsedTime"]
        state, percent = job.properties["JobState"], job.properties["PercentComplete"]
        assert isinstance(elapsed, dt.timedelta)
        assert isinstance(state, int) and isinstance(percent, int)
        found.append((str(job.properties["InstanceID"]), state, elapsed.total_seconds(), percent))
    return found


def test_polled_elapsed_time_and_percentage_never_go_back(world: World) -> None:
    # Slow enough that a loaded machine still polls each job several times while it runs.
    world.time_scale = 0.01
    source = host_of(world, "HV-SRV01")
    source.max_vm_migrations = 1  # the second move queues, then runs: both phases are polled
    for machine in source.vms.values():
        machine.compatibility_for_migration = True
    moves = [start_move(world, vm, "HV-SRV02", storage=True) for vm in (LIVE, "SRV-TEST01")]
    last: dict[str, tuple[float, int]] = {}
    rises: dict[str, int] = {}

    def poll() -> None:
        for host in ("HV-SRV01", "HV-SRV02"):
            for key, state, elapsed, percent in _job_readings(world, host):
                before = last.get(key, (0.0, 0))
                assert elapsed >= before[0] and percent >= before[1], (key, state, before)
                if state == JobState.Running and (elapsed, percent) != before:
                    rises[key] = rises.get(key, 0) + 1
                last[key] = (elapsed, percent)

    while any(thread.is_alive() for thread, _ in moves):
        poll()
    poll()  # the finished jobs, which linger: still no step back
    for _, sink in moves:
        assert sink.errors == []
    assert len(rises) == 2 and min(rises.values()) > 3
    assert {percent for _, percent in last.values()} == {100}


def test_wait_idle_waits_for_a_migration_whose_thread_has_not_started(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.time_scale = 0.001
    start_thread = world.start_thread

    def late_start(thread: threading.Thread) -> None:
        time.sleep(0.1)
        start_thread(thread)

    monkeypatch.setattr(world, "start_thread", late_start)
    mover, sink = start_move(world, LIVE, "HV-SRV02")
    instance = wait_for_job(world, state=None)
    assert world.wait_idle(5)
    assert world.jobs[instance].state is JobState.Completed
    mover.join(5)
    assert sink.errors == []
