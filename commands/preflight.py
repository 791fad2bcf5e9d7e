"""The preflight: every check that can be made before a move runs, and the exact plan.

It asks the hosts (through the Hyper-V port) and changes nothing. The same checks run before
the approval card is posted, for `/migrate check`, and again right before execution.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from commands.delegation import DelegationDirectory, move_findings, switch_findings
from commands.diagnosis import diagnose_incompatibility
from commands.drain import drain_preflight, plan_drain
from commands.hyperv import (
    ErrorKind,
    HostFacts,
    HostSettings,
    Survey,
    VmInfo,
    is_shared_path,
    volume_of,
)
from commands.inventory import Host, Inventory
from commands.language import to_dict
from commands.plans import (
    Plan,
    PlanError,
    compare_invocation,
    plan_host_change,
    plan_move,
    plan_storage,
    plan_vm_compatibility,
)
from commands.ports import HyperVPort
from commands.requests import (
    AuthType,
    CheckRequest,
    DrainRequest,
    HostChange,
    HostNetworkAddRequest,
    HostNetworkRemoveRequest,
    HostSetRequest,
    HostSetting,
    MigrateRequest,
    Move,
    Request,
    StorageRequest,
    VmCompatibilityRequest,
)
from commands.workflow.preflight import Finding, PreflightResult, Severity

_GIB = 1024**3
log = logging.getLogger(__name__)


def _blocking(code: str, message: str, fix: str = "") -> Finding:
    return Finding(Severity.BLOCKING, code, message, fix)


def _warning(code: str, message: str, fix: str = "") -> Finding:
    return Finding(Severity.WARNING, code, message, fix)


def _gib(n: int) -> str:
    return f"{n / _GIB:.1f} GiB"


@dataclass(frozen=True)
class ResolvedPlan:
    """A request's plan and the VM it was resolved against (None for host settings)."""

    plan: Plan
    vm: VmInfo | None = None


def resolve_plan(
    hyperv: HyperVPort, inventory: Inventory, request: Request, located: VmInfo | None = None
) -> ResolvedPlan:
    """The exact plan of a changing request, reading from the hosts what it needs: where the
    VM runs, its disks (unless `located` already says). Raises PlanError (refused) or
    HyperVError (a host could not answer)."""
    if isinstance(request, HostChange):
        return ResolvedPlan(plan_host_change(request))
    if isinstance(request, MigrateRequest | CheckRequest):
        move = request.move
        vm, source = _locate(hyperv, inventory, move.vm, located)
        if move.source is not None and move.source.name != source.name:
            raise PlanError(
                f"{move.vm} runs on {source.name}, not on {move.source.name}.",
                code="source_mismatch",
                fix=f"Use `from {source.name}` or leave `from` out.",
            )
        return ResolvedPlan(plan_move(move, vm, source), vm)
    if isinstance(request, StorageRequest):
        vm, host = _locate(hyperv, inventory, request.vm)
        return ResolvedPlan(plan_storage(request, vm, host), vm)
    if isinstance(request, VmCompatibilityRequest):
        vm, host = _locate(hyperv, inventory, request.vm)
        return ResolvedPlan(plan_vm_compatibility(request, vm, host), vm)
    action = to_dict(request)["action"]
    raise PlanError(
        f"/migrate {action} changes nothing on a host, so it has no plan.",
        fix="Plans exist for moves, storage moves, host settings and VM compatibility.",
    )


def _locate(
    hyperv: HyperVPort, inventory: Inventory, vm_name: str, located: VmInfo | None = None
) -> tuple[VmInfo, Host]:
    vm = located or hyperv.find_vm(vm_name)
    host = inventory.find(vm.host)
    if host is None:
        raise PlanError(f"{vm_name} runs on {vm.host}, which is not in the inventory.")
    return vm, host


