"""The lab's replies have the XML structure of real Windows replies recorded by pypsrp's authors.

Structure = element names (with namespaces), their attribute names and their nesting, with runs
of identical siblings (several `Stream`s) counted once; values are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.shell import SignalCode

from lab.running import RunningLab
from support.lab_winrm import Recorder, wsman

RECORDED = Path(__file__).parent / "recorded"
_ACTION = re.compile(r"<wsa:Action[^>]*>([^<]+)</wsa:Action>")
_OPERATION_TIMEOUT = "OperationTimeout"


def _recorded_messages(path: Path) -> Iterator[tuple[str, str]]:
    """(request, response) pairs of a pypsrp recording (YAML plain scalars, folded lines)."""
    request, response, current = "", "", ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("- request: "):
            if request and response:
                yield request, response
            request, response, current = line[len("- request: ") :], "", "request"
        elif line.startswith("  response: "):
            response, current = line[len("  response: ") :], "response"
        elif line.startswith("    ") and not re.match(r"^\s+(code|protocol):", line):
            if current == "request":
                request += " " + line.strip()
            elif current == "response":
                response += " " + line.strip()
        else:
            current = ""
    if request and response:
        yield request, response


def shape(element: ET.Element) -> tuple[Any, ...]:
    """The structure of `element`, identical consecutive children collapsed."""
    children: list[tuple[Any, ...]] = []
    for child in element:
        child_shape = shape(child)
        if not children or children[-1] != child_shape:
            children.append(child_shape)
    return (element.tag, tuple(sorted(element.attrib)), tuple(children))


def _kind(request: str, response: str) -> str:
    match = _ACTION.search(request)
    verb = match.group(1).rsplit("/", 1)[-1] if match else "?"
    if "w:TimedOut" in response:
        return _OPERATION_TIMEOUT
    return verb


def recorded_shapes() -> dict[str, set[tuple[Any, ...]]]:
    """Every reply structure seen in the recordings, by request verb (or OperationTimeout)."""
    shapes: dict[str, set[tuple[Any, ...]]] = {}
    for path in sorted(RECORDED.glob("*.yml")):
        for request, response in _recorded_messages(path):
            kind = _kind(request, response)
            shapes.setdefault(kind, set()).add(shape(ET.fromstring(response)))
    return shapes


def test_the_recordings_cover_every_compared_kind() -> None:
    shapes = recorded_shapes()
    assert {"Create", "Command", "Receive", "Signal", "Delete", _OPERATION_TIMEOUT} <= set(shapes)


def test_lab_replies_have_the_recorded_structure(lab: RunningLab) -> None:
    client = wsman(lab)
    recorder = Recorder(client)
    with RunspacePool(client) as pool:
        done = PowerShell(pool)
        done.add_cmdlet("Get-VM").add_parameter("Name", "SRV-APP01")
        done.invoke()
        done.close()
        running = PowerShell(pool)
        running.add_cmdlet("Move-Slowly").add_parameter("Steps", 200)
        running.begin_invoke()
        while not running.streams.progress:
            running.poll_invoke(timeout=1)
        with pytest.raises(WSManFaultError):
            pool.shell.receive("stdout", timeout=1)
        running.stop()
    assert any(SignalCode.PS_CTRL_C in request for request, _ in recorder.replies)

    real = recorded_shapes()
    seen = set()
    for request, response in recorder.replies:
        kind = _kind(request, response)
        seen.add(kind)
        assert shape(ET.fromstring(response)) in real[kind], f"unlike any recorded: {response}"
    assert {"Create", "Command", "Receive", "Signal", "Delete", _OPERATION_TIMEOUT} <= seen


def test_shape_notices_a_missing_element() -> None:
    real = ET.fromstring("<a><b x='1'/><c/></a>")
    assert shape(real) == shape(ET.fromstring("<a><b x='2'/><b x='3'/><c/></a>"))
    assert shape(real) != shape(ET.fromstring("<a><b x='1'/></a>"))


def test_lab_disconnected_operations_have_the_recorded_structure(lab: RunningLab) -> None:
    first_client = wsman(lab)
    first = Recorder(first_client)
    pool = RunspacePool(first_client)
    pool.open()
    pool.disconnect()
    pool.connect()
    running = PowerShell(pool)
    running.add_cmdlet("Move-Slowly").add_parameter("Steps", 4)
    running.begin_invoke()
    pool.disconnect()
    second_client = wsman(lab)
    second = Recorder(second_client)
    [taken] = RunspacePool.get_runspace_pools(second_client)
    taken.connect()
    [command] = taken.create_disconnected_power_shells()
    command.connect()  # type: ignore[no-untyped-call]
    taken.close()

    real = recorded_shapes()
    seen = set()
    for request, response in first.replies + second.replies:
        kind = _kind(request, response)
        seen.add(kind)
        assert shape(ET.fromstring(response)) in real[kind], f"unlike any recorded: {response}"
    assert {"Disconnect", "Reconnect", "Enumerate", "Connect"} <= seen
