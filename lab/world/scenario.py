"""Scenario files (TOML): a lab's hosts, VMs, users and faults, validated with clear errors."""

from __future__ import annotations

import tomllib
import uuid
from importlib import resources
from pathlib import Path
from typing import Any

from lab.world import winpath
from lab.world.faults import Fault, FaultKind
from lab.world.latency import MODELS
from lab.world.model import (
    GIB,
    AuthType,
    DvdDrive,
    HardDisk,
    Host,
    MigrationNetwork,
    NetworkAdapter,
    Performance,
    SwitchType,
    VirtualMachine,
    VirtualSwitch,
    VMState,
    Volume,
)
from lab.world.world import World


class ScenarioError(ValueError):
    """A scenario file is unreadable or invalid; the message lists every problem."""


class _Reader:
    """Typed access to one TOML table that records problems instead of stopping at the first."""

    def __init__(self, table: Any, where: str, problems: list[str]) -> None:
        self.where = where
        self.problems = problems
        self.table: dict[str, Any] = table if isinstance(table, dict) else {}
        if not isinstance(table, dict):
            problems.append(f"{where}: expected a table")

    def _get(self, key: str, kinds: tuple[type, ...], default: Any, what: str) -> Any:
        if key not in self.table:
            if default is _REQUIRED:
                self.problems.append(f"{self.where}.{key}: missing")
                return None
            return default
        value = self.table[key]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            self.problems.append(f"{self.where}.{key}: expected {what}, got {value!r}")
            return None if default is _REQUIRED else default
        return value

    def text(self, key: str, default: Any = None) -> Any:
        return self._get(key, (str,), _REQUIRED if default is None else default, "a string")

    def number(self, key: str, default: Any = None) -> Any:
        return self._get(key, (int, float), _REQUIRED if default is None else default, "a number")

    def integer(self, key: str, default: Any = None) -> Any:
        return self._get(key, (int,), _REQUIRED if default is None else default, "an integer")

    def flag(self, key: str, default: bool) -> bool:
        return bool(self._get(key, (bool,), default, "true or false"))

    def texts(self, key: str) -> list[str]:
        values = self._get(key, (list,), [], "a list of strings")
        if not all(isinstance(v, str) for v in values):
            self.problems.append(f"{self.where}.{key}: expected a list of strings")
            return []
        return list(values)

    def tables(self, key: str) -> list[_Reader]:
        values = self._get(key, (list,), [], "a list of tables")
        return [_Reader(v, f"{self.where}.{key}[{i}]", self.problems) for i, v in enumerate(values)]

    def choice(self, key: str, options: dict[str, Any], default: str) -> Any:
        name = self._get(key, (str,), default, "a string")
        found = {k.lower(): v for k, v in options.items()}.get(str(name).lower())
        if found is None:
            self.problems.append(f"{self.where}.{key}: {name!r} is not one of {', '.join(options)}")
        return found if found is not None else options[default]

    def unknown_keys(self, allowed: set[str]) -> None:
        for key in self.table:
            if key not in allowed:
                self.problems.append(f"{self.where}.{key}: unknown key")


_REQUIRED = object()
_HOST_KEYS = {
    "name",
    "cpu_vendor",
    "cpu_model",
    "cpu_feature_level",
    "logical_processors",
    "memory_gb",
    "memory_reserved_gb",
    "supported_versions",
    "default_version",
    "migration_enabled",
    "max_vm_migrations",
    "max_storage_migrations",
    "auth",
    "performance",
    "use_any_network",
    "clock_offset_seconds",
    "delegation_to",
    "volumes",
    "switches",
    "migration_networks",
    "folders",
    "files",
}
_VM_KEYS = {
    "name",
    "host",
    "id",
    "state",
    "memory_gb",
    "processors",
    "version",
    "generation",
    "path",
    "compatibility_for_migration",
    "clustered",
    "adapters",
    "disks",
    "dvd",
}


def load_scenario(path: str | Path | None = None, *, time_scale: float | None = None) -> World:
    """Build a World from a scenario file (None: the packaged default lab)."""
    if path is None:
        text = resources.files("lab").joinpath("scenarios/default.toml").read_text("utf-8")
        source = "default.toml"
    else:
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from exc
        source = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not valid TOML: {exc}") from exc
    return parse_scenario(data, source, time_scale=time_scale)


