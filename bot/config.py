"""hvbot.toml: loading and validating the whole configuration at once.

Every section is optional with defaults that are safe in production (TLS on and validated,
no self-approval). Secrets never appear in the file: it names environment variables, and
`Secrets` reads them. Validation collects every problem, each naming its key, before failing.

Each table is a `Section` dataclass and each key one of its fields, declared once:
`http_port: int = setting(3000, _port)` gives the key's type (its annotation), default and
check. `parse_config` reads every section from its fields, so adding a key is adding a field,
and adding a table is adding a `Section` and a field of `Config`. A rule across keys goes in
the section's `problems()` (across sections: `Config.problems()`).
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from commands.inventory import Host, Inventory

DEFAULT_CONFIG_PATH = Path("hvbot.toml")
_HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")
_FQDN = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
WINRM_AUTHS = ("kerberos", "negotiate", "ntlm", "credssp", "basic", "certificate")
# The auth methods that need a user name and password from the environment (Kerberos can use
# the ticket the bot's account already holds; certificate auth uses its key files).
PASSWORD_AUTHS = ("basic", "ntlm", "negotiate", "credssp")

T = TypeVar("T")
Check = Callable[[Any], str | None]
Problem = tuple[str, str]
"""A key (relative to its section) and what is wrong with it."""


class ConfigError(Exception):
    """The configuration has problems; `problems` lists each as "key: what is wrong"."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def setting(default: T, check: Check | None = None) -> T:
    """A key of a section: its default, and what a value given in the file must satisfy
    (`check` returns what is wrong, or None). The key's type is the field's annotation."""
    return field(default=default, metadata={"check": check})


def required(check: Check | None = None) -> Any:
    """A key the file must give (no default), and what its value must satisfy."""
    return field(metadata={"check": check})


def _one_of(*choices: str) -> Callable[[str], str | None]:
    return lambda v: None if v in choices else f"must be one of {', '.join(choices)}"


def _positive(v: int) -> str | None:
    return None if v > 0 else "must be a positive integer"


def _positive_number(v: float) -> str | None:
    return None if v > 0 else "must be a positive number"


def _port(v: int) -> str | None:
    return None if 0 < v < 65536 else "must be a TCP port (1-65535)"


def _env_name(v: str) -> str | None:
    return None if _ENV_NAME.match(v) else "must be an environment variable name"


def _host_name(v: str) -> str | None:
    return None if _HOST_NAME.match(v) else "must be a short host name like HV-SRV01"


def _fqdn(v: str) -> str | None:
    return None if _FQDN.match(v) else "must be a fully qualified DNS name like hv-srv01.lab.local"


def _slack_api(v: str) -> str | None:
    if v.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        return None
    return "must be https:// (or http://127.0.0.1 for the lab)"


def _ldap_uri(v: str) -> str | None:
    return None if v.startswith(("ldaps://", "ldap://")) else "must start with ldaps:// or ldap://"


def _readable_file(key: str, path: str | None) -> Iterator[Problem]:
    if path and not Path(path).is_file():
        yield key, f"{path!r} is not a readable file"


class Section:
    """A table of hvbot.toml, read key by key from its dataclass fields (see `setting`)."""

    def problems(self) -> Iterator[Problem]:
        """What is wrong across its keys once each key is valid on its own (none by default)."""
        return iter(())


@dataclass(frozen=True)
class HostConfig(Section):
    """One `[[hosts]]` entry. `address`/`port` override where WinRM connects (lab, NAT)."""

    name: str = required(_host_name)
    fqdn: str = required(_fqdn)
    critical: bool = setting(False)
    address: str | None = setting(None)
    port: int | None = setting(None, _port)

    def to_host(self) -> Host:
        """The core's view of this host."""
        return Host(name=self.name, fqdn=self.fqdn, critical=self.critical)


@dataclass(frozen=True)
class SlackConfig(Section):
    """`[slack]`: Socket Mode by default (no public URL needed on-prem)."""

    mode: str = setting("socket", _one_of("socket", "http"))
    bot_token_env: str = setting("SLACK_BOT_TOKEN", _env_name)
    app_token_env: str = setting("SLACK_APP_TOKEN", _env_name)
    signing_secret_env: str = setting("SLACK_SIGNING_SECRET", _env_name)
    api_url: str = setting("https://slack.com/api/", _slack_api)
    http_port: int = setting(3000, _port)
    # Empty means anywhere / anyone; otherwise the bot answers elsewhere only to say why not.
    channels: tuple[str, ...] = setting(())
    requesters: tuple[str, ...] = setting(())


