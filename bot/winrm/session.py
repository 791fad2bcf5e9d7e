"""WinRM sessions: connection settings from the config, and one reusable runspace pool per host.

pypsrp has no locks (architecture §6), so each `HostSession` serialises its pool behind a lock.
A pool the host dropped (idle timeout, restart) is re-opened transparently; transient
transport errors are retried with backoff, but a command that may have started changing
something is never sent twice.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from bot.config import PASSWORD_AUTHS, Config, Secrets, WinRMConfig
from bot.winrm.calls import Script, Step, refuse_patterns
from bot.winrm.errors import (
    Scrubber,
    closed_unanswered,
    is_transient,
    shell_lost,
    speaks_tls,
    transport_error,
)
from commands.hyperv import ErrorKind, HyperVError
from commands.inventory import Host, Inventory
from commands.invocation import ParameterValue

log = logging.getLogger(__name__)

_SPNEGO_AUTHS = ("negotiate", "kerberos", "ntlm")


@dataclass(frozen=True)
class Endpoint:
    """Where one inventory host's WinRM listens."""

    host: Host
    server: str
    port: int


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything needed to open a WSMan connection to an inventory host (secrets hidden)."""

    winrm: WinRMConfig
    endpoints: dict[str, Endpoint]
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_config(cls, config: Config, secrets: Secrets) -> ConnectionSettings:
        """Settings for every inventory host; credentials read from the named env vars."""
        endpoints = {
            h.name.casefold(): Endpoint(
                h.to_host(), h.address or h.fqdn, h.port or config.winrm.port
            )
            for h in config.hosts
        }
        return cls(
            winrm=config.winrm,
            endpoints=endpoints,
            username=secrets.get(config.winrm.username_env),
            password=secrets.get(config.winrm.password_env),
        )

    @property
    def inventory(self) -> Inventory:
        """The hosts these settings can reach (and no other)."""
        return Inventory(e.host for e in self.endpoints.values())

    def scrubber(self) -> Scrubber:
        """A scrubber that knows this configuration's password."""
        return Scrubber([self.password])

    def endpoint(self, host: Host) -> Endpoint:
        """The endpoint of an inventory host; refuses anything else."""
        endpoint = self.endpoints.get(host.name.casefold())
        if endpoint is None or endpoint.host.fqdn.casefold() != host.fqdn.casefold():
            raise HyperVError(
                ErrorKind.HOST_UNREACHABLE,
                f"{host.name} is not in the inventory; hvbot only contacts configured hosts.",
                host=host.name,
            )
        return endpoint

    def wsman(self, host: Host) -> WSMan:
        """A new WSMan connection to `host` (no network traffic until first use)."""
        w = self.winrm
        if w.auth in PASSWORD_AUTHS and not (self.username and self.password):
            raise HyperVError(
                ErrorKind.AUTHENTICATION,
                f"No WinRM credentials: set {w.username_env} and {w.password_env}.",
                cause="The environment variables named in [winrm] are empty.",
                fix=f"Export {w.username_env} and {w.password_env} before starting hvbot.",
                host=host.name,
            )
        if w.auth == "kerberos":
            _require_gssapi(host)
        endpoint = self.endpoint(host)
        # Basic and certificate auth cannot encrypt messages themselves: over HTTPS TLS
        # protects them; over plain HTTP the password would travel in clear text, which only
        # a lab on this machine may accept.
        plain = not w.ssl and w.auth in ("basic", "certificate")
        if plain and not _loopback(endpoint.server):
            raise HyperVError(
                ErrorKind.TLS,
                f"hvbot will not send {w.auth} credentials to {host.name} without TLS.",
                cause="winrm.ssl is off and this auth method cannot encrypt messages itself.",
                fix="Set winrm.ssl = true (port 5986), or use kerberos, negotiate or ntlm, "
                "which encrypt WinRM messages over HTTP.",
                host=host.name,
            )
        if plain:
            log.warning(
                "winrm without TLS or message encryption", extra={"host": host.name, "auth": w.auth}
            )
        if w.ssl and not w.ca_file and not w.cert_validation:
            log.warning("winrm TLS certificate not validated", extra={"host": host.name})
        validation: bool | str = w.ca_file if (w.ssl and w.ca_file) else w.cert_validation
        # Kerberos asks for a ticket to HTTP/<name it connects to>: behind NAT or an IP
        # address that would be the wrong principal (and delegation would break), so the
        # host's FQDN stays the service name.
        # The service part is HTTP, as Windows' own WinRM client asks for (pypsrp would ask
        # for host/): both resolve to the host's computer account in AD.
        spnego: dict[str, str] = {"negotiate_service": "HTTP"} if w.auth in _SPNEGO_AUTHS else {}
        if w.auth in _SPNEGO_AUTHS and endpoint.server.casefold() != host.fqdn.casefold():
            spnego["negotiate_hostname_override"] = host.fqdn
        # Kerberos takes a user and password only as a pair (a ticket is then asked for with
        # them); otherwise the ticket cache or the client keytab (KRB5_CLIENT_KTNAME) is used.
        pair = bool(self.username and self.password) or w.auth != "kerberos"
        return WSMan(
            endpoint.server,
            port=endpoint.port,
            username=self.username if pair else None,
            password=self.password if pair else None,
            ssl=w.ssl,
            auth=w.auth,
            # pypsrp hands this to requests' `verify`, which takes a CA bundle path too.
            cert_validation=validation,  # type: ignore[arg-type]
            connection_timeout=w.connection_timeout,
            operation_timeout=w.operation_timeout,
            read_timeout=w.read_timeout,
            # Hosts are reached directly; an environment proxy must never see the credentials.
            no_proxy=True,
            encryption="never" if plain else "auto",
            **spnego,  # type: ignore[arg-type]
        )


