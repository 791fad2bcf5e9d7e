"""Placement and schedule tables: where each VM goes, why one goes nowhere, when moves start."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commands.findings import FindingCode
from commands.hyperv import HardDisk, NetworkAdapter, VmInfo
from commands.placement import (
    GIB,
    HostCapacity,
    Job,
    Misfit,
    PlacementPlan,
    makespan,
    place,
    schedule,
    startable,
)

INTEL = "GenuineIntel"
GOLD = "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz"
E5 = "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz"


def host(name: str, free_gib: float | None = 64, **fields: object) -> HostCapacity:
    """A host like the lab's: Intel Gold, vSwitch-Prod, versions 8.0-10.0, D: with 1 TiB."""
    base = HostCapacity(
        name=name,
        memory_free_bytes=None if free_gib is None else int(free_gib * GIB),
        switches=frozenset({"vSwitch-Prod"}),
        supported_versions=frozenset({"8.0", "9.0", "10.0"}),
        cpu_vendor=INTEL,
        cpu_model=GOLD,
        volumes_free={"C:": 100 * GIB, "D:": 1024 * GIB},
    )
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


def vm(name: str, memory_gib: float = 4, **fields: object) -> VmInfo:
    """A running VM of SRC on vSwitch-Prod, version 9.0, its disk on a share."""
    base = VmInfo(
        id=f"id-{name}",
        name=name,
        host="SRC",
        state="Running",
        memory_bytes=int(memory_gib * GIB),
        processor_compatibility=False,
        configuration_version="9.0",
        path=f"\\\\FS01\\VMs\\{name}",
        adapters=(NetworkAdapter("Network Adapter", "vSwitch-Prod"),),
        disks=(HardDisk(f"\\\\FS01\\VMs\\{name}\\{name}.vhdx", 40 * GIB),),
    )
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


SRC = host("SRC", 8)


def plan(
    vms: list[VmInfo], hosts: list[HostCapacity], include_storage: bool = False, **kw: object
) -> PlacementPlan:
    return place(vms, hosts, sources={"SRC": SRC}, include_storage=include_storage, **kw)  # type: ignore[arg-type]


def where(result: PlacementPlan) -> dict[str, str]:
    return {p.vm.name: p.destination for p in result.placed}


def codes(result: PlacementPlan, name: str) -> list[tuple[str | None, str]]:
    unplaced = next(u for u in result.unplaced if u.vm.name == name)
    return [(m.host, m.code) for m in unplaced.reasons]


