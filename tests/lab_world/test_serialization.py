"""The lab's CLIXML, cmdlet by cmdlet, against what PowerShell's rules give for each .NET type.

The rules (architecture §6, from PowerShell's engine/serialization.cs): remoting writes an output
object at depth 1, so its adapted properties are at depth 0, where a known primitive keeps
its own tag and anything else (enums, nested objects) is `<S>` holding its ToString; a
collection costs no depth; notes keep the object's depth; a CimInstance is always depth 1.
The expected tags below come from each property's .NET type in the Hyper-V module (HyperVDsc
stubs) and the CIM classes, written out by hand, not from the lab.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from psrpcore.types import PSCryptoProvider
from psrpcore.types._serializer import serialize

from lab.pipeline import CommandCall, InvocationContext, LabObject, LabValue
from lab.winrm.clixml import to_clixml
from lab.world import World, load_scenario, objects
from lab.world.model import Volume
from support.lab_world import RecordingSink, run_on

CAPTURE = Path(__file__).parents[1] / "reference" / "hyperv-capture" / "get-vm-select.xml"
NS = "{http://schemas.microsoft.com/powershell/2004/04}"
HV = "Microsoft.HyperV.PowerShell."

# cmdlet, parameters, first type name, {property: tag at depth 0}
EXPECTED: list[tuple[str, tuple[tuple[str, LabValue], ...], str, dict[str, str]]] = [
    (
        "Get-VM",
        (("Name", "SRV-APP01"),),
        HV + "VirtualMachine",
        {
            "Id": "G",
            "VMId": "G",
            "Name": "S",
            "State": "S",  # VMState enum: its ToString
            "Generation": "I32",
            "Version": "S",
            "ProcessorCount": "I64",
            "MemoryAssigned": "I64",
            "MemoryStartup": "I64",
            "Uptime": "TS",
            "IsClustered": "B",
        },
    ),
    (
        "Get-VMHost",
        (),
        HV + "VMHost",
        {
            "MemoryCapacity": "I64",
            "LogicalProcessorCount": "I32",
            "MaximumVirtualMachineMigrations": "U32",
            "MaximumStorageMigrations": "U32",
            "VirtualMachineMigrationAuthenticationType": "S",
            "VirtualMachineMigrationPerformanceOption": "S",
            "VirtualMachineMigrationEnabled": "B",
            "UseAnyNetworkForMigration": "B",
        },
    ),
    ("Get-VMSwitch", (), HV + "VMSwitch", {"Id": "G", "Name": "S", "SwitchType": "S"}),
    (
        "Get-VMNetworkAdapter",
        (("VMName", "SRV-APP01"),),
        HV + "VMNetworkAdapter",
        {"Name": "S", "SwitchName": "S", "VMId": "G"},
    ),
    (
        "Get-VMHardDiskDrive",
        (("VMName", "SRV-APP01"),),
        HV + "HardDiskDrive",
        {
            "Path": "S",
            "ControllerType": "S",
            "ControllerNumber": "I32",
            "ControllerLocation": "I32",
        },
    ),
    ("Get-VMMigrationNetwork", (), HV + "VMMigrationNetwork", {"Subnet": "S", "Priority": "I32"}),
    (
        "Get-VMHostSupportedVersion",
        (),
        HV + "VMHostSupportedVersion",
        {"Version": "S", "IsDefault": "B"},
    ),
    (
        "Get-Volume",
        (),
        "Microsoft.Management.Infrastructure.CimInstance#ROOT/Microsoft/Windows/Storage/MSFT_Volume",
        {"DriveLetter": "C", "Size": "U64", "SizeRemaining": "U64"},
    ),
    (
        "Compare-VM",
        (("Name", "SRV-DB01"), ("DestinationHost", "HV-SRV03")),
        HV + "VMCompatibilityReport",
        {"VM": "S", "OperationType": "S", "Destination": "S", "Incompatibilities": "Obj"},
    ),
]


@pytest.fixture(scope="module")
def world() -> World:
    return load_scenario(time_scale=0.0005)


def clixml(value: LabValue) -> ET.Element:
    """The CLIXML element PowerShell remoting would send for `value` (lab serializer)."""
    return serialize(to_clixml(value), PSCryptoProvider())


def adapted(element: ET.Element) -> dict[str, ET.Element]:
    props = element.find("Props")
    return {p.attrib["N"]: p for p in (props if props is not None else [])}


def type_names(element: ET.Element) -> list[str]:
    return [t.text or "" for t in element.iter("T")][: len(element.find("TN") or [])]


def first_output(world: World, cmdlet: str, params: tuple[tuple[str, LabValue], ...]) -> LabValue:
    sink = run_on(world, "HV-SRV01", (cmdlet, params))
    assert sink.errors == [] and sink.output, (cmdlet, sink.errors)
    first: LabValue = sink.output[0]
    return first


@pytest.mark.parametrize(
    ("cmdlet", "params", "first", "tags"), EXPECTED, ids=[e[0] for e in EXPECTED]
)
def test_each_cmdlet_writes_the_tags_of_its_net_types(
    world: World,
    cmdlet: str,
    params: tuple[tuple[str, LabValue], ...],
    first: str,
    tags: dict[str, str],
) -> None:
    element = clixml(first_output(world, cmdlet, params))
    assert element.tag == "Obj"
    assert type_names(element)[0] == first
    props = adapted(element)
    assert {name: props[name].tag for name in tags} == tags
    # Depth 1: nothing below the top level is written as an object with properties.
    assert not [
        p for p in props.values() if p.find("Props") is not None or p.find("MS") is not None
    ]


def test_a_list_below_the_top_level_holds_the_items_tostring() -> None:
    world = load_scenario(time_scale=0.0005)
    report = first_output(
        world, "Compare-VM", (("Name", "SRV-DB01"), ("DestinationHost", "HV-SRV03"))
    )
    incompatibilities = adapted(clixml(report))["Incompatibilities"]
    items = incompatibilities.find("LST")
    assert items is not None
    assert [(i.tag, i.text) for i in items] == [
        ("S", "Could not find Ethernet switch 'vSwitch-Backup'.")
    ]


def test_a_volume_without_a_letter_sends_char_zero() -> None:
    world = load_scenario(time_scale=0.0005)
    host = world.host("HV-SRV01")
    assert host is not None
    element = clixml(objects.volume(host, Volume("", 10, 5, "Recovery", "NTFS")))
    letter = adapted(element)["DriveLetter"]
    assert (letter.tag, letter.text) == ("C", "0")


def test_a_cim_instance_nested_in_a_note_is_still_written_at_depth_1() -> None:
    world = load_scenario(time_scale=0.0005)
    host = world.host("HV-SRV01")
    assert host is not None
    volume = objects.volume(host, Volume("D", 10, 5, "VMs", "NTFS"))
    holder = LabObject(("Holder",), {"Volume": volume}, "holder")
    nested = adapted(clixml(holder))["Volume"]
    assert nested.tag == "Obj" and adapted(nested)["Size"].tag == "U64"


def _shape(element: ET.Element) -> tuple[object, ...]:
    """An element without namespaces and reference ids, whitespace ignored.

    Children are compared as a set in order: psrpcore writes an enum's <I32> before its <TN>
    and <ToString>, Windows after them (lab/winrm/NOTES.md).
    """
    tag = element.tag.removeprefix(NS)
    attributes = tuple(sorted((k, v) for k, v in element.attrib.items() if k != "RefId"))
    text = (element.text or "").strip()
    children = [_shape(child) for child in element]
    if tag == "Obj":
        children.sort(key=repr)
    return (tag, attributes, text, tuple(children))


def test_select_object_on_get_vm_matches_the_real_windows_capture(tmp_path: Path) -> None:
    scenario = tmp_path / "capture.toml"
    scenario.write_text(
        """
[[hosts]]
name = "HV-A"
volumes = [{ letter = "D", size_gb = 100, free_gb = 50 }]

[[vms]]
name = "IT-HELP-DVLS"
host = "HV-A"
id = "fbac8867-40ca-4032-a8e0-901c7f004cd7"
state = "Off"
version = "10.0"
""",
        encoding="utf-8",
    )
    world = load_scenario(scenario, time_scale=0.001)
    sink = RecordingSink()
    world.run_pipeline(
        InvocationContext("HV-A", "LAB\\hvadmin"),
        [
            CommandCall("Get-VM", (("Name", "IT-HELP-DVLS"),)),
            CommandCall(
                "Select-Object",
                (("Property", ["VMId", "VMName", "State", "Uptime", "Status", "Version"]),),
            ),
        ],
        sink,
    )
    [selected] = sink.output
    real = ET.parse(CAPTURE).getroot()
    [real_vm] = list(real)
    assert _shape(clixml(selected)) == _shape(real_vm)
