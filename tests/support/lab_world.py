"""Helpers for the lab world tests: a recording sink, a pipeline runner, moves in threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from lab.pipeline import (
    CollectingSink,
    CommandCall,
    InvocationContext,
    LabEnum,
    LabObject,
    LabValue,
)
from lab.world import World
from lab.world.model import Host, JobState

Params = Sequence[tuple[str | None, LabValue]]
Runner = Callable[..., "RecordingSink"]
# SRV-DB01 keeps its disk on an SMB share: a plain live migration works for it.
LIVE = "SRV-DB01"


class RecordingSink(CollectingSink):
    """Keeps every stream; `objects` is the output when it must hold objects only."""

    @property
    def objects(self) -> list[LabObject]:
        """The output, which must be objects only."""
        assert all(isinstance(v, LabObject) for v in self.output), self.output
        return [v for v in self.output if isinstance(v, LabObject)]


def run_on(
    world: World,
    host: str,
    *commands: tuple[str, Params],
    context: InvocationContext | None = None,
) -> RecordingSink:
    """Run one pipeline on `host` and return what it wrote."""
    sink = RecordingSink()
    world.run_pipeline(
        context or InvocationContext(host, "LAB\\hvadmin"),
        [CommandCall(name, tuple(params)) for name, params in commands],
        sink,
    )
    return sink


def move(run: Runner, vm: str = LIVE, dest: str = "HV-SRV02", *extra: object) -> RecordingSink:
    """Move-VM of `vm` from HV-SRV01 to `dest`, with `extra` parameters, run to its end."""
    return run("HV-SRV01", "Move-VM", ("Name", vm), ("DestinationHost", dest), *extra)


def start_move(
    world: World,
    vm: str,
    dest: str,
    source: str = "HV-SRV01",
    stop: threading.Event | None = None,
    storage: bool = False,
) -> tuple[threading.Thread, RecordingSink]:
    """Run Move-VM of `vm` from `source` to `dest` in a thread (`stop` stops the pipeline)."""
    sink = RecordingSink()
    context = InvocationContext(source, "LAB\\hvadmin")
    if stop is not None:
        context.stop_requested = stop

    def body() -> None:
        params = (("Name", vm), ("DestinationHost", dest))
        extra = (("IncludeStorage", None),) if storage else ()
        world.run_pipeline(context, [CommandCall("Move-VM", params + extra)], sink)

    thread = threading.Thread(target=body)
    thread.start()
    return thread, sink


def wait_for_job(world: World, state: JobState | None = JobState.Running) -> str:
    """The instance id of the first job in `state` (None: any state); fails after 5 s."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with world.lock:
            for key, job in world.jobs.items():
                if state is None or job.state is state:
                    return key
        time.sleep(0.002)
    raise AssertionError(f"no job reached {state}")


def event_ids(world: World, host: str) -> list[int]:
    """The ids of `host`'s VMMS-Admin events, oldest first."""
    return [e.event_id for e in host_of(world, host).events]


def enum_name(value: LabValue) -> str:
    """The member name of an enum value."""
    assert isinstance(value, LabEnum), value
    return value.name


def host_of(world: World, name: str) -> Host:
    """The host called `name`, which must exist."""
    host = world.host(name)
    assert host is not None, name
    return host
