"""Parameter binding behaves like PowerShell's: errors, prefixes, aliases, positions, sets."""

from __future__ import annotations

import pytest

from lab.pipeline import CommandCall, InvocationContext, TerminatingError
from lab.world import World
from support.lab_world import RecordingSink, Runner, enum_name, host_of

APP01_TO_SRV02 = (("Name", "SRV-APP01"), ("DestinationHost", "HV-SRV02"))
SEED_INVALID = (
    ("Name", "SRV-APP01"),
    ("DestinationHost", "HV-SRV02.lab.local"),
    ("VirtualMachinePath", "D:\\Hyper-V\\Virtual Machines"),
    ("DestinationStoragePath", "D:\\Hyper-V\\Virtual Hard Disks"),
    ("IncludeStorage", None),
)


def terminating(run: Runner, host: str, cmdlet: str, *params: object) -> TerminatingError:
    with pytest.raises(TerminatingError) as caught:
        run(host, cmdlet, *params)
    return caught.value


def test_seed_example_mixing_both_move_vm_sets_fails_like_windows(
    run: Runner, world: World
) -> None:
    error = terminating(run, "HV-SRV01", "Move-VM", *SEED_INVALID).error
    assert error.message == "Parameter set cannot be resolved using the specified named parameters."
    assert error.fully_qualified_error_id == (
        "AmbiguousParameterSet,Microsoft.HyperV.PowerShell.Commands.MoveVM"
    )
    assert error.category == "InvalidArgument"
    assert error.exception_type == "System.Management.Automation.ParameterBindingException"
    assert world.jobs == {}
    assert world.host("HV-SRV01") is not None
    assert host_of(world, "HV-SRV01").find_vm("SRV-APP01") is not None


def test_virtual_machine_path_with_include_storage_is_also_ambiguous(run: Runner) -> None:
    error = terminating(
        run,
        "HV-SRV01",
        "Move-VM",
        *APP01_TO_SRV02,
        ("VirtualMachinePath", "D:\\VMs"),
        ("IncludeStorage", None),
    ).error
    assert error.fully_qualified_error_id.startswith("AmbiguousParameterSet,")


def test_unknown_parameter(run: Runner) -> None:
    error = terminating(run, "HV-SRV01", "Move-VM", ("Name", "SRV-APP01"), ("Bogus", 1)).error
    assert error.message == "A parameter cannot be found that matches parameter name 'Bogus'."
    assert error.fully_qualified_error_id == (
        "NamedParameterNotFound,Microsoft.HyperV.PowerShell.Commands.MoveVM"
    )


def test_missing_mandatory_parameter_in_remoting(run: Runner) -> None:
    error = terminating(run, "HV-SRV01", "Move-VM", ("Name", "SRV-APP01")).error
    assert error.fully_qualified_error_id == (
        "MissingMandatoryParameter,Microsoft.HyperV.PowerShell.Commands.MoveVM"
    )
    assert error.message.endswith("missing mandatory parameters: DestinationHost.")


def test_prefix_and_case_insensitive_names_bind(run: Runner) -> None:
    sink = run("HV-SRV01", "get-vm", ("na", "SRV-APP01"))
    assert [o.properties["Name"] for o in sink.objects] == ["SRV-APP01"]


def test_ambiguous_prefix_lists_candidates(run: Runner) -> None:
    error = terminating(
        run,
        "HV-SRV01",
        "Move-VM",
        *APP01_TO_SRV02,
        ("V", "x"),
    ).error
    assert error.fully_qualified_error_id.startswith("AmbiguousParameter,")
    assert "-VM" in error.message and "-Vhds" in error.message and "-Verbose" in error.message


def test_alias_vmname_on_get_vm(run: Runner) -> None:
    sink = run("HV-SRV01", "Get-VM", ("VMName", "SRV-DB01"))
    assert len(sink.output) == 1


def test_move_vm_has_no_vmname_alias(run: Runner) -> None:
    error = terminating(
        run, "HV-SRV01", "Move-VM", ("VMName", "SRV-APP01"), ("DestinationHost", "HV-SRV02")
    ).error
    assert error.fully_qualified_error_id.startswith("NamedParameterNotFound,")


