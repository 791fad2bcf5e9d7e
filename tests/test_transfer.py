"""A move far slower than its hosts' settings should allow is named, with the runbook's causes."""

from __future__ import annotations

import pytest

from commands.hyperv import HostSettings, JobState, MigrationNetwork, MigrationProgress
from commands.transfer import MB, SlowTransfer, TransferSettings, observed_rate, slow_transfer

GIB = 1024**3
NET = (MigrationNetwork("10.10.10.0/24", 1),)


def host(name: str, performance: str = "TCPIP", *, any_network: bool = True) -> HostSettings:
    return HostSettings(
        host=name,
        migration_enabled=True,
        max_vm_migrations=2,
        max_storage_migrations=2,
        authentication="Kerberos",
        performance=performance,
        use_any_network=any_network,
        networks=() if any_network else NET,
    )


def settings(
    performance: str = "TCPIP", *, dedicated: bool = False, size: int = 16 * GIB
) -> TransferSettings:
    return TransferSettings.of(
        host("HV-SRV01", performance, any_network=not dedicated),
        host("HV-SRV02", performance, any_network=not dedicated),
        size,
    )


def at(percent: int, seconds: float, moved: int | None = None) -> MigrationProgress:
    return MigrationProgress(JobState.RUNNING, percent, seconds, bytes_transferred=moved)


# 16 GiB: 10% is ~1.7 GB. Rates below are what the reading implies.
CASES = [
    # (why, performance, dedicated, reading, slow?)
    ("too early to judge", "TCPIP", False, at(2, 60), False),
    ("setup not yet behind it", "TCPIP", False, at(10, 20), False),
    ("1 GbE pace with TCPIP", "TCPIP", False, at(50, 80), False),  # ~107 MB/s
    ("just above a third of 1 GbE with TCPIP", "TCPIP", False, at(10, 45), False),  # ~38 MB/s
    ("just below a third of 1 GbE with TCPIP", "TCPIP", False, at(10, 50), True),  # ~34 MB/s
    ("crawling with TCPIP", "TCPIP", False, at(10, 120), True),  # ~14 MB/s
    ("1 GbE pace with compression", "Compression", True, at(50, 80), False),  # ~107 MB/s
    ("TCPIP's floor is too slow for compression", "Compression", True, at(20, 90), True),
    ("crawling with compression", "Compression", True, at(10, 200), True),  # ~9 MB/s
    ("1 GbE pace is far too slow for SMB", "SMB", True, at(50, 80), True),  # ~107 < 333
    ("bytes counted by the host win", "TCPIP", False, at(90, 60, 12 * GIB), False),
    ("bytes counted, slow", "TCPIP", False, at(90, 600, 1 * GIB), True),
]


@pytest.mark.parametrize(
    ("why", "performance", "dedicated", "reading", "slow"), CASES, ids=[c[0] for c in CASES]
)
def test_slow_only_when_far_below_what_the_settings_allow(
    why: str, performance: str, dedicated: bool, reading: MigrationProgress, slow: bool
) -> None:
    found = slow_transfer(reading, settings(performance, dedicated=dedicated))
    assert (found is not None) is slow, why


def test_the_rate_comes_from_the_hosts_bytes_or_from_the_percentage_of_the_move() -> None:
    assert observed_rate(at(50, 100), settings(size=200 * MB)) == pytest.approx(1 * MB)
    assert observed_rate(at(50, 100, 300 * MB), settings(size=200 * MB)) == pytest.approx(3 * MB)
    assert observed_rate(at(50, 0), settings()) is None
    assert observed_rate(at(50, 10), settings(size=0)) is None


def causes(found: SlowTransfer | None) -> list[str]:
    assert found is not None
    return [cause for cause, _ in found.causes]


def test_the_causes_are_the_runbooks_compression_off_and_no_dedicated_network() -> None:
    crawling = at(10, 300)
    assert causes(slow_transfer(crawling, settings("TCPIP"))) == [
        "compression is off on HV-SRV01 (performance option TCPIP)",
        "HV-SRV01 has no dedicated migration network (any network may carry the move)",
        "HV-SRV02 has no dedicated migration network (any network may carry the move)",
    ]
    assert causes(slow_transfer(crawling, settings("Compression"))) == [
        "HV-SRV01 has no dedicated migration network (any network may carry the move)",
        "HV-SRV02 has no dedicated migration network (any network may carry the move)",
    ]
    only = causes(slow_transfer(crawling, settings("Compression", dedicated=True)))
    assert len(only) == 1 and only[0].startswith("the migration network may be saturated")


def test_a_host_listing_networks_but_allowing_any_is_not_dedicated() -> None:
    loose = HostSettings(**{**host("HV-SRV01").__dict__, "networks": NET})
    transfer = TransferSettings.of(loose, host("HV-SRV02", any_network=False), GIB)
    assert not transfer.source_dedicated and transfer.destination_dedicated


def test_the_sentence_gives_rates_causes_and_fixes() -> None:
    found = slow_transfer(at(10, 300), settings("TCPIP"))
    assert found is not None
    text = found.text(7)
    assert text.startswith("Request #7 is moving about 6 MB/s, far below the ~110 MB/s")
    assert "`/migrate host HV-SRV01 set performance compression`" in text
    assert "`/migrate host HV-SRV02 network add <subnet> priority 1`" in text


def test_the_settings_survive_the_audit_log_and_junk_is_refused() -> None:
    transfer = settings("SMB", dedicated=True)
    assert TransferSettings.from_json(transfer.to_json()) == transfer
    assert TransferSettings.from_json({}) is None
    assert TransferSettings.from_json({**transfer.to_json(), "bytes_to_move": "lots"}) is None
