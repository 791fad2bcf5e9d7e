"""The one engine cmdlet the bot pipes into: Select-Object with property names or -ExpandProperty.

Calculated properties are not simulated: their script blocks would reach a real host as
strings (remoting deserializes a ScriptBlock argument as text), so the bot never sends any.
"""

from __future__ import annotations

from lab.pipeline import LabError, LabObject, LabValue, TerminatingError, property_bag
from lab.world import errors
from lab.world.binding import CmdletSpec, Kind, Param
from lab.world.cmdlet import Cmdlet, Invocation, has_wildcards

FQID = "Microsoft.PowerShell.Commands.SelectObjectCommand"


def _property(obj: LabValue, name: str) -> tuple[bool, LabValue]:
    """(found, value) of a property of an object, adapted or note, case-insensitive."""
    if not isinstance(obj, LabObject):
        return False, None
    for table in (obj.properties, obj.notes):
        for key, value in table.items():
            if key.casefold() == name.casefold():
                return True, value
    return False, None


def select_object(inv: Invocation) -> None:
    """Select-Object [-Property <names>] [-ExpandProperty <name>] for each piped object."""
    item = inv.bound.get("InputObject")
    expand = inv.bound.text("ExpandProperty")
    given = inv.bound.get("Property")
    names = [str(n) for n in given] if isinstance(given, list) else []
    if any(has_wildcards(n) for n in names) or (expand and names):
        raise TerminatingError(errors.script_not_supported("Select-Object " + " ".join(names)))
    if expand:
        found, value = _property(item, expand)
        if not found:
            inv.error(
                LabError(
                    f'Property "{expand}" cannot be found.',
                    f"ExpandPropertyNotFound,{FQID}",
                    "InvalidArgument",
                    exception_type="System.Management.Automation.PSArgumentException",
                    command_name="Select-Object",
                )
            )
            return
        for each in value if isinstance(value, list) else [value]:
            inv.output(each)
        return
    # Selected properties become notes of a new object, which PowerShell serializes at the
    # parent's depth: an enum selected this way keeps its type and value over remoting.
    first = (
        item.type_names[0] if isinstance(item, LabObject) and item.type_names else "System.Object"
    )
    inv.output(property_bag({n: _property(item, n)[1] for n in names}, (f"Selected.{first}",)))


COMMANDS = (
    Cmdlet(
        CmdletSpec(
            name="Select-Object",
            fqid_suffix=FQID,
            params=(
                Param("InputObject", Kind.OBJECT, from_pipeline=True),
                Param("Property", Kind.STRINGS, position=0),
                Param("ExpandProperty", Kind.STRING),
            ),
        ),
        select_object,
        pipeline_param="InputObject",
    ),
)
