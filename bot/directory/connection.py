"""One LDAP connection to Active Directory: TLS validated, reused, re-opened when dropped.

`ldaps://` is TLS from the first byte; `ldap://` always runs StartTLS before the bind, so the
service account's password never crosses the network in clear. Certificates are validated
against `ca_file` (else the system's CAs) and the host name of the URI. Every wait has a
timeout; every failure becomes a `DirectoryError` whose message is safe to show (no password,
no server text), with the detail in the log.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ldap3 import (
    AUTO_BIND_NO_TLS,
    AUTO_BIND_TLS_BEFORE_BIND,
    BASE,
    SIMPLE,
    SUBTREE,
    Connection,
    Server,
    Tls,
)
from ldap3.core.exceptions import (
    LDAPBindError,
    LDAPCommunicationError,
    LDAPException,
    LDAPInvalidCredentialsResult,
    LDAPNoSuchObjectResult,
    LDAPOperationResult,
    LDAPResponseTimeoutError,
    LDAPStartTLSError,
)

from commands.workflow.approvals import DirectoryError

log = logging.getLogger(__name__)
_PAGED_RESULTS = "1.2.840.113556.1.4.319"


@dataclass(frozen=True)
class LdapSettings:
    """Where and how to bind. `password` is a secret: never logged (repr hides it)."""

    uri: str
    bind_dn: str
    password: str
    ca_file: str | None = None
    connect_timeout: float = 5.0
    timeout: float = 10.0
    page_size: int = 500

    def __repr__(self) -> str:
        return f"LdapSettings(uri={self.uri!r}, bind_dn={self.bind_dn!r}, password=<hidden>)"


Entry = Mapping[str, Any]


@dataclass(frozen=True)
class Found:
    """One search result: its DN and attributes (multi-valued ones as lists)."""

    dn: str
    attributes: Entry


class LdapConnection:
    """A thread-safe, lazily opened connection; one retry on a fresh connection when the
    first attempt finds it dropped (DC restarted, idle timeout, network blip)."""

    def __init__(self, settings: LdapSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        parts = urlsplit(settings.uri)
        self._ldaps = parts.scheme == "ldaps"
        self._host = parts.hostname or ""
        self._port = parts.port or (636 if self._ldaps else 389)

    def _open(self) -> Connection:
        s = self._settings
        tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=s.ca_file)
        server = Server(
            self._host,
            port=self._port,
            use_ssl=self._ldaps,
            tls=tls,
            connect_timeout=s.connect_timeout,
            get_info=None,
        )
        return Connection(
            server,
            user=s.bind_dn,
            password=s.password,
            authentication=SIMPLE,
            auto_bind=AUTO_BIND_NO_TLS if self._ldaps else AUTO_BIND_TLS_BEFORE_BIND,
            receive_timeout=max(1, round(s.timeout)),
            raise_exceptions=True,
            read_only=False,
        )

    def close(self) -> None:
        """Unbind and forget the connection (the next call opens a new one)."""
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.unbind()
            except LDAPException:
                log.debug("unbind of a dropped LDAP connection failed", exc_info=True)
            self._connection = None

    def _run(self, what: str, operation: Any) -> Any:
        """Run `operation(connection)` under the lock, re-opening once if the connection kept
        from earlier is found dropped; turns every failure into a DirectoryError."""
        with self._lock:
            while True:
                reused = self._connection is not None
                try:
                    if self._connection is None:
                        self._connection = self._open()
                    return operation(self._connection)
                except (LDAPCommunicationError, LDAPResponseTimeoutError) as exc:
                    self._drop()
                    # Only a kept connection may have gone stale; a fresh one failing is news.
                    if not reused or not _worth_retrying(exc):
                        log.warning("LDAP %s failed: %r", what, exc)
                        raise DirectoryError(self._unreachable(exc)) from exc
                except (LDAPInvalidCredentialsResult, LDAPBindError) as exc:
                    self._drop()
                    log.warning("LDAP bind refused: %r", exc)
                    raise DirectoryError(
                        f"the directory at {self._settings.uri} refused the bind of "
                        f"{self._settings.bind_dn} (check the account and its password)"
                    ) from exc
                except LDAPStartTLSError as exc:
                    self._drop()
                    log.warning("LDAP StartTLS failed: %r", exc)
                    raise DirectoryError(
                        f"StartTLS with {self._settings.uri} failed: {_tls_hint(exc)}"
                    ) from exc

    def _unreachable(self, exc: Exception) -> str:
        uri = self._settings.uri
        text = str(exc).casefold()
        if "certificate" in text or "ssl" in text or "tls" in text:
            return f"cannot reach the directory at {uri}: {_tls_hint(exc)}"
        if "timed out" in text or isinstance(exc, LDAPResponseTimeoutError):
            return f"the directory at {uri} did not answer within {self._settings.timeout:g} s"
        return f"cannot reach the directory at {uri} (connection refused or dropped)"

    def search(
        self,
        base: str,
        search_filter: str,
        attributes: Sequence[str],
        *,
        scope: str = SUBTREE,
    ) -> list[Found]:
        """Every entry under `base` matching `search_filter` (values in it must already be
        escaped), read page by page. A base that does not exist gives no entries."""

        def operation(conn: Connection) -> list[Found]:
            return list(self._pages(conn, base, search_filter, attributes, scope))

        return list(self._run("search", operation))

    def _pages(
        self, conn: Connection, base: str, search_filter: str, attributes: Sequence[str], scope: str
    ) -> Iterator[Found]:
        cookie: bytes | None = None
        while True:
            try:
                conn.search(
                    base,
                    search_filter,
                    search_scope=scope,
                    attributes=list(attributes),
                    paged_size=None if scope == BASE else self._settings.page_size,
                    paged_cookie=cookie,
                    time_limit=int(self._settings.timeout),
                )
            except LDAPNoSuchObjectResult:
                return
            except LDAPOperationResult as exc:
                log.warning("LDAP search refused: %r", exc)
                raise DirectoryError(f"the directory refused a search ({exc.description})") from exc
            for entry in conn.response or ():
                if entry.get("type") == "searchResEntry":
                    yield Found(entry["dn"], dict(entry["attributes"]))
            control = (conn.result.get("controls") or {}).get(_PAGED_RESULTS)
            cookie = control["value"]["cookie"] if control else None
            if not cookie:
                return

    def modify(self, dn: str, changes: Mapping[str, list[tuple[str, list[Any]]]]) -> None:
        """Apply `changes` to `dn` in one LDAP modify (all of them or none)."""

        def operation(conn: Connection) -> None:
            try:
                conn.modify(dn, dict(changes))
            except LDAPOperationResult as exc:
                log.warning("LDAP modify of %s refused: %r", dn, exc)
                raise DirectoryError(
                    f"the directory refused the change to {dn} ({exc.description})"
                ) from exc

        self._run("modify", operation)


def _worth_retrying(exc: Exception) -> bool:
    # A certificate the CA does not vouch for will not change by asking twice.
    return "certificate" not in str(exc).casefold()


def _tls_hint(exc: Exception) -> str:
    text = str(exc).casefold()
    if "certificate verify failed" in text or "certificate" in text:
        return (
            "its TLS certificate is not trusted or does not match the host name "
            "(set [directory] ca_file to the CA that issued it)"
        )
    return "TLS failed"
