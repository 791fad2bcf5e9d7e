"""The preflight against an in-memory Hyper-V: each check blocks or warns as it should."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from commands.delegation import ComputerObject, ObjectChange
from commands.findings import FindingCode, Severity
from commands.hyperv import (
    HardDisk,
    Incompatibility,
    NetworkAdapter,
    VmInfo,
    Volume,
)
from commands.inventory import Host, Inventory
from commands.plans import PlanError
from commands.preflight import (
    MOVE_CHECKS,
    HostPreflight,
    MoveFacts,
    disks_shared,
    isos_shared,
    resolve_plan,
    storage_target_fits,
)
from commands.requests import (
    AuthType,
    CheckRequest,
    HostNetworkRemoveRequest,
    HostSetRequest,
    HostSetting,
    MigrateRequest,
    Move,
    StatusRequest,
    StorageRequest,
    VmCompatibilityRequest,
)
from commands.workflow.approvals import DirectoryError
from support.hosts import FakeHyperV, lab_host

SRV01, SRV02 = lab_host("HV-SRV01"), lab_host("HV-SRV02")
GIB = 1024**3
APP = "SRV-APP01"


@pytest.fixture
def hyperv() -> Iterator[FakeHyperV]:
    """Two hosts that fit a running SRV-APP01 (4 GiB, one adapter, a local disk) on HV-SRV01;
    the test fails if anything changed them (a preflight only reads)."""
    volume = (Volume("D:\\", 1000 * GIB, 500 * GIB),)
    world = FakeHyperV(
        switch_names={SRV01.name: ("vSwitch-Prod",), SRV02.name: ("vSwitch-Prod",)},
        host_volumes={SRV01.name: volume, SRV02.name: volume},
        versions=("9.0", "10.0"),
        paths={"D:\\Hyper-V"},
    )
    world.vms[APP] = VmInfo(
        id="0b6c1f4e-0000-4000-8000-000000000001",
        name=APP,
        host="HV-SRV01",
        state="Running",
        memory_bytes=4 * GIB,
        processor_compatibility=False,
        configuration_version="10.0",
        path="D:\\Hyper-V\\SRV-APP01",
        adapters=(NetworkAdapter("Network Adapter", "vSwitch-Prod"),),
        disks=(HardDisk("D:\\Hyper-V\\SRV-APP01\\os.vhdx", 40 * GIB),),
    )
    yield world
    assert world.runs == [] and world.starts == []


def set_host(hyperv: FakeHyperV, host: Host, **settings: object) -> None:
    """The host's Get-VMHost reads `settings` from now on."""
    hyperv.changed.setdefault(host.name, {}).update(settings)


def set_vm(hyperv: FakeHyperV, **changes: object) -> None:
    """SRV-APP01 reads with `changes` from now on."""
    hyperv.vms[APP] = dataclasses.replace(hyperv.vms[APP], **changes)  # type: ignore[arg-type]


def check(hyperv: FakeHyperV, **move: object) -> list[tuple[Severity, str]]:
    options: dict[str, object] = {"include_storage": True, "storage_path": "D:\\Hyper-V"}
    options.update(move)
    preflight = HostPreflight(hyperv, Inventory([SRV01, SRV02]))
    result = preflight.preflight(CheckRequest(Move(APP, SRV02, **options)))  # type: ignore[arg-type]
    return [(f.severity, f.code) for f in result.findings]


def test_a_clean_shared_nothing_move_has_no_findings_and_a_plan(hyperv: FakeHyperV) -> None:
    preflight = HostPreflight(hyperv, Inventory([SRV01, SRV02]))
    move = Move("SRV-APP01", SRV02, include_storage=True, storage_path="D:\\Hyper-V")
    result = preflight.preflight(MigrateRequest(move))
    assert result.ok and result.findings == ()
    assert result.host == SRV01 and result.destination == SRV02
    assert result.invocations[0].render() == (
        "Move-VM -Name 'SRV-APP01' -DestinationHost 'hv-srv02.lab.local' "
        "-IncludeStorage -DestinationStoragePath 'D:\\Hyper-V'"
    )
    assert hyperv.compared[0].cmdlet == "Compare-VM"


