"""The model as PowerShell objects, typed like the real .NET ones."""

from __future__ import annotations

import datetime as dt
import uuid

from lab.pipeline import Char, Int64, LabObject, LabValue, UInt32, UInt64
from lab.world.binding import EnumType
from lab.world.model import (
    LOG_PROVIDERS,
    DvdDrive,
    Event,
    HardDisk,
    Host,
    MigrationJob,
    MigrationNetwork,
    NetworkAdapter,
    VirtualMachine,
    VirtualSwitch,
    Volume,
)

HV = "Microsoft.HyperV.PowerShell"
VIRTUALIZATION_OBJECT = (f"{HV}.VirtualizationObject", "System.Object")
CIM = "Microsoft.Management.Infrastructure.CimInstance"


def _enum_type(name: str, members: dict[str, int]) -> EnumType:
    return EnumType(f"{HV}.{name}", members)


VM_STATE = _enum_type(
    "VMState",
    {
        "Other": 1,
        "Running": 2,
        "Off": 3,
        "Stopping": 4,
        "Saved": 6,
        "Paused": 9,
        "Starting": 10,
        "Reset": 11,
        "Saving": 32773,
        "Pausing": 32776,
        "Resuming": 32777,
    },
)
AUTH_TYPE = _enum_type("MigrationAuthenticationType", {"CredSSP": 0, "Kerberos": 1})
PERFORMANCE = _enum_type("VMMigrationPerformance", {"TCPIP": 0, "Compression": 1, "SMB": 2})
SWITCH_TYPE = _enum_type("VMSwitchType", {"Private": 0, "Internal": 1, "External": 2})
CONTROLLER_TYPE = _enum_type("ControllerType", {"IDE": 0, "SCSI": 1})
DVD_MEDIA = _enum_type("DvdMediaType", {"None": 0, "ISO": 1, "PassThru": 2})
OPERATION_TYPE = _enum_type(
    "OperationType",
    {"ImportVirtualMachine": 0, "MoveVirtualMachine": 1, "MoveVirtualMachineAndStorage": 2},
)


def hyperv_object(
    type_name: str, properties: dict[str, LabValue], to_string: str = ""
) -> LabObject:
    """A Hyper-V module object of `Microsoft.HyperV.PowerShell.<type_name>`."""
    full = f"{HV}.{type_name}"
    return LabObject((full, *VIRTUALIZATION_OBJECT), properties, to_string or full)


def vm(host: Host, machine: VirtualMachine) -> LabObject:
    """Get-VM's VirtualMachine."""
    full = f"{HV}.VirtualMachine"
    return LabObject(
        (full, f"{HV}.VirtualMachineBase", *VIRTUALIZATION_OBJECT),
        {
            "Name": machine.name,
            "VMName": machine.name,
            "Id": uuid.UUID(machine.id),
            "VMId": uuid.UUID(machine.id),
            "State": VM_STATE.value(machine.state.name),
            "ComputerName": host.name,
            "Version": machine.version,
            "Generation": machine.generation,
            "Path": machine.path,
            "ConfigurationLocation": machine.path,
            "ProcessorCount": Int64(machine.processor_count),
            "MemoryStartup": Int64(machine.memory_startup),
            "MemoryAssigned": Int64(machine.memory_assigned),
            "DynamicMemoryEnabled": False,
            "IsClustered": machine.clustered,
            "Status": "Operating normally",
            # The lab keeps no boot time: a running VM reports a constant uptime (unverified).
            "Uptime": dt.timedelta(0) if machine.state.name != "Running" else dt.timedelta(hours=1),
        },
        f"VirtualMachine (Name = '{machine.name}') [Id = '{machine.id}']",
    )


def vm_host(host: Host) -> LabObject:
    """Get-VMHost's VMHost."""
    return hyperv_object(
        "VMHost",
        {
            "Name": host.name,
            "ComputerName": host.name,
            "FullyQualifiedDomainName": host.fqdn,
            "LogicalProcessorCount": host.logical_processors,
            "MemoryCapacity": Int64(host.memory_total),
            "VirtualMachineMigrationEnabled": host.migration_enabled,
            "MaximumVirtualMachineMigrations": UInt32(host.max_vm_migrations),
            "MaximumStorageMigrations": UInt32(host.max_storage_migrations),
            "VirtualMachineMigrationAuthenticationType": AUTH_TYPE.value(host.auth_type.name),
            "VirtualMachineMigrationPerformanceOption": PERFORMANCE.value(host.performance.name),
            "UseAnyNetworkForMigration": host.use_any_network,
            "VirtualMachinePath": host.virtual_machine_path,
            "VirtualHardDiskPath": host.virtual_hard_disk_path,
        },
    )


