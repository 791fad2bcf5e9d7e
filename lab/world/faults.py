"""Faults a scenario declares or a test injects at run time."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class FaultKind(enum.Enum):
    """What goes wrong. `host` is the host the fault sits on (the destination for moves)."""

    UNREACHABLE = "unreachable"
    BAD_CREDENTIALS = "bad_credentials"
    KERBEROS_DELEGATION_MISSING = "kerberos_delegation_missing"
    CPU_INCOMPATIBLE = "cpu_incompatible"
    SWITCH_MISSING = "switch_missing"
    DESTINATION_PATH_MISSING = "destination_path_missing"
    NOT_ENOUGH_MEMORY = "not_enough_memory"
    NOT_ENOUGH_DISK = "not_enough_disk"
    VERSION_UNSUPPORTED = "version_unsupported"
    ISO_LOCAL = "iso_local"
    FAIL_AT_PERCENT = "fail_at_percent"
    SLOW_LINK = "slow_link"
    MIGRATION_LIMIT = "migration_limit"
    LISTENER_DOWN = "listener_down"
    GENERIC_REFUSAL = "generic_refusal"


@dataclass(frozen=True)
class Fault:
    """One fault.

    host: the host it applies to (destination of a move, or the host that is unreachable /
    refuses credentials); None = every host. vm: limit to one VM by name. percent: for
    FAIL_AT_PERCENT. mbps: for SLOW_LINK. name: the switch (SWITCH_MISSING) or path
    (DESTINATION_PATH_MISSING, ISO_LOCAL) concerned.
    """

    kind: FaultKind
    host: str | None = None
    vm: str | None = None
    percent: int = 50
    mbps: float = 10.0
    name: str = ""

    def applies(self, host: str | None, vm: str | None = None) -> bool:
        """True if this fault concerns `host` (and `vm` when the fault names one)."""
        if self.host is not None and (host is None or self.host.lower() != host.lower()):
            return False
        return self.vm is None or (vm is not None and self.vm.lower() == vm.lower())