def test_missing_switch_blocks_once_even_when_compare_vm_repeats_it(hyperv: FakeHyperV) -> None:
    hyperv.switch_names[SRV02.name] = ("External",)
    hyperv.incompatibilities = (
        Incompatibility(33012, "Could not find Ethernet switch 'vSwitch-Prod'.", "adapter"),
    )
    assert check(hyperv) == [(Severity.BLOCKING, "switch_missing")]


def test_compare_vm_news_that_direct_checks_miss_is_kept(hyperv: FakeHyperV) -> None:
    hyperv.incompatibilities = (
        Incompatibility(
            24004,
            "The virtual machine cannot be moved because the hardware on the destination "
            "computer is not compatible.",
        ),
    )
    assert check(hyperv) == [(Severity.BLOCKING, "cpu_incompatible")]
    preflight = HostPreflight(hyperv, Inventory([SRV01, SRV02]))
    move = Move("SRV-APP01", SRV02, include_storage=True, storage_path="D:\\Hyper-V")
    finding = preflight.preflight(CheckRequest(move)).findings[0]
    assert "hardware on the destination" not in finding.message
    assert "MessageId 24004" in finding.message and finding.fix


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("disabled", [(Severity.BLOCKING, "migration_disabled")]),
        ("memory", [(Severity.BLOCKING, "not_enough_memory")]),
        ("disk", [(Severity.BLOCKING, "not_enough_disk")]),
        ("path", [(Severity.BLOCKING, "path_missing")]),
        ("iso", [(Severity.BLOCKING, "local_iso")]),
        ("version", [(Severity.BLOCKING, "version_unsupported")]),
        ("credssp", [(Severity.WARNING, "auth_mismatch")]),
    ],
)
def test_each_check(hyperv: FakeHyperV, change: str, expected: list[tuple[Severity, str]]) -> None:
    if change == "disabled":
        set_host(hyperv, SRV02, migration_enabled=False)
    elif change == "memory":
        set_host(hyperv, SRV02, memory_free_bytes=2 * GIB)
    elif change == "disk":
        hyperv.host_volumes[SRV02.name] = (Volume("D:\\", 1000 * GIB, 10 * GIB),)
    elif change == "path":
        hyperv.paths = set()
    elif change == "iso":
        set_vm(hyperv, dvd_paths=("C:\\ISO\\tools.iso",))
    elif change == "version":
        set_vm(hyperv, configuration_version="11.0")
    elif change == "credssp":
        set_host(hyperv, SRV02, authentication="CredSSP")
    assert check(hyperv) == expected


def test_live_move_of_local_disks_needs_include_storage(hyperv: FakeHyperV) -> None:
    assert check(hyperv, include_storage=False, storage_path=None) == [
        (Severity.BLOCKING, "local_storage")
    ]


def test_source_given_but_vm_elsewhere_is_refused_without_a_plan(hyperv: FakeHyperV) -> None:
    preflight = HostPreflight(hyperv, Inventory([SRV01, SRV02]))
    result = preflight.preflight(MigrateRequest(Move("SRV-APP01", SRV01, source=SRV02)))
    assert not result.ok and result.invocations == ()
    assert result.findings[0].code == "source_mismatch"
    assert "runs on HV-SRV01" in result.findings[0].message


def test_storage_move_checks_the_target_folder(hyperv: FakeHyperV) -> None:
    preflight = HostPreflight(hyperv, Inventory([SRV01, SRV02]))
    result = preflight.preflight(StorageRequest("SRV-APP01", storage_path="E:\\VMs"))
    assert result.host == SRV01
    assert [f.code for f in result.findings] == ["path_missing"]
    assert result.invocations[0].cmdlet == "Move-VMStorage"