def parse_scenario(
    data: dict[str, Any], source: str = "scenario", *, time_scale: float | None = None
) -> World:
    """Build a World from parsed TOML; raises ScenarioError listing every problem."""
    problems: list[str] = []
    top = _Reader(data, "", problems)
    top.unknown_keys({"lab", "users", "hosts", "vms", "faults"})
    lab = _Reader(data.get("lab", {}), "lab", problems)
    lab.unknown_keys({"domain", "time_scale", "link_mbps", "linger_seconds", "latency"})
    domain = lab.text("domain", "lab.local")
    hosts = [_host(r, domain) for r in top.tables("hosts")]
    by_name = {h.name.lower(): h for h in hosts if h.name}
    if len(by_name) != len(hosts):
        problems.append("hosts: host names must be unique")
    if not hosts:
        problems.append("hosts: a scenario needs at least one host")
    shares: set[str] = set()
    for index, reader in enumerate(top.tables("vms")):
        _vm(reader, by_name, index, shares)
    credentials = {}
    for reader in top.tables("users"):
        reader.unknown_keys({"name", "password"})
        name, password = reader.text("name"), reader.text("password")
        if name and password:
            credentials[name] = password
    faults = [_fault(r, by_name) for r in top.tables("faults")]
    latency = lab.choice("latency", MODELS, "off")
    # Read before the problems are reported, so that a bad value is one of them.
    timing = {
        key: float(lab.number(key, default))
        for key, default in (("time_scale", 0.05), ("link_mbps", 1000.0), ("linger_seconds", 300.0))
    }
    problems += [f"lab.{key}: must be above 0" for key, value in timing.items() if value <= 0]
    if problems:
        raise ScenarioError(f"{source}: invalid scenario:\n  " + "\n  ".join(problems))
    world = World(
        hosts,
        credentials=credentials or None,
        time_scale=time_scale if time_scale is not None else timing["time_scale"],
        link_mbps=timing["link_mbps"],
        linger_seconds=timing["linger_seconds"],
        faults=[f for f in faults if f is not None],
        shared_files=shares,
    )
    world.latency = latency
    return world


def _host(r: _Reader, domain: str) -> Host:
    r.unknown_keys(_HOST_KEYS)
    versions = r.texts("supported_versions") or ["8.0", "9.0", "10.0"]
    host = Host(
        name=r.text("name") or "",
        domain=domain,
        cpu_vendor=r.text("cpu_vendor", "GenuineIntel"),
        cpu_model=r.text("cpu_model", "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz"),
        cpu_feature_level=r.integer("cpu_feature_level", 10),
        logical_processors=r.integer("logical_processors", 64),
        memory_total=int(r.number("memory_gb", 256) * GIB),
        memory_reserved=int(r.number("memory_reserved_gb", 8) * GIB),
        supported_versions=versions,
        default_version=r.text("default_version", versions[-1]),
        migration_enabled=r.flag("migration_enabled", True),
        max_vm_migrations=r.integer("max_vm_migrations", 2),
        max_storage_migrations=r.integer("max_storage_migrations", 2),
        auth_type=r.choice("auth", {a.name: a for a in AuthType}, "CredSSP"),
        performance=r.choice("performance", {p.name: p for p in Performance}, "Compression"),
        use_any_network=r.flag("use_any_network", False),
        delegation_to=set(r.texts("delegation_to")),
        clock_offset_seconds=float(r.number("clock_offset_seconds", 0.0)),
    )
    for vol in r.tables("volumes"):
        vol.unknown_keys({"letter", "size_gb", "free_gb", "label", "file_system"})
        letter = (vol.text("letter") or "?").strip(":").upper()
        host.volumes[letter] = Volume(
            letter,
            int(vol.number("size_gb") or 0) * GIB,
            int((vol.number("free_gb") or 0) * GIB),
            vol.text("label", ""),
            vol.text("file_system", "NTFS"),
        )
        host.add_folder(f"{letter}:\\")
    for sw in r.tables("switches"):
        sw.unknown_keys({"name", "type"})
        host.switches.append(
            VirtualSwitch(
                sw.text("name") or "",
                sw.choice("type", {t.name: t for t in SwitchType}, "External"),
                str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{host.name}/{sw.text('name')}")),
            )
        )
    for net in r.tables("migration_networks"):
        net.unknown_keys({"subnet", "priority"})
        host.networks.append(MigrationNetwork(net.text("subnet") or "", net.integer("priority", 1)))
    for folder in r.texts("folders"):
        _on_volume(r, host, folder)
        host.add_folder(folder)
    for entry in r.tables("files"):
        entry.unknown_keys({"path", "size_gb"})
        path = entry.text("path") or ""
        _on_volume(entry, host, path)
        host.add_file(path, int(entry.number("size_gb", 1) * GIB))
    return host