@dataclass(frozen=True)
class ApprovalsConfig(Section):
    """`[approvals]`: who may approve, how many for critical hosts, how long a card lives."""

    users: tuple[str, ...] = setting(())
    usergroups: tuple[str, ...] = setting(())
    ad_groups: tuple[str, ...] = setting(())
    allow_self_approval: bool = setting(False)
    required_critical: int = setting(2, _positive)
    ttl_minutes: int = setting(60, _positive)


@dataclass(frozen=True)
class WinRMConfig(Section):
    """`[winrm]`: how the bot reaches the hosts. TLS on and validated unless said otherwise."""

    auth: str = setting("kerberos", _one_of(*WINRM_AUTHS))
    port: int = setting(5986, _port)
    ssl: bool = setting(True)
    cert_validation: bool = setting(True)
    ca_file: str | None = setting(None)
    username_env: str = setting("HVBOT_WINRM_USER", _env_name)
    password_env: str = setting("HVBOT_WINRM_PASSWORD", _env_name)
    connection_timeout: int = setting(10, _positive)
    operation_timeout: int = setting(20, _positive)
    read_timeout: int = setting(30, _positive)

    def problems(self) -> Iterator[Problem]:
        """The operation timeout must leave the read timeout room; the CA file must exist."""
        if self.operation_timeout >= self.read_timeout:
            yield "operation_timeout", "must be less than winrm.read_timeout"
        yield from _readable_file("ca_file", self.ca_file)


@dataclass(frozen=True)
class DirectoryConfig(Section):
    """`[directory]`: Active Directory over LDAPS, for approver groups and delegation checks."""

    uri: str | None = setting(None, _ldap_uri)
    base_dn: str | None = setting(None)
    bind_dn_env: str = setting("HVBOT_LDAP_BIND_DN", _env_name)
    password_env: str = setting("HVBOT_LDAP_PASSWORD", _env_name)
    write_bind_dn_env: str = setting("HVBOT_LDAP_WRITE_BIND_DN", _env_name)
    write_password_env: str = setting("HVBOT_LDAP_WRITE_PASSWORD", _env_name)
    ca_file: str | None = setting(None)
    connect_timeout: int = setting(5, _positive)
    timeout: int = setting(10, _positive)
    cache_seconds: int = setting(60, _positive)

    def problems(self) -> Iterator[Problem]:
        """A directory needs its base DN; the CA file must exist."""
        if self.uri and not self.base_dn:
            yield "base_dn", "required when directory.uri is set"
        yield from _readable_file("ca_file", self.ca_file)


@dataclass(frozen=True)
class AuditConfig(Section):
    """`[audit]`: the SQLite audit database, the key that signs its events and the anchor file
    that keeps copies of its head. The key is read from the environment variable `key_env`,
    or from `key_file` (outside the database's folder, readable by the bot only); without
    either the log is unkeyed and hvbot says so. `anchor_file` defaults to the database's
    path with `.anchors` added. Relative paths are relative to the config file."""

    database: str = setting("hvbot.db")
    # A channel where the chain head is posted after every final state: a witness outside the
    # database for `hvbot audit verify`.
    slack_channel: str | None = setting(None)
    key_env: str = setting("HVBOT_AUDIT_KEY", _env_name)
    key_file: str | None = setting(None)
    anchor_file: str | None = setting(None)


@dataclass(frozen=True)
class ExecutorConfig(Section):
    """`[executor]`: the bot's own worker pool for long work (never Slack's listener threads)."""

    workers: int = setting(8, _positive)
    poll_seconds: float = setting(2.0, _positive_number)


@dataclass(frozen=True)
class LoggingConfig(Section):
    """`[logging]`: JSON lines in production, readable text in a terminal. `file` is where the
    `hvbot` command line writes its log (default: beside the audit database, `<name>.log`), so
    that the terminal keeps short answers and the detail stays findable."""

    format: str = setting("json", _one_of("json", "text"))
    level: str = setting("INFO", _one_of("DEBUG", "INFO", "WARNING", "ERROR"))
    file: str | None = setting(None)