def test_positional_arguments_bind_by_position(run: Runner, world: World) -> None:
    sink = run("HV-SRV01", "Compare-VM", (None, "SRV-DB01"), (None, "HV-SRV02"))
    assert sink.errors == []
    assert sink.output and sink.objects[0].properties["Destination"] == "HV-SRV02"


def test_too_many_positional_arguments(run: Runner) -> None:
    error = terminating(run, "HV-SRV01", "Get-VMHost", (None, "extra")).error
    assert error.fully_qualified_error_id.startswith("PositionalParameterNotFound,")
    assert "'extra'" in error.message


def test_parameter_given_twice(run: Runner) -> None:
    error = terminating(run, "HV-SRV01", "Get-VM", ("Name", "a"), ("VMName", "b")).error
    assert error.fully_qualified_error_id.startswith("ParameterAlreadyBound,")


def test_enum_conversion_error_names_the_members(run: Runner) -> None:
    error = terminating(
        run, "HV-SRV01", "Set-VMHost", ("VirtualMachineMigrationAuthenticationType", "NTLM")
    ).error
    assert error.fully_qualified_error_id == (
        "CannotConvertArgumentNoMessage,Microsoft.HyperV.PowerShell.Commands.SetVMHost"
    )
    assert "CredSSP, Kerberos" in error.message


def test_integer_conversion_and_range_validation(run: Runner) -> None:
    bad = terminating(run, "HV-SRV01", "Set-VMHost", ("MaximumVirtualMachineMigrations", "x"))
    assert bad.error.fully_qualified_error_id.startswith("CannotConvertArgumentNoMessage,")
    low = terminating(run, "HV-SRV01", "Set-VMHost", ("MaximumVirtualMachineMigrations", 0))
    assert low.error.fully_qualified_error_id.startswith("ParameterArgumentValidationError,")


def test_unknown_cmdlet_is_command_not_found(run: Runner) -> None:
    error = terminating(run, "HV-SRV01", "Get-Nothing").error
    assert error.fully_qualified_error_id == "CommandNotFoundException"
    assert error.category == "ObjectNotFound"
    assert error.message.startswith(
        "The term 'Get-Nothing' is not recognized as the name of a cmdlet, function, script file,"
    )


def test_script_text_is_refused(world: World) -> None:
    with pytest.raises(TerminatingError) as caught:
        world.run_pipeline(
            InvocationContext("HV-SRV01", "u"),
            [CommandCall("Get-VM | Remove-VM", is_script=True)],
            RecordingSink(),
        )
    assert "script text is not supported" in caught.value.error.message


def test_error_action_stop_makes_errors_terminating(run: Runner) -> None:
    error = terminating(run, "HV-SRV01", "Get-VM", ("Name", "NOPE"), ("ErrorAction", "Stop"))
    assert error.error.fully_qualified_error_id.startswith("InvalidParameter,")


def test_error_action_as_an_action_preference_number(run: Runner) -> None:
    with pytest.raises(TerminatingError):
        run("HV-SRV01", "Get-VM", ("Name", "NOPE"), ("ErrorAction", 1))
    assert run("HV-SRV01", "Get-VM", ("Name", "NOPE"), ("ErrorAction", 0)).errors == []


def test_error_action_silently_continue_drops_errors(run: Runner) -> None:
    sink = run("HV-SRV01", "Get-VM", ("Name", "NOPE"), ("ea", "SilentlyContinue"))
    assert sink.errors == [] and sink.output == []


def test_switch_with_explicit_false(run: Runner, world: World) -> None:
    sink = run(
        "HV-SRV01",
        "Compare-VM",
        *APP01_TO_SRV02,
        ("IncludeStorage", False),
    )
    report = sink.objects[0]
    assert enum_name(report.properties["OperationType"]) == "MoveVirtualMachine"


def test_every_invocation_is_in_the_call_log(run: Runner, world: World) -> None:
    with pytest.raises(TerminatingError):
        run("HV-SRV01", "Move-VM", *SEED_INVALID)
    run("HV-SRV02", "Get-VMHost")
    moves = world.calls("move-vm")
    assert len(moves) == 1 and moves[0].host == "HV-SRV01"
    assert ("IncludeStorage", None) in moves[0].parameters
    assert [c.cmdlet for c in world.calls(host="HV-SRV02")] == ["Get-VMHost"]
