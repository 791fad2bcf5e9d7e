"""Active Directory over LDAP (ldap3): computer objects for the delegation check and repair,
users and nested groups for AD-group approvers. Built from `[directory]` by `open_directory`."""

from __future__ import annotations

from bot.config import Config, Secrets
from bot.directory.active_directory import ActiveDirectory, DirectoryUser
from bot.directory.approvers import AdGroupApprovers
from bot.directory.connection import LdapSettings

__all__ = [
    "ActiveDirectory",
    "AdGroupApprovers",
    "DirectoryUser",
    "LdapSettings",
    "directory_problems",
    "open_directory",
]


def _settings(config: Config, dn: str, password: str) -> LdapSettings:
    d = config.directory
    assert d.uri is not None
    return LdapSettings(
        uri=d.uri,
        bind_dn=dn,
        password=password,
        ca_file=d.ca_file,
        connect_timeout=float(d.connect_timeout),
        timeout=float(d.timeout),
    )


def directory_problems(config: Config, secrets: Secrets) -> list[str]:
    """What keeps `[directory]` from working, each naming the environment variable to set."""
    d = config.directory
    if not d.uri:
        return []
    return [
        f"directory: set ${name} ({what})"
        for name, what in (
            (d.bind_dn_env, "the service account's DN or UPN"),
            (d.password_env, "its password"),
        )
        if not secrets.get(name)
    ]


def open_directory(config: Config, secrets: Secrets) -> ActiveDirectory | None:
    """The directory of `[directory]`, or None when it is not configured. Connects lazily.
    Raises ValueError naming the missing environment variables."""
    d = config.directory
    if not d.uri or not d.base_dn:
        return None
    problems = directory_problems(config, secrets)
    if problems:
        raise ValueError("; ".join(problems))
    reader = _settings(config, secrets.get(d.bind_dn_env) or "", secrets.get(d.password_env) or "")
    write_dn, write_password = secrets.get(d.write_bind_dn_env), secrets.get(d.write_password_env)
    writer = _settings(config, write_dn, write_password) if write_dn and write_password else None
    hint = f" (set ${d.write_bind_dn_env} and ${d.write_password_env})"
    return ActiveDirectory(reader, d.base_dn, writer, write_hint=hint)
