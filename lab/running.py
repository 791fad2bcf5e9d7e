"""Start a whole lab: one WinRM listener per simulated host of a world, on 127.0.0.1.

    with start_lab(world, auth="ntlm", https=True) as lab:
        WSMan(**lab.client_options("HV-SRV01"))

The host a request reaches is known from the port it arrives on, so the world's runner is
told which host runs each pipeline.
"""

from __future__ import annotations

import shutil
import tempfile
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lab.pipeline import CommandRunner
from lab.winrm import Accounts, CertificateAuthority, HostListener
from lab.winrm.auth import NTLM_STORE

AUTHS = ("basic", "ntlm", "kerberos")
LOOPBACK = "127.0.0.1"


class LabHost(Protocol):
    """What the lab needs to know about one simulated host."""

    @property
    def fqdn(self) -> str:
        """The host's fully qualified name (its certificate's name)."""


class LabWorld(CommandRunner, Protocol):
    """The world as the WinRM side sees it: hosts, who may log on, which hosts answer."""

    @property
    def credentials(self) -> Mapping[str, str]:
        """Account → password of everyone who may log on."""

    def host_names(self) -> list[str]:
        """Short names of every host."""

    def host(self, name: str) -> LabHost | None:
        """The host called `name` (short name or FQDN), if any."""

    def is_reachable(self, host: str) -> bool:
        """False for a host that must not answer at all."""

    def authenticate(self, host: str, user: str, password: str) -> bool:
        """True if `user`/`password` may log on to `host`."""


@dataclass(frozen=True)
class Endpoint:
    """Where one simulated host listens."""

    name: str
    fqdn: str
    port: int
    scheme: str

    @property
    def url(self) -> str:
        """The WS-Management URL on loopback."""
        return f"{self.scheme}://{LOOPBACK}:{self.port}/wsman"


class RunningLab:
    """A running lab: endpoints, the credentials and CA to use, and `stop()`."""

    def __init__(
        self,
        listeners: list[HostListener],
        endpoints: dict[str, Endpoint],
        auth: str,
        credentials: Mapping[str, str],
        ca_file: Path | None,
        work_dir: Path,
        owns_work_dir: bool,
        ntlm_token: int,
    ) -> None:
        self._listeners = listeners
        self.endpoints = endpoints
        self.auth = auth
        self.username, self.password = next(iter(credentials.items()))
        self.ca_file = ca_file
        self._work_dir = work_dir
        self._owns_work_dir = owns_work_dir
        self._ntlm_token = ntlm_token
        self._stopped = False

    def __enter__(self) -> RunningLab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self.stop()

    def endpoint(self, host: str) -> Endpoint:
        """The endpoint of `host` (short name, any case)."""
        return self.endpoints[host.upper()]

    def client_options(self, host: str) -> dict[str, Any]:
        """Keyword arguments for `pypsrp.wsman.WSMan` to reach `host` as the lab's first user."""
        endpoint = self.endpoint(host)
        https = endpoint.scheme == "https"
        return {
            "server": LOOPBACK,
            "port": endpoint.port,
            "ssl": https,
            "auth": self.auth,
            "username": self.username,
            "password": self.password,
            "cert_validation": str(self.ca_file) if self.ca_file else False,
            # Basic over plain HTTP cannot encrypt messages; pypsrp must be told so.
            "encryption": "never" if self.auth == "basic" and not https else "auto",
        }

    def config_fragment(self) -> str:
        """A ready `hvbot.toml` fragment: `[winrm]` and one `[[hosts]]` per host."""
        https = any(e.scheme == "https" for e in self.endpoints.values())
        lines = [
            "[winrm]",
            f'auth = "{self.auth}"',
            f"ssl = {'true' if https else 'false'}",
        ]
        if self.ca_file is not None:
            lines += ["cert_validation = true", f'ca_file = "{self.ca_file}"']
        lines += ['username_env = "HVBOT_WINRM_USER"', 'password_env = "HVBOT_WINRM_PASSWORD"']
        for endpoint in self.endpoints.values():
            lines += [
                "",
                "[[hosts]]",
                f'name = "{endpoint.name}"',
                f'fqdn = "{endpoint.fqdn}"',
                f'address = "{LOOPBACK}"',
                f"port = {endpoint.port}",
            ]
        return "\n".join(lines) + "\n"

    def stop(self) -> None:
        """Stop every listener and remove the generated files; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        for listener in self._listeners:
            listener.stop()
        NTLM_STORE.unregister(self._ntlm_token)
        if self._owns_work_dir:
            shutil.rmtree(self._work_dir, ignore_errors=True)


def start_lab(
    world: LabWorld,
    *,
    auth: str = "basic",
    https: bool = False,
    ports: Mapping[str, int] | None = None,
    work_dir: Path | None = None,
    max_operation_timeout: float = 60.0,
    keytabs: Mapping[str, Path] | None = None,
) -> RunningLab:
    """Start one listener per host of `world` and return the running lab.

    `ports` maps host names to fixed ports (default: any free port). With `https`, a fresh CA
    and per-host certificates are written to `work_dir` (default: a temporary directory that
    `stop()` removes). `auth` only says what clients should use: every listener accepts Basic
    and Negotiate/NTLM, like a Windows listener with Basic enabled; a host named in `keytabs`
    (short name → keytab exported from the lab's DC) accepts Kerberos too.
    """
    if auth not in AUTHS:
        raise ValueError(f"auth must be one of {', '.join(AUTHS)}, not {auth!r}")
    credentials = dict(world.credentials)
    if not credentials:
        raise ValueError("the world has no credentials: nobody could log on")
    owns_work_dir = work_dir is None
    directory = work_dir or Path(tempfile.mkdtemp(prefix="hvbot-lab-"))
    ca = CertificateAuthority.create(directory) if https else None
    ntlm_token = NTLM_STORE.register(Accounts(credentials))
    listeners: list[HostListener] = []
    endpoints: dict[str, Endpoint] = {}
    # Built first and filled as listeners start, so a failure cleans up through `stop()`.
    lab = RunningLab(
        listeners,
        endpoints,
        auth,
        credentials,
        ca.ca_file if ca else None,
        directory,
        owns_work_dir,
        ntlm_token,
    )
    try:
        for name in world.host_names():
            host = world.host(name)
            fqdn = host.fqdn if host is not None else name
            listener = HostListener(
                name,
                world,
                Accounts(credentials, allow=_allow(world, name)),
                port=(ports or {}).get(name, 0),
                tls_context=ca.server_context(fqdn, name) if ca else None,
                reachable=_reachable(world, name),
                max_operation_timeout=max_operation_timeout,
                keytab=(keytabs or {}).get(name),
            )
            listener.start()
            listeners.append(listener)
            endpoints[name.upper()] = Endpoint(name, fqdn, listener.port, listener.scheme)
    except BaseException:
        lab.stop()
        raise
    return lab


def _allow(world: LabWorld, host: str) -> Callable[[str, str], bool]:
    return lambda user, password: world.authenticate(host, user, password)


def _reachable(world: LabWorld, host: str) -> Callable[[], bool]:
    return lambda: world.is_reachable(host)