def _on_volume(r: _Reader, host: Host, path: str) -> None:
    if not winpath.is_absolute(path) or winpath.drive(path) not in host.volumes:
        r.problems.append(f"{r.where}: '{path}' is not on a volume of {host.name}")


def _vm(r: _Reader, hosts: dict[str, Host], index: int, shares: set[str]) -> None:
    r.unknown_keys(_VM_KEYS)
    name = r.text("name") or ""
    host = hosts.get(str(r.text("host")).lower())
    if host is None:
        r.problems.append(f"{r.where}.host: no such host {r.table.get('host')!r}")
        return
    folder = r.text("path", f"D:\\Hyper-V\\{name}")
    vm = VirtualMachine(
        id=r.text("id", str(uuid.uuid5(uuid.NAMESPACE_DNS, f"lab-vm-{name}-{index}"))).lower(),
        name=name,
        state=r.choice("state", {s.name: s for s in VMState}, "Running"),
        memory_startup=int(r.number("memory_gb", 4) * GIB),
        processor_count=r.integer("processors", 2),
        version=r.text("version", host.default_version),
        path=folder,
        generation=r.integer("generation", 2),
        compatibility_for_migration=r.flag("compatibility_for_migration", False),
        clustered=r.flag("clustered", False),
    )
    for i, nic in enumerate(r.tables("adapters")):
        nic.unknown_keys({"name", "switch"})
        vm.adapters.append(
            NetworkAdapter(
                nic.text("name", "Network Adapter"),
                nic.text("switch", ""),
                f"00155D{index:02X}{i:02X}{len(name):02X}",
            )
        )
    for i, disk in enumerate(r.tables("disks")):
        disk.unknown_keys({"path", "size_gb", "max_size_gb"})
        path = disk.text("path") or ""
        size = int(disk.number("size_gb", 20) * GIB)
        vm.disks.append(
            HardDisk(path, size, int(disk.number("max_size_gb", 0) * GIB), controller_location=i)
        )
        if winpath.is_unc(path):
            shares.add(path)
            continue
        _on_volume(disk, host, path)
        host.add_file(path, size)
    for iso in r.texts("dvd"):
        vm.dvds.append(DvdDrive(iso, controller_location=len(vm.disks)))
        if winpath.is_absolute(iso) and not winpath.is_unc(iso):
            host.add_file(iso, GIB)
    if folder and winpath.is_absolute(folder):
        host.add_folder(folder)
    if host.find_vm(name) is not None:
        r.problems.append(f"{r.where}.name: {name!r} already exists on {host.name}")
    host.vms[vm.id] = vm


def _fault(r: _Reader, hosts: dict[str, Host]) -> Fault | None:
    r.unknown_keys({"kind", "host", "vm", "percent", "mbps", "name"})
    kind = r.choice("kind", {k.value: k for k in FaultKind}, "unreachable")
    host = r.table.get("host")
    if host is not None and str(host).lower() not in hosts:
        r.problems.append(f"{r.where}.host: no such host {host!r}")
    return Fault(
        kind=kind,
        host=r.text("host", "") or None,
        vm=r.text("vm", "") or None,
        percent=r.integer("percent", 50),
        mbps=float(r.number("mbps", 10.0)),
        name=r.text("name", ""),
    )
