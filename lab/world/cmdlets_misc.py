"""CIM, event log, file system and volume cmdlets the bot uses around a migration."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from lab.pipeline import LabError, LabObject, LabValue
from lab.world import errors, migration, objects, winpath
from lab.world.binding import CmdletSpec, EnumType, Kind, Param, set_key
from lab.world.cmdlet import Cmdlet, Invocation
from lab.world.model import LOG_PROVIDERS, Host
from lab.world.wql import Condition, WqlError, parse_filter, parse_query

CIM_FQID = "Microsoft.Management.Infrastructure.CimCmdlets"
HV_NAMESPACE = "root/virtualization/v2"
CIMV2 = "root/cimv2"
TEST_PATH_TYPE = EnumType(
    "Microsoft.PowerShell.Commands.TestPathType", {"Any": 0, "Container": 1, "Leaf": 2}
)


def _cim_error(inv: Invocation, code: int, message: str, category: str, target: str) -> LabError:
    return LabError(
        message=message,
        fully_qualified_error_id=f"HRESULT 0x{code:08x},{inv.spec.fqid_suffix}",
        category=category,
        exception_type=errors.CIM_EXCEPTION,
        target_name=target,
        target_type="String",
        command_name=inv.spec.name,
        hresult=code,
    )


def _namespace(inv: Invocation) -> str:
    return (inv.bound.text("Namespace") or CIMV2).replace("\\", "/").strip("/").lower()


def _instances(inv: Invocation, namespace: str, cls: str) -> list[LabObject] | None:
    """Every instance of `cls` on this host, or None when WMI has no such class."""
    host = inv.host
    key = (namespace, cls.lower())
    with inv.world.lock:
        if key == (HV_NAMESPACE, "msvm_migrationjob"):
            return [objects.migration_job(host, j) for j in inv.world.visible_jobs(host)]
        if key == (CIMV2, "win32_operatingsystem"):
            return [_operating_system(host)]
        if key == (CIMV2, "win32_processor"):
            return [_processor(host)]
        if key == (CIMV2, "win32_computersystem"):
            return [_computer_system(host)]
    return None


def _operating_system(host: Host) -> LabObject:
    return objects.cim_instance(
        CIMV2,
        "Win32_OperatingSystem",
        {
            "Caption": "Microsoft Windows Server 2022 Datacenter",
            "Version": "10.0.20348",
            "CSName": host.name,
            "FreePhysicalMemory": host.memory_free // 1024,
            "TotalVisibleMemorySize": host.memory_total // 1024,
            "PSComputerName": host.name,
        },
        f'Name = "{host.name}"',
    )


def _processor(host: Host) -> LabObject:
    return objects.cim_instance(
        CIMV2,
        "Win32_Processor",
        {
            "DeviceID": "CPU0",
            "Manufacturer": host.cpu_vendor,
            "Name": host.cpu_model,
            "NumberOfLogicalProcessors": host.logical_processors,
            "PSComputerName": host.name,
        },
        'DeviceID = "CPU0"',
    )


def _computer_system(host: Host) -> LabObject:
    return objects.cim_instance(
        CIMV2,
        "Win32_ComputerSystem",
        {
            "Name": host.name,
            "DNSHostName": host.name.lower(),
            "Domain": host.domain,
            "PartOfDomain": True,
            "TotalPhysicalMemory": host.memory_total,
            "PSComputerName": host.name,
        },
        f'Name = "{host.name}"',
    )


def _select(inv: Invocation) -> list[LabObject] | None:
    """The instances a ClassName/Filter or Query invocation names; writes WMI's errors."""
    namespace = _namespace(inv)
    try:
        if inv.bound.has("Query"):
            cls, conditions = parse_query(inv.bound.text("Query") or "")
        else:
            cls = inv.bound.text("ClassName") or ""
            conditions = parse_filter(f) if (f := inv.bound.text("Filter")) else []
    except WqlError as exc:
        inv.error(_cim_error(inv, 0x80041017, "Invalid query ", "InvalidArgument", str(exc)))
        return None
    if namespace not in (HV_NAMESPACE, CIMV2):
        inv.error(_cim_error(inv, 0x8004100E, "Invalid namespace ", "MetadataError", namespace))
        return None
    found = _instances(inv, namespace, cls)
    if found is None:
        inv.error(_cim_error(inv, 0x80041010, "Invalid class ", "MetadataError", cls))
        return None
    return [o for o in found if _all(conditions, o.properties)]


