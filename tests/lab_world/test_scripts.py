"""The bot's fixed scripts run in the lab by their reviewed twins; any other script is refused."""

from __future__ import annotations

import hashlib

import pytest

from lab.pipeline import CommandCall, InvocationContext, LabObject, TerminatingError
from lab.world import World
from lab.world.scripts import TWINS, script_text
from support.lab_world import RecordingSink


def run_script(world: World, text: str, *params: tuple[str, object]) -> RecordingSink:
    sink = RecordingSink()
    call = CommandCall(text, tuple(params), is_script=True)  # type: ignore[arg-type]
    world.run_pipeline(InvocationContext("HV-SRV01", "LAB\\hvadmin"), [call], sink)
    return sink


@pytest.mark.parametrize("twin", TWINS, ids=[t.file for t in TWINS])
def test_each_twin_was_reviewed_against_the_script_the_bot_sends(twin: object) -> None:
    # Editing a script without reviewing its twin makes the lab refuse it: update the twin,
    # then this digest.
    text = script_text(twin.file)  # type: ignore[attr-defined]
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == twin.sha256  # type: ignore[attr-defined]


def records(sink: RecordingSink, kind: str) -> list[LabObject]:
    return [o for o in sink.output if isinstance(o, LabObject) and o.notes.get("Record") == kind]


def test_read_shapes_ids_and_enums_as_text_on_the_host(world: World) -> None:
    sink = run_script(world, script_text("read.ps1"), ("Name", "srv-db01"))
    assert sink.errors == []
    [vm] = records(sink, "vm")
    assert records(sink, "host") == []  # no facts asked for
    assert vm.to_string is None
    assert vm.notes["Id"] == str(world.host("HV-SRV01").find_vm("SRV-DB01").id)  # type: ignore[union-attr]
    assert vm.notes["State"] == "Running"
    adapters = vm.notes["Adapters"]
    assert isinstance(adapters, list)
    assert [a.notes["SwitchName"] for a in adapters if isinstance(a, LabObject)] == [
        "vSwitch-Prod",
        "vSwitch-Backup",
    ]


def test_read_adds_the_hosts_facts_when_asked_or_when_the_vm_is_there(world: World) -> None:
    text = script_text("read.ps1")
    with_vm = run_script(world, text, ("Name", "SRV-DB01"), ("Facts", "WithVM"))
    assert len(records(with_vm, "host")) == 1
    elsewhere = run_script(world, text, ("Name", "SRV-WEB01"), ("Facts", "WithVM"))
    assert records(elsewhere, "vm") == records(elsewhere, "host") == []
    facts = run_script(world, text, ("Facts", "Always"), ("Paths", ["D:\\Hyper-V", "Z:\\x"]))
    [host] = records(facts, "host")
    paths = host.notes["Paths"]
    assert isinstance(paths, list)
    assert [p.notes["Exists"] for p in paths if isinstance(p, LabObject)] == [True, False]
    assert "vSwitch-Backup" in host.notes["Switches"]  # type: ignore[operator]


def test_an_unknown_vm_writes_get_vms_own_error(world: World) -> None:
    sink = run_script(world, script_text("read.ps1"), ("Name", "SRV-NOPE"))
    assert sink.output == []
    assert [e.fully_qualified_error_id for e in sink.errors] == [
        "InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVM"
    ]


def test_facts_outside_its_validate_set_is_a_binding_error(world: World) -> None:
    with pytest.raises(TerminatingError) as refused:
        run_script(world, script_text("read.ps1"), ("Facts", "Sometimes"))
    assert refused.value.error.fully_qualified_error_id == "ParameterArgumentValidationError"


@pytest.mark.parametrize(
    "text",
    ["Get-VM | Remove-VM", script_text("read.ps1") + "\nRemove-VM -Name $Name"],
    ids=["other script", "edited script"],
)
def test_any_other_script_is_refused(world: World, text: str) -> None:
    with pytest.raises(TerminatingError) as refused:
        run_script(world, text, ("Name", "SRV-APP01"))
    assert refused.value.error.fully_qualified_error_id == "ScriptNotSupportedByLab"


def test_a_script_parameter_it_does_not_declare_is_a_binding_error(world: World) -> None:
    with pytest.raises(TerminatingError) as refused:
        run_script(world, script_text("read.ps1"), ("Name", "SRV-APP01"), ("Force", None))
    assert refused.value.error.fully_qualified_error_id == "NamedParameterNotFound"
