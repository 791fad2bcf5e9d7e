"""The contract between the lab's WinRM/PSRP server and its simulated PowerShell.

The server (`lab.winrm`) decodes a PSRP pipeline into `CommandCall`s and hands them to a
`CommandRunner` (the world model, `lab.world`) together with a `PipelineSink`. The runner
writes output, errors, warnings and progress to the sink and raises `TerminatingError`
when PowerShell would fail the whole pipeline. Values are plain Python; the server turns
`LabObject` and `LabEnum` into CLIXML objects typed like the real .NET ones.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, Union

LabValue = Union[
    None,
    bool,
    int,
    float,
    str,
    uuid.UUID,
    dt.datetime,
    dt.timedelta,
    "LabEnum",
    "LabObject",
    Sequence["LabValue"],
    Mapping[str, "LabValue"],
]


class Int64(int):
    """A System.Int64 (`<I64>`); a plain int is written as Int32 when it fits."""


class UInt32(int):
    """A System.UInt32 (`<U32>`)."""


class UInt64(int):
    """A System.UInt64 (`<U64>`)."""


class Char(str):
    """A System.Char (`<C>`, written as its code): `Char("\\0")` is .NET's empty char."""


class Version(str):
    """A System.Version (`<Version>`), kept as its text (`10.0.20348`)."""


@dataclass(frozen=True)
class LabEnum:
    """A .NET enum value: serialized with its integer value and its string form."""

    type_names: tuple[str, ...]
    value: int
    name: str


@dataclass(frozen=True)
class LabObject:
    """A .NET object as PowerShell would serialize it: type names, adapted properties, ToString.

    `notes` are instance members (what `Select-Object`, `Add-Member` and `[pscustomobject]`
    add): PowerShell serializes them at the object's own depth, adapted properties one level
    deeper. A property bag (`[pscustomobject]`) has notes only and `to_string` None.
    """

    type_names: tuple[str, ...]
    properties: Mapping[str, LabValue]
    to_string: str | None
    notes: Mapping[str, LabValue] = field(default_factory=dict)

    def text(self) -> str:
        """What PowerShell's ToString gives: a property bag reads `@{Name=x; Size=1}`."""
        if self.to_string is not None:
            return self.to_string
        return "@{" + "; ".join(f"{k}={_bag_text(v)}" for k, v in self.notes.items()) + "}"

    @property
    def is_cim(self) -> bool:
        """Whether this is a CimInstance (always serialized at depth 1 by PowerShell)."""
        return bool(self.type_names) and self.type_names[0].startswith(CIM_INSTANCE)


CIM_INSTANCE = "Microsoft.Management.Infrastructure.CimInstance"
PSCUSTOMOBJECT = ("System.Management.Automation.PSCustomObject", "System.Object")


def _bag_text(value: LabValue) -> str:
    if value is None:
        return ""
    if isinstance(value, LabObject):
        return value.text()
    if isinstance(value, LabEnum):
        return value.name
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, Mapping):
        return "System.Collections.Hashtable"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return " ".join(_bag_text(item) for item in value)
    return str(value)


def property_bag(notes: Mapping[str, LabValue], type_names: tuple[str, ...] = ()) -> LabObject:
    """A `[pscustomobject]@{...}`; `type_names` go before PSCustomObject (`Selected.X`)."""
    return LabObject((*type_names, *PSCUSTOMOBJECT), {}, None, dict(notes))


@dataclass(frozen=True)
class LabError:
    """A PowerShell ErrorRecord."""

    message: str
    fully_qualified_error_id: str
    category: str
    exception_type: str = "Microsoft.HyperV.PowerShell.VirtualizationException"
    target_name: str = ""
    target_type: str = ""
    command_name: str = ""
    hresult: int | None = None


class TerminatingError(Exception):
    """Raised by a runner when PowerShell would stop the pipeline (pipeline state Failed)."""

    def __init__(self, error: LabError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True)
class CommandCall:
    """One command of a pipeline: cmdlet name, its parameters in order, and whether it is script.

    A parameter whose name is None is positional. A named parameter whose value is None is a
    switch that is present. Hashtables arrive as dicts, arrays as lists.
    """

    name: str
    parameters: Sequence[tuple[str | None, LabValue]] = ()
    is_script: bool = False


@dataclass(frozen=True)
class Progress:
    """A PowerShell ProgressRecord; `seconds_remaining` -1 means unknown."""

    activity: str
    status: str
    percent: int
    seconds_remaining: int = -1
    activity_id: int = 0


class PipelineSink(Protocol):
    """Where a running command writes its streams."""

    def write_output(self, value: LabValue) -> None:
        """One object of the output stream."""

    def write_error(self, error: LabError) -> None:
        """A non-terminating error record."""

    def write_warning(self, message: str) -> None:
        """A warning record."""

    def write_verbose(self, message: str) -> None:
        """A verbose record."""

    def write_progress(self, progress: Progress) -> None:
        """A progress record."""


class CollectingSink:
    """A `PipelineSink` that keeps every stream in memory, in the order written.

    With `forward`, only the output is kept and the other streams go on to `forward`: that is
    how one command's output becomes the next command's input while its errors, warnings and
    progress still reach the client.
    """

    def __init__(self, forward: PipelineSink | None = None) -> None:
        self.forward = forward
        self.output: list[LabValue] = []
        self.errors: list[LabError] = []
        self.warnings: list[str] = []
        self.verbose: list[str] = []
        self.progress: list[Progress] = []

    def write_output(self, value: LabValue) -> None:
        """Keep one output object."""
        self.output.append(value)

    def write_error(self, error: LabError) -> None:
        """Keep (or forward) a non-terminating error."""
        if self.forward is not None:
            self.forward.write_error(error)
        else:
            self.errors.append(error)

    def write_warning(self, message: str) -> None:
        """Keep (or forward) a warning."""
        if self.forward is not None:
            self.forward.write_warning(message)
        else:
            self.warnings.append(message)

    def write_verbose(self, message: str) -> None:
        """Keep (or forward) a verbose message."""
        if self.forward is not None:
            self.forward.write_verbose(message)
        else:
            self.verbose.append(message)

    def write_progress(self, progress: Progress) -> None:
        """Keep (or forward) a progress record."""
        if self.forward is not None:
            self.forward.write_progress(progress)
        else:
            self.progress.append(progress)


@dataclass
class InvocationContext:
    """What a command runner knows about the call: the host it runs on, who, and how to stop."""

    host: str
    user: str
    stop_requested: threading.Event = field(default_factory=threading.Event)
    # The runspace pool the pipeline runs in (the lab charges the Hyper-V module's load once
    # per pool); empty when the caller has none.
    session: str = ""


class CommandRunner(Protocol):
    """The simulated PowerShell of one lab: runs a pipeline on one host."""

    def run_pipeline(
        self, context: InvocationContext, commands: Sequence[CommandCall], sink: PipelineSink
    ) -> None:
        """Run `commands` as one pipeline; raise `TerminatingError` where PowerShell would."""