def test_compatibility_change_needs_the_vm_off(hyperv: FakeHyperV) -> None:
    preflight = HostPreflight(hyperv, Inventory([SRV01, SRV02]))
    running = preflight.preflight(VmCompatibilityRequest("SRV-APP01", True))
    assert not running.ok and running.findings[0].code == "vm_state"
    set_vm(hyperv, state="Off")
    off = preflight.preflight(VmCompatibilityRequest("SRV-APP01", True))
    assert off.ok and off.invocations[0].cmdlet == "Set-VMProcessor"


def test_removing_an_absent_network_is_blocked(hyperv: FakeHyperV) -> None:
    preflight = HostPreflight(hyperv, Inventory([SRV01, SRV02]))
    result = preflight.preflight(HostNetworkRemoveRequest(SRV01, "10.10.10.0/24"))
    assert [f.code for f in result.blocking] == ["network_absent"]


def test_a_request_without_a_plan_is_named_as_the_user_typed_it(hyperv: FakeHyperV) -> None:
    with pytest.raises(PlanError, match=r"^/migrate status changes nothing on a host"):
        resolve_plan(hyperv, Inventory([SRV01, SRV02]), StatusRequest())


def test_a_clustered_vm_is_refused_in_one_line_that_says_how_to_move_it(
    hyperv: FakeHyperV,
) -> None:
    set_vm(hyperv, clustered=True)
    preflight = HostPreflight(hyperv, Inventory([SRV01, SRV02]))
    move = Move("SRV-APP01", SRV02, include_storage=True, storage_path="D:\\Hyper-V")
    [finding] = preflight.preflight(CheckRequest(move)).findings
    assert (finding.severity, finding.code) == (Severity.BLOCKING, "clustered")
    assert "Move-ClusterVirtualMachineRole -Name 'SRV-APP01' -Node HV-SRV02" in finding.fix
    assert "-MigrationType Live" in finding.fix
    assert hyperv.compared == []


def test_a_share_is_never_called_missing_it_could_not_be_checked(hyperv: FakeHyperV) -> None:
    share = "\\\\files01\\vms"
    hyperv.paths = set()  # Test-Path on a share is false from a remote session
    assert check(hyperv, storage_path=share) == [(Severity.WARNING, "share_unchecked")]
    preflight = HostPreflight(hyperv, Inventory([SRV01, SRV02]))
    move = Move("SRV-APP01", SRV02, include_storage=True, storage_path=share)
    [finding] = preflight.preflight(CheckRequest(move)).findings
    assert "double hop" in finding.message and "missing" not in finding.message.replace(
        "neither confirmed nor missing", ""
    )
    assert f"Test-Path '{share}'" in finding.fix


def test_compare_vm_finding_a_missing_switch_names_it(hyperv: FakeHyperV) -> None:
    # The switch exists by name (Get-VMSwitch) but Compare-VM still refuses the adapter.
    hyperv.incompatibilities = (
        Incompatibility(33012, "Could not find Ethernet switch 'vSwitch-Prod'.", "adapter"),
    )
    preflight = HostPreflight(hyperv, Inventory([SRV01, SRV02]))
    move = Move("SRV-APP01", SRV02, include_storage=True, storage_path="D:\\Hyper-V")
    [finding] = preflight.preflight(CheckRequest(move)).findings
    assert finding.code == "switch_missing"
    assert "'vSwitch-Prod'" in finding.message and "MessageId 33012" in finding.message


class DelegationOf:
    """A directory whose computer objects lack all delegation (or that is down)."""

    def __init__(self, down: bool = False) -> None:
        self.asked: list[str] = []
        self.down = down

    def computer(self, host: Host) -> ComputerObject | None:
        self.asked.append(host.name)
        if self.down:
            raise DirectoryError("cannot reach the directory at ldaps://dc1")
        return ComputerObject(f"CN={host.name}", host.name, host.fqdn, 0x1000)

    def write_refusal(self) -> str | None:
        return None

    def apply(self, change: ObjectChange) -> None:
        raise AssertionError("the preflight must never change anything")


