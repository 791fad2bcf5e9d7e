"""The lab's domain: a DC whose computer objects match the lab's hosts, with the delegation
the scenario describes, a read-only service account for the bot, and an approver group.

    with start_dc() as dc:
        domain = seed_domain(dc, [LabComputer("HV-SRV01", "hv-srv01.lab.local", ("HV-SRV02",))])
        print(domain.config_fragment()); domain.environment()
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lab.directory.kerberos import KeyedComputer, LabRealm, realm_keys, winrm_spns
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
    realm: LabRealm | None = None

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

    def kerberos_environment(self, user: str) -> dict[str, str]:
        """What the bot needs to reach the hosts with `auth = "kerberos"` as the lab's `user`:
        the realm's krb5.conf, the user's client keytab and a ticket cache of its own (the
        machine's default cache is left alone). Empty without keys."""
        if self.realm is None:
            return {}
        return {
            "KRB5_CONFIG": str(self.realm.krb5_conf),
            "KRB5_CLIENT_KTNAME": str(self.realm.client_keytabs[user]),
            "KRB5CCNAME": f"FILE:{self.realm.krb5_conf.parent / 'ccache'}",
        }


def seed_domain(
    dc: RunningDC,
    computers: Sequence[LabComputer],
    *,
    keys: tuple[Mapping[str, str], Path] | None = None,
) -> LabDomain:
    """Create the hosts' computer objects (delegation to the named peers that exist), the
    bot's service account and the approver group, in their own organisational units. With
    `keys` (the lab's users and passwords, a directory for the files), the hosts also get
    their WinRM keys and the users become domain users with client keytabs (`realm`)."""
    conn = admin_connection(dc)
    try:
        hosts = LabDirectory(conn, dc.base_dn, "Hyper-V Hosts")
        known = {c.name.casefold(): (c.name, c.fqdn) for c in computers}
        keyed: dict[str, KeyedComputer] = {}
        for computer in computers:
            peers = [known[p.casefold()] for p in computer.delegation_to if p.casefold() in known]
            spns = winrm_spns(computer.name, computer.fqdn)
            dn = hosts.add_computer(
                ComputerSpec(
                    computer.name,
                    computer.fqdn,
                    delegate_to=full_delegation(peers),
                    spns=spns if keys else None,
                )
            )
            keyed[computer.name] = KeyedComputer(dn, computer.fqdn, tuple(spns))
        people = LabDirectory(conn, dc.base_dn, "hvbot")
        realm = realm_keys(dc, people, keyed, keys[0], keys[1]) if keys else None
        password = f"Svc-{secrets.token_urlsafe(15)}-7k"
        reader = people.add_user(
            "svc-hvbot", upn=f"svc-hvbot@{dc.realm.lower()}", password=password
        )
        lead = people.add_user("lead", mail=f"lead@{dc.realm.lower()}")
        people.add_group(APPROVER_GROUP, [lead])
    finally:
        conn.unbind()
    return LabDomain(dc, reader, password, hosts.ou_dn, realm)