def _require_gssapi(host: Host) -> None:
    """Kerberos needs the optional `gssapi`/`krb5` bindings: say how to get them, once, clearly."""
    try:
        import gssapi  # noqa: F401
        import krb5  # noqa: F401
    except ImportError:
        raise HyperVError(
            ErrorKind.AUTHENTICATION,
            "winrm.auth = kerberos needs the Kerberos bindings, which are not installed.",
            cause="The Python packages gssapi and krb5 are missing.",
            fix="Install libkrb5-dev, then pip install 'hvbot[kerberos]' "
            "(or set winrm.auth to ntlm or negotiate).",
            host=host.name,
        ) from None


def _loopback(server: str) -> bool:
    """Whether `server` names this machine (a lab), where nothing crosses a network."""
    if server.casefold() == "localhost":
        return True
    try:
        return ipaddress.ip_address(server).is_loopback
    except ValueError:
        return False


@dataclass
class Result:
    """What one pipeline returned: output objects and error records (non-terminating too)."""

    output: list[Any]
    errors: list[Any]
    had_errors: bool

    @property
    def failed(self) -> bool:
        """Whether PowerShell reported any error, terminating or not (architecture §6)."""
        return self.had_errors or bool(self.errors)


def build_pipeline(pool: RunspacePool, invocations: Sequence[Step]) -> PowerShell:
    """A PowerShell pipeline of `invocations` (`a | b`), built with add_cmdlet/add_parameter;
    a fixed script goes in with add_script, its values still as parameters."""
    ps = PowerShell(pool)
    for invocation in invocations:
        if isinstance(invocation, Script):
            ps.add_script(invocation.text)
        else:
            ps.add_cmdlet(invocation.cmdlet)
        for parameter in invocation.parameters:
            if parameter.value is None:
                ps.add_parameter(parameter.name)
            else:
                ps.add_parameter(parameter.name, _wire(parameter.value))
    return ps


def _wire(value: ParameterValue) -> Any:
    if isinstance(value, tuple):
        return [item if isinstance(item, str) else dict(item) for item in value]
    if isinstance(value, Mapping):
        return dict(value)
    return value


