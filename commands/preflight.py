"""The preflight: every check that can be made before a move runs, and the exact plan.

It asks the hosts (through the Hyper-V port) and changes nothing. The same checks run before
the approval card is posted, for `/migrate check`, and again right before execution.

Each check is a named function returning `Finding`s. A move's checks share one signature,
`(MoveFacts) -> Iterable[Finding]`, and run in the order of `MOVE_CHECKS`; Compare-VM runs
last and adds only what they did not find (matched by `FindingCode`, `code_of`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from commands.delegation import DelegationDirectory, move_findings, plan_for, switch_findings
from commands.diagnosis import diagnose_incompatibility
from commands.drain import drain_preflight, plan_drain
from commands.findings import Finding, FindingCode, PreflightResult, blocking, code_of, warning
from commands.hyperv import (
    HostFacts,
    HostSettings,
    Incompatibility,
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
    DelegationRequest,
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
from commands.transfer import TransferSettings
from commands.workflow.approvals import DirectoryError

_GIB = 1024**3
log = logging.getLogger(__name__)


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
                code=FindingCode.SOURCE_MISMATCH,
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


@dataclass(frozen=True)
class MoveFacts:
    """What a move's checks look at: the move, the VM, both hosts' facts as read now, and
    the directory to ask about Kerberos delegation (None when none is configured)."""

    move: Move
    vm: VmInfo
    source: Host
    source_facts: HostFacts
    dest_facts: HostFacts
    delegation: DelegationDirectory | None = None

    @property
    def destination(self) -> Host:
        """Where the VM goes."""
        return self.move.destination

    @property
    def moves_storage(self) -> bool:
        """Whether the move copies the VM's files (shared-nothing or to named paths)."""
        move = self.move
        return bool(move.include_storage or move.storage_path or move.vm_path)


MoveCheck = Callable[[MoveFacts], Iterable[Finding]]


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
        if isinstance(request, DelegationRequest):
            return self._delegation_fix(request)
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
                findings=(blocking(refused.code, refused.message, refused.fix),),
                invocations=(),
                host=None,
            )
        plan, vm = resolved.plan, resolved.vm
        findings: tuple[Finding, ...] = ()
        destination = None
        details = None
        if isinstance(request, MigrateRequest | CheckRequest):
            destination = request.move.destination
            assert survey is not None
            findings, transfer = self._move(request.move, plan, survey)
            details = {"transfer": transfer.to_json()} if transfer is not None else None
        elif isinstance(request, StorageRequest) and vm is not None:
            targets = [p for p in (request.storage_path, request.vm_path) if p]
            targets += [v.destination.rsplit("\\", 1)[0] for v in request.vhds]
            facts = self._hyperv.host_facts(plan.host, targets)
            findings = tuple(paths_and_space(facts, plan.host, targets, vm))
        elif isinstance(request, HostChange):
            settings = self._hyperv.host_settings(request.host)
            findings = (
                *removed_network_exists(request, settings),
                *added_network_is_new(request, settings),
            )
            if self._delegation is not None and _to_kerberos(request):
                peers = [h for h in self._inventory if h.name != request.host.name]
                findings += switch_findings(self._delegation, request.host, peers)
        return PreflightResult(
            findings=findings,
            invocations=plan.invocations,
            host=plan.host,
            destination=destination,
            vm_id=vm.id if vm else None,
            details=details,
        )

    def _delegation_fix(self, request: DelegationRequest) -> PreflightResult:
        """The exact directory changes of a delegation fix, read now; blocked when there is
        nothing to change, an object is missing, or nothing may be written."""
        first, second = request.first, request.second
        if self._delegation is None:
            finding = blocking(
                FindingCode.DIRECTORY_NOT_CONFIGURED,
                "The directory is not configured, so hvbot cannot change Kerberos delegation.",
                "Add a [directory] section to hvbot.toml (see examples/hvbot.toml).",
            )
            return PreflightResult((finding,), (), first, second)
        try:
            plan = plan_for(self._delegation, first, second)
        except DirectoryError as exc:
            finding = blocking(
                FindingCode.DIRECTORY_UNAVAILABLE, f"The directory could not answer: {exc}."
            )
            return PreflightResult((finding,), (), first, second)
        findings = [blocking(f.code, f"{f.host}: {f.message}", f.fix) for f in plan.cannot]
        if not plan.cannot and plan.empty:
            findings.append(
                blocking(
                    FindingCode.DELEGATION_COMPLETE,
                    f"Kerberos delegation between {first.name} and {second.name} is complete "
                    "both ways: nothing to change.",
                )
            )
        refusal = self._delegation.write_refusal()
        if refusal is not None:
            findings.append(
                blocking(FindingCode.DIRECTORY_READ_ONLY, f"{refusal}: nothing can be written.")
            )
        return PreflightResult(tuple(findings), (), first, second, changes=plan.changes)

    def _move(
        self, move: Move, plan: Plan, survey: Survey
    ) -> tuple[tuple[Finding, ...], TransferSettings | None]:
        """The move's findings, and what bounds its speed (for the note on a slow move)."""
        vm = survey.vm
        if vm.clustered:
            return (clustered(vm, move.destination),), None
        facts = MoveFacts(
            move,
            vm,
            plan.host,
            survey.facts_of(plan.host.name) or self._hyperv.host_facts(plan.host),
            survey.facts_of(move.destination.name)
            or self._hyperv.host_facts(move.destination, _targets(move)),
            self._delegation,
        )
        findings = [finding for check in MOVE_CHECKS for finding in check(facts)]
        compared = self._hyperv.compare(plan.host, compare_invocation(plan.invocations[0]))
        news = compare_vm_news(compared, facts, {f.code for f in findings})
        return (*findings, *news), transfer_settings(facts)


