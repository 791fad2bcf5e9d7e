"""Active Directory lookups hvbot needs: computers, users, nested group membership, and the
writes of a delegation repair.

Every value put into a search filter goes through `escape_filter_chars` (RFC 4515), so a host
or user name can never widen a search. Reads use the service account; writes use a separate
write-capable account, and without one nothing is written (`write_refusal` says so).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ldap3 import BASE, MODIFY_ADD, MODIFY_DELETE
from ldap3.core.exceptions import LDAPInvalidDnError
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from bot.directory.connection import Found, LdapConnection, LdapSettings
from commands.delegation import (
    ComputerObject,
    DelegationReport,
    ObjectChange,
    RepairPlan,
    plan_for,
    read_report,
)
from commands.inventory import Host
from commands.workflow.approvals import DirectoryError

log = logging.getLogger(__name__)

# LDAP_MATCHING_RULE_IN_CHAIN: membership through any depth of nested groups.
IN_CHAIN = "1.2.840.113556.1.4.1941"
_COMPUTER_ATTRIBUTES = (
    "sAMAccountName",
    "dNSHostName",
    "userAccountControl",
    "msDS-AllowedToDelegateTo",
    "servicePrincipalName",
)


@dataclass(frozen=True)
class DirectoryUser:
    """A user account found by e-mail or UPN."""

    dn: str
    account: str
    mail: str | None
    upn: str | None


def _values(found: Found, name: str) -> tuple[str, ...]:
    value: Any = found.attributes.get(name)
    if value is None or value == []:
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return (str(value),)


def _first(found: Found, name: str) -> str | None:
    values = _values(found, name)
    return values[0] if values else None


def _is_dn(text: str) -> bool:
    try:
        parse_dn(text)
    except LDAPInvalidDnError:
        return False
    return True


def _computer(found: Found) -> ComputerObject:
    name = _first(found, "sAMAccountName") or ""
    return ComputerObject(
        dn=found.dn,
        name=name.removesuffix("$"),
        dns_host_name=_first(found, "dNSHostName"),
        user_account_control=int(_first(found, "userAccountControl") or 0),
        allowed_to_delegate_to=_values(found, "msDS-AllowedToDelegateTo"),
        service_principal_names=_values(found, "servicePrincipalName"),
    )


class ActiveDirectory:
    """hvbot's directory over LDAP: `commands.delegation.DelegationDirectory` (computer objects
    and their writes) and `commands.ports.DelegationChecker` (the reports)."""

    def __init__(
        self,
        reader: LdapSettings,
        base_dn: str,
        writer: LdapSettings | None = None,
        *,
        write_hint: str = "",
    ) -> None:
        self._read = LdapConnection(reader)
        self._write = LdapConnection(writer) if writer else None
        self._write_hint = write_hint
        self.base_dn = base_dn

    def close(self) -> None:
        """Close both connections."""
        self._read.close()
        if self._write is not None:
            self._write.close()

    def find_computer(self, name: str) -> ComputerObject | None:
        """A computer by short name (sAMAccountName `NAME$`) or FQDN (dNSHostName)."""
        value = escape_filter_chars(name.strip().rstrip("."))
        match = f"(dNSHostName={value})" if "." in name else f"(sAMAccountName={value}$)"
        return self._one_computer(f"(&(objectClass=computer){match})", name)

    def computer(self, host: Host) -> ComputerObject | None:
        """The computer object of an inventory host, by its short name or its FQDN."""
        short, fqdn = escape_filter_chars(host.name), escape_filter_chars(host.fqdn)
        search = f"(&(objectClass=computer)(|(sAMAccountName={short}$)(dNSHostName={fqdn})))"
        return self._one_computer(search, host.name)

    def _one_computer(self, search: str, name: str) -> ComputerObject | None:
        found = self._read.search(self.base_dn, search, _COMPUTER_ATTRIBUTES)
        if len(found) > 1:
            dns = "; ".join(f.dn for f in found)
            raise DirectoryError(f"several computer objects match {name}: {dns}")
        return _computer(found[0]) if found else None

    def find_user(self, mail_or_upn: str) -> DirectoryUser | None:
        """The enabled or disabled user whose mail or userPrincipalName is `mail_or_upn`."""
        value = escape_filter_chars(mail_or_upn.strip())
        search = (
            "(&(objectClass=user)(!(objectClass=computer))"
            f"(|(mail={value})(userPrincipalName={value})))"
        )
        found = self._read.search(
            self.base_dn, search, ("sAMAccountName", "mail", "userPrincipalName")
        )
        if len(found) != 1:
            if found:
                log.warning("%d users match one e-mail/UPN; none is used", len(found))
            return None
        f = found[0]
        return DirectoryUser(
            dn=f.dn,
            account=_first(f, "sAMAccountName") or "",
            mail=_first(f, "mail"),
            upn=_first(f, "userPrincipalName"),
        )

    def group_dn(self, group: str) -> str | None:
        """A group's DN from its DN, sAMAccountName or cn."""
        if _is_dn(group):
            found = self._read.search(group, "(objectClass=group)", ("cn",), scope=BASE)
        else:
            value = escape_filter_chars(group)
            found = self._read.search(
                self.base_dn, f"(&(objectClass=group)(|(sAMAccountName={value})(cn={value})))", ()
            )
        return found[0].dn if len(found) == 1 else None

    def is_member(self, user_dn: str, group_dn: str) -> bool:
        """Whether `user_dn` is in `group_dn` through any depth of nesting."""
        search = f"(memberOf:{IN_CHAIN}:={escape_filter_chars(group_dn)})"
        return bool(self._read.search(user_dn, search, (), scope=BASE))

    def report(self, first: Host, second: Host) -> DelegationReport:
        """The delegation report of a pair ("unknown" when this directory cannot answer)."""
        return read_report(self, first, second)

    def repair_plan(self, first: Host, second: Host) -> RepairPlan:
        """Exactly what a fix would write now. Raises DirectoryError."""
        return plan_for(self, first, second)

    def write_refusal(self) -> str | None:
        """Why this directory cannot write, or None when a write-capable account is set."""
        if self._write is None:
            return f"no write-capable directory account is configured{self._write_hint}"
        return None

    def apply(self, change: ObjectChange) -> None:
        """Write one object's delegation changes in a single modify. The flags are swapped
        from the value read (delete old, add new), so a concurrent change makes it fail
        instead of being overwritten."""
        if self._write is None:
            raise DirectoryError(self.write_refusal() or "")
        changes: dict[str, list[tuple[str, list[Any]]]] = {}
        if change.add_delegate_to:
            changes["msDS-AllowedToDelegateTo"] = [(MODIFY_ADD, list(change.add_delegate_to))]
        if change.add_spns:
            changes["servicePrincipalName"] = [(MODIFY_ADD, list(change.add_spns))]
        if change.uac_before != change.uac_after:
            changes["userAccountControl"] = [
                (MODIFY_DELETE, [str(change.uac_before)]),
                (MODIFY_ADD, [str(change.uac_after)]),
            ]
        if changes:
            log.info("directory write", extra={"dn": change.dn, "change": change.audit()})
            self._write.modify(change.dn, changes)
