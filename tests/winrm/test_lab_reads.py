"""Every read of the port against the lab over real WinRM (HTTPS, validated CA, Basic)."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.winrm.errors import incompatibilities_error
from commands.hyperv import ErrorKind, HyperVError
from commands.plans import plan_move
from commands.requests import Move
from support.winrm_lab import Lab


def test_find_vm_asks_every_host_and_reads_the_details(lab: Lab) -> None:
    vm = lab.port.find_vm("SRV-APP01")
    assert vm.host == "HV-SRV01"
    assert vm.id == "6f1c2a9e-3b7d-4c55-9a0e-1d2f3a4b5c61"
    assert vm.state == "Running"
    assert vm.memory_bytes == 8 << 30
    assert vm.configuration_version == "9.0"
    assert not vm.processor_compatibility
    assert [(a.name, a.switch_name) for a in vm.adapters] == [("Network Adapter", "vSwitch-Prod")]
    assert [d.path.rsplit("\\", 1)[-1] for d in vm.disks] == [
        "SRV-APP01-OS.vhdx",
        "SRV-APP01-Data.vhdx",
    ]
    assert [d.size_bytes for d in vm.disks] == [24 << 30, 36 << 30]
    # Get-VM ran on every inventory host, exactly once each.
    assert sorted(c.host for c in lab.world.calls("Get-VM")) == ["HV-SRV01", "HV-SRV02", "HV-SRV03"]


def test_get_vm_reads_dvd_and_processor_compatibility(lab: Lab) -> None:
    web = lab.port.get_vm(lab.host("HV-SRV02"), "srv-web01")
    assert web.name == "SRV-WEB01"
    assert web.dvd_paths == ("D:\\ISO\\WindowsServer2022.iso",)
    assert web.processor_compatibility


def test_unknown_vm_is_not_found_on_any_host(lab: Lab) -> None:
    with pytest.raises(HyperVError) as caught:
        lab.port.find_vm("SRV-NOPE")
    assert caught.value.kind is ErrorKind.VM_NOT_FOUND
    assert caught.value.summary == "No inventory host runs a VM named SRV-NOPE."
    with pytest.raises(HyperVError) as on_host:
        lab.port.get_vm(lab.host("HV-SRV02"), "SRV-APP01")
    assert on_host.value.kind is ErrorKind.VM_NOT_FOUND
    assert on_host.value.summary == "HV-SRV02 has no VM named SRV-APP01."


@pytest.mark.parametrize("name", ["SRV-*", "SRV-APP0?", "SRV-[A]PP01", "", "SRV\x07"])
def test_wildcards_never_reach_a_host(lab: Lab, name: str) -> None:
    with pytest.raises(HyperVError) as caught:
        lab.port.find_vm(name)
    assert caught.value.kind is ErrorKind.INVALID_PARAMETERS
    assert lab.world.calls("Get-VM") == []


def test_host_settings_and_networks(lab: Lab) -> None:
    settings = lab.port.host_settings(lab.host("HV-SRV01"))
    assert settings.migration_enabled
    assert settings.max_vm_migrations == 2
    assert settings.max_storage_migrations == 2
    assert settings.authentication == "Kerberos"
    assert settings.performance == "Compression"
    assert not settings.use_any_network
    assert [(n.subnet, n.priority) for n in settings.networks] == [("10.10.10.0/24", 1)]
    assert settings.logical_processors == 64
    assert settings.memory_total_bytes == 256 << 30
    assert 0 < settings.memory_free_bytes <= settings.memory_total_bytes


def test_switches_volumes_versions(lab: Lab) -> None:
    assert set(lab.port.switches(lab.host("HV-SRV03"))) == {"vSwitch-Prod"}
    volumes = {v.path: v for v in lab.port.volumes(lab.host("HV-SRV03"))}
    assert set(volumes) == {"C:\\", "D:\\"}
    assert volumes["D:\\"].size_bytes == 1000 << 30
    assert volumes["D:\\"].free_bytes == 600 << 30
    assert lab.port.supported_versions(lab.host("HV-SRV03")) == ("8.0", "9.0")


def test_paths_are_tested_literally(lab: Lab) -> None:
    host = lab.host("HV-SRV01")
    paths = ["D:\\Hyper-V\\Virtual Machines", "Z:\\Nowhere", "D:\\Hyper-V\\*"]
    assert lab.port.host_facts(host, paths).paths == (
        ("D:\\Hyper-V\\Virtual Machines", True),
        ("Z:\\Nowhere", False),
        ("D:\\Hyper-V\\*", False),
    )
    assert all(p[0] == "LiteralPath" for c in lab.world.calls("Test-Path") for p in c.parameters)


def test_events_since_filters_by_time(lab: Lab) -> None:
    host = lab.host("HV-SRV01")
    assert lab.port.events_since(host, dt.datetime.now(dt.UTC)) == ()
    lab.world.log_event(lab.world.host("HV-SRV01"), 20413, "Information", "started 'X'")
    events = lab.port.events_since(host, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    assert [(e.event_id, e.level, e.message) for e in events] == [
        (20413, "Information", "started 'X'")
    ]
    assert events[0].time_created.tzinfo is not None


def test_compare_reports_the_switch_mismatch_and_the_cpu(lab: Lab) -> None:
    source, srv03 = lab.host("HV-SRV01"), lab.host("HV-SRV03")
    db = lab.port.find_vm("SRV-DB01")
    move = plan_move(Move("SRV-DB01", srv03, include_storage=True), db, source).invocations[0]
    found = lab.port.compare(source, move)
    # Each incompatibility is expanded on the host: MessageId and Message arrive typed, the
    # Source (an adapter object one level down) as its ToString text.
    assert [(i.message_id, i.message) for i in found] == [
        (33012, "Could not find Ethernet switch 'vSwitch-Backup'.")
    ]
    assert found[0].source.startswith("VMNetworkAdapter (Name = 'Backup Adapter'")
    scrub = lab.port.session(source).scrub
    assert incompatibilities_error(found, source.name, scrub).kind is ErrorKind.SWITCH_MISSING

    app = lab.port.find_vm("SRV-APP01")
    move = plan_move(Move("SRV-APP01", srv03, include_storage=True), app, source).invocations[0]
    cpu = incompatibilities_error(lab.port.compare(source, move), source.name, scrub)
    assert cpu.kind is ErrorKind.CPU_INCOMPATIBLE


def test_compare_is_clean_for_a_good_destination(lab: Lab) -> None:
    source = lab.host("HV-SRV01")
    app = lab.port.find_vm("SRV-APP01")
    move = Move("SRV-APP01", lab.host("HV-SRV02"), include_storage=True)
    assert lab.port.compare(source, plan_move(move, app, source).invocations[0]) == ()
