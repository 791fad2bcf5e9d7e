"""Helpers for the lab world tests: a sink that records every stream, a pipeline runner."""

from __future__ import annotations

from collections.abc import Sequence

from lab.pipeline import (
    CollectingSink,
    CommandCall,
    InvocationContext,
    LabEnum,
    LabObject,
    LabValue,
)
from lab.world import World
from lab.world.model import Host

Params = Sequence[tuple[str | None, LabValue]]


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


def enum_name(value: LabValue) -> str:
    """The member name of an enum value."""
    assert isinstance(value, LabEnum), value
    return value.name


def host_of(world: World, name: str) -> Host:
    """The host called `name`, which must exist."""
    host = world.host(name)
    assert host is not None, name
    return host
