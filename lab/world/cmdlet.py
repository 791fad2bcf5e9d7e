"""What a simulated cmdlet sees when it runs, and the helpers every cmdlet module shares."""

from __future__ import annotations

import fnmatch
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lab.pipeline import (
    InvocationContext,
    LabError,
    LabObject,
    LabValue,
    PipelineSink,
    Progress,
    TerminatingError,
)
from lab.world import errors
from lab.world.binding import Bound, CmdletSpec, Kind, Param
from lab.world.model import Host, VirtualMachine

if TYPE_CHECKING:
    from lab.world.world import World

WILDCARD_CHARACTERS = frozenset("*?[")
VIRTUAL_MACHINE = "Microsoft.HyperV.PowerShell.VirtualMachine"


def vm_param(sets: tuple[str, ...]) -> Param:
    """-VM <VirtualMachine>: mandatory in `sets`, position 0, filled by pipeline input."""
    return Param(
        "VM",
        Kind.OBJECT,
        sets=sets,
        mandatory=sets,
        position=0,
        from_pipeline=True,
        object_type=VIRTUAL_MACHINE,
    )


class Outbox:
    """A cmdlet's writes, held until the engine flushes them outside the world lock.

    Cmdlets often build output while holding the world lock; the client's sink takes locks of
    its own. Writing only from `flush` keeps the two lock orders from ever crossing.
    """

    def __init__(self, sink: PipelineSink, error_action: str = "continue") -> None:
        self._sink = sink
        self._error_action = error_action
        self._pending: deque[Callable[[], None]] = deque()
        self._lock = threading.Lock()

    def _add(self, write: Callable[[], None]) -> None:
        with self._lock:
            self._pending.append(write)

    def write_output(self, value: LabValue) -> None:
        """Hold one output object."""
        self._add(lambda: self._sink.write_output(value))

    def write_error(self, error: LabError) -> None:
        """Hold the error, or apply -ErrorAction: Stop terminates, SilentlyContinue drops."""
        if self._error_action == "stop":
            raise TerminatingError(error)
        if self._error_action not in ("silentlycontinue", "ignore"):
            self._add(lambda: self._sink.write_error(error))

    def write_warning(self, message: str) -> None:
        """Hold a warning."""
        self._add(lambda: self._sink.write_warning(message))

    def write_verbose(self, message: str) -> None:
        """Hold a verbose message."""
        self._add(lambda: self._sink.write_verbose(message))

    def write_progress(self, progress: Progress) -> None:
        """Hold a progress record."""
        self._add(lambda: self._sink.write_progress(progress))

    def flush(self) -> None:
        """Pass every held write to the real sink, in order (never under the world lock)."""
        while True:
            with self._lock:
                if not self._pending:
                    return
                write = self._pending.popleft()
            write()


@dataclass
class Invocation:
    """One run of one cmdlet: the world, the host it runs on, its bound parameters."""

    world: World
    host: Host
    context: InvocationContext
    sink: Outbox
    bound: Bound
    spec: CmdletSpec

    def flush(self) -> None:
        """Deliver what the cmdlet wrote so far (call without holding the world lock)."""
        self.sink.flush()

    def output(self, value: LabValue) -> None:
        """Write one object to the output stream."""
        self.sink.write_output(value)

    def error(self, error: LabError) -> None:
        """Write a non-terminating error."""
        self.sink.write_error(error)

    def hyperv_error(
        self,
        message: str,
        *,
        reason: str = "Unspecified",
        category: str = "NotSpecified",
        target: str = "",
        hresult: int | None = None,
    ) -> LabError:
        """A Hyper-V error record for this cmdlet (see `errors.hyperv_error`)."""
        return errors.hyperv_error(
            self.spec.name,
            self.spec.fqid_suffix,
            message,
            reason=reason,
            category=category,
            target=target,
            target_type="String" if target else "",
            hresult=hresult,
        )

    def vms(self, name_param: str = "Name", vm_param: str = "VM") -> list[VirtualMachine]:
        """The VMs a cmdlet targets, by name (wildcards like Windows) or by VM object.

        A plain name that matches nothing writes Hyper-V's not-found error; a wildcard that
        matches nothing writes nothing, as Get-VM does.
        """
        given = self.bound.get(vm_param)
        if given is not None:
            return [vm for vm in (self.vm_from_object(o) for o in _as_list(given)) if vm]
        names = self.bound.get(name_param)
        if names is None:
            with self.world.lock:
                return sorted(self.host.vms.values(), key=lambda v: v.name.lower())
        found: list[VirtualMachine] = []
        for name in _as_list(names):
            with self.world.lock:
                matches = match_names(str(name), self.host.vms.values())
            if not matches and not has_wildcards(str(name)):
                self.error(errors.vm_not_found(self.spec.name, self.spec.fqid_suffix, str(name)))
            found.extend(m for m in matches if m not in found)
        return found

    def vm_from_object(self, value: LabValue) -> VirtualMachine | None:
        """The VM a VirtualMachine object (or a hashtable with Id/VMId) stands for."""
        props: Mapping[str, LabValue] | None = None
        if isinstance(value, LabObject):
            props = value.properties
        elif isinstance(value, Mapping):
            props = value
        vm_id = str(props.get("Id") or props.get("VMId") or "") if props else ""
        with self.world.lock:
            vm = self.host.vms.get(vm_id.lower())
        if vm is None:
            shown = str(props.get("Name", vm_id)) if props else str(value)
            self.error(
                self.hyperv_error(
                    f'Hyper-V was unable to find a virtual machine with id "{vm_id or shown}".',
                    reason="InvalidParameter",
                    category="InvalidArgument",
                    target=shown,
                )
            )
        return vm


Handler = Callable[[Invocation], None]


@dataclass(frozen=True)
class Cmdlet:
    """A simulated cmdlet: its parameter spec, its code, the parameter pipeline input fills."""

    spec: CmdletSpec
    handler: Handler
    pipeline_param: str | None = None


def has_wildcards(text: str) -> bool:
    """True if PowerShell would treat `text` as a wildcard pattern."""
    return any(c in WILDCARD_CHARACTERS for c in text)


def match_names(pattern: str, vms: Iterable[VirtualMachine]) -> list[VirtualMachine]:
    """VMs whose name matches `pattern` case-insensitively, sorted by name."""
    wanted = pattern.lower()
    items = list(vms)
    if has_wildcards(pattern):
        hits = [v for v in items if fnmatch.fnmatchcase(v.name.lower(), wanted)]
    else:
        hits = [v for v in items if v.name.lower() == wanted]
    return sorted(hits, key=lambda v: v.name.lower())


def _as_list(value: LabValue) -> list[LabValue]:
    return list(value) if isinstance(value, list | tuple) else [value]


def hyperv_fqid(noun_verb: str) -> str:
    """`GetVM` → `Microsoft.HyperV.PowerShell.Commands.GetVM`."""
    return f"Microsoft.HyperV.PowerShell.Commands.{noun_verb}"
