"""Everything that goes wrong between the bot and a host, classified into `HyperVError`.

Transport failures (refused, DNS, TLS, 401, timeouts, WSMan faults) are recognised by
exception type; PowerShell error records go through the knowledge base in
`commands.diagnosis`. Remote text is scrubbed of secrets and kept in `detail` (log only);
the exception's own message is always the knowledge base's summary, never remote text.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import requests
from pypsrp.exceptions import AuthenticationError, WinRMTransportError, WSManFaultError

from bot.winrm.objects import prop, text_of
from commands.diagnosis import KNOWLEDGE, Diagnosis, diagnose, diagnose_incompatibility
from commands.hyperv import ErrorKind, HyperVError, Incompatibility

WSMAN_OPERATION_TIMEOUT = 0x80338029
WSMAN_INVALID_SELECTORS = 0x8033805B

_ASSIGNMENT = re.compile(
    r"(?i)\b(password|passwd|pwd|secret|token|credential|apikey|api_key)(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|\S+)"
)
_REDACTED = "***"


class Scrubber:
    """Removes known secret values and `password=...`-like assignments from text."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first so a secret that contains another is removed whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, _REDACTED)
        return _ASSIGNMENT.sub(lambda m: m.group(1) + m.group(2) + _REDACTED, text)


def transport_error(exc: BaseException, host: str, scrub: Scrubber) -> HyperVError:
    """The classified form of an exception raised while talking WinRM to `host`."""
    kind = transport_kind(exc)
    detail = scrub(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, WSManFaultError):
        detail = scrub(f"WSManFault {exc.code}: {exc.reason or ''}")
    return KNOWLEDGE[kind].error(detail=detail, host=host)


def transport_kind(exc: BaseException) -> ErrorKind:
    """Which transport failure `exc` is."""
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


def is_transient(exc: BaseException) -> bool:
    """Whether retrying on a fresh pool may help: connection drops, timeouts, lost shells."""
    if isinstance(exc, WSManFaultError):
        return shell_lost(exc)
    if _tls_rejected(exc):
        return False
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return not _caused_by(exc, socket.gaierror)
    return isinstance(exc, ConnectionError)


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


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return True
        stack += [current.__cause__, current.__context__]
        stack += [a for a in current.args if isinstance(a, BaseException)]
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
    return False


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
