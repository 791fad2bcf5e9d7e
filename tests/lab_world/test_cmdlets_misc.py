"""CIM, event log, Test-Path and Get-Volume."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from lab.pipeline import LabObject, LabValue
from lab.world import World
from support.lab_world import Runner

HV_NS = ("Namespace", "root\\virtualization\\v2")


def props(values: Sequence[LabValue]) -> list[dict[str, object]]:
    return [dict(v.properties) for v in values if isinstance(v, LabObject)]


def test_cim_errors_for_namespace_class_and_query(run: Runner) -> None:
    bad_ns = run(
        "HV-SRV01",
        "Get-CimInstance",
        ("Namespace", "root\\nope"),
        ("ClassName", "Msvm_MigrationJob"),
    )
    assert bad_ns.errors[0].fully_qualified_error_id == (
        "HRESULT 0x8004100e,Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand"
    )
    bad_class = run("HV-SRV01", "Get-CimInstance", HV_NS, ("ClassName", "Msvm_Nope"))
    assert bad_class.errors[0].message == "Invalid class "
    bad_query = run("HV-SRV01", "Get-CimInstance", HV_NS, ("Query", "DELETE EVERYTHING"))
    assert bad_query.errors[0].fully_qualified_error_id.startswith("HRESULT 0x80041017,")


def test_no_jobs_means_no_output(run: Runner) -> None:
    sink = run("HV-SRV01", "Get-CimInstance", HV_NS, ("ClassName", "Msvm_MigrationJob"))
    assert sink.output == [] and sink.errors == []


def test_filters_and_queries_select_jobs(world: World, run: Runner) -> None:
    assert (
        run("HV-SRV01", "Move-VM", ("Name", "SRV-DB01"), ("DestinationHost", "HV-SRV02")).errors
        == []
    )
    for filt, count in [
        ("JobState = 7", 1),
        ("JobState=4", 0),
        ("DestinationHost='hv-srv02' AND PercentComplete >= 100", 1),
    ]:
        found = run(
            "HV-SRV01",
            "Get-CimInstance",
            HV_NS,
            ("ClassName", "Msvm_MigrationJob"),
            ("Filter", filt),
        )
        assert len(found.output) == count, filt
    query = run(
        "HV-SRV02",
        "Get-CimInstance",
        HV_NS,
        ("Query", "select * from Msvm_MigrationJob where ElementName = 'SRV-DB01'"),
    )
    (job,) = props(query.output)
    assert job["VirtualSystemName"] == "0B8E4D21-7C3A-4F6E-8D1B-2E3F4A5B6C72"
    assert isinstance(job["ElapsedTime"], dt.timedelta)
    assert isinstance(job["StartTime"], dt.datetime)


def test_invoke_cim_method_on_unknown_job_and_method(run: Runner) -> None:
    missing = run(
        "HV-SRV01",
        "Invoke-CimMethod",
        ("InputObject", {"InstanceID": "nope"}),
        ("MethodName", "RequestStateChange"),
        ("Arguments", {"RequestedState": 4}),
    )
    assert missing.errors[0].category == "ObjectNotFound"


def test_win32_classes_give_memory_and_cpu(run: Runner, world: World) -> None:
    (os_,) = props(
        run("HV-SRV01", "Get-CimInstance", ("ClassName", "Win32_OperatingSystem")).output
    )
    host = world.host("HV-SRV01")
    assert host is not None and os_["FreePhysicalMemory"] == host.memory_free // 1024
    (cpu,) = props(run("HV-SRV03", "Get-CimInstance", ("ClassName", "Win32_Processor")).output)
    assert cpu["Name"] == "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz"


def test_get_win_event_newest_first_with_max_events(run: Runner) -> None:
    for _ in range(2):
        run("HV-SRV01", "Move-VM", ("Name", "SRV-DB01"), ("DestinationHost", "HV-SRV03"))
    sink = run(
        "HV-SRV01",
        "Get-WinEvent",
        ("LogName", "Microsoft-Windows-Hyper-V-High-Availability-Admin"),
        ("MaxEvents", 1),
    )
    (event,) = props(sink.output)
    assert event["Id"] == 21502 and event["RecordId"] == 2
    assert event["LevelDisplayName"] == "Error"
    assert sink.objects[0].type_names[0] == ("System.Diagnostics.Eventing.Reader.EventLogRecord")


def test_get_win_event_filter_hashtable(run: Runner) -> None:
    start = dt.datetime.now(dt.UTC)
    run("HV-SRV01", "Move-VM", ("Name", "SRV-DB01"), ("DestinationHost", "HV-SRV02"))
    sink = run(
        "HV-SRV01",
        "Get-WinEvent",
        (
            "FilterHashtable",
            {
                "LogName": "Microsoft-Windows-Hyper-V-VMMS-Admin",
                "StartTime": start,
                "Id": [20413, 20415],
            },
        ),
    )
    assert [e["Id"] for e in props(sink.output)] == [20415, 20413]
    later = run(
        "HV-SRV01",
        "Get-WinEvent",
        (
            "FilterHashtable",
            {
                "LogName": "Microsoft-Windows-Hyper-V-VMMS-Admin",
                "StartTime": dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1),
            },
        ),
    )
    assert later.output == []
    assert later.errors[0].fully_qualified_error_id == (
        "NoMatchingEventsFound,Microsoft.PowerShell.Commands.GetWinEventCommand"
    )


def test_get_win_event_unknown_log(run: Runner) -> None:
    sink = run("HV-SRV01", "Get-WinEvent", ("LogName", "Nope"))
    assert sink.errors[0].fully_qualified_error_id.startswith("NoMatchingLogsFound,")


def test_test_path(run: Runner) -> None:
    def check(host: str, path: str, *extra: object) -> object:
        (value,) = run(host, "Test-Path", ("Path", path), *extra).output
        return value

    assert check("HV-SRV01", "D:\\Hyper-V\\Virtual Machines") is True
    assert check("HV-SRV01", "d:\\hyper-v\\virtual machines\\") is True
    assert check("HV-SRV03", "E:\\") is False
    assert check("HV-SRV01", "D:\\ISO\\WindowsServer2022.iso") is False
    assert check("HV-SRV02", "D:\\ISO\\WindowsServer2022.iso", ("PathType", "Leaf")) is True
    assert check("HV-SRV02", "D:\\ISO", ("PathType", "Leaf")) is False
    # A share is a second hop from the WinRM session: Test-Path says False (no delegation).
    share = "\\\\FS01.lab.local\\VMs\\SRV-DB01"
    assert check("HV-SRV01", share, ("PathType", "Container")) is False
    assert check("HV-SRV01", "relative\\path") is False


def test_get_volume(run: Runner, world: World) -> None:
    volumes = props(run("HV-SRV03", "Get-Volume").output)
    assert [v["DriveLetter"] for v in volumes] == ["C", "D"]
    (d,) = props(run("HV-SRV01", "Get-Volume", ("DriveLetter", "D")).output)
    assert d["SizeRemaining"] == 1400 * 1024**3 and d["Size"] == 2000 * 1024**3
    missing = run("HV-SRV03", "Get-Volume", ("DriveLetter", "E"))
    assert missing.errors[0].fully_qualified_error_id == (
        "CmdletizationQuery_NotFound_DriveLetter,Get-Volume"
    )
