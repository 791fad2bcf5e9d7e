"""Everything that goes wrong between the bot and a host, classified into `HyperVError`.

Transport failures (refused, DNS, TLS, 401, timeouts, WSMan faults) are recognised by
exception type; PowerShell error records go through the knowledge base in
`commands.diagnosis`. Remote text is scrubbed of secrets and kept in `detail` (log only);
the exception's own message is always the knowledge base's summary, never remote text.
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl
from collections.abc import Iterable, Iterator
from typing import Any

import requests
from pypsrp.exceptions import AuthenticationError, WinRMTransportError, WSManFaultError

from bot.redaction import Redactor
from bot.winrm.objects import prop, text_of
from commands.diagnosis import KNOWLEDGE, Diagnosis, diagnose, diagnose_incompatibility
from commands.hyperv import ErrorKind, HyperVError, Incompatibility

WSMAN_OPERATION_TIMEOUT = 0x80338029
WSMAN_INVALID_SELECTORS = 0x8033805B


class Scrubber(Redactor):
    """Removes known secret values and `password=...`-like assignments from host text."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__(secrets, marker="***", assignments=True)


# OpenSSL's reasons for a first "record" that is not TLS at all (an HTTP answer read as
# TLS): 1.1/3.0 say WRONG_VERSION_NUMBER, 3.2+ RECORD_LAYER_FAILURE or PACKET_LENGTH_TOO_LONG.
_NOT_TLS_REASONS = ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG")
_ANSWERED_WITHOUT_TLS = "The host answered without TLS on this WinRM port."
_CLOSED_PLAIN_REQUEST = (
    "The host closed the connection without answering, and its WinRM port speaks TLS: "
    "it expects HTTPS."
)
_DROPPED = (
    "The host accepted the connection and closed it without answering: its WinRM service may "
    "be restarting or overloaded, or something on the way drops connections."
)


def transport_error(
    exc: BaseException,
    host: str,
    scrub: Scrubber,
    *,
    opening: bool = False,
    tls_port: bool = False,
) -> HyperVError:
    """The classified form of an exception raised while talking WinRM to `host`.

    `opening`: the failure came while opening a pool on a fresh connection; `tls_port`: a
    probe found that the port speaks TLS (see `transport_kind`).
    """
    kerberos = kerberos_error(exc, host, scrub)
    if kerberos is not None:
        return kerberos
    kind = transport_kind(exc, opening=opening, tls_port=tls_port)
    detail = scrub(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, WSManFaultError):
        detail = scrub(f"WSManFault {exc.code}: {exc.reason or ''}")
    summary = None
    if kind is ErrorKind.PROTOCOL_MISMATCH:
        summary = _ANSWERED_WITHOUT_TLS if _answered_without_tls(exc) else _CLOSED_PLAIN_REQUEST
    elif kind is ErrorKind.HOST_UNREACHABLE and _closed_unanswered(exc):
        summary = _DROPPED

    return KNOWLEDGE[kind].error(detail=detail, host=host, summary=summary)


def transport_kind(
    exc: BaseException, *, opening: bool = False, tls_port: bool = False
) -> ErrorKind:
    """Which transport failure `exc` is.

    A host that accepts the connection and closes it without any HTTP answer while a pool
    is opening is a TLS port sent plain HTTP only when a probe found TLS on that port
    (`tls_port`); otherwise, and on an open pool, it is a dropped connection, as an idle,
    restarting or overloaded host does.
    """
    if _answered_without_tls(exc) or (opening and tls_port and _closed_unanswered(exc)):
        return ErrorKind.PROTOCOL_MISMATCH
    if isinstance(exc, AuthenticationError):
        return ErrorKind.AUTHENTICATION
    if isinstance(exc, WinRMTransportError):
        return ErrorKind.AUTHENTICATION if exc.code in (401, 403) else ErrorKind.WSMAN_FAULT
    if isinstance(exc, WSManFaultError):
        return ErrorKind.TIMEOUT if exc.code == WSMAN_OPERATION_TIMEOUT else ErrorKind.WSMAN_FAULT
    if _tls_rejected(exc):
        return ErrorKind.TLS
    if isinstance(exc, requests.exceptions.Timeout | TimeoutError | socket.timeout):
        return ErrorKind.TIMEOUT
    if _caused_by(exc, socket.gaierror) or "NameResolutionError" in repr(exc):
        return ErrorKind.DNS
    return ErrorKind.HOST_UNREACHABLE


