"""Every host-setting change of the seed, run through the port against the lab and read back."""

from __future__ import annotations

import pytest

from commands.hyperv import ErrorKind, HyperVError
from commands.invocation import Invocation, Parameter
from commands.plans import plan_host_change, plan_vm_compatibility
from commands.requests import (
    AuthType,
    HostNetworkAddRequest,
    HostNetworkRemoveRequest,
    HostSetRequest,
    HostSetting,
    HostToggleRequest,
    PerformanceOption,
    VmCompatibilityRequest,
)
from support.winrm_lab import Lab


def test_every_host_setting_change_of_the_seed(lab: Lab) -> None:
    host = lab.host("HV-SRV02")
    changes: list[
        HostToggleRequest | HostSetRequest | HostNetworkAddRequest | HostNetworkRemoveRequest
    ] = [
        HostToggleRequest(host, False),
        HostSetRequest(host, HostSetting.MAX_MIGRATIONS, 5),
        HostSetRequest(host, HostSetting.MAX_STORAGE_MIGRATIONS, 3),
        HostSetRequest(host, HostSetting.AUTH, AuthType.CREDSSP),
        HostSetRequest(host, HostSetting.PERFORMANCE, PerformanceOption.SMB),
        HostSetRequest(host, HostSetting.ANY_NETWORK, True),
        HostNetworkAddRequest(host, "10.20.0.0/16", 2),
        HostNetworkRemoveRequest(host, "10.10.10.0/24"),
    ]
    for change in changes:
        plan = plan_host_change(change)
        lab.port.run(plan.host, plan.invocations)
    settings = lab.port.host_settings(host)
    assert not settings.migration_enabled
    assert settings.max_vm_migrations == 5
    assert settings.max_storage_migrations == 3
    assert settings.authentication == "CredSSP"
    assert settings.performance == "SMB"
    assert settings.use_any_network
    assert [(n.subnet, n.priority) for n in settings.networks] == [("10.20.0.0/16", 2)]

    lab.port.run(host, plan_host_change(HostToggleRequest(host, True)).invocations)
    assert lab.port.host_settings(host).migration_enabled
    # Every change ran on HV-SRV02 only.
    verbs = ("Set", "Enable", "Disable", "Add", "Remove")
    changed = [c for c in lab.world.call_log if c.cmdlet.split("-")[0] in verbs]
    assert {c.host for c in changed} == {"HV-SRV02"}


def test_a_failed_change_is_classified(lab: Lab) -> None:
    host = lab.host("HV-SRV01")
    plan = plan_host_change(HostNetworkRemoveRequest(host, "192.168.99.0/24"))
    with pytest.raises(HyperVError) as caught:
        lab.port.run(host, plan.invocations)
    assert caught.value.host == "HV-SRV01"
    assert caught.value.summary and caught.value.fix
    assert "192.168.99.0/24" in caught.value.detail


def test_processor_compatibility_on_a_vm_that_is_off(lab: Lab) -> None:
    vm = lab.port.find_vm("SRV-TEST01")
    host = lab.host(vm.host)
    assert not vm.processor_compatibility
    plan = plan_vm_compatibility(VmCompatibilityRequest("SRV-TEST01", True), vm, host)
    lab.port.run(plan.host, plan.invocations)
    assert lab.port.get_vm(host, "SRV-TEST01").processor_compatibility


def test_processor_compatibility_refused_by_the_host_while_running(lab: Lab) -> None:
    # The plan refuses a running VM; here the host itself is asked, as if the VM just started.
    host = lab.host("HV-SRV01")
    change = Invocation(
        "Set-VMProcessor",
        (Parameter("VMName", "SRV-APP01"), Parameter("CompatibilityForMigrationEnabled", True)),
    )
    with pytest.raises(HyperVError) as caught:
        lab.port.run(host, [change])
    assert caught.value.kind is ErrorKind.VM_STATE