@dataclass(frozen=True)
class Config:
    """The whole validated configuration: `hosts`, then one `Section` per table of the file
    (adding a section is adding a field here; adding a key is adding a field to its section)."""

    hosts: tuple[HostConfig, ...]
    slack: SlackConfig = field(default_factory=SlackConfig)
    approvals: ApprovalsConfig = field(default_factory=ApprovalsConfig)
    winrm: WinRMConfig = field(default_factory=WinRMConfig)
    directory: DirectoryConfig = field(default_factory=DirectoryConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    source: Path | None = None

    @property
    def inventory(self) -> Inventory:
        """The hosts as the core sees them."""
        return Inventory(h.to_host() for h in self.hosts)

    def problems(self) -> Iterator[Problem]:
        """What is wrong across sections (keys named in full)."""
        if self.approvals.ad_groups and not self.directory.uri:
            yield "approvals.ad_groups", "needs [directory] uri (AD groups are read over LDAP)"


_KIND_NAMES: dict[object, str] = {
    str: "a string",
    int: "an integer",
    bool: "true or false",
    float: "a number",
}


def _value(hint: Any, value: Any) -> tuple[Any, str | None]:
    """`value` from TOML as the annotation `hint` says, or what is wrong with it. The types a
    key may have: str, int, bool, float, tuple[str, ...] (a TOML list), and `X | None`."""
    hint = _unless_none(hint)
    if typing.get_origin(hint) is tuple and typing.get_args(hint) == (str, ...):
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            return (), "expected a list of non-empty strings"
        return tuple(value), None
    if hint not in _KIND_NAMES:
        raise TypeError(f"a configuration key cannot be of type {hint!r}")
    # bool is an int in Python; TOML keeps them apart, so must we.
    if isinstance(value, bool) and hint is not bool:
        return None, f"expected {_KIND_NAMES[hint]}, got {value!r}"
    if hint is float and isinstance(value, int):
        return float(value), None
    if not isinstance(value, hint):
        return None, f"expected {_KIND_NAMES[hint]}, got {value!r}"
    return value, None


def _unless_none(hint: Any) -> Any:
    """`X` of `X | None`; any other hint as it is."""
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) and type(None) in args:
        (hint,) = (a for a in args if a is not type(None))
    return hint


S = TypeVar("S", bound=Section)


