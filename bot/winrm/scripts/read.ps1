# hvbot: what the bot reads of one host, in one round trip, as plain fields.
# - VM records (Record = 'vm'): the VM named exactly $Name, or every VM with -AllVMs, with
#   their devices.
# - One host record (Record = 'host') when $Facts is 'Always', or 'WithVM' and that VM is
#   here: migration settings, networks, free memory, switches, versions, volumes, $Paths.
# Ids, enums and sizes become text and numbers here, on the host, so nothing depends on how
# deep remoting serializes objects (depth 1). Values arrive as parameters, never as text.
param(
    [string] $Name = '',
    [switch] $AllVMs,
    [ValidateSet('Never', 'WithVM', 'Always')][string] $Facts = 'Never',
    [string[]] $Paths = @()
)

$found = $false
$machines = @()
if ($AllVMs) { $machines = @(Get-VM) } elseif ($Name) { $machines = @(Get-VM -Name $Name) }
foreach ($vm in $machines) {
    if ($Name -and $vm.Name -ne $Name) { continue }
    $found = $true
    $adapters = foreach ($adapter in @(Get-VMNetworkAdapter -VM $vm)) {
        [pscustomobject] @{ Name = [string] $adapter.Name; SwitchName = [string] $adapter.SwitchName }
    }
    $disks = foreach ($disk in @(Get-VMHardDiskDrive -VM $vm)) {
        # Pass-through disks have no file, and a share cannot be read from a remote
        # session without delegation: the size is then unknown, not an error.
        $size = [int64] 0
        if ($disk.Path) {
            $vhd = Get-VHD -Path $disk.Path -ErrorAction SilentlyContinue
            if ($vhd) { $size = [int64] $vhd.FileSize }
        }
        [pscustomobject] @{
            Path = [string] $disk.Path
            ControllerType = [string] $disk.ControllerType
            FileSize = $size
        }
    }
    $dvds = foreach ($dvd in @(Get-VMDvdDrive -VM $vm)) { if ($dvd.Path) { [string] $dvd.Path } }
    $processor = Get-VMProcessor -VM $vm
    [pscustomobject] @{
        Record = 'vm'
        Id = $vm.Id.ToString()
        Name = [string] $vm.Name
        State = [string] $vm.State
        MemoryAssigned = [int64] $vm.MemoryAssigned
        MemoryStartup = [int64] $vm.MemoryStartup
        Version = [string] $vm.Version
        Path = [string] $vm.Path
        IsClustered = [bool] $vm.IsClustered
        CompatibilityForMigrationEnabled = [bool] $processor.CompatibilityForMigrationEnabled
        Adapters = @($adapters)
        Disks = @($disks)
        DvdPaths = @($dvds)
    }
}

if ($Facts -eq 'Always' -or ($Facts -eq 'WithVM' -and $found)) {
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
    $tested = foreach ($path in $Paths) {
        [pscustomobject] @{ Path = $path; Exists = [bool] (Test-Path -LiteralPath $path) }
    }
    [pscustomobject] @{
        Record = 'host'
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
        Paths = @($tested)
    }
}
