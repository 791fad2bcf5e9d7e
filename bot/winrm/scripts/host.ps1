# hvbot: what a preflight needs to know of one host, in one round trip, as plain fields.
# Enums become text and sizes numbers here, on the host, so nothing depends on how deep
# remoting serializes objects (depth 1). Paths arrive as a parameter, never as script text.
param([string[]] $Paths = @())

$vmhost = Get-VMHost
# Not every endpoint exposes Win32_OperatingSystem (JEA): 0 then means unknown.
$os = Get-CimInstance -ClassName Win32_OperatingSystem -ErrorAction SilentlyContinue
$free = [int64] 0
if ($os) { $free = [int64] $os.FreePhysicalMemory * 1024 }
$networks = foreach ($network in @(Get-VMMigrationNetwork)) {
    [pscustomobject] @{ Subnet = [string] $network.Subnet; Priority = [int64] $network.Priority }
}
$volumes = foreach ($volume in @(Get-Volume)) {
    # DriveLetter is a Char: [char]0 when the volume has no letter.
    $root = [string] $volume.Path
    if ($volume.DriveLetter -and [int] $volume.DriveLetter -ne 0) { $root = "$($volume.DriveLetter):\" }
    [pscustomobject] @{
        Path = $root
        Size = [int64] $volume.Size
        SizeRemaining = [int64] $volume.SizeRemaining
    }
}
$found = foreach ($path in $Paths) {
    [pscustomobject] @{ Path = $path; Exists = [bool] (Test-Path -LiteralPath $path) }
}
[pscustomobject] @{
    MigrationEnabled = [bool] $vmhost.VirtualMachineMigrationEnabled
    MaximumVirtualMachineMigrations = [int64] $vmhost.MaximumVirtualMachineMigrations
    MaximumStorageMigrations = [int64] $vmhost.MaximumStorageMigrations
    Authentication = [string] $vmhost.VirtualMachineMigrationAuthenticationType
    Performance = [string] $vmhost.VirtualMachineMigrationPerformanceOption
    UseAnyNetwork = [bool] $vmhost.UseAnyNetworkForMigration
    LogicalProcessorCount = [int64] $vmhost.LogicalProcessorCount
    MemoryCapacity = [int64] $vmhost.MemoryCapacity
    FreeMemoryBytes = $free
    Networks = @($networks)
    Switches = @(foreach ($switch in @(Get-VMSwitch)) { [string] $switch.Name })
    SupportedVersions = @(foreach ($v in @(Get-VMHostSupportedVersion)) { [string] $v.Version })
    Volumes = @($volumes)
    Paths = @($found)
}
