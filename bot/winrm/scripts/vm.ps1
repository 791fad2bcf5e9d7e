# hvbot: the VM named exactly $Name (every VM without a name) and its devices as plain fields.
# Ids, enums and sizes become text and numbers here, on the host, so nothing depends on how
# deep remoting serializes objects (depth 1). The name arrives as a parameter, never as text.
param([string] $Name = '')

$machines = if ($Name) { @(Get-VM -Name $Name) } else { @(Get-VM) }
foreach ($vm in $machines) {
    if ($Name -and $vm.Name -ne $Name) { continue }
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
