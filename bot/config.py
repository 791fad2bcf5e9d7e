"""hvbot.toml: loading and validating the whole configuration at once.

Every section is optional with defaults that are safe in production (TLS on and validated,
no self-approval). Secrets never appear in the file: it names environment variables, and
`Secrets` reads them. Validation collects every problem, each naming its key, before failing.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

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


class ConfigError(Exception):
    """The configuration has problems; `problems` lists each as "key: what is wrong"."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class HostConfig:
    """One `[[hosts]]` entry. `address`/`port` override where WinRM connects (lab, NAT)."""

    name: str
    fqdn: str
    critical: bool = False
    address: str | None = None
    port: int | None = None

    def to_host(self) -> Host:
        """The core's view of this host."""
        return Host(name=self.name, fqdn=self.fqdn, critical=self.critical)


@dataclass(frozen=True)
class SlackConfig:
    """`[slack]`: Socket Mode by default (no public URL needed on-prem)."""

    mode: str = "socket"
    bot_token_env: str = "SLACK_BOT_TOKEN"
    app_token_env: str = "SLACK_APP_TOKEN"
    signing_secret_env: str = "SLACK_SIGNING_SECRET"
    api_url: str = "https://slack.com/api/"
    http_port: int = 3000
    # Empty means anywhere / anyone; otherwise the bot answers elsewhere only to say why not.
    channels: tuple[str, ...] = ()
    requesters: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApprovalsConfig:
    """`[approvals]`: who may approve, how many for critical hosts, how long a card lives."""

    users: tuple[str, ...] = ()
    usergroups: tuple[str, ...] = ()
    ad_groups: tuple[str, ...] = ()
    allow_self_approval: bool = False
    required_critical: int = 2
    ttl_minutes: int = 60


@dataclass(frozen=True)
class WinRMConfig:
    """`[winrm]`: how the bot reaches the hosts. TLS on and validated unless said otherwise."""

    auth: str = "kerberos"
    port: int = 5986
    ssl: bool = True
    cert_validation: bool = True
    ca_file: str | None = None
    username_env: str = "HVBOT_WINRM_USER"
    password_env: str = "HVBOT_WINRM_PASSWORD"
    connection_timeout: int = 10
    operation_timeout: int = 20
    read_timeout: int = 30


@dataclass(frozen=True)
class DirectoryConfig:
    """`[directory]`: Active Directory over LDAPS, for approver groups and delegation checks."""

    uri: str | None = None
    base_dn: str | None = None
    bind_dn_env: str = "HVBOT_LDAP_BIND_DN"
    password_env: str = "HVBOT_LDAP_PASSWORD"
    write_bind_dn_env: str = "HVBOT_LDAP_WRITE_BIND_DN"
    write_password_env: str = "HVBOT_LDAP_WRITE_PASSWORD"
    ca_file: str | None = None
    connect_timeout: int = 5
    timeout: int = 10
    cache_seconds: int = 60


@dataclass(frozen=True)
class AuditConfig:
    """`[audit]`: the SQLite audit database, the key that signs its events and the anchor file
    that keeps copies of its head. The key is read from the environment variable `key_env`,
    or from `key_file` (outside the database's folder, readable by the bot only); without
    either the log is unkeyed and hvbot says so. `anchor_file` defaults to the database's
    path with `.anchors` added. Relative paths are relative to the config file."""

    database: str = "hvbot.db"
    # A channel where the chain head is posted after every final state: a witness outside the
    # database for `hvbot audit verify`.
    slack_channel: str | None = None
    key_env: str = "HVBOT_AUDIT_KEY"
    key_file: str | None = None
    anchor_file: str | None = None


@dataclass(frozen=True)
class ExecutorConfig:
    """`[executor]`: the bot's own worker pool for long work (never Slack's listener threads)."""

    workers: int = 8
    poll_seconds: float = 2.0


@dataclass(frozen=True)
class LoggingConfig:
    """`[logging]`: JSON lines in production, readable text in a terminal. `file` is where the
    `hvbot` command line writes its log (default: beside the audit database, `<name>.log`), so
    that the terminal keeps short answers and the detail stays findable."""

    format: str = "json"
    level: str = "INFO"
    file: str | None = None


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

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