def transfer_settings(m: MoveFacts) -> TransferSettings:
    """What bounds the move's speed: the bytes it copies and both hosts' settings."""
    moved = m.vm.memory_bytes
    if m.moves_storage:
        moved += sum(disk.size_bytes for disk in m.vm.disks)
    return TransferSettings.of(m.source_facts.settings, m.dest_facts.settings, moved)


def _targets(move: Move) -> list[str]:
    """The destination paths a move names (checked when it moves storage)."""
    return [p for p in (move.storage_path, move.vm_path) if p]


def migration_enabled(m: MoveFacts) -> Iterable[Finding]:
    """Live migration is enabled on both hosts (Enable-VMMigration)."""
    for settings in (m.source_facts.settings, m.dest_facts.settings):
        if not settings.migration_enabled:
            yield blocking(
                FindingCode.MIGRATION_DISABLED,
                f"Live migration is disabled on {settings.host}.",
                f"/migrate host {settings.host} enable",
            )


def authentication_fits(m: MoveFacts) -> Iterable[Finding]:
    """Both hosts use the same migration authentication, and it is not CredSSP (which needs
    someone signed in on the source)."""
    source, dest = m.source_facts.settings, m.dest_facts.settings
    if source.authentication.casefold() != dest.authentication.casefold():
        yield warning(
            FindingCode.AUTH_MISMATCH,
            f"{source.host} uses {source.authentication} and {dest.host} uses "
            f"{dest.authentication} for migration authentication.",
            "Set both hosts to Kerberos (/migrate host <host> set auth kerberos).",
        )
    elif source.authentication.casefold() == "credssp":
        yield warning(
            FindingCode.CREDSSP,
            "CredSSP only works when someone is signed in on the source host; "
            "a move started by the bot may fail with 0x8009030E.",
            "Use Kerberos with constrained delegation (/migrate delegation <host> <host>).",
        )


def memory_fits(m: MoveFacts) -> Iterable[Finding]:
    """A running VM's memory fits in the destination's free memory (when the host says)."""
    vm, free = m.vm, m.dest_facts.settings.memory_free_bytes
    if vm.state.casefold() == "running" and free and free < vm.memory_bytes:
        yield blocking(
            FindingCode.NOT_ENOUGH_MEMORY,
            f"{m.destination.name} has {_gib(free)} free; {vm.name} uses {_gib(vm.memory_bytes)}.",
            "Free memory on the destination or pick another host.",
        )


