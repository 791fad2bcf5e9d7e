"""Engine behaviour around the cmdlets: -ComputerName, pipelines, busy VMs, odd requests."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from lab.pipeline import (
    CommandCall,
    InvocationContext,
    LabError,
    LabObject,
    LabValue,
    TerminatingError,
)
from lab.world import World
from support.lab_world import RecordingSink, Runner, host_of, run_on, start_move, wait_for_job


def test_computer_name_runs_the_cmdlet_on_that_host(run: Runner) -> None:
    sink = run("HV-SRV01", "Get-VM", ("ComputerName", ["HV-SRV03.lab.local", "HV-NOPE"]))
    assert [o.properties["Name"] for o in sink.objects] == ["SRV-DC01"]
    (error,) = sink.errors
    assert "'HV-NOPE'" in error.message
    local = run("HV-SRV01", "Get-VMHost", ("ComputerName", "localhost"))
    assert local.objects[0].properties["Name"] == "HV-SRV01"


def test_piping_into_a_cmdlet_without_pipeline_input(world: World) -> None:
    sink = run_on(world, "HV-SRV01", ("Get-VM", [("Name", "SRV-APP01")]), ("Get-VMHost", []))
    assert sink.output == []
    assert sink.errors[0].fully_qualified_error_id.startswith("InputObjectNotBound,")


def test_empty_upstream_runs_nothing_downstream(world: World) -> None:
    sink = run_on(world, "HV-SRV01", ("Get-VM", [("Name", "ZZ*")]), ("Get-VMProcessor", []))
    assert sink.output == [] and sink.errors == []


def test_second_move_of_a_migrating_vm_is_refused(world: World) -> None:
    world.time_scale = 0.02
    stop = threading.Event()
    thread, first = start_move(world, "SRV-DB01", "HV-SRV02", stop=stop)
    wait_for_job(world, state=None)
    second = run_on(
        world, "HV-SRV01", ("Move-VM", [("Name", "SRV-DB01"), ("DestinationHost", "HV-SRV02")])
    )
    stop.set()
    thread.join(5)
    assert first.errors == []
    assert "already in progress" in second.errors[0].message
    assert len(world.jobs) == 1


def test_destination_equal_to_source(run: Runner) -> None:
    sink = run("HV-SRV01", "Move-VM", ("Name", "SRV-DB01"), ("DestinationHost", "hv-srv01"))
    assert "Use Move-VMStorage" in sink.errors[0].message


def test_move_vm_from_a_compatibility_report(run: Runner, world: World) -> None:
    report = run("HV-SRV01", "Compare-VM", ("Name", "SRV-DB01"), ("DestinationHost", "HV-SRV02"))
    sink = run("HV-SRV01", "Move-VM", ("CompatibilityReport", report.objects[0]))
    assert sink.errors == []
    assert host_of(world, "HV-SRV02").find_vm("SRV-DB01") is not None


def test_a_report_with_storage_moves_the_disks(run: Runner, world: World) -> None:
    report = run(
        "HV-SRV01",
        "Compare-VM",
        ("Name", "SRV-APP01"),
        ("DestinationHost", "HV-SRV02"),
        ("IncludeStorage", None),
    )
    assert report.objects[0].properties["Incompatibilities"] == []
    # As a client sends it back: a property bag whose enum became its name.
    sent = dict(report.objects[0].properties)
    vm = sent["VM"]
    assert isinstance(vm, LabObject)
    sent["OperationType"] = "MoveVirtualMachineAndStorage"
    sent["VM"] = dict(vm.properties)
    sink = run("HV-SRV01", "Move-VM", ("CompatibilityReport", sent))
    assert sink.errors == []
    assert host_of(world, "HV-SRV02").has_file("D:\\Hyper-V\\Virtual Hard Disks\\SRV-APP01-OS.vhdx")


def test_move_vm_whatif_moves_nothing(run: Runner, world: World) -> None:
    sink = run(
        "HV-SRV01",
        "Move-VM",
        ("Name", "SRV-DB01"),
        ("DestinationHost", "HV-SRV02"),
        ("WhatIf", None),
    )
    assert sink.errors == [] and world.jobs == {}


def test_as_job_is_not_simulated(run: Runner) -> None:
    with pytest.raises(TerminatingError, match="does not simulate"):
        run(
            "HV-SRV01",
            "Move-VM",
            ("Name", "SRV-DB01"),
            ("DestinationHost", "HV-SRV02"),
            ("AsJob", None),
        )


def test_invoke_cim_method_on_a_class_is_not_supported(run: Runner) -> None:
    sink = run(
        "HV-SRV01",
        "Invoke-CimMethod",
        ("ClassName", "Msvm_MigrationJob"),
        ("MethodName", "RequestStateChange"),
    )
    assert sink.errors[0].fully_qualified_error_id.startswith("HRESULT 0x8004100c,")


def test_management_os_adapters_are_not_listed(run: Runner) -> None:
    assert run("HV-SRV01", "Get-VMNetworkAdapter", ("ManagementOS", None)).output == []


def test_powered_off_vm_moves_without_memory_or_cpu_checks(run: Runner, world: World) -> None:
    sink = run(
        "HV-SRV01",
        "Move-VM",
        ("Name", "SRV-TEST01"),
        ("DestinationHost", "HV-SRV02"),
        ("IncludeStorage", None),
    )
    assert sink.errors == []
    vm = host_of(world, "HV-SRV02").find_vm("SRV-TEST01")
    assert vm is not None and vm.memory_assigned == 0


def test_vm_parameter_takes_vm_objects_not_names(run: Runner, world: World) -> None:
    with pytest.raises(TerminatingError) as caught:
        run("HV-SRV01", "Get-VMProcessor", ("VM", "SRV-APP01"))
    assert caught.value.error.fully_qualified_error_id.startswith("CannotConvertArgumentNoMessage,")
    assert "Microsoft.HyperV.PowerShell.VirtualMachine" in caught.value.error.message
    # A deserialized VirtualMachine reaches the lab as a property bag.
    vm = {"Name": "SRV-DB01", "Id": "0b8e4d21-7c3a-4f6e-8d1b-2e3f4a5b6c72"}
    sink = run("HV-SRV01", "Move-VM", ("VM", vm), ("DestinationHost", "HV-SRV02"))
    assert sink.errors == []
    assert host_of(world, "HV-SRV02").find_vm("SRV-DB01") is not None


def test_simultaneous_moves_of_one_vm_start_one_migration(world: World) -> None:
    world.time_scale = 0.002
    barrier = threading.Barrier(4)
    sinks = [RecordingSink() for _ in range(4)]
    params = (("Name", "SRV-DB01"), ("DestinationHost", "HV-SRV02"))

    def move(sink: RecordingSink) -> None:
        barrier.wait()
        world.run_pipeline(
            InvocationContext("HV-SRV01", "u"), [CommandCall("Move-VM", params)], sink
        )

    threads = [threading.Thread(target=move, args=(s,)) for s in sinks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(world.jobs) == 1
    assert sorted(len(s.errors) for s in sinks) == [0, 1, 1, 1]
    assert len(world.calls("Move-VM")) == 4


class LockProbeSink(RecordingSink):
    """Fails a write made while the calling thread holds the world lock (lock-order guard)."""

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world
        self.blocked = 0

    def _probe(self) -> None:
        got: list[bool] = []

        def grab() -> None:
            ok = self.world.lock.acquire(timeout=2)
            got.append(ok)
            if ok:
                self.world.lock.release()

        other = threading.Thread(target=grab)
        other.start()
        other.join()
        self.blocked += not got[0]

    def write_output(self, value: LabValue) -> None:
        self._probe()
        super().write_output(value)

    def write_error(self, error: LabError) -> None:
        self._probe()
        super().write_error(error)

    def write_progress(self, *args: Any, **kwargs: Any) -> None:
        self._probe()
        super().write_progress(*args, **kwargs)


def test_no_write_reaches_the_client_under_the_world_lock(world: World) -> None:
    sink = LockProbeSink(world)
    context = InvocationContext("HV-SRV01", "u")
    for call in (
        CommandCall("Get-VM"),
        CommandCall("Get-VMHost"),
        CommandCall("Get-VM", (("Name", "NOPE"),)),
        CommandCall("Move-VM", (("Name", "SRV-DB01"), ("DestinationHost", "HV-SRV03"))),
        CommandCall(
            "Move-VM",
            (
                ("Name", "SRV-APP01"),
                ("DestinationHost", "HV-SRV02"),
                ("IncludeStorage", None),
                ("Passthru", None),
            ),
        ),
    ):
        world.run_pipeline(context, [call], sink)
    assert sink.output and sink.errors and sink.progress
    assert sink.blocked == 0