def _all(conditions: list[Condition], properties: Mapping[str, LabValue]) -> bool:
    return all(c.matches(properties) for c in conditions)


def get_cim_instance(inv: Invocation) -> None:
    """Get-CimInstance -ClassName [-Namespace] [-Filter] | -Query."""
    for obj in _select(inv) or []:
        inv.output(obj)


def invoke_cim_method(inv: Invocation) -> None:
    """Invoke-CimMethod ... -MethodName RequestStateChange -Arguments @{RequestedState=4}."""
    method = (inv.bound.text("MethodName") or "").lower()
    if inv.bound.parameter_set == CLASS:
        # Static methods: the lab's classes have none the bot needs.
        inv.error(_cim_error(inv, 0x8004100C, "Not supported ", "NotImplemented", method))
        return
    given = inv.bound.get("InputObject")
    targets = [given] if given is not None else (_select(inv) or [])
    arguments = inv.bound.get("Arguments")
    args = (
        {str(k).lower(): v for k, v in arguments.items()} if isinstance(arguments, Mapping) else {}
    )
    for target in targets:
        props = (
            target.properties
            if isinstance(target, LabObject)
            else (target if isinstance(target, Mapping) else {})
        )
        instance_id = str(props.get("InstanceID", "")).upper()
        job = next(
            (j for j in inv.world.visible_jobs(inv.host) if j.instance_id == instance_id), None
        )
        if job is None:
            inv.error(_cim_error(inv, 0x80041002, "Not found ", "ObjectNotFound", instance_id))
            continue
        if method != "requeststatechange":
            inv.error(_cim_error(inv, 0x8004100C, "Not supported ", "NotImplemented", method))
            continue
        requested = args.get("requestedstate")
        code = migration.request_cancel(inv.world, job) if requested in (4, 5) else 4097
        inv.output(objects.method_result(inv.host, code))


def get_date(inv: Invocation) -> None:
    """Get-Date [-Format o]: the host's own clock (see `Host.now`).

    `-Format o` is .NET's round-trip pattern `yyyy-MM-ddTHH:mm:ss.fffffffK`: seven fractional
    digits and the offset. Other patterns are not modelled: refused rather than guessed.
    """
    now = inv.host.now()
    pattern = inv.bound.text("Format")
    if pattern is None:
        inv.output(now)
    elif pattern in ("o", "O"):
        inv.output(f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond:06d}0+00:00")
    else:
        inv.error(
            errors.binding_error(
                "Get-Date",
                "Microsoft.PowerShell.Commands.GetDateCommand",
                "NotModeledInLab",
                f"The lab models only Get-Date -Format o, not '{pattern}'.",
            )
        )


def get_win_event(inv: Invocation) -> None:
    """Get-WinEvent -LogName ... [-MaxEvents N] | -FilterHashtable @{LogName; StartTime; Id}."""
    filters = inv.bound.get("FilterHashtable")
    if isinstance(filters, list) and filters:
        query = (
            {str(k).lower(): v for k, v in filters[0].items()}
            if isinstance(filters[0], Mapping)
            else {}
        )
        logs = _as_texts(query.get("logname"))
    else:
        query = {}
        logs = inv.bound.texts("LogName")
    known = {name.casefold(): name for name in LOG_PROVIDERS}
    wanted = set()
    for log in logs:
        if log.casefold() in known:
            wanted.add(known[log.casefold()])
            continue
        # Each missing log is its own error; the logs that exist are still read (unverified).
        inv.error(
            _winevent_error(
                inv,
                "NoMatchingLogsFound",
                f'There is not an event log on the localhost computer that matches "{log}".',
                log,
            )
        )
    if not wanted:
        return
    with inv.world.lock:
        events = [e for e in inv.host.events if e.log in wanted]
    start, end = _utc(query.get("starttime")), _utc(query.get("endtime"))
    ids = {i for i in _as_ints(query.get("id"))}
    levels = {i for i in _as_ints(query.get("level"))}
    level_numbers = {"Error": 2, "Warning": 3, "Information": 4}
    chosen = [
        e
        for e in events
        if (start is None or e.time >= start)
        and (end is None or e.time <= end)
        and (not ids or e.event_id in ids)
        and (not levels or level_numbers[e.level] in levels)
    ]
    chosen.sort(key=lambda e: e.record_id, reverse=not inv.bound.flag("Oldest"))
    limit = inv.bound.integer("MaxEvents")
    if limit is not None:
        chosen = chosen[:limit]
    if not chosen:
        inv.error(
            _winevent_error(
                inv,
                "NoMatchingEventsFound",
                "No events were found that match the specified selection criteria.",
                "",
            )
        )
    for event in chosen:
        inv.output(objects.event_record(inv.host, event))