def version_supported(m: MoveFacts) -> Iterable[Finding]:
    """The destination runs the VM's configuration version (when it lists its versions)."""
    versions = m.dest_facts.supported_versions
    if versions and m.vm.configuration_version not in versions:
        yield blocking(
            FindingCode.VERSION_UNSUPPORTED,
            f"{m.destination.name} does not support configuration version "
            f"{m.vm.configuration_version} (supports {', '.join(versions)}).",
            "Pick a host with the same or a newer Windows Server version.",
        )


def switches_exist(m: MoveFacts) -> Iterable[Finding]:
    """Each of the VM's adapters finds its virtual switch, by name, on the destination."""
    dest = m.destination.name
    switches = {s.casefold() for s in m.dest_facts.switches}
    for adapter in m.vm.adapters:
        if adapter.switch_name and adapter.switch_name.casefold() not in switches:
            yield blocking(
                FindingCode.SWITCH_MISSING,
                f"{dest} has no virtual switch '{adapter.switch_name}' (adapter '{adapter.name}').",
                f"Create the switch '{adapter.switch_name}' on {dest}, "
                "or connect the adapter to a switch that exists there.",
            )


def isos_shared(m: MoveFacts) -> Iterable[Finding]:
    """No ISO is attached from a path only the source can reach."""
    for iso in m.vm.dvd_paths:
        if iso and not is_shared_path(iso):
            yield blocking(
                FindingCode.LOCAL_ISO,
                f"{m.vm.name} has the ISO {iso} attached from a local path.",
                "Eject the ISO (Set-VMDvdDrive -Path $null) or attach it from a share.",
            )


def delegation_in_place(m: MoveFacts) -> Iterable[Finding]:
    """Between two Kerberos hosts, the directory holds the constrained delegation the move
    needs (cifs too when storage moves); nothing to check without a directory."""
    source, dest = m.source_facts.settings, m.dest_facts.settings
    kerberos = all(s.authentication.casefold() == "kerberos" for s in (source, dest))
    if m.delegation is not None and kerberos:
        yield from move_findings(m.delegation, m.source, m.destination, storage=m.moves_storage)


def disks_shared(m: MoveFacts) -> Iterable[Finding]:
    """A live move without storage finds every disk on shared storage."""
    local = [d.path for d in m.vm.disks if not is_shared_path(d.path)]
    if local and not m.moves_storage:
        yield blocking(
            FindingCode.LOCAL_STORAGE,
            f"{m.move.vm} has disks on local storage ({', '.join(local)}); "
            "a live move without storage needs shared storage.",
            "Add `include-storage` (shared-nothing migration).",
        )


def storage_target_fits(m: MoveFacts) -> Iterable[Finding]:
    """A move with storage finds its destination paths and room for the disks there."""
    if m.moves_storage:
        yield from paths_and_space(m.dest_facts, m.destination, _targets(m.move), m.vm)


MOVE_CHECKS: tuple[MoveCheck, ...] = (
    migration_enabled,
    authentication_fits,
    memory_fits,
    version_supported,
    switches_exist,
    isos_shared,
    delegation_in_place,
    disks_shared,
    storage_target_fits,
)
"""A move's direct checks, in the order their findings are shown (Compare-VM comes after)."""


def compare_vm_news(
    report: Sequence[Incompatibility], m: MoveFacts, known: set[FindingCode]
) -> list[Finding]:
    """What Compare-VM's `report` adds to the `known` findings: one blocking finding per code
    not found yet, in the knowledge base's words (Compare-VM restates the direct checks,
    less readably, and its remote text stays in the log)."""
    found: list[Finding] = []
    seen = set(known)
    for item in report:
        diagnosis = diagnose_incompatibility(item)
        code = code_of(diagnosis.kind)
        if code in seen:
            continue
        seen.add(code)
        log.info(
            "compare-vm incompatibility",
            extra={"message_id": item.message_id, "remote_message": item.message},
        )
        summary = _compare_summary(diagnosis.summary, item.message, m.vm, m.destination)
        found.append(
            blocking(code, f"{summary} (Compare-VM MessageId {item.message_id})", diagnosis.fix)
        )
    return found


