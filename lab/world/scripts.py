"""The bot's fixed scripts, run by a Python twin of each.

The lab does not interpret PowerShell. The bot sends a few fixed scripts (`bot/winrm/scripts`)
whose user values are parameters; the lab recognises each by its exact text (pinned here by
a SHA-256, so an edited script is refused until its twin is reviewed) and runs a twin that
calls the simulated cmdlets the script calls and shapes the result the way the script does.
Any other script text is refused, as before. Whether a twin matches what Windows does with
the script is a guess (lab/world/NOTES.md).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from lab.pipeline import (
    CollectingSink,
    CommandCall,
    Int64,
    InvocationContext,
    LabEnum,
    LabObject,
    LabValue,
    PipelineSink,
    TerminatingError,
    property_bag,
)
from lab.world import errors

if TYPE_CHECKING:
    from lab.world.world import World

Runner = Callable[[str, tuple[tuple[str, LabValue], ...]], list[LabValue]]


@dataclass(frozen=True)
class Twin:
    """A fixed script: its file, the SHA-256 of the text the twin was written for, the twin."""

    file: str
    sha256: str
    parameters: tuple[str, ...]
    mandatory: tuple[str, ...]
    run: Callable[[Runner, Mapping[str, LabValue], PipelineSink], None]


def _text(value: LabValue) -> str:
    """PowerShell's `[string]` cast: $null is empty, enums their name, objects their ToString."""
    if value is None:
        return ""
    if isinstance(value, LabEnum):
        return value.name
    if isinstance(value, LabObject):
        return value.text()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, str | int | float | uuid.UUID):
        return str(value)
    return " ".join(_text(item) for item in value) if isinstance(value, list) else str(value)


def _int64(value: LabValue) -> Int64:
    """PowerShell's `[int64]` cast of a number ($null is 0)."""
    if isinstance(value, int):
        return Int64(value)
    if isinstance(value, float):
        return Int64(round(value))
    if isinstance(value, LabEnum):
        return Int64(value.value)
    return Int64(int(str(value or 0)))


def _prop(obj: LabValue, name: str) -> LabValue:
    if isinstance(obj, LabObject):
        return obj.properties.get(name, obj.notes.get(name))
    return None


def _objects(values: list[LabValue]) -> list[LabObject]:
    return [v for v in values if isinstance(v, LabObject)]


def _vm_record(run: Runner, vm: LabObject) -> LabObject:
    """One VM record of read.ps1: the VM and its devices as plain fields."""
    adapters: list[LabValue] = [
        property_bag({"Name": _text(_prop(a, "Name")), "SwitchName": _text(_prop(a, "SwitchName"))})
        for a in _objects(run("Get-VMNetworkAdapter", (("VM", vm),)))
    ]
    disks: list[LabValue] = []
    for disk in _objects(run("Get-VMHardDiskDrive", (("VM", vm),))):
        path = _text(_prop(disk, "Path"))
        size = Int64(0)
        if path:
            vhd = _objects(run("Get-VHD", (("Path", path), ("ErrorAction", "SilentlyContinue"))))
            if vhd:
                size = _int64(_prop(vhd[0], "FileSize"))
        disks.append(
            property_bag(
                {
                    "Path": path,
                    "ControllerType": _text(_prop(disk, "ControllerType")),
                    "FileSize": size,
                }
            )
        )
    dvds: list[LabValue] = [
        _text(_prop(d, "Path"))
        for d in _objects(run("Get-VMDvdDrive", (("VM", vm),)))
        if _prop(d, "Path")
    ]
    processors = _objects(run("Get-VMProcessor", (("VM", vm),)))
    compatible = bool(processors and _prop(processors[0], "CompatibilityForMigrationEnabled"))
    return property_bag(
        {
            "Record": "vm",
            "Id": str(_prop(vm, "Id")),
            "Name": _text(_prop(vm, "Name")),
            "State": _text(_prop(vm, "State")),
            "MemoryAssigned": _int64(_prop(vm, "MemoryAssigned")),
            "MemoryStartup": _int64(_prop(vm, "MemoryStartup")),
            "Version": _text(_prop(vm, "Version")),
            "Path": _text(_prop(vm, "Path")),
            "IsClustered": bool(_prop(vm, "IsClustered")),
            "CompatibilityForMigrationEnabled": compatible,
            "Adapters": adapters,
            "Disks": disks,
            "DvdPaths": dvds,
        }
    )


