"""Helpers for the WinRM layer's tests: a tiny world (a few cmdlets, two hosts, one account)."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pypsrp.exceptions import WinRMTransportError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from lab.pipeline import (
    CommandCall,
    InvocationContext,
    LabEnum,
    LabError,
    LabObject,
    PipelineSink,
    Progress,
    TerminatingError,
)
from lab.running import RunningLab

USER = "LAB\\tester"
PASSWORD = "Sw0rdfish!"
VM_TYPE = "Microsoft.HyperV.PowerShell.VirtualMachine"
STATE_TYPE = "Microsoft.HyperV.PowerShell.VMState"


@dataclass(frozen=True)
class FakeHost:
    """A host with just a name."""

    name: str

    @property
    def fqdn(self) -> str:
        """Its DNS name."""
        return f"{self.name.lower()}.lab.local"


@dataclass
class FakeWorld:
    """Runs a handful of test cmdlets and records what it saw."""

    credentials: Mapping[str, str] = field(default_factory=lambda: {USER: PASSWORD})
    unreachable: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    calls: list[tuple[str, str, CommandCall]] = field(default_factory=list)
    step_seconds: float = 0.05
    finished: threading.Event = field(default_factory=threading.Event)
    stopped: threading.Event = field(default_factory=threading.Event)

    def host_names(self) -> list[str]:
        """Two hosts."""
        return ["HV-A", "HV-B"]

    def host(self, name: str) -> FakeHost | None:
        """HV-A or HV-B, any case."""
        return FakeHost(name.upper()) if name.upper() in self.host_names() else None

    def is_reachable(self, host: str) -> bool:
        """False for hosts a test put in `unreachable`."""
        return host not in self.unreachable

    def authenticate(self, host: str, user: str, password: str) -> bool:
        """False on hosts a test put in `refused` (the listener checks the password)."""
        return host not in self.refused

    def run_pipeline(
        self, context: InvocationContext, commands: Sequence[CommandCall], sink: PipelineSink
    ) -> None:
        """Record each call, then run it."""
        for call in commands:
            self.calls.append((context.host, context.user, call))
            self._run(context, call, sink)

    def _run(self, context: InvocationContext, call: CommandCall, sink: PipelineSink) -> None:
        params = dict(call.parameters)
        if call.is_script:
            raise TerminatingError(
                LabError("Scripts are not allowed.", "ScriptsNotAllowed", "PermissionDenied")
            )
        if call.name == "Get-Echo":
            named = {name: value for name, value in call.parameters if name is not None}
            sink.write_output({"host": context.host, "params": named})
        elif call.name == "Get-VM":
            sink.write_output(
                LabObject(
                    (VM_TYPE,),
                    {
                        "Name": str(params.get("Name", "SRV-APP01")),
                        "State": LabEnum((STATE_TYPE,), 2, "Running"),
                        "MemoryAssigned": 4 * 2**30,
                        "ComputerName": context.host,
                    },
                    "VirtualMachine (Name = 'SRV-APP01')",
                )
            )
        elif call.name == "Get-VMState":
            sink.write_output(LabEnum((STATE_TYPE,), 2, "Running"))
        elif call.name == "Write-Mixed":
            sink.write_output("before")
            sink.write_warning("careful")
            sink.write_verbose("chatty")
            sink.write_error(
                LabError(
                    'Hyper-V was unable to find a virtual machine with name "NOPE".',
                    "InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVM",
                    "InvalidArgument",
                    target_name="NOPE",
                    target_type="String",
                    command_name="Get-VM",
                )
            )
            sink.write_output("after")
        elif call.name == "Fail-Now":
            sink.write_output("partial")
            raise TerminatingError(
                LabError(
                    "The operation failed.",
                    "OperationFailed,Microsoft.HyperV.PowerShell.Commands.MoveVM",
                    "InvalidOperation",
                    target_name="SRV-APP01",
                )
            )
        elif call.name == "Crash-Runner":
            raise RuntimeError("bug in the world")
        elif call.name == "Move-Slowly":
            self._move(context, sink, int(str(params.get("Steps", 5))))
        else:
            raise TerminatingError(
                LabError(
                    f"The term '{call.name}' is not recognized as the name of a cmdlet.",
                    "CommandNotFoundException",
                    "ObjectNotFound",
                    exception_type="System.Management.Automation.CommandNotFoundException",
                    target_name=call.name,
                )
            )

    def _move(self, context: InvocationContext, sink: PipelineSink, steps: int) -> None:
        for step in range(steps):
            if context.stop_requested.wait(self.step_seconds):
                self.stopped.set()
                return
            percent = (step + 1) * 100 // steps
            sink.write_progress(
                Progress("Moving SRV-APP01", f"{percent}% done", percent, steps - step - 1)
            )
        self.finished.set()
        sink.write_output("moved")


_DURATION = re.compile(
    r"^(?P<sign>-)?P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>[\d.]+)S)?)?$"
)


def duration(text: str) -> dt.timedelta:
    """An xs:duration (`PT3M40.5S`) as PowerShell writes a TimeSpan; fails on anything else."""
    match = _DURATION.match(text)
    assert match, text
    whole, _, fraction = (match["s"] or "0").partition(".")
    span = dt.timedelta(
        days=int(match["d"] or 0),
        hours=int(match["h"] or 0),
        minutes=int(match["m"] or 0),
        seconds=int(whole),
        microseconds=int(fraction.ljust(6, "0")[:6]),
    )
    return -span if match["sign"] else span


def wsman(lab: RunningLab, host: str = "HV-A", **overrides: object) -> WSMan:
    """A pypsrp WSMan client to `host`, with an operation timeout short enough for tests."""
    options = {**lab.client_options(host), "operation_timeout": 2, "read_timeout": 6}
    options.update(overrides)
    return WSMan(**options)


def invoke(pool: RunspacePool, cmdlet: str, **params: object) -> PowerShell:
    """Run one cmdlet on `pool` and return the finished PowerShell."""
    ps = PowerShell(pool)
    ps.add_cmdlet(cmdlet)
    for name, value in params.items():
        if value is True:
            ps.add_parameter(name)
        else:
            ps.add_parameter(name, value)
    ps.invoke()
    return ps


class Recorder:
    """Wraps a pypsrp transport to keep each raw reply, faults included."""

    def __init__(self, client: WSMan) -> None:
        self.replies: list[tuple[str, str]] = []
        self._send = client.transport.send
        client.transport.send = self.send  # type: ignore[method-assign]

    def send(self, message: bytes, **kwargs: Any) -> bytes:
        """Send `message` through the real transport and keep the reply (or the fault)."""
        request = message.decode()
        try:
            response: bytes = self._send(message, **kwargs)
        except WinRMTransportError as err:
            self.replies.append((request, err.response_text))
            raise
        self.replies.append((request, response.decode()))
        return response