def migration_network(host: Host, network: MigrationNetwork) -> LabObject:
    """Get-VMMigrationNetwork's VMMigrationNetwork."""
    return hyperv_object(
        "VMMigrationNetwork",
        {"Subnet": network.subnet, "Priority": network.priority, "ComputerName": host.name},
    )


def switch(host: Host, sw: VirtualSwitch) -> LabObject:
    """Get-VMSwitch's VMSwitch."""
    return hyperv_object(
        "VMSwitch",
        {
            "Name": sw.name,
            "Id": uuid.UUID(sw.id),
            "SwitchType": SWITCH_TYPE.value(sw.switch_type.name),
            "ComputerName": host.name,
        },
    )


def _vm_part(
    type_name: str,
    host: Host,
    machine: VirtualMachine,
    properties: dict[str, LabValue],
    to_string: str = "",
) -> LabObject:
    """A device or setting of `machine`: its own properties, then VMName, VMId, ComputerName."""
    return hyperv_object(
        type_name,
        {
            **properties,
            "VMName": machine.name,
            "VMId": uuid.UUID(machine.id),
            "ComputerName": host.name,
        },
        to_string,
    )


def network_adapter(host: Host, machine: VirtualMachine, nic: NetworkAdapter) -> LabObject:
    """Get-VMNetworkAdapter's VMNetworkAdapter."""
    return _vm_part(
        "VMNetworkAdapter",
        host,
        machine,
        {
            "Name": nic.name,
            "SwitchName": nic.switch_name or None,
            "MacAddress": nic.mac,
            "IsManagementOs": False,
        },
        # Modelled on VirtualMachine's ToString; the exact text is unverified.
        f"VMNetworkAdapter (Name = '{nic.name}', VMName = '{machine.name}') "
        f"[VMId = '{machine.id}']",
    )


def _drive(
    type_name: str,
    host: Host,
    machine: VirtualMachine,
    controller: tuple[str, int, int],
    properties: dict[str, LabValue],
) -> LabObject:
    """A drive of `machine` on `controller` (type, number, location), named like Hyper-V does."""
    kind, number, location = controller
    label = "Hard Drive" if type_name == "HardDiskDrive" else "DVD Drive"
    return _vm_part(
        type_name,
        host,
        machine,
        {
            "Name": f"{label} on {kind} controller number {number} at location {location}",
            **properties,
            "ControllerType": CONTROLLER_TYPE.value(kind),
            "ControllerNumber": number,
            "ControllerLocation": location,
        },
    )


def hard_disk(host: Host, machine: VirtualMachine, disk: HardDisk) -> LabObject:
    """Get-VMHardDiskDrive's HardDiskDrive."""
    controller = (disk.controller_type, disk.controller_number, disk.controller_location)
    return _drive("HardDiskDrive", host, machine, controller, {"Path": disk.path})


def dvd_drive(host: Host, machine: VirtualMachine, dvd: DvdDrive) -> LabObject:
    """Get-VMDvdDrive's DvdDrive (the lab puts every DVD drive on a SCSI controller)."""
    return _drive(
        "DvdDrive",
        host,
        machine,
        ("SCSI", dvd.controller_number, dvd.controller_location),
        {
            "Path": dvd.path or None,
            "DvdMediaType": DVD_MEDIA.value("ISO" if dvd.path else "None"),
        },
    )


def processor(host: Host, machine: VirtualMachine) -> LabObject:
    """Get-VMProcessor's VMProcessor."""
    return _vm_part(
        "VMProcessor",
        host,
        machine,
        {
            "Count": Int64(machine.processor_count),
            "CompatibilityForMigrationEnabled": machine.compatibility_for_migration,
            "CompatibilityForOlderOperatingSystemsEnabled": False,
        },
    )


def supported_version(host: Host, version: str) -> LabObject:
    """Get-VMHostSupportedVersion's VMHostSupportedVersion."""
    return hyperv_object(
        "VMHostSupportedVersion",
        {
            "Name": VERSION_NAMES.get(version, f"Configuration version {version}"),
            "Version": version,
            "IsDefault": version == host.default_version,
            "ComputerName": host.name,
        },
    )


VERSION_NAMES = {
    "5.0": "Microsoft Windows Server 2012 R2/Windows 8.1",
    "8.0": "Microsoft Windows Server 2016/Windows 10 Anniversary Update",
    "9.0": "Microsoft Windows Server 2019/Windows 10 October 2018 Update",
    "10.0": "Microsoft Windows Server 2022/Windows 11",
}