def _winevent_error(inv: Invocation, reason: str, message: str, target: str) -> LabError:
    return LabError(
        message=message,
        fully_qualified_error_id=f"{reason},{inv.spec.fqid_suffix}",
        category="ObjectNotFound",
        exception_type="System.Exception",
        target_name=target,
        command_name=inv.spec.name,
    )


def _as_texts(value: LabValue) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [str(v) for v in items if v is not None]


def _as_ints(value: LabValue) -> list[int]:
    items = value if isinstance(value, list) else [value]
    return [int(v) for v in items if isinstance(v, int | str) and str(v).lstrip("-").isdigit()]


def _utc(value: LabValue) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str):
        try:
            return _utc(dt.datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def test_path(inv: Invocation) -> None:
    """Test-Path [-Path|-LiteralPath] [-PathType Any|Container|Leaf]: True or False per path.

    Every lab session is a WinRM session: a share is another hop away, which the session's
    credentials cannot make without delegation, and Test-Path turns the access denied into
    False (the double hop).
    """
    kind = inv.bound.member("PathType") or "Any"
    host = inv.host
    for path in inv.bound.texts("Path") or inv.bound.texts("LiteralPath"):
        with inv.world.lock:
            if winpath.is_unc(path):
                folder = leaf = False
            else:
                folder = winpath.is_absolute(path) and host.has_folder(path)
                leaf = winpath.is_absolute(path) and host.has_file(path)
        inv.output({"Any": folder or leaf, "Container": folder, "Leaf": leaf}[kind])


def get_volume(inv: Invocation) -> None:
    """Get-Volume [[-DriveLetter] <Char[]>]: size and free space."""
    letters = [t.strip(":").upper() for t in inv.bound.texts("DriveLetter")]
    with inv.world.lock:
        volumes = dict(inv.host.volumes)
        for letter in letters or sorted(volumes):
            volume = volumes.get(letter)
            if volume is None:
                inv.error(
                    LabError(
                        message="No MSFT_Volume objects found with property 'DriveLetter' "
                        f"equal to '{letter}'.  Verify the value of the property and retry.",
                        fully_qualified_error_id="CmdletizationQuery_NotFound_DriveLetter,Get-Volume",
                        category="ObjectNotFound",
                        exception_type="Microsoft.PowerShell.Cmdletization.Cim.CimJobException",
                        target_name=letter,
                        target_type="Char",
                        command_name="Get-Volume",
                    )
                )
                continue
            inv.output(objects.volume(inv.host, volume))


CIM_COMMON = (
    Param("Namespace", Kind.STRING),
    Param("ComputerName", Kind.STRINGS, aliases=("CN", "ServerName")),
    Param("CimSession", Kind.OBJECT),
    Param("OperationTimeoutSec", Kind.UINT, aliases=("OT",)),
)
CLASS, QUERY, INSTANCE = "ClassNameComputerSet", "QueryComputerSet", "CimInstanceComputerSet"

COMMANDS = (
    Cmdlet(
        CmdletSpec(
            name="Get-CimInstance",
            fqid_suffix=f"{CIM_FQID}.GetCimInstanceCommand",
            params=(
                set_key("ClassName", Kind.STRING, CLASS, position=0),
                Param("Filter", Kind.STRING, sets=(CLASS,)),
                set_key("Query", Kind.STRING, QUERY),
                Param("QueryDialect", Kind.STRING, sets=(QUERY,)),
                Param("Property", Kind.STRINGS, sets=(CLASS,), aliases=("SelectProperties",)),
                Param("KeyOnly", Kind.SWITCH, sets=(CLASS,)),
                Param("Shallow", Kind.SWITCH),
                *CIM_COMMON,
            ),
            sets=(CLASS, QUERY),
            default_set=CLASS,
        ),
        get_cim_instance,
    ),
    Cmdlet(
        CmdletSpec(
            name="Invoke-CimMethod",
            fqid_suffix=f"{CIM_FQID}.InvokeCimMethodCommand",
            params=(
                set_key("ClassName", Kind.STRING, CLASS, position=0),
                set_key(
                    "InputObject",
                    Kind.OBJECT,
                    INSTANCE,
                    position=0,
                    aliases=("CimInstance",),
                    object_type="Microsoft.Management.Infrastructure.CimInstance",
                    from_pipeline=True,
                ),
                set_key("Query", Kind.STRING, QUERY, position=0),
                Param("QueryDialect", Kind.STRING, sets=(QUERY,)),
                Param("Arguments", Kind.HASHTABLE, position=1),
                Param(
                    "MethodName",
                    Kind.STRING,
                    mandatory=(CLASS, INSTANCE, QUERY),
                    position=2,
                    aliases=("Name",),
                ),
                *CIM_COMMON,
            ),
            sets=(CLASS, INSTANCE, QUERY),
            default_set=CLASS,
            should_process=True,
        ),
        invoke_cim_method,
        pipeline_param="InputObject",
    ),
    Cmdlet(
        CmdletSpec(
            name="Get-WinEvent",
            fqid_suffix="Microsoft.PowerShell.Commands.GetWinEventCommand",
            params=(
                Param("LogName", Kind.STRINGS, sets=("GetLogSet",), position=0),
                set_key("FilterHashtable", Kind.HASHTABLES, "HashQuerySet", position=0),
                Param("MaxEvents", Kind.LONG, minimum=1),
                Param("Oldest", Kind.SWITCH),
                Param("FilterXPath", Kind.STRING, sets=("GetLogSet",)),
                Param("ComputerName", Kind.STRING, aliases=("Cn",)),
                Param("Credential", Kind.OBJECT),
            ),
            sets=("GetLogSet", "HashQuerySet"),
            default_set="GetLogSet",
        ),
        get_win_event,
    ),
    Cmdlet(
        CmdletSpec(
            name="Get-Date",
            fqid_suffix="Microsoft.PowerShell.Commands.GetDateCommand",
            params=(
                Param("Date", Kind.OBJECT, position=0),
                Param("Format", Kind.STRING),
                Param("UFormat", Kind.STRING),
            ),
        ),
        get_date,
    ),
    Cmdlet(
        CmdletSpec(
            name="Test-Path",
            fqid_suffix="Microsoft.PowerShell.Commands.TestPathCommand",
            params=(
                set_key("Path", Kind.STRINGS, "Path", position=0),
                set_key("LiteralPath", Kind.STRINGS, "LiteralPath", aliases=("PSPath", "LP")),
                Param("PathType", Kind.ENUM, enum_type=TEST_PATH_TYPE, aliases=("Type",)),
                Param("IsValid", Kind.SWITCH),
                Param("Credential", Kind.OBJECT),
            ),
            sets=("Path", "LiteralPath"),
            default_set="Path",
        ),
        test_path,
    ),
    Cmdlet(
        CmdletSpec(
            name="Get-Volume",
            fqid_suffix="Get-Volume",
            params=(
                Param("DriveLetter", Kind.STRINGS, position=0),
                Param("CimSession", Kind.OBJECT, aliases=("Session",)),
            ),
        ),
        get_volume,
    ),
)
