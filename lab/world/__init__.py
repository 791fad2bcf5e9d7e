"""The lab's world model and simulated PowerShell (the `CommandRunner` of `lab.pipeline`)."""

from lab.world.faults import Fault, FaultKind
from lab.world.scenario import ScenarioError, load_scenario, parse_scenario
from lab.world.world import DEFAULT_PASSWORD, DEFAULT_USER, World

__all__ = [
    "DEFAULT_PASSWORD",
    "DEFAULT_USER",
    "Fault",
    "FaultKind",
    "ScenarioError",
    "World",
    "load_scenario",
    "parse_scenario",
]
