"""Every form of architecture §2, and every Slack quirk, into the expected typed request."""

from __future__ import annotations

import pytest

from commands.requests import (
    AuthType,
    CancelRequest,
    CheckRequest,
    DelegationRequest,
    DiagnoseRequest,
    HelpRequest,
    HistoryRequest,
    HostNetworkAddRequest,
    HostNetworkRemoveRequest,
    HostSetRequest,
    HostSetting,
    HostShowRequest,
    HostToggleRequest,
    MigrateRequest,
    Move,
    PerformanceOption,
    Request,
    StatusRequest,
    StorageRequest,
    VhdMove,
    VmCompatibilityRequest,
)
from support.language import SRV01, SRV02, SRV03, ok


def move(vm: str = "SRV-APP01", **fields: object) -> MigrateRequest:
    """The bare move of `vm` to HV-SRV02 unless `fields` say otherwise."""
    return MigrateRequest(Move(vm=vm, destination=fields.pop("destination", SRV02), **fields))  # type: ignore[arg-type]


CASES: list[tuple[str, Request]] = [
    # The bare move and its options.
    ("SRV-APP01 to HV-SRV02", move()),
    ("SRV-APP01 TO hv-srv02", move()),
    ("SRV-APP01 to hv-srv02.lab.local", move()),
    ("SRV-APP01 to HV-SRV02.LAB.LOCAL.", move()),
    ("SRV-APP01 to HV\u2013SRV02", move()),
    ("/migrate SRV-APP01 to HV-SRV02", move()),
    ("SRV-APP01 to HV-SRV02 from HV-SRV01", move(source=SRV01)),
    ("SRV-APP01 to HV-SRV02 include-storage", move(include_storage=True)),
    ("SRV-APP01 to HV-SRV02 INCLUDE-STORAGE", move(include_storage=True)),
    ("SRV-APP01 to HV-SRV02 include\u2014storage", move(include_storage=True)),
    (
        "SRV-APP01 to HV-SRV02 storage-path D:\\Hyper-V\\SRV-APP01",
        move(include_storage=True, storage_path="D:\\Hyper-V\\SRV-APP01"),
    ),
    (
        "SRV-APP01 to HV-SRV02 include-storage storage-path D:\\VMs",
        move(include_storage=True, storage_path="D:\\VMs"),
    ),
    ("SRV-APP01 to HV-SRV02 vm-path D:\\VMs\\cfg", move(vm_path="D:\\VMs\\cfg")),
    (
        "SRV-APP01 to HV-SRV02 vm-path D:\\Config storage-path E:\\Disks",
        move(include_storage=True, storage_path="E:\\Disks", vm_path="D:\\Config"),
    ),
    (
        "SRV-APP01 to HV-SRV02 reason patch night, see INC-42",
        move(reason="patch night, see INC-42"),
    ),
    ("SRV-APP01 to HV-SRV02 reason  to   from  ", move(reason="to from")),
    ('SRV-APP01 to HV-SRV02 reason "host  is  dying"', move(reason="host is dying")),
    ("SRV-APP01 to HV-SRV02 reason asked by <@U123>", move(reason="asked by <@U123>")),
    ("SRV-APP01 to HV-SRV02 reason R&amp;D &lt;urgent&gt;", move(reason="R&D <urgent>")),
    (
        "SRV-APP01 to HV-SRV02 from HV-SRV03 include-storage reason x",
        move(source=SRV03, include_storage=True, reason="x"),
    ),
    # Slack quirks.
    ("status <http://web01.lab.local|web01.lab.local>", StatusRequest(vm="web01.lab.local")),
    ("SRV-APP01 to <http://hv-srv02.lab.local|hv-srv02.lab.local>", move()),
    ("SRV-APP01 to <http://hv-srv02.lab.local>", move()),
    ("SRV-APP01\u00a0to\u00a0HV-SRV02", move()),
    ("SRV-APP01     to  HV-SRV02", move()),
    ("\u201cMy VM\u201d to HV-SRV02", move(vm="My VM")),
    ("\u2018My VM\u2019 to HV-SRV02", move(vm="My VM")),
    ("'My VM' to HV-SRV02", move(vm="My VM")),
    ('"Bob\'s VM" to HV-SRV02', move(vm="Bob's VM")),
    ("R&amp;D-01 to HV-SRV02", move(vm="R&D-01")),
    ('"status" to HV-SRV02', move(vm="status")),
    ('"help" to HV-SRV02', move(vm="help")),
    ("to to HV-SRV02", move(vm="to")),
    ("stauts to HV-SRV02", move(vm="stauts")),
    ("42 to HV-SRV02", move(vm="42")),
    ('"42" to HV-SRV02', move(vm="42")),
    ("\u2022 to HV-SRV02", move(vm="\u2022")),
    ("x" * 100 + " to HV-SRV02", move(vm="x" * 100)),
    (
        'SRV-APP01 to HV-SRV02 storage-path "C:\\"',
        move(include_storage=True, storage_path="C:\\"),
    ),
    (
        'SRV-APP01 to HV-SRV02 storage-path "D:\\Hyper V\\My VM\\"',
        move(include_storage=True, storage_path="D:\\Hyper V\\My VM"),
    ),
    (
        "SRV-APP01 to HV-SRV02 storage-path \u201cD:\\Hyper V\u201d",
        move(include_storage=True, storage_path="D:\\Hyper V"),
    ),
    (
        "SRV-APP01 to HV-SRV02 storage-path \\\\nas01\\vms\\app",
        move(include_storage=True, storage_path="\\\\nas01\\vms\\app"),
    ),
    (
        "SRV-APP01 to HV-SRV02 storage-path \\\\nas01\\vms\\",
        move(include_storage=True, storage_path="\\\\nas01\\vms"),
    ),
    (
        "SRV-APP01 to HV-SRV02 storage-path d:/VMs/app",
        move(include_storage=True, storage_path="d:\\VMs\\app"),
    ),
    (
        "SRV-APP01 to HV-SRV02 storage-path D:\\[old]\\app",
        move(include_storage=True, storage_path="D:\\[old]\\app"),
    ),
    (
        "SRV-APP01 to HV-SRV02 storage-path \\\\<http://nas01.lab.local|nas01.lab.local>\\vms",
        move(include_storage=True, storage_path="\\\\nas01.lab.local\\vms"),
    ),
    (
        "<http://app.lab.local|app.lab.local> to HV-SRV02 reason see <https://wiki/x|wiki>",
        move(vm="app.lab.local", reason="see wiki"),
    ),
    # check: the same move, preflight only.
    ("check SRV-APP01 to HV-SRV02", CheckRequest(move().move)),
    ("CHECK SRV-APP01 to HV-SRV02 include-storage", CheckRequest(move(include_storage=True).move)),
    (
        "check SRV-APP01 to HV-SRV02 from HV-SRV01 vm-path D:\\C storage-path E:\\D reason r",
        CheckRequest(
            move(
                source=SRV01,
                include_storage=True,
                storage_path="E:\\D",
                vm_path="D:\\C",
                reason="r",
            ).move
        ),
    ),
    # storage
    ("storage SRV-APP01 to E:\\VMs", StorageRequest(vm="SRV-APP01", storage_path="E:\\VMs")),
    (
        "storage SRV-APP01 to E:\\VMs vm-path F:\\Cfg reason disk full",
        StorageRequest(
            vm="SRV-APP01", storage_path="E:\\VMs", vm_path="F:\\Cfg", reason="disk full"
        ),
    ),
    (
        "storage SRV-APP01 vhd D:\\VMs\\a.vhdx to E:\\VMs\\a.vhdx",
        StorageRequest(vm="SRV-APP01", vhds=(VhdMove("D:\\VMs\\a.vhdx", "E:\\VMs\\a.vhdx"),)),
    ),
    (
        "storage SRV-APP01 vhd D:\\a.vhdx to E:\\a.vhdx vhd D:\\b.VHD to \\\\nas\\s\\b.vhd "
        "vm-path E:\\Cfg",
        StorageRequest(
            vm="SRV-APP01",
            vhds=(VhdMove("D:\\a.vhdx", "E:\\a.vhdx"), VhdMove("D:\\b.VHD", "\\\\nas\\s\\b.vhd")),
            vm_path="E:\\Cfg",
        ),
    ),
    ("storage SRV-APP01 vm-path E:\\Cfg", StorageRequest(vm="SRV-APP01", vm_path="E:\\Cfg")),
    ('storage "to" to E:\\VMs', StorageRequest(vm="to", storage_path="E:\\VMs")),
    # status / cancel
    ("status", StatusRequest()),
    ("STATUS", StatusRequest()),
    ("status #42", StatusRequest(request_id=42)),
    ("status 42", StatusRequest(request_id=42)),
    ("status 007", StatusRequest(request_id=7)),
    ('status "42"', StatusRequest(vm="42")),
    ('status "#42"', StatusRequest(vm="#42")),
    ("status SRV-APP01", StatusRequest(vm="SRV-APP01")),
    ("status #abc", StatusRequest(vm="#abc")),
    ("cancel #42", CancelRequest(request_id=42)),
    ("cancel 42", CancelRequest(request_id=42)),
    (f"cancel #{2**63 - 1}", CancelRequest(request_id=2**63 - 1)),
    # history
    ("history", HistoryRequest()),
    ("history SRV-APP01", HistoryRequest(vm="SRV-APP01")),
    ("history hv-srv01", HistoryRequest(host=SRV01)),
    ("history hv-srv01.lab.local last 3", HistoryRequest(host=SRV01, last=3)),
    ('history "HV-SRV01"', HistoryRequest(vm="HV-SRV01")),
    ("history last 10", HistoryRequest(last=10)),
    ("history last 10 SRV-APP01", HistoryRequest(vm="SRV-APP01", last=10)),
    ('history "last"', HistoryRequest(vm="last")),
    ("history SRV-APP01 LAST 1000", HistoryRequest(vm="SRV-APP01", last=1000)),
    # diagnose
    ("diagnose #42", DiagnoseRequest(request_id=42)),
    ("diagnose 42", DiagnoseRequest(request_id=42)),
    ("diagnose SRV-APP01", DiagnoseRequest(vm="SRV-APP01")),
    ("diagnose SRV-APP01 to HV-SRV03", DiagnoseRequest(vm="SRV-APP01", destination=SRV03)),
    ('diagnose "42" to HV-SRV03', DiagnoseRequest(vm="42", destination=SRV03)),
    # host
    ("host HV-SRV01", HostShowRequest(SRV01)),
    ("host hv-srv01.lab.local", HostShowRequest(SRV01)),
    ("host HV-SRV01 enable", HostToggleRequest(SRV01, enabled=True)),
    ("host HV-SRV01 DISABLE", HostToggleRequest(SRV01, enabled=False)),
    (
        "host HV-SRV01 set max-migrations 4",
        HostSetRequest(SRV01, HostSetting.MAX_MIGRATIONS, 4),
    ),
    (
        "host HV-SRV01 set max-storage-migrations 2",
        HostSetRequest(SRV01, HostSetting.MAX_STORAGE_MIGRATIONS, 2),
    ),
    ("host HV-SRV01 set auth kerberos", HostSetRequest(SRV01, HostSetting.AUTH, AuthType.KERBEROS)),
    ("host HV-SRV01 set auth CredSSP", HostSetRequest(SRV01, HostSetting.AUTH, AuthType.CREDSSP)),
    (
        "host HV-SRV01 set performance tcpip",
        HostSetRequest(SRV01, HostSetting.PERFORMANCE, PerformanceOption.TCPIP),
    ),
    (
        "host HV-SRV01 set performance Compression",
        HostSetRequest(SRV01, HostSetting.PERFORMANCE, PerformanceOption.COMPRESSION),
    ),
    (
        "host HV-SRV01 set performance SMB",
        HostSetRequest(SRV01, HostSetting.PERFORMANCE, PerformanceOption.SMB),
    ),
    ("host HV-SRV01 set any-network on", HostSetRequest(SRV01, HostSetting.ANY_NETWORK, True)),
    ("host HV-SRV01 set any-network OFF", HostSetRequest(SRV01, HostSetting.ANY_NETWORK, False)),
    (
        "host HV-SRV01 network add 10.0.50.0/24",
        HostNetworkAddRequest(SRV01, "10.0.50.0/24"),
    ),
    (
        "host HV-SRV01 network add 10.0.50.0/24 priority 2",
        HostNetworkAddRequest(SRV01, "10.0.50.0/24", priority=2),
    ),
    (
        "host HV-SRV01 network add 10.0.50.0/255.255.255.0",
        HostNetworkAddRequest(SRV01, "10.0.50.0/24"),
    ),
    ("host HV-SRV01 network add FD00:10::/64", HostNetworkAddRequest(SRV01, "fd00:10::/64")),
    ("host HV-SRV01 network add 10.0.50.7/32", HostNetworkAddRequest(SRV01, "10.0.50.7/32")),
    ("host HV-SRV01 network remove 10.0.50.0/24", HostNetworkRemoveRequest(SRV01, "10.0.50.0/24")),
    # vm, delegation, help
    ("vm SRV-APP01 compatibility on", VmCompatibilityRequest("SRV-APP01", enabled=True)),
    ("vm 'My VM' Compatibility OFF", VmCompatibilityRequest("My VM", enabled=False)),
    ("delegation HV-SRV01 HV-SRV02", DelegationRequest(SRV01, SRV02)),
    ("delegation hv-srv01.lab.local HV-SRV02 FIX", DelegationRequest(SRV01, SRV02, fix=True)),
    ("help", HelpRequest()),
    ("", HelpRequest()),
    ("   ", HelpRequest()),
    ("/migrate", HelpRequest()),
    ("help storage", HelpRequest(topic="storage")),
    ("HELP Migrate", HelpRequest(topic="migrate")),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0][:60] for c in CASES])
def test_form(text: str, expected: Request) -> None:
    assert ok(text) == expected


def test_requests_are_immutable() -> None:
    request = ok("SRV-APP01 to HV-SRV02")
    assert isinstance(request, MigrateRequest)
    with pytest.raises(AttributeError):
        request.move.vm = "other"  # type: ignore[misc]
