"""Kerberos in the lab's domain: the hosts' keys, the bot's account and a krb5.conf for the DC.

    realm = kerberos_realm(dc, unit, hosts, users, work_dir)
    start_lab(world, auth="kerberos", keytabs=realm.keytabs)

Each host's computer object gets a password (as a domain join sets one) and the SPNs WinRM
answers to: `WSMAN/<fqdn>` and `WSMAN/<name>`, which the WinRM service registers itself and
pypsrp asks for by default (its `negotiate_service` is "WSMAN"; xebialabs/overthere#58), and
`HTTP/<fqdn>`, the name Windows' own WinRM client asks for. Their keys are exported with
`samba-tool domain exportkeytab` into one keytab per host. The lab's users become domain users
with the same passwords, and each gets a client keytab (what `KRB5_CLIENT_KTNAME` names).

The krb5.conf points at the DC's own loopback address, with every DNS lookup and reverse
lookup off, so no Kerberos traffic ever leaves loopback.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from lab.directory.objects import ComputerSpec, LabDirectory, default_spns
from lab.directory.samba import RunningDC


@dataclass(frozen=True)
class LabRealm:
    """The Kerberos side of a lab domain: files a client and the hosts need."""

    realm: str
    krb5_conf: Path
    keytabs: dict[str, Path]
    client_keytabs: dict[str, Path]

    def principal(self, user: str) -> str:
        """`user@REALM` for a lab account (`DOMAIN\\user`, `user` or `user@domain`)."""
        return f"{_bare(user)}@{self.realm}"


def winrm_spns(name: str, fqdn: str) -> list[str]:
    """The SPNs of a WinRM host: the Hyper-V host's defaults plus WSMAN/ and HTTP/."""
    return [*default_spns(name, fqdn), f"WSMAN/{fqdn}", f"WSMAN/{name}", f"HTTP/{fqdn}"]


def krb5_conf(dc: RunningDC, domains: Iterable[str]) -> str:
    """A krb5.conf naming the DC as the realm's only KDC and mapping `domains` to the realm."""
    mapping = "".join(f" .{d} = {dc.realm}\n {d} = {dc.realm}\n" for d in sorted(set(domains)))
    return (
        "[libdefaults]\n"
        f" default_realm = {dc.realm}\n"
        " dns_lookup_kdc = false\n"
        " dns_lookup_realm = false\n"
        " dns_canonicalize_hostname = false\n"
        " rdns = false\n"
        " udp_preference_limit = 1\n"
        "[realms]\n"
        f" {dc.realm} = {{\n  kdc = {dc.address}\n  admin_server = {dc.address}\n }}\n"
        "[domain_realm]\n" + mapping
    )


def export_keytab(dc: RunningDC, principal: str, keytab: Path) -> None:
    """Append the keys of `principal` to `keytab` (samba-tool reads the DC's own database)."""
    result = subprocess.run(
        [
            "samba-tool",
            "domain",
            "exportkeytab",
            str(keytab),
            f"--principal={principal}",
            "-s",
            str(dc.slot_dir / "smb.conf"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"exportkeytab {principal} failed: {result.stderr.strip()[-300:]}")
    keytab.chmod(0o600)


def kerberos_realm(
    dc: RunningDC,
    unit: LabDirectory,
    hosts: Iterable[tuple[str, str]],
    users: Mapping[str, str],
    work_dir: Path,
    *,
    spns: Mapping[str, list[str]] | None = None,
) -> LabRealm:
    """Create the hosts' computer objects and the users in `unit`, export their keys, and
    write the krb5.conf. `spns` replaces a host's SPNs (to leave one out, say)."""
    computers: dict[str, KeyedComputer] = {}
    for name, fqdn in hosts:
        names = (spns or {}).get(name, winrm_spns(name, fqdn))
        dn = unit.add_computer(ComputerSpec(name, fqdn, spns=names))
        computers[name] = KeyedComputer(dn, fqdn, tuple(names))
    return realm_keys(dc, unit, computers, users, work_dir)


@dataclass(frozen=True)
class KeyedComputer:
    """A host's computer object that is to get keys: where it is and the SPNs it carries."""

    dn: str
    fqdn: str
    spns: tuple[str, ...]


def realm_keys(
    dc: RunningDC,
    unit: LabDirectory,
    computers: Mapping[str, KeyedComputer],
    users: Mapping[str, str],
    work_dir: Path,
) -> LabRealm:
    """Give existing computer objects (by host name) a password, as a domain join does, and
    export their WinRM keys; make `users` domain users in `unit` with client keytabs; write
    the krb5.conf."""
    work_dir.mkdir(parents=True, exist_ok=True)
    keytabs: dict[str, Path] = {}
    for name, computer in computers.items():
        unit.conn.extend.microsoft.modify_password(
            computer.dn, f"Host-{secrets.token_urlsafe(24)}-1a"
        )
        keytab = work_dir / f"{name.lower()}.keytab"
        keytab.unlink(missing_ok=True)
        for spn in computer.spns:
            if spn.startswith(("WSMAN/", "HTTP/")):
                export_keytab(dc, spn, keytab)
        keytabs[name] = keytab
    client_keytabs: dict[str, Path] = {}
    for user, password in users.items():
        bare = _bare(user)
        unit.add_user(bare, upn=f"{bare}@{dc.realm.lower()}", password=password)
        keytab = work_dir / f"{bare}.client.keytab"
        keytab.unlink(missing_ok=True)
        export_keytab(dc, f"{bare}@{dc.realm}", keytab)
        client_keytabs[user] = keytab
    conf = work_dir / "krb5.conf"
    domains = (c.fqdn.partition(".")[2] for c in computers.values())
    conf.write_text(krb5_conf(dc, domains), encoding="utf-8")
    return LabRealm(dc.realm, conf, keytabs, client_keytabs)


def _bare(user: str) -> str:
    return user.rpartition("\\")[2].partition("@")[0]