def _compare_summary(summary: str, remote: str, vm: VmInfo, dest: Host) -> str:
    """The knowledge base's words, naming the switch when Compare-VM's text names one of the
    VM's own switches (the name comes from the VM, never the remote text itself)."""
    for adapter in vm.adapters:
        name = adapter.switch_name
        if name and f"'{name}'".casefold() in remote.casefold():
            return f"{dest.name} has no virtual switch '{name}' (adapter '{adapter.name}')."
    return summary


def paths_and_space(facts: HostFacts, host: Host, paths: list[str], vm: VmInfo) -> list[Finding]:
    """Storage going to `paths` on `host`: each path exists, then each volume has room."""
    return [*paths_exist(facts, host, paths), *space_free(facts, host, paths, vm)]


def paths_exist(facts: HostFacts, host: Host, paths: list[str]) -> Iterable[Finding]:
    """Each path exists on `host`; a share cannot be seen from a remote session, so it is
    said to be unchecked, never missing."""
    exists = dict(facts.paths)
    for path in dict.fromkeys(paths):
        if path.startswith("\\\\"):
            yield share_unchecked(host, path)
        elif not exists.get(path, False):
            yield blocking(
                FindingCode.PATH_MISSING,
                f"{path} does not exist on {host.name}.",
                f"Create the folder on {host.name} or fix the path.",
            )


def space_free(facts: HostFacts, host: Host, paths: list[str], vm: VmInfo) -> Iterable[Finding]:
    """Each volume of `paths` has room for all of the VM's disks."""
    needed = sum(d.size_bytes for d in vm.disks)
    volumes = {v.path.rstrip("\\").upper(): v for v in facts.volumes}
    for drive in dict.fromkeys(volume_of(p) for p in paths):
        volume = volumes.get(drive.upper())
        if volume is not None and volume.free_bytes < needed:
            yield blocking(
                FindingCode.NOT_ENOUGH_DISK,
                f"{drive} on {host.name} has {_gib(volume.free_bytes)} free; "
                f"the disks of {vm.name} need {_gib(needed)}.",
                "Free space on the volume or choose another path.",
            )


def clustered(vm: VmInfo, dest: Host) -> Finding:
    """A role of a failover cluster is moved by the cluster; Move-VM would go behind its back."""
    return blocking(
        FindingCode.CLUSTERED,
        f"{vm.name} is a failover cluster role: the cluster must move it, and hvbot does not "
        "drive cluster moves yet.",
        f"Move it with the cluster: Move-ClusterVirtualMachineRole -Name '{vm.name}' "
        f"-Node {dest.name} -MigrationType Live (or Failover Cluster Manager: Move > Live "
        "Migration).",
    )


def share_unchecked(host: Host, path: str) -> Finding:
    """A share cannot be seen from the bot's WinRM session on `host` (the double hop)."""
    return warning(
        FindingCode.SHARE_UNCHECKED,
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


def removed_network_exists(request: HostChange, settings: HostSettings) -> Iterable[Finding]:
    """A migration network being removed is one of the host's."""
    if isinstance(request, HostNetworkRemoveRequest) and request.subnet not in {
        n.subnet for n in settings.networks
    }:
        yield blocking(
            FindingCode.NETWORK_ABSENT,
            f"{request.subnet} is not a migration network of {request.host.name}.",
            f"/migrate host {request.host.name} shows the current networks.",
        )


def added_network_is_new(request: HostChange, settings: HostSettings) -> Iterable[Finding]:
    """A migration network being added is not one of the host's already."""
    if isinstance(request, HostNetworkAddRequest) and any(
        n.subnet == request.subnet for n in settings.networks
    ):
        yield blocking(
            FindingCode.NETWORK_PRESENT,
            f"{request.subnet} is already a migration network of {request.host.name}.",
        )
