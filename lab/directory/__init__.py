"""A real Active Directory for the lab and the tests: a Samba AD DC on loopback, and the
computer objects, users and groups a scenario needs."""

from lab.directory.samba import RunningDC, SambaUnavailable, start_dc

__all__ = ["RunningDC", "SambaUnavailable", "start_dc"]