class _Reader:
    """Reads typed values out of a TOML table, recording problems instead of raising."""

    def __init__(self, problems: list[str], prefix: str, table: Mapping[str, Any]) -> None:
        self.problems = problems
        self.prefix = prefix
        self.table = table

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def get(
        self, name: str, kind: type[T], default: T, check: Callable[[T], str | None] | None = None
    ) -> T:
        if name not in self.table:
            return default
        value = self.table[name]
        # bool is an int in Python; TOML keeps them apart, so must we.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.problems.append(f"{self.key(name)}: expected {_kind_name(kind)}, got {value!r}")
            return default
        problem = check(value) if check else None
        if problem:
            self.problems.append(f"{self.key(name)}: {problem}")
            return default
        return value

    def optional_text(
        self, name: str, check: Callable[[str], str | None] | None = None
    ) -> str | None:
        if name not in self.table:
            return None
        return self.get(name, str, "", check) or None

    def optional_port(self, name: str) -> int | None:
        if name not in self.table:
            return None
        return self.get(name, int, 0, _port) or None

    def number(self, name: str, default: float) -> float:
        value = self.table.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            self.problems.append(f"{self.key(name)}: expected a positive number, got {value!r}")
            return default
        return float(value)

    def strings(self, name: str) -> tuple[str, ...]:
        value = self.table.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.problems.append(f"{self.key(name)}: expected a list of non-empty strings")
            return ()
        return tuple(value)

    def unknown(self, known: set[str]) -> None:
        for name in self.table:
            if name not in known:
                self.problems.append(
                    f"{self.key(name)}: unknown key (known: {', '.join(sorted(known))})"
                )


def _kind_name(kind: type) -> str:
    return {str: "a string", int: "an integer", bool: "true or false", float: "a number"}.get(
        kind, kind.__name__
    )


def _one_of(*choices: str) -> Callable[[str], str | None]:
    return lambda v: None if v in choices else f"must be one of {', '.join(choices)}"


def _positive(v: int) -> str | None:
    return None if v > 0 else "must be a positive integer"


def _port(v: int) -> str | None:
    return None if 0 < v < 65536 else "must be a TCP port (1-65535)"


def _env_name(v: str) -> str | None:
    return None if _ENV_NAME.match(v) else "must be an environment variable name"


def _section(problems: list[str], data: Mapping[str, Any], name: str) -> _Reader:
    table = data.get(name, {})
    if not isinstance(table, dict):
        problems.append(f"{name}: expected a table")
        table = {}
    return _Reader(problems, name, table)


def _load_hosts(problems: list[str], data: Mapping[str, Any]) -> tuple[HostConfig, ...]:
    raw = data.get("hosts", [])
    if not isinstance(raw, list) or not raw:
        problems.append("hosts: at least one [[hosts]] table with name and fqdn is required")
        return ()
    hosts: list[HostConfig] = []
    seen: dict[str, str] = {}
    for i, table in enumerate(raw):
        if not isinstance(table, dict):
            problems.append(f"hosts[{i}]: expected a table")
            continue
        r = _Reader(problems, f"hosts[{i}]", table)
        r.unknown({"name", "fqdn", "critical", "address", "port"})
        before = len(problems)
        name = r.get(
            "name",
            str,
            "",
            lambda v: None if _HOST_NAME.match(v) else "must be a short host name like HV-SRV01",
        )
        fqdn = r.get(
            "fqdn",
            str,
            "",
            lambda v: (
                None
                if _FQDN.match(v)
                else "must be a fully qualified DNS name like hv-srv01.lab.local"
            ),
        )
        for key, value in (("name", name), ("fqdn", fqdn)):
            if key not in table:
                problems.append(f"hosts[{i}].{key}: missing")
            elif value:
                other = seen.get(value.casefold())
                if other:
                    problems.append(f"hosts[{i}].{key}: {value!r} already used by {other}")
                seen[value.casefold()] = f"hosts[{i}]"
        host = HostConfig(
            name=name,
            fqdn=fqdn,
            critical=r.get("critical", bool, False),
            address=r.optional_text("address"),
            port=r.optional_port("port"),
        )
        if len(problems) == before:
            hosts.append(host)
    return tuple(hosts)


