"""Crash and recover: a new process learns what happened from the hosts alone, never re-moving."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from commands.hyperv import ErrorKind, JobState
from commands.invocation import Invocation
from commands.plans import plan_storage
from commands.ports import MigrationHandle
from commands.requests import StorageRequest
from lab.world import Fault, FaultKind
from support.winrm_lab import Lab

CHILD = str(Path(__file__).with_name("crash_child.py"))


def _job_percent(lab: Lab) -> int:
    with lab.world.lock:
        return max((j.percent for j in lab.world.jobs.values()), default=0)


def test_a_new_process_reattaches_to_a_running_migration(lab: Lab, tmp_path: Path) -> None:
    lab.world.time_scale = 0.015
    config = lab.write_config(tmp_path)
    env = {**os.environ, **lab.environ()}
    child = subprocess.Popen(
        [sys.executable, CHILD, str(config), "start", "SRV-APP01", "HV-SRV01", "HV-SRV02"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert child.stdout is not None
    started = json.loads(child.stdout.readline())
    deadline = time.monotonic() + 20
    while _job_percent(lab) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    child.kill()
    _, first_stderr = child.communicate(timeout=10)
    assert 5 <= _job_percent(lab) < 100, "the crash must happen mid-migration"

    recovered = subprocess.run(
        [
            sys.executable,
            CHILD,
            str(config),
            "reattach",
            "HV-SRV01",
            started["vm_id"],
            started["started_at"],
            json.dumps(started["invocation"]),
        ],
        capture_output=True,
        env=env,
        text=True,
        timeout=60,
    )
    assert recovered.returncode == 0, recovered.stderr
    outcome = json.loads(recovered.stdout.splitlines()[-1])
    assert outcome["first_state"] == "RUNNING"
    assert outcome["succeeded"] and outcome["error"] is None
    assert outcome["blackout"] > 0 and 20415 in outcome["events"]
    # The lab's call log: one Move-VM in all, sent by the first process.
    assert len(lab.world.calls("Move-VM")) == 1
    assert lab.port.find_vm("SRV-APP01").host == "HV-SRV02"
    for text in (first_stderr, recovered.stderr, recovered.stdout):
        assert lab.password not in text


def _start(lab: Lab) -> tuple[str, dt.datetime, Invocation, MigrationHandle]:
    vm, plan = lab.move_with_storage()
    handle = lab.port.start_migration(plan.host, plan.invocations[0], vm.id)
    return vm.id, handle.started_at, plan.invocations[0], handle


@contextlib.contextmanager
def _reattached(
    lab: Lab, vm_id: str, started_at: dt.datetime, invocation: Invocation
) -> Iterator[MigrationHandle]:
    """The move followed from a port of its own, as a new process would."""
    other = lab.new_port()
    try:
        yield other.reattach_migration(lab.host("HV-SRV01"), vm_id, started_at, invocation)
    finally:
        other.close()


def test_reattach_after_the_job_vanished_reads_the_events(lab: Lab) -> None:
    vm_id, started_at, invocation, first = _start(lab)
    assert first.wait(30) is not None
    with lab.world.lock:
        lab.world.jobs.clear()  # the finished job lingered out
    with _reattached(lab, vm_id, started_at, invocation) as handle:
        assert handle.poll().state is JobState.COMPLETED
        outcome = handle.wait(5)
    assert outcome is not None and outcome.succeeded and outcome.blackout_seconds
    assert len(lab.world.calls("Move-VM")) == 1


def test_reattach_learns_a_failure(lab: Lab) -> None:
    lab.world.inject(Fault(FaultKind.FAIL_AT_PERCENT, "HV-SRV02", percent=40))
    vm_id, started_at, invocation, _ = _start(lab)
    with _reattached(lab, vm_id, started_at, invocation) as handle:
        outcome = handle.wait(30)
    assert outcome is not None and not outcome.succeeded
    assert outcome.error is not None and outcome.error.kind is ErrorKind.MIGRATION_NETWORK
    assert 21502 in {e.event_id for e in outcome.events}
    assert len(lab.world.calls("Move-VM")) == 1


def test_reattach_ignores_a_finished_job_of_an_earlier_migration(lab: Lab) -> None:
    vm_id, _, invocation, first = _start(lab)
    assert first.wait(30) is not None
    # A later, different request for the same VM: the lingering job is not its own.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    with _reattached(lab, vm_id, later, invocation) as handle:
        outcome = handle.wait(5)
    # No job, no event since then: the VM is on the destination, but nothing says this move
    # put it there, so the outcome is unknown (never a success borrowed from the last move).
    assert outcome is not None and not outcome.succeeded and outcome.events == ()
    assert outcome.error is not None and outcome.error.kind is ErrorKind.OUTCOME_UNKNOWN
    assert outcome.evidence[-1] == "SRV-APP01 now: on HV-SRV02"


def test_reattach_to_a_move_that_was_never_sent(lab: Lab) -> None:
    vm, plan = lab.move_with_storage()
    handle = lab.port.reattach_migration(
        plan.host, vm.id, dt.datetime.now(dt.UTC), plan.invocations[0]
    )
    outcome = handle.wait(5)
    assert outcome is not None and not outcome.succeeded
    assert outcome.error is not None and outcome.error.kind is ErrorKind.NOT_STARTED
    assert lab.world.calls("Move-VM") == []


def test_reattach_to_a_finished_storage_move_checks_the_files(lab: Lab) -> None:
    source = lab.host("HV-SRV01")
    vm = lab.port.get_vm(source, "SRV-APP01")
    plan = plan_storage(StorageRequest("SRV-APP01", storage_path="E:\\Moved"), vm, source)
    first = lab.port.start_migration(source, plan.invocations[0], vm.id)
    assert first.wait(30) is not None
    with lab.world.lock:
        lab.world.jobs.clear()
    handle = lab.port.reattach_migration(source, vm.id, first.started_at, plan.invocations[0])
    outcome = handle.wait(5)
    assert outcome is not None and outcome.succeeded
    assert len(lab.world.calls("Move-VMStorage")) == 1