@pytest.mark.parametrize(
    ("auths", "checked"),
    [
        (("Kerberos", "Kerberos"), True),
        (("CredSSP", "CredSSP"), False),
        (("Kerberos", "CredSSP"), False),
    ],
)
def test_delegation_is_checked_between_kerberos_hosts_only(
    hyperv: FakeHyperV, auths: tuple[str, str], checked: bool
) -> None:
    for host, auth in zip((SRV01, SRV02), auths, strict=True):
        set_host(hyperv, host, authentication=auth)
    directory = DelegationOf()
    preflight = HostPreflight(hyperv, Inventory([SRV01, SRV02]), directory)
    move = Move("SRV-APP01", SRV02, include_storage=True, storage_path="D:\\Hyper-V")
    codes = {f.code for f in preflight.preflight(CheckRequest(move)).findings}
    assert ("delegation_target_missing" in codes) is checked
    assert bool(directory.asked) is checked


def test_a_directory_down_warns_and_the_move_is_still_ready(hyperv: FakeHyperV) -> None:
    preflight = HostPreflight(hyperv, Inventory([SRV01, SRV02]), DelegationOf(down=True))
    move = Move("SRV-APP01", SRV02, include_storage=True, storage_path="D:\\Hyper-V")
    result = preflight.preflight(CheckRequest(move))
    assert result.ok
    assert [(f.severity, f.code) for f in result.findings] == [
        (Severity.WARNING, "delegation_unknown")
    ]


def test_switching_to_kerberos_warns_of_each_peer_without_delegation(hyperv: FakeHyperV) -> None:
    inventory = Inventory([SRV01, SRV02])
    switch = HostSetRequest(SRV01, HostSetting.AUTH, AuthType.KERBEROS)
    findings = HostPreflight(hyperv, inventory, DelegationOf()).preflight(switch).findings
    assert [(f.severity, f.code) for f in findings] == [(Severity.WARNING, "delegation_incomplete")]
    assert findings[0].message.startswith(
        "Kerberos delegation between HV-SRV01 and HV-SRV02 is not in place"
    )
    down = HostPreflight(hyperv, inventory, DelegationOf(down=True)).preflight(switch)
    assert [f.code for f in down.findings] == ["delegation_unknown"]
    to_credssp = HostSetRequest(SRV01, HostSetting.AUTH, AuthType.CREDSSP)
    assert HostPreflight(hyperv, inventory, DelegationOf()).preflight(to_credssp).findings == ()


def test_compare_vm_repeating_a_direct_check_in_its_own_words_is_said_once(
    hyperv: FakeHyperV,
) -> None:
    set_host(hyperv, SRV02, memory_free_bytes=2 * GIB)
    hyperv.incompatibilities = (
        Incompatibility(21014, "There is not enough memory on the destination (0x8007000E)."),
    )
    assert check(hyperv) == [(Severity.BLOCKING, "not_enough_memory")]


def test_a_move_check_is_a_named_function_that_runs_alone(hyperv: FakeHyperV) -> None:
    set_vm(hyperv, dvd_paths=("C:\\ISO\\tools.iso",))
    vm = hyperv.vms[APP]
    facts = MoveFacts(
        Move(APP, SRV02), vm, SRV01, hyperv.host_facts(SRV01), hyperv.host_facts(SRV02)
    )
    assert isos_shared in MOVE_CHECKS
    assert [(f.severity, f.code) for f in isos_shared(facts)] == [
        (Severity.BLOCKING, FindingCode.LOCAL_ISO)
    ]
    assert [f.code for f in disks_shared(facts)] == [FindingCode.LOCAL_STORAGE]
    assert list(storage_target_fits(facts)) == []