def parse_config(data: Mapping[str, Any], source: Path | None = None) -> Config:
    """Validate a parsed TOML document; raise ConfigError listing every problem."""
    problems: list[str] = []
    _Reader(problems, "", data).unknown(
        {"hosts", "slack", "approvals", "winrm", "directory", "audit", "executor", "logging"}
    )
    hosts = _load_hosts(problems, data)

    s = _section(problems, data, "slack")
    s.unknown(set(SlackConfig.__dataclass_fields__))
    d = SlackConfig()
    slack = SlackConfig(
        mode=s.get("mode", str, d.mode, _one_of("socket", "http")),
        bot_token_env=s.get("bot_token_env", str, d.bot_token_env, _env_name),
        app_token_env=s.get("app_token_env", str, d.app_token_env, _env_name),
        signing_secret_env=s.get("signing_secret_env", str, d.signing_secret_env, _env_name),
        api_url=s.get(
            "api_url",
            str,
            d.api_url,
            lambda v: (
                None
                if v.startswith(("https://", "http://127.0.0.1", "http://localhost"))
                else "must be https:// (or http://127.0.0.1 for the lab)"
            ),
        ),
        http_port=s.get("http_port", int, d.http_port, _port),
        channels=s.strings("channels"),
        requesters=s.strings("requesters"),
    )

    a = _section(problems, data, "approvals")
    a.unknown(set(ApprovalsConfig.__dataclass_fields__))
    ad = ApprovalsConfig()
    approvals = ApprovalsConfig(
        users=a.strings("users"),
        usergroups=a.strings("usergroups"),
        ad_groups=a.strings("ad_groups"),
        allow_self_approval=a.get("allow_self_approval", bool, ad.allow_self_approval),
        required_critical=a.get("required_critical", int, ad.required_critical, _positive),
        ttl_minutes=a.get("ttl_minutes", int, ad.ttl_minutes, _positive),
    )

    w = _section(problems, data, "winrm")
    w.unknown(set(WinRMConfig.__dataclass_fields__))
    wd = WinRMConfig()
    winrm = WinRMConfig(
        auth=w.get("auth", str, wd.auth, _one_of(*WINRM_AUTHS)),
        port=w.get("port", int, wd.port, _port),
        ssl=w.get("ssl", bool, wd.ssl),
        cert_validation=w.get("cert_validation", bool, wd.cert_validation),
        ca_file=w.optional_text("ca_file"),
        username_env=w.get("username_env", str, wd.username_env, _env_name),
        password_env=w.get("password_env", str, wd.password_env, _env_name),
        connection_timeout=w.get("connection_timeout", int, wd.connection_timeout, _positive),
        operation_timeout=w.get("operation_timeout", int, wd.operation_timeout, _positive),
        read_timeout=w.get("read_timeout", int, wd.read_timeout, _positive),
    )
    if winrm.operation_timeout >= winrm.read_timeout:
        problems.append("winrm.operation_timeout: must be less than winrm.read_timeout")
    if winrm.ca_file and not Path(winrm.ca_file).is_file():
        problems.append(f"winrm.ca_file: {winrm.ca_file!r} is not a readable file")

    r = _section(problems, data, "directory")
    r.unknown(set(DirectoryConfig.__dataclass_fields__))
    rd = DirectoryConfig()
    directory = DirectoryConfig(
        uri=r.optional_text(
            "uri",
            lambda v: (
                None
                if v.startswith(("ldaps://", "ldap://"))
                else "must start with ldaps:// or ldap://"
            ),
        ),
        base_dn=r.optional_text("base_dn"),
        bind_dn_env=r.get("bind_dn_env", str, rd.bind_dn_env, _env_name),
        password_env=r.get("password_env", str, rd.password_env, _env_name),
        write_bind_dn_env=r.get("write_bind_dn_env", str, rd.write_bind_dn_env, _env_name),
        write_password_env=r.get("write_password_env", str, rd.write_password_env, _env_name),
        ca_file=r.optional_text("ca_file"),
        connect_timeout=r.get("connect_timeout", int, rd.connect_timeout, _positive),
        timeout=r.get("timeout", int, rd.timeout, _positive),
        cache_seconds=r.get("cache_seconds", int, rd.cache_seconds, _positive),
    )
    if directory.uri and not directory.base_dn:
        problems.append("directory.base_dn: required when directory.uri is set")
    if directory.ca_file and not Path(directory.ca_file).is_file():
        problems.append(f"directory.ca_file: {directory.ca_file!r} is not a readable file")
    if approvals.ad_groups and not directory.uri:
        problems.append("approvals.ad_groups: needs [directory] uri (AD groups are read over LDAP)")

    u = _section(problems, data, "audit")
    u.unknown(set(AuditConfig.__dataclass_fields__))
    ud = AuditConfig()
    audit = AuditConfig(
        database=u.get("database", str, ud.database),
        slack_channel=u.optional_text("slack_channel"),
        key_env=u.get("key_env", str, ud.key_env, _env_name),
        key_file=u.optional_text("key_file"),
        anchor_file=u.optional_text("anchor_file"),
    )

    e = _section(problems, data, "executor")
    e.unknown(set(ExecutorConfig.__dataclass_fields__))
    ed = ExecutorConfig()
    executor = ExecutorConfig(
        workers=e.get("workers", int, ed.workers, _positive),
        poll_seconds=e.number("poll_seconds", ed.poll_seconds),
    )

    g = _section(problems, data, "logging")
    g.unknown(set(LoggingConfig.__dataclass_fields__))
    gd = LoggingConfig()
    logging_config = LoggingConfig(
        format=g.get("format", str, gd.format, _one_of("json", "text")),
        level=g.get("level", str, gd.level, _one_of("DEBUG", "INFO", "WARNING", "ERROR")),
        file=g.optional_text("file"),
    )

    if problems:
        raise ConfigError(problems)
    return Config(
        hosts=hosts,
        slack=slack,
        approvals=approvals,
        winrm=winrm,
        directory=directory,
        audit=audit,
        executor=executor,
        logging=logging_config,
        source=source,
    )


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