class _Reader:
    """Collects problems, each with its full key path, instead of raising at the first."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, key: str, problem: str) -> None:
        self.problems.append(f"{key}: {problem}")

    def unknown(self, prefix: str, table: Mapping[str, Any], known: Iterable[str]) -> None:
        names = sorted(known)
        for name in table:
            if name not in names:
                self.add(_key(prefix, name), f"unknown key (known: {', '.join(names)})")

    def table(self, key: str, value: Any) -> Mapping[str, Any] | None:
        if isinstance(value, dict):
            return value
        self.add(key, "expected a table")
        return None

    def section(self, cls: type[S], prefix: str, table: Mapping[str, Any]) -> S | None:
        """`table` read as `cls`, key by key; None when a required key is missing or invalid
        (every problem found is recorded, with its key)."""
        hints = typing.get_type_hints(cls)
        fields = dataclasses.fields(cast(Any, cls))
        self.unknown(prefix, table, (f.name for f in fields))
        values: dict[str, Any] = {}
        for f in fields:
            key, hint = _key(prefix, f.name), hints[f.name]
            if f.name not in table:
                if f.default is dataclasses.MISSING:
                    self.add(key, "missing")
                continue
            value, problem = _value(hint, table[f.name])
            check: Check | None = f.metadata.get("check")
            problem = problem or (check(value) if check else None)
            optional = _unless_none(hint) is not hint
            if problem:
                self.add(key, problem)
            elif not (optional and value == ""):
                # An empty optional text means "not set", as leaving the key out does.
                values[f.name] = value
        if any(f.default is dataclasses.MISSING and f.name not in values for f in fields):
            return None
        section = cls(**values)
        for name, problem in section.problems():
            self.add(_key(prefix, name), problem)
        return section


def _key(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _load_hosts(reader: _Reader, data: Mapping[str, Any]) -> tuple[HostConfig, ...]:
    raw = data.get("hosts", [])
    if not isinstance(raw, list) or not raw:
        reader.add("hosts", "at least one [[hosts]] table with name and fqdn is required")
        return ()
    hosts: list[HostConfig] = []
    seen: dict[str, str] = {}
    for i, item in enumerate(raw):
        where = f"hosts[{i}]"
        table = reader.table(where, item)
        before = len(reader.problems)
        host = reader.section(HostConfig, where, table) if table is not None else None
        if host is None:
            continue
        for key, value in (("name", host.name), ("fqdn", host.fqdn)):
            other = seen.get(value.casefold())
            if other:
                reader.add(f"{where}.{key}", f"{value!r} already used by {other}")
            seen[value.casefold()] = where
        if len(reader.problems) == before:
            hosts.append(host)
    return tuple(hosts)


def parse_config(data: Mapping[str, Any], source: Path | None = None) -> Config:
    """Validate a parsed TOML document; raise ConfigError listing every problem."""
    reader = _Reader()
    hints = typing.get_type_hints(Config)
    tables = [
        name for name, hint in hints.items() if isinstance(hint, type) and issubclass(hint, Section)
    ]
    reader.unknown("", data, ["hosts", *tables])
    hosts = _load_hosts(reader, data)
    sections: dict[str, Any] = {}
    for name in tables:
        table = reader.table(name, data.get(name, {}))
        section = reader.section(hints[name], name, table or {})
        if section is not None:
            sections[name] = section
    config = Config(hosts=hosts, source=source, **sections)
    for key, problem in config.problems():
        reader.add(key, problem)
    if reader.problems:
        raise ConfigError(reader.problems)
    return config


def load_config(path: Path | str | None = None) -> Config:
    """Read and validate a TOML file (default: $HVBOT_CONFIG or ./hvbot.toml)."""
    resolved = Path(path or os.environ.get("HVBOT_CONFIG") or DEFAULT_CONFIG_PATH)
    try:
        text = resolved.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{resolved}: cannot read the file ({exc.strerror})"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [
                f"{resolved}: not UTF-8 text (byte {exc.start} is 0x{exc.object[exc.start]:02x}); "
                "TOML files are UTF-8: save it as UTF-8"
            ]
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{resolved}: not valid TOML ({exc})"]) from None
    return parse_config(data, source=resolved)


@dataclass(frozen=True)
class Secrets:
    """Secrets read from the environment variables the config names; never printed."""

    values: Mapping[str, str]

    def get(self, env_name: str) -> str | None:
        """The value of `env_name`, or None when unset or empty."""
        return self.values.get(env_name) or None

    def __repr__(self) -> str:
        return f"Secrets(<{len(self.values)} hidden>)"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Secrets:
        """Capture the environment (tests pass their own mapping)."""
        return cls(dict(os.environ if environ is None else environ))


def missing_secrets(config: Config, secrets: Secrets) -> list[str]:
    """The secrets the configured features need that the environment does not hold, each as
    "what needs it: set VARIABLE" (the values themselves are never shown)."""
    needed: list[tuple[str, str]] = []
    w = config.winrm
    if w.auth in PASSWORD_AUTHS:
        needed += [
            (f"winrm ({w.auth} auth)", w.username_env),
            (f"winrm ({w.auth} auth)", w.password_env),
        ]
    d = config.directory
    if d.uri:
        needed += [("directory", d.bind_dn_env), ("directory", d.password_env)]
    return [
        f"{what}: the environment variable {name} is not set (or empty)"
        for what, name in needed
        if not secrets.get(name)
    ]


def configured_secrets(config: Config, secrets: Secrets) -> tuple[str, ...]:
    """The values of every secret the configuration names, to mask in logs and the audit log."""
    names = (
        config.slack.bot_token_env,
        config.slack.app_token_env,
        config.slack.signing_secret_env,
        config.winrm.password_env,
        config.directory.password_env,
        config.directory.write_password_env,
        config.audit.key_env,
    )
    return tuple(value for name in names if (value := secrets.get(name)))