def is_transient(exc: BaseException, *, opening: bool = False, tls_port: bool = False) -> bool:
    """Whether retrying on a fresh pool may help: connection drops, timeouts, lost shells."""
    if _kerberos_text(exc) is not None:
        return False
    if isinstance(exc, WSManFaultError):
        return shell_lost(exc)
    mismatch = transport_kind(exc, opening=opening, tls_port=tls_port)
    if _tls_rejected(exc) or mismatch is ErrorKind.PROTOCOL_MISMATCH:
        return False
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return not _caused_by(exc, socket.gaierror)
    return isinstance(exc, ConnectionError)


_NO_TICKET_FIX = (
    "Give the bot a ticket: set KRB5_CLIENT_KTNAME to the service account's keytab, or run "
    "kinit as the bot's user, or set the [winrm] user (user@REALM) and password variables."
)
# What MIT Kerberos says (through gssapi, krb5 and pyspnego) → (summary, cause, fix).
# `{realm}` is the realm named in the message, `{host}` the inventory host.
_KERBEROS: tuple[tuple[re.Pattern[str], str, str, str], ...] = (
    (
        re.compile(r'Cannot find KDC for realm "(?P<realm>[^"]*)"'),
        "Kerberos realm {realm} is unknown to this machine.",
        "The principal names a realm that krb5.conf does not list (realms are upper case).",
        "Write the user as user@REALM with the domain's realm in capitals, and make sure "
        "krb5.conf (or KRB5_CONFIG) lists that realm's domain controllers.",
    ),
    (
        re.compile(r"Client '(?P<realm>[^']*)' not found in Kerberos database"),
        "The domain has no account {realm}.",
        "The user name is not a Kerberos principal of the realm (DOMAIN\\user is not one).",
        "Set the [winrm] user to user@REALM (for example svc-hvbot@CONTOSO.COM).",
    ),
    (
        re.compile(r"Clock skew too great"),
        "Kerberos refused the bot: clocks differ by more than 5 minutes.",
        "This machine's clock, or the host's, is off from the domain controllers' time.",
        "Synchronise this machine with the domain's time (NTP to a DC) and the host's clock "
        "(w32tm /resync on it), then retry.",
    ),
    (
        re.compile(
            r"No Kerberos credentials available|No credentials cache found|Ticket expired"
            r"|credentials were unavailable|Credentials cache file .* not found"
        ),
        "The bot has no valid Kerberos ticket to reach {host}.",
        "No ticket cache, client keytab or user and password is available (or it expired).",
        _NO_TICKET_FIX,
    ),
    (
        re.compile(r"Server not found in Kerberos database|Server .* not found in Kerberos"),
        "The domain knows no service principal for {host} (HTTP/<its FQDN>).",
        "The host's fqdn in [[hosts]] is not the dNSHostName of a computer object in the "
        "domain, or the host is not joined to it.",
        "Check the host's fqdn in hvbot.toml against `setspn -Q HTTP/<fqdn>`; join the host "
        "to the domain or fix the name.",
    ),
    (
        re.compile(r"Preauthentication failed|Password incorrect"),
        "The domain refused the bot's Kerberos password.",
        "The password in the [winrm] password variable is wrong or expired.",
        "Set the service account's current password (or use its keytab via KRB5_CLIENT_KTNAME).",
    ),
)


def _kerberos_text(exc: BaseException) -> tuple[re.Match[str], int] | None:
    """The first Kerberos failure named anywhere in `exc`'s chain, with its table row."""
    for cause in _causes(exc):
        text = str(cause)
        for index, (pattern, *_rest) in enumerate(_KERBEROS):
            match = pattern.search(text)
            if match is not None:
                return match, index
    return None


