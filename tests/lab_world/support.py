"""Helpers for the lab world tests: a sink that records every stream, a pipeline runner."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from lab.pipeline import CommandCall, InvocationContext, LabEnum, LabError, LabObject, LabValue
from lab.world import World
from lab.world.model import Host

Params = Sequence[tuple[str | None, LabValue]]


@dataclass
class Progress:
    activity: str
    status: str
    percent: int
    seconds_remaining: int


@dataclass
class RecordingSink:
    output: list[LabValue] = field(default_factory=list)
    errors: list[LabError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    verbose: list[str] = field(default_factory=list)
    progress: list[Progress] = field(default_factory=list)

    @property
    def objects(self) -> list[LabObject]:
        """The output, which must be objects only."""
        assert all(isinstance(v, LabObject) for v in self.output), self.output
        return [v for v in self.output if isinstance(v, LabObject)]

    def write_output(self, value: LabValue) -> None:
        self.output.append(value)

    def write_error(self, error: LabError) -> None:
        self.errors.append(error)

    def write_warning(self, message: str) -> None:
        self.warnings.append(message)

    def write_verbose(self, message: str) -> None:
        self.verbose.append(message)

    def write_progress(
        self,
        activity: str,
        status: str,
        percent_complete: int,
        seconds_remaining: int = -1,
        activity_id: int = 0,
    ) -> None:
        self.progress.append(Progress(activity, status, percent_complete, seconds_remaining))


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