def compatibility_error(message: str, message_id: int, source: LabValue) -> LabObject:
    """One entry of VMCompatibilityReport.Incompatibilities."""
    return hyperv_object(
        "VMCompatibilityError",
        {"Message": message, "MessageId": Int64(message_id), "Source": source},
        message,
    )


def compatibility_report(
    host: Host,
    machine: VirtualMachine,
    destination: str,
    move_storage: bool,
    incompatibilities: list[LabObject],
) -> LabObject:
    """Compare-VM's VMCompatibilityReport."""
    return hyperv_object(
        "VMCompatibilityReport",
        {
            "VM": vm(host, machine),
            "OperationType": OPERATION_TYPE.value(
                "MoveVirtualMachineAndStorage" if move_storage else "MoveVirtualMachine"
            ),
            "Destination": destination,
            "Incompatibilities": list(incompatibilities),
        },
    )


def _cim_types(namespace: str, *classes: str) -> tuple[str, ...]:
    return (
        *(f"{CIM}#{namespace}/{c}" for c in classes),
        CIM,
        "System.Object",
    )


def migration_job(host: Host, job: MigrationJob) -> LabObject:
    """An Msvm_MigrationJob CIM instance."""
    elapsed = dt.timedelta(seconds=round(job.elapsed))
    return LabObject(
        _cim_types(
            "root/virtualization/v2",
            "Msvm_MigrationJob",
            "Msvm_ConcreteJob",
            "CIM_ConcreteJob",
            "CIM_Job",
            "CIM_LogicalElement",
            "CIM_ManagedElement",
        ),
        {
            "InstanceID": job.instance_id,
            "Caption": "Virtual System Migration" if not job.storage_only else "Storage Migration",
            "Description": "Migrating Virtual Machine"
            if not job.storage_only
            else "Migrating Virtual Machine Storage",
            "ElementName": job.vm_name,
            "Name": "Migration Job",
            "JobState": int(job.state),
            "PercentComplete": job.percent,
            "ElapsedTime": elapsed,
            "StartTime": job.start_time,
            "ErrorCode": job.error_code,
            "ErrorDescription": job.error_description or None,
            "Cancellable": job.cancellable and not job.finished,
            "DestinationHost": job.destination,
            "VirtualSystemName": job.vm_id,
            "PSComputerName": host.name,
        },
        f'Msvm_MigrationJob (InstanceID = "{job.instance_id}")',
    )


def cim_instance(namespace: str, cls: str, properties: dict[str, LabValue], key: str) -> LabObject:
    """A generic CIM instance (Win32_* classes and friends)."""
    return LabObject(_cim_types(namespace, cls), properties, f"{cls} ({key})")


def method_result(host: Host, return_value: int) -> LabObject:
    """Invoke-CimMethod's CimMethodResult."""
    return LabObject(
        ("Microsoft.Management.Infrastructure.CimMethodResult", "System.Object"),
        {"ReturnValue": return_value, "PSComputerName": host.name},
        "Microsoft.Management.Infrastructure.CimMethodResult",
    )


def event_record(host: Host, event: Event) -> LabObject:
    """Get-WinEvent's EventLogRecord."""
    levels = {"Error": 2, "Warning": 3, "Information": 4}
    return LabObject(
        (
            "System.Diagnostics.Eventing.Reader.EventLogRecord",
            "System.Diagnostics.Eventing.Reader.EventRecord",
            "System.Object",
        ),
        {
            "Id": event.event_id,
            "RecordId": event.record_id,
            "TimeCreated": event.time,
            "Message": event.message,
            "Level": levels[event.level],
            "LevelDisplayName": event.level,
            "LogName": event.log,
            "ProviderName": LOG_PROVIDERS[event.log],
            "MachineName": host.fqdn,
        },
        "System.Diagnostics.Eventing.Reader.EventLogRecord",
    )


def volume(host: Host, vol: Volume) -> LabObject:
    """Get-Volume's MSFT_Volume."""
    return cim_instance(
        "ROOT/Microsoft/Windows/Storage",
        "MSFT_Volume",
        {
            "DriveLetter": Char(vol.letter or "\0"),
            "FileSystemLabel": vol.label,
            "FileSystem": vol.file_system,
            "FileSystemType": vol.file_system,
            "DriveType": "Fixed",
            "HealthStatus": "Healthy",
            "OperationalStatus": "OK",
            "Size": UInt64(vol.size),
            "SizeRemaining": UInt64(vol.free),
            "PSComputerName": host.name,
        },
        f'ObjectId = "{{1}}\\\\{host.fqdn}\\root/Microsoft/Windows/Storage/Providers_v2'
        f'\\WSP_Volume.ObjectId=\\"{vol.letter}:\\""',
    )
