"""The lab's domain: a DC whose computer objects match the lab's hosts, with the delegation
the scenario describes, a read-only service account for the bot, and an approver group.

    with start_dc() as dc:
        domain = seed_domain(dc, [LabComputer("HV-SRV01", "hv-srv01.lab.local", ("HV-SRV02",))])
        print(domain.config_fragment()); domain.environment()
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from lab.directory.objects import ComputerSpec, LabDirectory, admin_connection, full_delegation
from lab.directory.samba import RunningDC

APPROVER_GROUP = "HV-Approvers"


@dataclass(frozen=True)
class LabComputer:
    """A lab host as the domain sees it: names, and the peers it may delegate to."""

    name: str
    fqdn: str
    delegation_to: Sequence[str] = ()


@dataclass(frozen=True)
class LabDomain:
    """A seeded DC: where it is, and the throw-away accounts to give the bot."""

    dc: RunningDC
    reader_dn: str
    reader_password: str
    hosts_dn: str

    def config_fragment(self) -> str:
        """A ready `[directory]` section (AD-group approvals through `HV-Approvers`)."""
        return (
            "\n".join(
                [
                    "[directory]",
                    f'uri = "{self.dc.uri}"',
                    f'base_dn = "{self.dc.base_dn}"',
                    f'ca_file = "{self.dc.ca_file}"',
                    'bind_dn_env = "HVBOT_LDAP_BIND_DN"',
                    'password_env = "HVBOT_LDAP_PASSWORD"',
                    'write_bind_dn_env = "HVBOT_LDAP_WRITE_BIND_DN"',
                    'write_password_env = "HVBOT_LDAP_WRITE_PASSWORD"',
                ]
            )
            + "\n"
        )

    def environment(self) -> dict[str, str]:
        """The accounts: a service account that reads, the domain Administrator that writes."""
        return {
            "HVBOT_LDAP_BIND_DN": self.reader_dn,
            "HVBOT_LDAP_PASSWORD": self.reader_password,
            "HVBOT_LDAP_WRITE_BIND_DN": self.dc.admin_dn,
            "HVBOT_LDAP_WRITE_PASSWORD": self.dc.admin_password,
        }


def seed_domain(dc: RunningDC, computers: Sequence[LabComputer]) -> LabDomain:
    """Create the hosts' computer objects (delegation to the named peers that exist), the
    bot's service account and the approver group, in their own organisational units."""
    conn = admin_connection(dc)
    try:
        hosts = LabDirectory(conn, dc.base_dn, "Hyper-V Hosts")
        known = {c.name.casefold(): (c.name, c.fqdn) for c in computers}
        for computer in computers:
            peers = [known[p.casefold()] for p in computer.delegation_to if p.casefold() in known]
            hosts.add_computer(
                ComputerSpec(computer.name, computer.fqdn, delegate_to=full_delegation(peers))
            )
        people = LabDirectory(conn, dc.base_dn, "hvbot")
        password = f"Svc-{secrets.token_urlsafe(15)}-7k"
        reader = people.add_user(
            "svc-hvbot", upn=f"svc-hvbot@{dc.realm.lower()}", password=password
        )
        lead = people.add_user("lead", mail=f"lead@{dc.realm.lower()}")
        people.add_group(APPROVER_GROUP, [lead])
    finally:
        conn.unbind()
    return LabDomain(dc, reader, password, hosts.ou_dn)