class HostPreflight:
    """The `Preflight` port implemented with the Hyper-V port and the plans."""

    def __init__(
        self,
        hyperv: HyperVPort,
        inventory: Inventory,
        delegation: DelegationDirectory | None = None,
    ) -> None:
        self._hyperv = hyperv
        self._inventory = inventory
        self._delegation = delegation

    def preflight(self, request: Request) -> PreflightResult:
        """Check `request` against the hosts now; raises HyperVError when a host cannot answer."""
        if isinstance(request, DrainRequest):
            return drain_preflight(
                plan_drain(self._hyperv, self._inventory, request.drain), self._inventory
            )
        survey = None
        if isinstance(request, MigrateRequest | CheckRequest):
            # Every host at once, each in one round trip: where the VM runs, and the facts
            # of its host and of the destination. A real host takes a few hundred ms per
            # Hyper-V cmdlet, so round trips, not cmdlets, set the approval card's wait.
            move = request.move
            survey = self._hyperv.survey(move.vm, move.destination, _targets(move))
        try:
            resolved = resolve_plan(
                self._hyperv, self._inventory, request, survey.vm if survey else None
            )
        except PlanError as refused:
            return PreflightResult(
                findings=(_blocking(refused.code, refused.message, refused.fix),),
                invocations=(),
                host=None,
            )
        plan, vm = resolved.plan, resolved.vm
        findings: tuple[Finding, ...] = ()
        destination = None
        if isinstance(request, MigrateRequest | CheckRequest):
            destination = request.move.destination
            assert survey is not None
            findings = self._move(request.move, plan, survey)
        elif isinstance(request, StorageRequest) and vm is not None:
            targets = [p for p in (request.storage_path, request.vm_path) if p]
            targets += [v.destination.rsplit("\\", 1)[0] for v in request.vhds]
            facts = self._hyperv.host_facts(plan.host, targets)
            findings = tuple(_space_and_paths(facts, plan.host, targets, vm))
        elif isinstance(request, HostChange):
            settings = self._hyperv.host_settings(request.host)
            findings = tuple(_host_change_findings(request, settings))
            if self._delegation is not None and _to_kerberos(request):
                peers = [h for h in self._inventory if h.name != request.host.name]
                findings += switch_findings(self._delegation, request.host, peers)
        return PreflightResult(
            findings=findings,
            invocations=plan.invocations,
            host=plan.host,
            destination=destination,
            vm_id=vm.id if vm else None,
        )

    def _move(self, move: Move, plan: Plan, survey: Survey) -> tuple[Finding, ...]:
        vm, dest = survey.vm, move.destination
        if vm.clustered:
            return (_clustered(vm, dest),)
        source_facts = survey.facts_of(plan.host.name) or self._hyperv.host_facts(plan.host)
        facts = survey.facts_of(dest.name) or self._hyperv.host_facts(dest, _targets(move))
        findings = [
            *_settings_findings(source_facts.settings, facts.settings),
            *_vm_fits(vm, dest, facts),
        ]
        moves_storage = move.include_storage or move.storage_path or move.vm_path
        if self._delegation is not None and _kerberos(source_facts.settings, facts.settings):
            findings += move_findings(
                self._delegation, plan.host, dest, storage=bool(moves_storage)
            )
        if moves_storage:
            findings += _space_and_paths(facts, dest, _targets(move), vm)
        else:
            local = [d.path for d in vm.disks if not is_shared_path(d.path)]
            if local:
                findings.append(
                    _blocking(
                        "local_storage",
                        f"{move.vm} has disks on local storage ({', '.join(local)}); "
                        "a live move without storage needs shared storage.",
                        "Add `include-storage` (shared-nothing migration).",
                    )
                )
        # Compare-VM restates what the direct checks found, less readably: keep its other news.
        known = {f.code for f in findings}
        for item in self._hyperv.compare(plan.host, compare_invocation(plan.invocations[0])):
            diagnosis = diagnose_incompatibility(item)
            if diagnosis.kind.value not in known:
                known.add(diagnosis.kind.value)
                # Remote text stays in the log; people get the knowledge base's words.
                log.info(
                    "compare-vm incompatibility",
                    extra={"message_id": item.message_id, "remote_message": item.message},
                )
                summary = f"{_compare_summary(diagnosis.summary, item.message, vm, dest)} "
                summary += f"(Compare-VM MessageId {item.message_id})"
                findings.append(_blocking(diagnosis.kind.value, summary, diagnosis.fix))
        return tuple(findings)


def _targets(move: Move) -> list[str]:
    """The destination paths a move names (checked when it moves storage)."""
    return [p for p in (move.storage_path, move.vm_path) if p]


def _compare_summary(summary: str, remote: str, vm: VmInfo, dest: Host) -> str:
    """The knowledge base's words, naming the switch when Compare-VM's text names one of the
    VM's own switches (the name comes from the VM, never the remote text itself)."""
    for adapter in vm.adapters:
        name = adapter.switch_name
        if name and f"'{name}'".casefold() in remote.casefold():
            return f"{dest.name} has no virtual switch '{name}' (adapter '{adapter.name}')."
    return summary


def _vm_fits(vm: VmInfo, dest: Host, facts: HostFacts) -> Iterable[Finding]:
    settings = facts.settings
    if (
        vm.state.casefold() == "running"
        and settings.memory_free_bytes
        and (settings.memory_free_bytes < vm.memory_bytes)
    ):
        yield _blocking(
            ErrorKind.NOT_ENOUGH_MEMORY.value,
            f"{dest.name} has {_gib(settings.memory_free_bytes)} free; "
            f"{vm.name} uses {_gib(vm.memory_bytes)}.",
            "Free memory on the destination or pick another host.",
        )
    versions = facts.supported_versions
    if versions and vm.configuration_version not in versions:
        yield _blocking(
            ErrorKind.VERSION_UNSUPPORTED.value,
            f"{dest.name} does not support configuration version "
            f"{vm.configuration_version} (supports {', '.join(versions)}).",
            "Pick a host with the same or a newer Windows Server version.",
        )
    switches = {s.casefold() for s in facts.switches}
    for adapter in vm.adapters:
        if adapter.switch_name and adapter.switch_name.casefold() not in switches:
            yield _blocking(
                ErrorKind.SWITCH_MISSING.value,
                f"{dest.name} has no virtual switch '{adapter.switch_name}' "
                f"(adapter '{adapter.name}').",
                f"Create the switch '{adapter.switch_name}' on {dest.name}, "
                "or connect the adapter to a switch that exists there.",
            )
    for iso in vm.dvd_paths:
        if iso and not is_shared_path(iso):
            yield _blocking(
                ErrorKind.LOCAL_ISO.value,
                f"{vm.name} has the ISO {iso} attached from a local path.",
                "Eject the ISO (Set-VMDvdDrive -Path $null) or attach it from a share.",
            )


