"""How long Windows takes to answer: a model the lab sleeps by, off unless asked for.

On the lab a cmdlet answers in microseconds; on a real host a Hyper-V cmdlet goes through VMMS
and WMI and takes a few hundred milliseconds, and the first one of a session also loads the
Hyper-V module. A preflight's speed on real hosts is a matter of round trips and cmdlets, so
the lab can charge for both.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Latency:
    """Seconds the host spends: per pipeline, per cmdlet, and loading the Hyper-V module the
    first time a runspace pool runs one of its cmdlets."""

    pipeline: float = 0.0
    cmdlet: float = 0.0
    hyperv_cmdlet: float = 0.0
    module_load: float = 0.0


OFF = Latency()
# Guesses, unverified against a real host (lab/world/NOTES.md): starting a pipeline in an open
# runspace ~30 ms; an engine cmdlet (Test-Path, Get-CimInstance, Select-Object) ~20 ms; a
# Hyper-V cmdlet ~150 ms (a WMI query to VMMS); importing the Hyper-V module ~1 s.
REALISTIC = Latency(pipeline=0.03, cmdlet=0.02, hyperv_cmdlet=0.15, module_load=1.0)
MODELS = {"off": OFF, "realistic": REALISTIC}