def kerberos_error(exc: BaseException, host: str, scrub: Scrubber) -> HyperVError | None:
    """The classified Kerberos failure behind `exc` (wrong realm, clock skew, no ticket,
    unknown SPN...), or None when `exc` is not one: one line that names what to fix."""
    found = _kerberos_text(exc)
    if found is None:
        return None
    match, index = found
    _pattern, summary, cause, fix = _KERBEROS[index]
    realm = match.groupdict().get("realm") or ""
    return HyperVError(
        ErrorKind.AUTHENTICATION,
        summary.format(realm=realm, host=host),
        cause=cause,
        fix=fix,
        detail=scrub(f"{type(exc).__name__}: {exc}"),
        host=host,
    )


def shell_lost(exc: BaseException) -> bool:
    """Whether the host no longer knows our shell (so a command sent to it never ran)."""
    # pypsrp keeps the fault code untyped.
    return isinstance(exc, WSManFaultError) and bool(exc.code == WSMAN_INVALID_SELECTORS)


def _tls_rejected(exc: BaseException) -> bool:
    """A TLS failure that is about trust (certificate, name, protocol), not a dropped link.

    An EOF in the middle of the handshake is the host going away, not a bad certificate.
    """
    if _caused_by(exc, ssl.SSLEOFError) or _caused_by(exc, ssl.SSLZeroReturnError):
        return False
    return isinstance(exc, requests.exceptions.SSLError) or _caused_by(exc, ssl.SSLError)


def _answered_without_tls(exc: BaseException) -> bool:
    """The TLS handshake read a plain answer (the port speaks HTTP, not TLS)."""
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLError):
            text = str(cause).upper()
            if any(r in text for r in _NOT_TLS_REASONS):
                return True
    return False


def closed_unanswered(exc: BaseException) -> bool:
    """Whether the host closed the connection without an answer (see `speaks_tls`)."""
    return _closed_unanswered(exc)


def speaks_tls(server: str, port: int, timeout: float) -> bool:
    """Whether `server:port` completes a TLS handshake: tells a TLS port sent plain HTTP (it
    closes without answering) from a host dropping connections. Nothing but the handshake is
    sent, so the certificate is not checked here; real calls check it as configured."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((server, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=server),
        ):
            return True
    except OSError:
        return False


def _closed_unanswered(exc: BaseException) -> bool:
    """The host accepted the connection and closed it without an HTTP status line."""
    return _caused_by(exc, http.client.RemoteDisconnected)


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    return any(isinstance(cause, kind) for cause in _causes(exc))


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and everything it wraps (cause, context, args, urllib3's `reason`), once each."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack += [current.__cause__, current.__context__]
        stack += [a for a in current.args if isinstance(a, BaseException)]
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)


def record_text(record: Any) -> tuple[str, str, int | None]:
    """(message, FullyQualifiedErrorId, HRESULT) of a pypsrp ErrorRecord."""
    exception = getattr(record, "exception", None)
    message = (
        prop(exception, "Message")
        or text_of(exception)
        or getattr(record, "message", None)
        or text_of(record)
    )
    hresult = prop(exception, "HResult")
    return (
        str(message or ""),
        str(getattr(record, "fq_error", "") or ""),
        hresult if isinstance(hresult, int) else None,
    )


def records_error(records: Iterable[Any], host: str, scrub: Scrubber) -> HyperVError:
    """One classified error for the error records of a pipeline (the first specific one wins)."""
    texts = [record_text(r) for r in records]
    chosen: Diagnosis = KNOWLEDGE[ErrorKind.REMOTE_ERROR]
    for message, fqeid, hresult in texts:
        candidate = diagnose(message, fq_error_id=fqeid, hresult=hresult)
        if candidate.kind is not ErrorKind.REMOTE_ERROR:
            chosen = candidate
            break
    detail = "\n".join(scrub(f"{fqeid}: {message}") for message, fqeid, _ in texts)
    return chosen.error(detail=detail, host=host)


def incompatibilities_error(
    items: Iterable[Incompatibility], host: str, scrub: Scrubber
) -> HyperVError:
    """The classified error for a Compare-VM report (its first incompatibility decides)."""
    listed = tuple(items)
    diagnosis = diagnose_incompatibility(listed[0]) if listed else KNOWLEDGE[ErrorKind.REMOTE_ERROR]
    detail = "\n".join(scrub(f"{i.message_id}: {i.message}") for i in listed)
    return diagnosis.error(detail=detail, host=host)