def _space_and_paths(facts: HostFacts, host: Host, paths: list[str], vm: VmInfo) -> list[Finding]:
    exists = dict(facts.paths)
    findings: list[Finding] = []
    for path in dict.fromkeys(paths):
        if path.startswith("\\\\"):
            findings.append(_share_unchecked(host, path))
        elif not exists.get(path, False):
            findings.append(
                _blocking(
                    ErrorKind.PATH_MISSING.value,
                    f"{path} does not exist on {host.name}.",
                    f"Create the folder on {host.name} or fix the path.",
                )
            )
    needed = sum(d.size_bytes for d in vm.disks)
    volumes = {v.path.rstrip("\\").upper(): v for v in facts.volumes}
    for drive in dict.fromkeys(volume_of(p) for p in paths):
        volume = volumes.get(drive.upper())
        if volume is not None and volume.free_bytes < needed:
            findings.append(
                _blocking(
                    ErrorKind.NOT_ENOUGH_DISK.value,
                    f"{drive} on {host.name} has {_gib(volume.free_bytes)} free; "
                    f"the disks of {vm.name} need {_gib(needed)}.",
                    "Free space on the volume or choose another path.",
                )
            )
    return findings


def _clustered(vm: VmInfo, dest: Host) -> Finding:
    """A role of a failover cluster is moved by the cluster; Move-VM would go behind its back."""
    return _blocking(
        "clustered",
        f"{vm.name} is a failover cluster role: the cluster must move it, and hvbot does not "
        "drive cluster moves yet.",
        f"Move it with the cluster: Move-ClusterVirtualMachineRole -Name '{vm.name}' "
        f"-Node {dest.name} -MigrationType Live (or Failover Cluster Manager: Move > Live "
        "Migration).",
    )


def _share_unchecked(host: Host, path: str) -> Finding:
    """A share cannot be seen from the bot's WinRM session on `host` (the double hop)."""
    return _warning(
        "share_unchecked",
        f"hvbot could not check {path} from {host.name}: a remote session cannot reach a share "
        "without delegation (double hop), so it is neither confirmed nor missing.",
        f"Check it on {host.name} in a console or RDP session (Test-Path '{path}'), and that "
        f"the share grants {host.name}'s computer account full control.",
    )


def _to_kerberos(request: HostChange) -> bool:
    return (
        isinstance(request, HostSetRequest)
        and request.setting is HostSetting.AUTH
        and request.value == AuthType.KERBEROS
    )


def _kerberos(source: HostSettings, dest: HostSettings) -> bool:
    """Whether a move between the two uses Kerberos (and so constrained delegation)."""
    return all(s.authentication.casefold() == "kerberos" for s in (source, dest))


def _settings_findings(source: HostSettings, dest: HostSettings) -> Iterable[Finding]:
    for settings in (source, dest):
        if not settings.migration_enabled:
            yield _blocking(
                ErrorKind.MIGRATION_DISABLED.value,
                f"Live migration is disabled on {settings.host}.",
                f"/migrate host {settings.host} enable",
            )
    if source.authentication.casefold() != dest.authentication.casefold():
        yield _warning(
            "auth_mismatch",
            f"{source.host} uses {source.authentication} and {dest.host} uses "
            f"{dest.authentication} for migration authentication.",
            "Set both hosts to Kerberos (/migrate host <host> set auth kerberos).",
        )
    elif source.authentication.casefold() == "credssp":
        yield _warning(
            "credssp",
            "CredSSP only works when someone is signed in on the source host; "
            "a move started by the bot may fail with 0x8009030E.",
            "Use Kerberos with constrained delegation (/migrate delegation <host> <host>).",
        )


def _host_change_findings(request: HostChange, settings: HostSettings) -> Iterable[Finding]:
    if isinstance(request, HostNetworkRemoveRequest):
        subnets = {n.subnet for n in settings.networks}
        if request.subnet not in subnets:
            yield _blocking(
                "network_absent",
                f"{request.subnet} is not a migration network of {request.host.name}.",
                f"/migrate host {request.host.name} shows the current networks.",
            )
    if isinstance(request, HostNetworkAddRequest) and any(
        n.subnet == request.subnet for n in settings.networks
    ):
        yield _blocking(
            "network_present",
            f"{request.subnet} is already a migration network of {request.host.name}.",
        )
