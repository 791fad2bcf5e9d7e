"""Helpers of the directory tests: a DC of their own, and adapter settings for it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.config import Config, Secrets
from bot.directory import ActiveDirectory, LdapSettings
from commands.findings import Severity
from commands.inventory import Host
from commands.preflight import HostPreflight
from commands.requests import CheckRequest, Move
from lab.directory import RunningDC, SambaUnavailable, start_dc
from lab.directory.domain import LabDomain
from lab.world import World


def start_or_skip() -> RunningDC:
    """A fresh DC; outside root (no packages, no ports below 1024) the tests are skipped."""
    try:
        return start_dc()
    except SambaUnavailable as exc:
        if os.geteuid() == 0:
            raise
        pytest.skip(f"no Samba AD DC here (needs root): {exc}")


def settings(dc: RunningDC, **changes: object) -> LdapSettings:
    """Administrator settings for the adapter (the lab's throw-away account)."""
    base = {
        "uri": dc.uri,
        "bind_dn": dc.admin_dn,
        "password": dc.admin_password,
        "ca_file": str(dc.ca_file),
    }
    return LdapSettings(**{**base, **changes})  # type: ignore[arg-type]


@dataclass
class DomainLab:
    """The default lab over WinRM and its own DC seeded like `hvbot lab --directory`, with the
    bot's config (also as a file, for `hvbot` subprocesses) and its secrets."""

    world: World
    domain: LabDomain
    config: Config
    secrets: Secrets
    config_file: Path
    preflight: HostPreflight
    directory: ActiveDirectory

    def host(self, name: str) -> Host:
        found = self.config.inventory.find(name)
        assert found is not None
        return found

    def check(self, storage: bool = True) -> list[tuple[Severity, str, str]]:
        move = Move("SRV-APP01", self.host("HV-SRV02"), include_storage=storage)
        result = self.preflight.preflight(CheckRequest(move))
        return [(f.severity, f.code, f.message) for f in result.findings]
