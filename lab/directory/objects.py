"""Populate the lab's DC: hosts' computer objects with their delegation, users, nested groups.

Computers are added over LDAP rather than with `samba-tool computer create`, which makes them
disabled and without dNSHostName (architecture §8). A computer is created the way a domain join
leaves it: WORKSTATION_TRUST_ACCOUNT, `HOST/` SPNs for both names, and the `Microsoft Virtual
System Migration Service/` SPNs that the Hyper-V role registers.
"""

from __future__ import annotations

import secrets
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ldap3 import BASE, MODIFY_REPLACE, SUBTREE, Connection, Server, Tls

from lab.directory.samba import RunningDC

WORKSTATION_TRUST_ACCOUNT = 0x1000
NORMAL_ACCOUNT = 0x200
TRUSTED_FOR_DELEGATION = 0x80000
TRUSTED_TO_AUTH_FOR_DELEGATION = 0x1000000
MIGRATION_SERVICE = "Microsoft Virtual System Migration Service"


def admin_connection(dc: RunningDC) -> Connection:
    """An LDAPS connection bound as the domain Administrator (CA validated)."""
    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(dc.ca_file))
    server = Server(dc.uri, tls=tls, connect_timeout=10, get_info=None)
    return Connection(
        server,
        dc.admin_dn,
        dc.admin_password,
        auto_bind=True,
        receive_timeout=30,
        raise_exceptions=True,
    )


def full_delegation(peers: Iterable[tuple[str, str]]) -> list[str]:
    """msDS-AllowedToDelegateTo values for migration service and cifs to each (name, fqdn)."""
    return [
        f"{service}/{n}"
        for name, fqdn in peers
        for service in (MIGRATION_SERVICE, "cifs")
        for n in (fqdn, name)
    ]


def default_spns(name: str, fqdn: str) -> list[str]:
    """The SPNs a joined Hyper-V host's computer object carries."""
    return [f"{s}/{n}" for s in ("HOST", MIGRATION_SERVICE) for n in (fqdn, name)]


@dataclass(frozen=True)
class ComputerSpec:
    """A computer object to create. `spns` None means the defaults of a Hyper-V host."""

    name: str
    fqdn: str
    delegate_to: Sequence[str] = ()
    any_protocol: bool = True
    unconstrained: bool = False
    spns: Sequence[str] | None = None


class LabDirectory:
    """Objects inside one organisational unit of the lab DC, removed together by `clear()`."""

    def __init__(self, connection: Connection, base_dn: str, ou: str) -> None:
        self.conn = connection
        self.ou_dn = f"OU={ou},{base_dn}"
        self._base_dn = base_dn
        connection.add(self.ou_dn, ["top", "organizationalUnit"])

    def add_computer(self, spec: ComputerSpec) -> str:
        """Create a computer object as a domain join would, with the given delegation."""
        dn = f"CN={spec.name},{self.ou_dn}"
        uac = WORKSTATION_TRUST_ACCOUNT
        if spec.any_protocol:
            uac |= TRUSTED_TO_AUTH_FOR_DELEGATION
        if spec.unconstrained:
            uac |= TRUSTED_FOR_DELEGATION
        spns = list(default_spns(spec.name, spec.fqdn) if spec.spns is None else spec.spns)
        attributes: dict[str, object] = {
            "sAMAccountName": f"{spec.name}$",
            "dNSHostName": spec.fqdn,
            "userAccountControl": str(uac),
        }
        if spns:
            attributes["servicePrincipalName"] = spns
        if spec.delegate_to:
            attributes["msDS-AllowedToDelegateTo"] = list(spec.delegate_to)
        self.conn.add(dn, ["top", "person", "organizationalPerson", "user", "computer"], attributes)
        return dn

    def add_user(
        self, name: str, *, mail: str | None = None, upn: str | None = None, password: str = ""
    ) -> str:
        """Create an enabled user (with a random password unless one is given: AD enables no
        account without one)."""
        dn = f"CN={name},{self.ou_dn}"
        attributes: dict[str, object] = {"sAMAccountName": name}
        if mail:
            attributes["mail"] = mail
        if upn:
            attributes["userPrincipalName"] = upn
        self.conn.add(dn, ["top", "person", "organizationalPerson", "user"], attributes)
        self.conn.extend.microsoft.modify_password(dn, password or f"Lab-{secrets.token_hex(12)}-x")
        self.conn.modify(dn, {"userAccountControl": [(MODIFY_REPLACE, [str(NORMAL_ACCOUNT)])]})
        return dn

    def add_group(self, name: str, members: Sequence[str] = ()) -> str:
        """Create a global security group holding `members` (DNs of users or groups)."""
        dn = f"CN={name},{self.ou_dn}"
        attributes: dict[str, object] = {"sAMAccountName": name}
        if members:
            attributes["member"] = list(members)
        self.conn.add(dn, ["top", "group"], attributes)
        return dn

    def read(self, dn: str, attributes: Sequence[str]) -> dict[str, list[str]]:
        """The raw values of one object's attributes, for assertions."""
        self.conn.search(dn, "(objectClass=*)", BASE, attributes=list(attributes))
        return {k: [str(v) for v in vs] for k, vs in self.conn.response[0]["attributes"].items()}

    def clear(self) -> None:
        """Delete the unit and everything in it (deepest first)."""
        self.conn.search(self.ou_dn, "(objectClass=*)", SUBTREE, attributes=[])
        dns = [e["dn"] for e in self.conn.response if e.get("type") == "searchResEntry"]
        for dn in sorted(dns, key=lambda d: d.count(","), reverse=True):
            self.conn.delete(dn)