def _host_record(run: Runner, paths: list[str]) -> LabObject:
    """The host record of read.ps1: settings, networks, memory, switches, versions, volumes."""
    vmhosts = _objects(run("Get-VMHost", ()))
    vmhost = vmhosts[0] if vmhosts else None
    systems = _objects(
        run(
            "Get-CimInstance",
            (("ClassName", "Win32_OperatingSystem"), ("ErrorAction", "SilentlyContinue")),
        )
    )
    free = Int64(_int64(_prop(systems[0], "FreePhysicalMemory")) * 1024) if systems else Int64(0)
    networks: list[LabValue] = [
        property_bag(
            {"Subnet": _text(_prop(n, "Subnet")), "Priority": _int64(_prop(n, "Priority"))}
        )
        for n in _objects(run("Get-VMMigrationNetwork", ()))
    ]
    volumes: list[LabValue] = []
    for volume in _objects(run("Get-Volume", ())):
        letter = _text(_prop(volume, "DriveLetter"))
        root = f"{letter}:\\" if letter and letter != "\0" else _text(_prop(volume, "Path"))
        volumes.append(
            property_bag(
                {
                    "Path": root,
                    "Size": _int64(_prop(volume, "Size")),
                    "SizeRemaining": _int64(_prop(volume, "SizeRemaining")),
                }
            )
        )
    tested: list[LabValue] = [
        property_bag({"Path": p, "Exists": run("Test-Path", (("LiteralPath", p),)) == [True]})
        for p in paths
    ]
    switches: list[LabValue] = [_text(_prop(s, "Name")) for s in _objects(run("Get-VMSwitch", ()))]
    versions: list[LabValue] = [
        _text(_prop(v, "Version")) for v in _objects(run("Get-VMHostSupportedVersion", ()))
    ]
    return property_bag(
        {
            "Record": "host",
            "MigrationEnabled": bool(_prop(vmhost, "VirtualMachineMigrationEnabled")),
            "MaximumVirtualMachineMigrations": _int64(
                _prop(vmhost, "MaximumVirtualMachineMigrations")
            ),
            "MaximumStorageMigrations": _int64(_prop(vmhost, "MaximumStorageMigrations")),
            "Authentication": _text(_prop(vmhost, "VirtualMachineMigrationAuthenticationType")),
            "Performance": _text(_prop(vmhost, "VirtualMachineMigrationPerformanceOption")),
            "UseAnyNetwork": bool(_prop(vmhost, "UseAnyNetworkForMigration")),
            "LogicalProcessorCount": _int64(_prop(vmhost, "LogicalProcessorCount")),
            "MemoryCapacity": _int64(_prop(vmhost, "MemoryCapacity")),
            "FreeMemoryBytes": free,
            "Networks": networks,
            "Switches": switches,
            "SupportedVersions": versions,
            "Volumes": volumes,
            "Paths": tested,
        }
    )


FACTS = ("Never", "WithVM", "Always")


def _read_script(run: Runner, params: Mapping[str, LabValue], sink: PipelineSink) -> None:
    """Twin of bot/winrm/scripts/read.ps1."""
    name = _text(params.get("Name"))
    every = "AllVMs" in params and params["AllVMs"] is not False
    facts = next(
        (f for f in FACTS if f.casefold() == _text(params.get("Facts", "Never")).casefold()), None
    )
    if facts is None:
        raise TerminatingError(
            errors.binding_error(
                "",
                "",
                "ParameterArgumentValidationError",
                "Cannot validate argument on parameter 'Facts'. The argument "
                f'"{_text(params.get("Facts"))}" does not belong to the set '
                '"Never,WithVM,Always" specified by the ValidateSet attribute.',
            )
        )
    given = params.get("Paths")
    paths = (
        [_text(p) for p in given] if isinstance(given, list) else [_text(given)] if given else []
    )
    machines: list[LabObject] = []
    if every:
        machines = _objects(run("Get-VM", ()))
    elif name:
        machines = _objects(run("Get-VM", (("Name", name),)))
    found = False
    for vm in machines:
        if name and _text(_prop(vm, "Name")).casefold() != name.casefold():
            continue
        found = True
        sink.write_output(_vm_record(run, vm))
    if facts == "Always" or (facts == "WithVM" and found):
        sink.write_output(_host_record(run, paths))


TWINS = (
    Twin(
        "read.ps1",
        "62abdf943a4d473a722776b61f7472e3ed532ff1ad5c171dc10b19ebfdece3c4",
        ("Name", "AllVMs", "Facts", "Paths"),
        (),
        _read_script,
    ),
)


def script_text(file: str) -> str:
    """The text of one of the bot's fixed scripts, as the bot sends it."""
    return (resources.files("bot.winrm") / "scripts" / file).read_text(encoding="utf-8")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def find_twin(text: str) -> Twin | None:
    """The twin of a script text, if it is one of the bot's scripts exactly as reviewed."""
    digest = _digest(text)
    for twin in TWINS:
        if digest == twin.sha256 and script_text(twin.file) == text:
            return twin
    return None


def run_script(
    world: World,
    context: InvocationContext,
    call: CommandCall,
    sink: PipelineSink,
    run_pipeline: Callable[[World, InvocationContext, Sequence[CommandCall], PipelineSink], None],
) -> None:
    """Run a fixed script through its twin; any other script text is a terminating error."""
    twin = find_twin(call.name)
    if twin is None:
        raise TerminatingError(errors.script_not_supported(call.name))
    params = _bind(twin, call)

    def run(cmdlet: str, parameters: tuple[tuple[str, LabValue], ...]) -> list[LabValue]:
        # Inner cmdlets' errors reach the client as the script's non-terminating errors.
        collected = CollectingSink(forward=sink)
        run_pipeline(world, context, [CommandCall(cmdlet, parameters)], collected)
        return collected.output

    twin.run(run, params, sink)


def _bind(twin: Twin, call: CommandCall) -> dict[str, LabValue]:
    values: dict[str, LabValue] = {}
    for name, value in call.parameters:
        declared = next(
            (p for p in twin.parameters if name and p.casefold() == name.casefold()), None
        )
        if declared is None:
            raise TerminatingError(
                errors.binding_error(
                    "",
                    "",
                    "NamedParameterNotFound",
                    f"A parameter cannot be found that matches parameter name '{name}'.",
                )
            )
        values[declared] = value
    missing = [p for p in twin.mandatory if p not in values]
    if missing:
        raise TerminatingError(
            errors.binding_error(
                "",
                "",
                "MissingMandatoryParameter",
                f"Cannot process command because of one or more missing mandatory parameters: "
                f"{' '.join(missing)}.",
            )
        )
    return values