# (what, VMs, hosts, include_storage, expected destinations, expected unplaced reasons)
TABLE: list[
    tuple[
        str,
        list[VmInfo],
        list[HostCapacity],
        bool,
        dict[str, str],
        dict[str, list[tuple[str | None, str]]],
    ]
] = [
    (
        "most free memory first, counting what was placed",
        [vm("A", 8), vm("B", 8), vm("C", 8)],
        [host("H1", 20), host("H2", 13)],
        False,
        {"A": "H1", "B": "H2", "C": "H1"},
        {},
    ),
    (
        "biggest first, so the big VM still finds room",
        [vm("small", 2), vm("big", 30)],
        [host("H1", 31), host("H2", 3)],
        False,
        {"big": "H1", "small": "H2"},
        {},
    ),
    (
        "memory runs out: the last VM fits nowhere",
        [vm("A", 10), vm("B", 10), vm("C", 10)],
        [host("H1", 12), host("H2", 12)],
        False,
        {"A": "H1", "B": "H2"},
        {"C": [("H1", "not_enough_memory"), ("H2", "not_enough_memory")]},
    ),
    (
        "a missing switch rules a host out",
        [vm("B", 2, adapters=(NetworkAdapter("Backup", "vSwitch-Backup"),))],
        [host("H1", 100), host("H2", 10, switches=frozenset({"vswitch-prod", "VSWITCH-BACKUP"}))],
        False,
        {"B": "H2"},
        {},
    ),
    (
        "a disconnected adapter needs no switch",
        [vm("D", 2, adapters=(NetworkAdapter("Spare", None),))],
        [host("H1")],
        False,
        {"D": "H1"},
        {},
    ),
    (
        "configuration version",
        [vm("V10", 2, configuration_version="10.0")],
        [host("H1", 100, supported_versions=frozenset({"8.0", "9.0"})), host("H2", 10)],
        False,
        {"V10": "H2"},
        {},
    ),
    (
        "another processor vendor: never, even with compatibility mode",
        [vm("C", 2, processor_compatibility=True)],
        [host("AMD", 100, cpu_vendor="AuthenticAMD"), host("H2", 10)],
        False,
        {"C": "H2"},
        {},
    ),
    (
        "another model with compatibility off: only when nothing else fits",
        [vm("C", 2)],
        [host("OLD", 100, cpu_model=E5), host("H2", 10)],
        False,
        {"C": "H2"},
        {},
    ),
    (
        "another model with compatibility on: memory decides",
        [vm("C", 2, processor_compatibility=True)],
        [host("OLD", 100, cpu_model=E5), host("H2", 10)],
        False,
        {"C": "OLD"},
        {},
    ),
    (
        "migration disabled on a destination",
        [vm("A", 2)],
        [host("H1", 100, migration_enabled=False), host("H2", 10)],
        False,
        {"A": "H2"},
        {},
    ),
    (
        "local disks without include-storage: nowhere, whatever the hosts",
        [vm("L", 2, disks=(HardDisk("D:\\VMs\\L.vhdx", GIB),))],
        [host("H1")],
        False,
        {},
        {"L": [(None, "local_storage")]},
    ),
    (
        "storage moves count free space per volume, after the VMs placed there",
        [
            vm("S1", 2, path="D:\\VMs\\S1", disks=(HardDisk("D:\\VMs\\S1.vhdx", 60 * GIB),)),
            vm("S2", 2, path="D:\\VMs\\S2", disks=(HardDisk("D:\\VMs\\S2.vhdx", 60 * GIB),)),
        ],
        [host("H1", 64, volumes_free={"D:": 100 * GIB}), host("H2", 8, volumes_free={})],
        True,
        {"S1": "H1"},
        {"S2": [("H1", "not_enough_disk"), ("H2", "path_missing")]},
    ),
    (
        "a local ISO stops the VM whatever the host",
        [vm("I", 2, dvd_paths=("D:\\ISO\\x.iso",))],
        [host("H1")],
        False,
        {},
        {"I": [(None, "local_iso")]},
    ),
    (
        "a stopped VM needs no memory",
        [vm("OFF", 64, state="Off")],
        [host("H1", 1)],
        False,
        {"OFF": "H1"},
        {},
    ),
    (
        "a VM in transition is not moved",
        [vm("P", 2, state="Paused")],
        [host("H1")],
        False,
        {},
        {"P": [(None, "vm_state")]},
    ),
    (
        "the VM's own host is never its destination",
        [vm("A", 2)],
        [host("SRC", 100)],
        False,
        {},
        {"A": [(None, "no_destination")]},
    ),
    (
        "several reasons on one host are all listed",
        [vm("X", 16, configuration_version="10.0", adapters=(NetworkAdapter("n", "Other"),))],
        [host("H1", 8, supported_versions=frozenset({"9.0"}))],
        False,
        {},
        {
            "X": [
                ("H1", "not_enough_memory"),
                ("H1", "switch_missing"),
                ("H1", "version_unsupported"),
            ]
        },
    ),
]


@pytest.mark.parametrize(
    ("what", "vms", "hosts", "storage", "expected", "nowhere"), TABLE, ids=[t[0] for t in TABLE]
)
def test_placement_table(
    what: str,
    vms: list[VmInfo],
    hosts: list[HostCapacity],
    storage: bool,
    expected: dict[str, str],
    nowhere: dict[str, list[tuple[str | None, str]]],
) -> None:
    result = plan(vms, hosts, storage)
    assert where(result) == expected
    assert {u.vm.name for u in result.unplaced} == set(nowhere)
    for name, reasons in nowhere.items():
        assert codes(result, name) == reasons
    assert result.complete == (not nowhere)


def test_source_with_migration_disabled_moves_nothing() -> None:
    sources = {"SRC": dataclasses.replace(SRC, migration_enabled=False)}
    result = place([vm("A")], [host("H1")], sources=sources, include_storage=False)
    assert codes(result, "A") == [(None, "migration_disabled")]


def test_compare_vm_verdicts_re_place_the_vm() -> None:
    first = plan([vm("A", 2)], [host("H1", 100), host("H2", 10)])
    assert where(first) == {"A": "H1"}
    refused = {
        ("id-A", "H1"): [Misfit("H1", FindingCode.CPU_INCOMPATIBLE, "Compare-VM: processor")]
    }
    second = plan([vm("A", 2)], [host("H1", 100), host("H2", 10)], known_misfits=refused)
    assert where(second) == {"A": "H2"}


def test_notes_say_what_an_approver_should_know() -> None:
    result = plan([vm("C", 2), vm("OFF", 2, state="Off")], [host("OLD", None, cpu_model=E5)])
    notes = {p.vm.name: p.notes for p in result.placed}
    assert any("Compare-VM decides" in n for n in notes["C"])
    assert any("does not report its free memory" in n for n in notes["C"])
    assert any("moved without running" in n for n in notes["OFF"])


