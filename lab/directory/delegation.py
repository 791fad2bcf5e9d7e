"""The lab's hosts asking the lab's DC whether they may delegate to a peer, as Windows does.

A Hyper-V host that migrates with Kerberos for a user who reached it over WinRM holds no
ticket of that user's to forward: it asks its KDC for one to the destination's migration
service on the user's behalf (protocol transition, then constrained delegation). The KDC
grants it only when the source's computer object is trusted to authenticate for delegation
(TRUSTED_TO_AUTH_FOR_DELEGATION) and lists the service in msDS-AllowedToDelegateTo:
`Microsoft Virtual System Migration Service/<destination>` for every move, and
`cifs/<destination>` too when storage moves (Microsoft, "Set up hosts for live migration
without Failover Clustering"). The lab reads the source's object on the DC and applies that
rule to the destination name as Move-VM was given it; the KDC itself is not asked.

Stricter than Windows where unsure (lab/world/NOTES.md): unconstrained delegation on the
source fails the move (how Windows combines both settings is unverified), and a DC that does
not answer fails it (Windows would not get a ticket).
"""

from __future__ import annotations

import logging

from ldap3 import Connection
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from lab.directory.objects import (
    MIGRATION_SERVICE,
    TRUSTED_FOR_DELEGATION,
    TRUSTED_TO_AUTH_FOR_DELEGATION,
    admin_connection,
)
from lab.directory.samba import RunningDC

log = logging.getLogger(__name__)


class DirectoryDelegation:
    """`lab.world.Delegation` read from a running DC (a fresh read for every move)."""

    def __init__(self, dc: RunningDC) -> None:
        self._dc = dc

    def allows(self, source: str, destination: str, storage: bool) -> bool:
        """Whether host `source` may delegate to `destination` (the name Move-VM was given)."""
        conn = None
        try:
            conn = admin_connection(self._dc)
            return _allows(conn, self._dc.base_dn, source, destination, storage)
        except LDAPException as exc:
            log.info("lab DC not answering: no delegation", extra={"error": str(exc)})
            return False
        finally:
            if conn is not None:
                conn.unbind()


def _allows(conn: Connection, base_dn: str, source: str, destination: str, storage: bool) -> bool:
    account = escape_filter_chars(f"{source.split('.')[0]}$")
    conn.search(
        base_dn,
        f"(&(objectClass=computer)(sAMAccountName={account}))",
        attributes=["userAccountControl", "msDS-AllowedToDelegateTo"],
    )
    if len(conn.entries) != 1:
        return False
    found = conn.entries[0].entry_attributes_as_dict
    uac = int((found.get("userAccountControl") or [0])[0])
    if not uac & TRUSTED_TO_AUTH_FOR_DELEGATION or uac & TRUSTED_FOR_DELEGATION:
        return False
    allowed = {str(v).casefold() for v in found.get("msDS-AllowedToDelegateTo") or []}
    services = (MIGRATION_SERVICE, "cifs") if storage else (MIGRATION_SERVICE,)
    return all(f"{service}/{destination}".casefold() in allowed for service in services)
