"""Helpers of the directory tests: a DC of their own, and adapter settings for it."""

from __future__ import annotations

import os

import pytest

from bot.directory import LdapSettings
from lab.directory import RunningDC, SambaUnavailable, start_dc


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