class HostSession:
    """One host's runspace pool, opened on first use, reused, and serialised by a lock."""

    def __init__(
        self,
        host: Host,
        settings: ConnectionSettings,
        *,
        retries: int = 2,
        backoff: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.host = host
        self._settings = settings
        self._scrub = settings.scrubber()
        self._retries = retries
        self._backoff = backoff
        self._sleep = sleep
        # One deadline per call, retries included: a host that takes a request and never
        # answers costs one read timeout, not one per attempt.
        self._deadline = float(settings.winrm.read_timeout)
        self.lock = threading.RLock()
        self._pool: RunspacePool | None = None
        self.opened = 0

    @property
    def scrub(self) -> Scrubber:
        """The scrubber for text coming from this host."""
        return self._scrub

    def pool(self) -> RunspacePool:
        """The open pool, opening it if needed. Call with `lock` held."""
        if self._pool is None:
            pool = RunspacePool(self._settings.wsman(self.host))
            try:
                pool.open()
            except Exception:
                _close_quietly(pool)
                raise
            self._pool = pool
            self.opened += 1
            log.info("winrm pool opened", extra={"host": self.host.name, "opened": self.opened})
        return self._pool

    def open(self) -> RunspacePool:
        """The open pool; transient failures while opening are retried (nothing ran yet)
        within the call's deadline."""
        attempt = 0
        deadline = time.monotonic() + self._deadline
        while True:
            with self.lock:
                try:
                    return self.pool()
                except HyperVError:
                    raise
                except Exception as exc:
                    opening = self._pool is None
                    self.discard()
                    tls_port = self._probe(exc, opening)
                    error = self._classified(exc, opening, tls_port)
                    transient = is_transient(exc, opening=opening, tls_port=tls_port)
                    if not transient or not self._may_retry(attempt, deadline):
                        raise error from None
            attempt += 1
            self._sleep(self._pause(attempt))

    def _pause(self, attempt: int) -> float:
        return float(self._backoff * (2 ** (attempt - 1)))

    def _may_retry(self, attempt: int, deadline: float) -> bool:
        """Whether another attempt fits: under the retry count and before the deadline."""
        return attempt < self._retries and time.monotonic() + self._pause(attempt + 1) < deadline

    def _probe(self, exc: BaseException, opening: bool) -> bool:
        """For a close without answer on a fresh plain-HTTP connection: does the port speak
        TLS? (Then it expects HTTPS; otherwise the host dropped the connection.)"""
        if not (opening and closed_unanswered(exc)) or self._settings.winrm.ssl:
            return False
        endpoint = self._settings.endpoint(self.host)
        timeout = float(self._settings.winrm.connection_timeout)
        return speaks_tls(endpoint.server, endpoint.port, timeout)

    def _classified(self, exc: BaseException, opening: bool, tls_port: bool) -> HyperVError:
        return transport_error(exc, self.host.name, self._scrub, opening=opening, tls_port=tls_port)

    def discard(self) -> None:
        """Forget the pool (after the host dropped it or a transport error). Call with lock held."""
        if self._pool is not None:
            _close_quietly(self._pool)
            self._pool = None

    def run(self, invocations: Sequence[Step], *, idempotent: bool = True) -> Result:
        """Run one pipeline and return its output and error records.

        Transport errors are retried on a fresh pool when the call is `idempotent`, or when
        the host had lost our shell (so the command never ran); otherwise they are raised
        classified, at once.
        """
        if not invocations:
            raise ValueError("a pipeline needs at least one invocation")
        refuse_patterns(invocations)
        attempt = 0
        deadline = time.monotonic() + self._deadline
        while True:
            with self.lock:
                started = False
                try:
                    pool = self.pool()
                    ps = build_pipeline(pool, invocations)
                    started = True
                    ps.invoke()
                    # The pipeline is done; forget it client-side so a long-lived pool
                    # does not accumulate every pipeline it ever ran.
                    pool.pipelines.pop(ps.id, None)
                    return Result(list(ps.output), list(ps.streams.error), bool(ps.had_errors))
                except HyperVError:
                    raise
                except Exception as exc:
                    # `pool()` only fails while opening a pool, on a fresh connection.
                    opening = self._pool is None
                    self.discard()
                    tls_port = self._probe(exc, opening)
                    retry = (
                        is_transient(exc, opening=opening, tls_port=tls_port)
                        and (not started or idempotent or shell_lost(exc))
                        and self._may_retry(attempt, deadline)
                    )
                    error = self._classified(exc, opening, tls_port)
                    log.warning(
                        "winrm call failed",
                        extra={
                            "host": self.host.name,
                            "cmdlet": invocations[0].cmdlet if invocations else "",
                            "kind": error.kind.value,
                            "detail": error.detail,
                            "attempt": attempt,
                            "retry": retry,
                        },
                    )
                    if not retry:
                        raise error from None
            attempt += 1
            self._sleep(self._pause(attempt))

    def close(self) -> None:
        """Close the pool on the host (best effort)."""
        with self.lock:
            self.discard()


def _close_quietly(pool: RunspacePool) -> None:
    try:
        pool.close()
    except Exception as exc:
        # The host may already have dropped the shell; nothing left to clean there.
        log.debug("winrm pool close failed", extra={"error": type(exc).__name__})


class Sessions:
    """The host sessions of the bot: one per inventory host, created on first use."""

    def __init__(self, settings: ConnectionSettings, **session_options: Any) -> None:
        self.settings = settings
        self._options = session_options
        self._lock = threading.Lock()
        self._sessions: dict[str, HostSession] = {}

    def get(self, host: Host) -> HostSession:
        """The shared session of an inventory host."""
        self.settings.endpoint(host)
        key = host.name.casefold()
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                session = HostSession(host, self.settings, **self._options)
                self._sessions[key] = session
            return session

    def dedicated(self, host: Host) -> HostSession:
        """A session of its own (for a long pipeline that must not block the shared pool)."""
        self.settings.endpoint(host)
        return HostSession(host, self.settings, **self._options)

    def close(self) -> None:
        """Close every shared pool."""
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            session.close()
