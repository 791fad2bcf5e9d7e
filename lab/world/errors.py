"""PowerShell's own error records, worded as Windows PowerShell 5.1 words them."""

from __future__ import annotations

from lab.pipeline import LabError

BINDING_EXCEPTION = "System.Management.Automation.ParameterBindingException"
VALIDATION_EXCEPTION = "System.Management.Automation.ParameterBindingValidationException"
HYPERV_EXCEPTION = "Microsoft.HyperV.PowerShell.VirtualizationException"
CIM_EXCEPTION = "Microsoft.Management.Infrastructure.CimException"


def command_not_found(name: str) -> LabError:
    """The error for a command that does not exist."""
    return LabError(
        message=(
            f"The term '{name}' is not recognized as the name of a cmdlet, function, script "
            "file, or operable program. Check the spelling of the name, or if a path was "
            "included, verify that the path is correct and try again."
        ),
        fully_qualified_error_id="CommandNotFoundException",
        category="ObjectNotFound",
        exception_type="System.Management.Automation.CommandNotFoundException",
        target_name=name,
        target_type="String",
    )


def script_not_supported(text: str) -> LabError:
    """The lab runs structured cmdlet invocations only."""
    shown = text if len(text) <= 60 else text[:57] + "..."
    return LabError(
        message=(
            f"The Hyper-V lab runs cmdlet invocations only; script text is not supported: {shown!r}"
        ),
        fully_qualified_error_id="ScriptNotSupportedByLab",
        category="NotImplemented",
        exception_type="System.NotSupportedException",
    )


def binding_error(command: str, fqid_suffix: str, reason: str, message: str) -> LabError:
    """A ParameterBindingException as the engine raises it (always terminating)."""
    return LabError(
        message=message,
        fully_qualified_error_id=f"{reason},{fqid_suffix}" if fqid_suffix else reason,
        category="InvalidArgument",
        exception_type=BINDING_EXCEPTION,
        command_name=command,
    )


def validation_error(command: str, fqid_suffix: str, parameter: str, detail: str) -> LabError:
    """A Validate* attribute rejected an argument."""
    return LabError(
        message=f"Cannot validate argument on parameter '{parameter}'. {detail}",
        fully_qualified_error_id=f"ParameterArgumentValidationError,{fqid_suffix}",
        category="InvalidData",
        exception_type=VALIDATION_EXCEPTION,
        command_name=command,
    )


def hyperv_error(
    command: str,
    fqid_suffix: str,
    message: str,
    *,
    reason: str = "Unspecified",
    category: str = "NotSpecified",
    target: str = "",
    target_type: str = "",
    hresult: int | None = None,
) -> LabError:
    """An error a Hyper-V cmdlet writes (VirtualizationException)."""
    return LabError(
        message=message,
        fully_qualified_error_id=f"{reason},{fqid_suffix}",
        category=category,
        exception_type=HYPERV_EXCEPTION,
        target_name=target,
        target_type=target_type,
        command_name=command,
        hresult=hresult,
    )


def vm_not_found(command: str, fqid_suffix: str, name: str) -> LabError:
    """Get-VM -Name (and friends) with a name that matches nothing."""
    return hyperv_error(
        command,
        fqid_suffix,
        f'Hyper-V was unable to find a virtual machine with name "{name}".',
        reason="InvalidParameter",
        category="InvalidArgument",
        target=name,
        target_type="String",
    )
