"""The cmdlet table: every cmdlet of the brief, coherent parameter specs, PowerShell naming."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lab.world.binding import (
    COMMON_PARAMETERS,
    SHOULD_PROCESS_PARAMETERS,
    CmdletSpec,
    parameter_name,
)
from lab.world.shell import REGISTRY

BRIEF = [
    "Get-VM",
    "Get-VMHost",
    "Set-VMHost",
    "Enable-VMMigration",
    "Disable-VMMigration",
    "Get-VMMigrationNetwork",
    "Add-VMMigrationNetwork",
    "Remove-VMMigrationNetwork",
    "Get-VMSwitch",
    "Get-VMNetworkAdapter",
    "Get-VMHardDiskDrive",
    "Get-VMDvdDrive",
    "Get-VMProcessor",
    "Set-VMProcessor",
    "Get-VMHostSupportedVersion",
    "Compare-VM",
    "Move-VM",
    "Move-VMStorage",
    "Get-CimInstance",
    "Invoke-CimMethod",
    "Get-WinEvent",
    "Test-Path",
    "Get-Volume",
]


def _names(spec: CmdletSpec) -> list[str]:
    common = dict(COMMON_PARAMETERS)
    if spec.should_process:
        common.update(SHOULD_PROCESS_PARAMETERS)
    own = [n for p in spec.params for n in (p.name, *p.aliases)]
    return [n.lower() for n in own + [n for k, v in common.items() for n in (k, *v)]]


def test_every_cmdlet_of_the_brief_is_simulated() -> None:
    assert {c.lower() for c in BRIEF} <= set(REGISTRY)


def test_parameter_names_and_aliases_are_unique_per_cmdlet() -> None:
    for cmdlet in REGISTRY.values():
        names = _names(cmdlet.spec)
        assert len(names) == len(set(names)), cmdlet.spec.name


def test_parameter_sets_are_declared_and_positions_unique_per_set() -> None:
    for cmdlet in REGISTRY.values():
        spec = cmdlet.spec
        assert spec.default_set in spec.sets, spec.name
        for param in spec.params:
            assert set(param.sets or spec.sets) <= set(spec.sets), (spec.name, param.name)
            assert set(param.mandatory) <= set(param.sets or spec.sets), (spec.name, param.name)
        for set_name in spec.sets:
            positions = [
                p.position for p in spec.params if p.position is not None and p.in_set(set_name)
            ]
            assert len(positions) == len(set(positions)), (spec.name, set_name)


@given(st.sampled_from(sorted(REGISTRY)), st.data())
def test_any_casing_of_a_full_name_binds_to_that_parameter(name: str, data: st.DataObject) -> None:
    spec = REGISTRY[name].spec
    param = data.draw(st.sampled_from(spec.params))
    casing = data.draw(st.lists(st.booleans(), min_size=len(param.name), max_size=len(param.name)))
    given_name = "".join(
        c.upper() if up else c.lower() for c, up in zip(param.name, casing, strict=True)
    )
    assert parameter_name(spec, given_name) == param.name


def test_hyperv_error_ids_name_the_cmdlet_class() -> None:
    for cmdlet in REGISTRY.values():
        spec = cmdlet.spec
        if spec.fqid_suffix.startswith("Microsoft.HyperV.PowerShell.Commands."):
            assert spec.fqid_suffix.endswith(spec.name.replace("-", ""))
