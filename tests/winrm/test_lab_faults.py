"""Every lab fault comes back as the right classified error, with cause and fix, no secret."""

from __future__ import annotations

import pytest

from commands.hyperv import ErrorKind, HyperVError, MigrationOutcome
from commands.plans import plan_move
from commands.requests import Move
from lab.world import Fault, FaultKind
from support.winrm_lab import Lab

MOVE_FAULTS = [
    (Fault(FaultKind.KERBEROS_DELEGATION_MISSING, "HV-SRV02"), ErrorKind.DELEGATION),
    (Fault(FaultKind.CPU_INCOMPATIBLE, "HV-SRV02"), ErrorKind.CPU_INCOMPATIBLE),
    (Fault(FaultKind.SWITCH_MISSING, "HV-SRV02"), ErrorKind.SWITCH_MISSING),
    (Fault(FaultKind.DESTINATION_PATH_MISSING, "HV-SRV02"), ErrorKind.PATH_MISSING),
    (Fault(FaultKind.NOT_ENOUGH_MEMORY, "HV-SRV02"), ErrorKind.NOT_ENOUGH_MEMORY),
    (Fault(FaultKind.NOT_ENOUGH_DISK, "HV-SRV02"), ErrorKind.NOT_ENOUGH_DISK),
    (Fault(FaultKind.VERSION_UNSUPPORTED, "HV-SRV02"), ErrorKind.VERSION_UNSUPPORTED),
    (Fault(FaultKind.FAIL_AT_PERCENT, "HV-SRV02", percent=30), ErrorKind.MIGRATION_NETWORK),
    (Fault(FaultKind.MIGRATION_LIMIT, "HV-SRV02"), ErrorKind.MIGRATION_LIMIT),
    (Fault(FaultKind.LISTENER_DOWN, "HV-SRV02"), ErrorKind.MIGRATION_NETWORK),
    (Fault(FaultKind.UNREACHABLE, "HV-SRV02"), ErrorKind.MIGRATION_NETWORK),
]


def _migrate(
    lab: Lab, vm_name: str = "SRV-APP01", source_name: str = "HV-SRV01", to: str = "HV-SRV02"
) -> MigrationOutcome:
    vm, plan = lab.move_with_storage(vm_name, source_name, to)
    outcome = lab.port.start_migration(plan.host, plan.invocations[0], vm.id).wait(30)
    assert outcome is not None
    return outcome


def _assert_classified(error: HyperVError | None, kind: ErrorKind, lab: Lab) -> None:
    assert error is not None
    assert error.kind is kind, (error.kind, error.detail)
    assert error.summary and error.cause and error.fix
    for text in (str(error), error.summary, error.detail):
        assert lab.password not in text


@pytest.mark.parametrize(("fault", "kind"), MOVE_FAULTS, ids=[f.kind.value for f, _ in MOVE_FAULTS])
def test_move_faults_are_classified(lab: Lab, fault: Fault, kind: ErrorKind) -> None:
    lab.world.inject(fault)
    outcome = _migrate(lab)
    assert not outcome.succeeded
    _assert_classified(outcome.error, kind, lab)
    assert lab.port.get_vm(lab.host("HV-SRV01"), "SRV-APP01").host == "HV-SRV01"


def test_failure_events_come_with_the_outcome(lab: Lab) -> None:
    lab.world.inject(Fault(FaultKind.FAIL_AT_PERCENT, "HV-SRV02", percent=20))
    outcome = _migrate(lab)
    assert {e.event_id for e in outcome.events} >= {20413, 21502}


def test_local_iso_is_classified(lab: Lab) -> None:
    lab.world.inject(Fault(FaultKind.ISO_LOCAL, "HV-SRV01"))
    outcome = _migrate(lab, "SRV-WEB01", source_name="HV-SRV02", to="HV-SRV01")
    _assert_classified(outcome.error, ErrorKind.LOCAL_ISO, lab)


def test_migration_disabled_and_auth_mismatch(lab: Lab) -> None:
    lab.world.host("HV-SRV02").migration_enabled = False
    _assert_classified(_migrate(lab).error, ErrorKind.MIGRATION_DISABLED, lab)
    lab.world.host("HV-SRV02").migration_enabled = True
    from lab.world.model import AuthType

    lab.world.host("HV-SRV02").auth_type = AuthType.CredSSP
    _assert_classified(_migrate(lab).error, ErrorKind.CREDENTIALS_NOT_RECOGNIZED, lab)
    lab.world.host("HV-SRV01").auth_type = AuthType.CredSSP
    _assert_classified(_migrate(lab).error, ErrorKind.DELEGATION, lab)


def test_slow_link_still_succeeds(lab: Lab) -> None:
    lab.world.inject(Fault(FaultKind.SLOW_LINK, "HV-SRV02", mbps=5000))
    assert _migrate(lab, "SRV-SHARED01").succeeded


def test_unreachable_host_is_classified(lab: Lab) -> None:
    lab.world.inject(Fault(FaultKind.UNREACHABLE, "HV-SRV03"))
    with pytest.raises(HyperVError) as caught:
        lab.port.host_settings(lab.host("HV-SRV03"))
    _assert_classified(caught.value, ErrorKind.HOST_UNREACHABLE, lab)
    # A host that cannot answer must fail the VM search rather than hide the VM.
    with pytest.raises(HyperVError):
        lab.port.find_vm("SRV-DC01")


def test_wrong_credentials_are_classified(lab: Lab) -> None:
    lab.world.inject(Fault(FaultKind.BAD_CREDENTIALS, "HV-SRV01"))
    with pytest.raises(HyperVError) as caught:
        lab.port.switches(lab.host("HV-SRV01"))
    _assert_classified(caught.value, ErrorKind.AUTHENTICATION, lab)


def test_live_migration_of_local_disks_fails_on_storage(lab: Lab) -> None:
    source = lab.host("HV-SRV01")
    vm = lab.port.get_vm(source, "SRV-APP01")
    plan = plan_move(Move("SRV-APP01", lab.host("HV-SRV02")), vm, source)
    outcome = lab.port.start_migration(source, plan.invocations[0], vm.id).wait(30)
    assert outcome is not None and not outcome.succeeded
    _assert_classified(outcome.error, ErrorKind.PATH_MISSING, lab)


def test_a_generic_refusal_is_explained_by_compare_vm(lab: Lab) -> None:
    # Windows' text only says to use Compare-VM; the bot runs it and reports what it finds.
    lab.world.inject(Fault(FaultKind.GENERIC_REFUSAL, "HV-SRV03"))
    vm, plan = lab.move_with_storage("SRV-DB01", "HV-SRV01", "HV-SRV03")
    outcome = lab.port.start_migration(plan.host, plan.invocations[0], vm.id).wait(30)
    assert outcome is not None and not outcome.succeeded
    _assert_classified(outcome.error, ErrorKind.SWITCH_MISSING, lab)
    assert outcome.error is not None and "vSwitch-Backup" in outcome.error.detail
    assert len(lab.world.calls("Compare-VM")) == 1