def test_storage_flag_only_for_vms_with_local_disks() -> None:
    local = vm("L", 2, path="D:\\VMs\\L", disks=(HardDisk("D:\\VMs\\L.vhdx", GIB),))
    # Disks on the share, configuration on D: (the lab's SRV-DB01): a plain live move.
    config_only = vm("C", 2, path="D:\\VMs\\C")
    result = plan([local, vm("S", 2), config_only], [host("H1")], include_storage=True)
    flags = {p.vm.name: p.moves_storage for p in result.placed}
    assert flags == {"L": True, "S": False, "C": False}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(1, 40), min_size=1, max_size=30),
    st.lists(st.integers(0, 200), min_size=1, max_size=4),
)
def test_placement_never_overfills_a_host(sizes: list[int], frees: list[int]) -> None:
    hosts = [host(f"H{i}", f) for i, f in enumerate(frees)]
    result = plan([vm(f"V{i}", s) for i, s in enumerate(sizes)], hosts)
    assert len(result.placed) + len(result.unplaced) == len(sizes)
    placed: dict[str, int] = {}
    for p in result.placed:
        # Every VM here runs, so each takes its memory on its destination.
        assert p.vm.state == "Running"
        placed[p.destination] = placed.get(p.destination, 0) + p.vm.memory_bytes
    for h in hosts:
        assert placed.get(h.name, 0) <= (h.memory_free_bytes or 0)
    # Whatever was left out would not have fit on any host after the placements.
    for unplaced in result.unplaced:
        for h in hosts:
            left = (h.memory_free_bytes or 0) - placed.get(h.name, 0)
            assert unplaced.vm.memory_bytes > left


# -- schedule -------------------------------------------------------------------------------

LIMITS = {"SRC": 2, "H1": 2, "H2": 1}


def test_startable_respects_both_ends() -> None:
    waiting = [Job("a", "SRC", "H2"), Job("b", "SRC", "H2"), Job("c", "SRC", "H1")]
    assert [j.key for j in startable(waiting, [], LIMITS)] == ["a", "c"]
    running = [Job("x", "SRC", "H1")]
    assert [j.key for j in startable(waiting, running, LIMITS)] == ["a"]


def test_unknown_host_limit_counts_as_one() -> None:
    waiting = [Job("a", "SRC", "Z"), Job("b", "SRC", "Z")]
    assert [j.key for j in startable(waiting, [], {"SRC": 4})] == ["a"]


SCHEDULES: list[tuple[str, list[Job], dict[str, int], dict[str, tuple[float, float]]]] = [
    (
        "source limit 2: pairs",
        [Job(k, "SRC", "H1", 10) for k in "abcd"],
        {"SRC": 2, "H1": 4},
        {"a": (0, 10), "b": (0, 10), "c": (10, 20), "d": (10, 20)},
    ),
    (
        "destination limit 1 serialises its moves, others overtake",
        [Job("a", "SRC", "H2", 10), Job("b", "SRC", "H2", 10), Job("c", "SRC", "H1", 5)],
        LIMITS,
        {"a": (0, 10), "c": (0, 5), "b": (10, 20)},
    ),
    (
        "a freed slot is reused at once",
        [Job("a", "SRC", "H1", 3), Job("b", "SRC", "H1", 10), Job("c", "SRC", "H1", 4)],
        {"SRC": 2, "H1": 2},
        {"a": (0, 3), "b": (0, 10), "c": (3, 7)},
    ),
]


@pytest.mark.parametrize(
    ("what", "jobs", "limits", "expected"), SCHEDULES, ids=[s[0] for s in SCHEDULES]
)
def test_schedule_table(
    what: str, jobs: list[Job], limits: dict[str, int], expected: dict[str, tuple[float, float]]
) -> None:
    slots = schedule(jobs, limits)
    assert {s.key: (s.start, s.end) for s in slots} == expected


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["H1", "H2", "H3"]), st.integers(1, 50)), max_size=40),
    st.integers(1, 4),
    st.integers(1, 3),
)
def test_schedule_never_exceeds_a_limit(
    moves: list[tuple[str, int]], source_limit: int, dest_limit: int
) -> None:
    jobs = [Job(str(i), "SRC", d, s) for i, (d, s) in enumerate(moves)]
    limits = {"SRC": source_limit, "H1": dest_limit, "H2": dest_limit, "H3": 1}
    slots = schedule(jobs, limits)
    assert sorted(s.key for s in slots) == sorted(j.key for j in jobs)
    by_key = {j.key: j for j in jobs}
    for t in {s.start for s in slots}:
        live = [by_key[s.key] for s in slots if s.start <= t < s.end]
        for name, limit in limits.items():
            assert sum(name in (j.source, j.destination) for j in live) <= limit
    total = sum(j.seconds for j in jobs)
    # Never worse than one at a time, never better than the source's limit allows.
    assert makespan(slots) <= total
    assert makespan(slots) >= total / source_limit - 1e-9


def test_empty_schedule() -> None:
    assert schedule([], LIMITS) == ()
    assert makespan([]) == 0.0


def test_order_is_kept_among_equals() -> None:
    jobs = [Job(k, "SRC", "H1", 1) for k in "abcdef"]
    slots = schedule(jobs, {"SRC": 2, "H1": 2})
    starts = [s.key for s in sorted(slots, key=lambda s: (s.start, s.key))]
    assert starts == list("abcdef")
    assert all(a.start <= b.start for a, b in itertools.pairwise(slots))
