"""A move's preflight reads each host once, all hosts at once, then Compare-VM on the source."""

from __future__ import annotations

from collections import Counter

from commands.preflight import HostPreflight
from commands.requests import CheckRequest, Move
from lab.world.latency import Latency
from support.winrm_lab import Lab


def test_a_preflight_reads_each_host_in_one_pipeline(lab: Lab) -> None:
    preflight = HostPreflight(lab.port, lab.config.inventory)
    before = len(lab.world.calls())
    move = Move("SRV-DB01", lab.host("HV-SRV03"), include_storage=True, storage_path="D:\\VMs")
    result = preflight.preflight(CheckRequest(move))
    calls = lab.world.calls()[before:]

    def per_host(cmdlet: str) -> Counter[str]:
        return Counter(c.host for c in calls if c.cmdlet == cmdlet)

    # read.ps1 once per host: Get-VM everywhere; the host facts on the source and destination.
    assert per_host("Get-VM") == {"HV-SRV01": 1, "HV-SRV02": 1, "HV-SRV03": 1}
    assert per_host("Get-VMHost") == {"HV-SRV01": 1, "HV-SRV03": 1}
    assert per_host("Test-Path") == {"HV-SRV03": 1}
    assert per_host("Compare-VM") == {"HV-SRV01": 1}
    # HV-SRV03 lacks vSwitch-Backup: named, once, whichever read saw it first.
    missing = [f for f in result.findings if f.code == "switch_missing"]
    assert len(missing) == 1 and "'vSwitch-Backup'" in missing[0].message


def test_the_latency_model_charges_the_hyperv_module_once_per_pool(lab: Lab) -> None:
    lab.world.latency = Latency(module_load=0.01)
    lab.port.find_vm("SRV-APP01")
    lab.port.find_vm("SRV-APP01")
    loaded = lab.world.loaded_modules
    # The adapter keeps one pool per host: each loaded the module once.
    assert sorted(host for host, _ in loaded) == ["hv-srv01", "hv-srv02", "hv-srv03"]
    other = lab.new_port()
    try:
        other.find_vm("SRV-APP01")
    finally:
        other.close()
    # New pools load it again.
    assert len(lab.world.loaded_modules) == 6
