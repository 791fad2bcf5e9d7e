"""Whether a running migration is far slower than its hosts' settings should allow, and why.

The seed's troubleshooting table: "Migration très lente — réseau saturé ou compression
désactivée — utiliser un réseau dédié, activer la compression". Its performance table:
Compression for a 1 Gbps network, SMB (RDMA) for 10 Gbps and more, TCP/IP standard.

The preflight records what bounds a move's speed (`TransferSettings`: how many bytes it moves,
the source's performance option, whether both hosts have a dedicated migration network);
`slow_transfer` compares the rate seen so far with what those settings should give. The
workflow says it once per move, in its thread; front ends only render the sentence.

Every figure here is a GUESS (unverified against real hosts; no published numbers): a move
"should" reach about what a 1 Gbps link carries (~110 MB/s) with TCP/IP, about twice that
with compression (Microsoft describes compression as cutting migration time roughly in half
on a 1 Gbps network, unverified), and 10 Gbps with SMB; "far slower" is below a third of
that, measured only once the move has run `SETTLE_SECONDS` and moved `SETTLE_PERCENT` so
that its setup is not mistaken for a slow link.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from commands.hyperv import HostSettings, MigrationProgress

MB = 1_000_000
# What the settings should allow, in bytes per second, per performance option (guesses).
SHOULD_ALLOW = {"tcpip": 110 * MB, "compression": 220 * MB, "smb": 1_000 * MB}
FAR = 3.0
SETTLE_SECONDS = 30.0
SETTLE_PERCENT = 5


@dataclass(frozen=True)
class TransferSettings:
    """What a move's preflight read that bounds its speed."""

    bytes_to_move: int
    performance: str
    source: str
    destination: str
    source_dedicated: bool
    destination_dedicated: bool

    @classmethod
    def of(
        cls, source: HostSettings, destination: HostSettings, bytes_to_move: int
    ) -> TransferSettings:
        """From the hosts' settings as the preflight read them."""
        return cls(
            bytes_to_move=bytes_to_move,
            performance=source.performance,
            source=source.host,
            destination=destination.host,
            source_dedicated=dedicated(source),
            destination_dedicated=dedicated(destination),
        )

    def to_json(self) -> dict[str, Any]:
        """The audit form (kept in the request's plan details)."""
        return {
            "bytes_to_move": self.bytes_to_move,
            "performance": self.performance,
            "source": self.source,
            "destination": self.destination,
            "source_dedicated": self.source_dedicated,
            "destination_dedicated": self.destination_dedicated,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TransferSettings | None:
        """Back from the audit form; None when it is missing or not of this shape."""
        try:
            return cls(
                bytes_to_move=int(data["bytes_to_move"]),
                performance=str(data["performance"]),
                source=str(data["source"]),
                destination=str(data["destination"]),
                source_dedicated=bool(data["source_dedicated"]),
                destination_dedicated=bool(data["destination_dedicated"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


def dedicated(settings: HostSettings) -> bool:
    """Whether a host keeps migrations on listed networks (not "any network")."""
    return not settings.use_any_network and bool(settings.networks)


@dataclass(frozen=True)
class SlowTransfer:
    """A move far slower than its settings should allow: the rates and the seed's causes,
    each with its fix."""

    observed: float
    expected: float
    causes: tuple[tuple[str, str], ...]

    def text(self, request_id: int) -> str:
        """The sentence said in the move's thread."""
        head = (
            f"Request #{request_id} is moving about {_rate(self.observed)}, far below the "
            f"~{_rate(self.expected)} its hosts' settings should allow."
        )
        lines = [head, "Likely causes (the runbook's):"]
        lines += [f"• {cause}. Fix: {fix}" for cause, fix in self.causes]
        return "\n".join(lines)


def observed_rate(progress: MigrationProgress, settings: TransferSettings) -> float | None:
    """Bytes per second so far: the host's byte count when it gives one, else the share of
    the move's bytes its percentage stands for; None before anything can be said."""
    if progress.elapsed_seconds <= 0:
        return None
    if progress.bytes_transferred:
        return progress.bytes_transferred / progress.elapsed_seconds
    if settings.bytes_to_move <= 0:
        return None
    return settings.bytes_to_move * progress.percent / 100 / progress.elapsed_seconds


def slow_transfer(progress: MigrationProgress, settings: TransferSettings) -> SlowTransfer | None:
    """The note for a reading, when the move is far slower than its settings should allow;
    None while it is too early to tell or the move is fast enough."""
    if progress.elapsed_seconds < SETTLE_SECONDS or progress.percent < SETTLE_PERCENT:
        return None
    observed = observed_rate(progress, settings)
    expected = SHOULD_ALLOW.get(settings.performance.casefold(), SHOULD_ALLOW["tcpip"])
    if observed is None or observed * FAR >= expected:
        return None
    return SlowTransfer(observed, expected, _causes(settings))


def _causes(settings: TransferSettings) -> tuple[tuple[str, str], ...]:
    causes: list[tuple[str, str]] = []
    if settings.performance.casefold() == "tcpip":
        causes.append(
            (
                f"compression is off on {settings.source} (performance option TCPIP)",
                f"`/migrate host {settings.source} set performance compression`",
            )
        )
    undedicated = [
        host
        for host, ok in (
            (settings.source, settings.source_dedicated),
            (settings.destination, settings.destination_dedicated),
        )
        if not ok
    ]
    for host in undedicated:
        causes.append(
            (
                f"{host} has no dedicated migration network (any network may carry the move)",
                f"`/migrate host {host} network add <subnet> priority 1`, then "
                f"`/migrate host {host} set any-network off`",
            )
        )
    if not causes:
        causes.append(
            (
                "the migration network may be saturated (compression is on and both hosts "
                "use dedicated networks)",
                "check the migration network's load and link speed on both hosts",
            )
        )
    return tuple(causes)


def _rate(bytes_per_second: float) -> str:
    return f"{bytes_per_second / MB:,.0f} MB/s"
