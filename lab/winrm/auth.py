"""HTTP authentication of the lab's WinRM listeners: Basic, Negotiate/NTLM and Kerberos, with
message encryption.

Like Windows, a listener answers a request without valid credentials with 401 and offers
`Negotiate` and `Basic realm="WSMAN"`. NTLM is accepted with pyspnego's acceptor, which reads
the accounts from the file named by the process-wide `NTLM_USER_FILE` variable: the lab writes
that file with every account of every running lab. An NTLM security context belongs to one TCP
connection, and so does the message encryption it provides.

A host given a keytab (exported from the lab's AD DC for its `WSMAN/` and `HTTP/` names) also
accepts Kerberos AP-REQs sent under `Negotiate`, bare as pypsrp's `auth="kerberos"` sends them
or inside SPNEGO as Windows' WinRM client and pypsrp's `auth="negotiate"` send them
(`lab.winrm.spnego_tokens`), through pyspnego's GSSAPI acceptor. The keytab holds this host's
keys only, so a ticket for another host is refused here as Windows would (the KDC encrypted it
with another key).
A failed Kerberos exchange is answered with a bare 401, the acceptor's error token is not
sent back (whether Windows' http.sys sends it is unverified; the lab stays the stricter).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import spnego
import spnego.exceptions
from pypsrp.encryption import WinRMEncryption

from lab.winrm.spnego_tokens import KerberosOffer, accepted, kerberos_offer

DEFAULT_DOMAIN = "LAB"
CHALLENGE_HEADERS = ("Negotiate", 'Basic realm="WSMAN"')
_AUTH_HEADER = re.compile(
    r"^\s*(?P<scheme>Basic|Negotiate|NTLM|Kerberos)\s+(?P<token>\S+)\s*$", re.I
)
_BOUNDARY = re.compile(r'boundary="?(?P<boundary>[^";]+)"?')
# A raw Kerberos GSS token: [APPLICATION 0] with the Kerberos 5 mechanism OID (RFC 4121 §4.1).
_KRB5_OID = bytes.fromhex("06092a864886f712010202")


@dataclass(frozen=True)
class Accounts:
    """Who may log on to one host.

    `credentials` maps accounts (`DOMAIN\\user` or `user`) to passwords; `allow` is an
    optional further check (the world's, which knows about injected credential faults).
    """

    credentials: Mapping[str, str]
    allow: Callable[[str, str], bool] | None = None

    def check(self, username: str, password: str) -> str | None:
        """The account name when `username`/`password` may log on, else None."""
        account = self._find(username)
        if account is None or self.credentials[account] != password:
            return None
        if self.allow is not None and not self.allow(username, password):
            return None
        return account

    def check_principal(self, principal: str) -> str | None:
        """The account of an NTLM-authenticated principal, if it may (still) log on here."""
        account = self._find(principal)
        if account is None:
            return None
        return self.check(principal, self.credentials[account])

    def ntlm_lines(self) -> list[str]:
        """`DOMAIN:USER:PASSWORD` lines for pyspnego, with and without the domain."""
        lines = []
        for account, password in self.credentials.items():
            domain, _, user = account.rpartition("\\")
            lines.append(f"{domain or DEFAULT_DOMAIN}:{user}:{password}")
            lines.append(f":{user}:{password}")
        return lines

    def _find(self, username: str) -> str | None:
        wanted = _bare_user(username)
        return next((a for a in self.credentials if _bare_user(a) == wanted), None)


def _bare_user(username: str) -> str:
    """`user`, `DOMAIN\\user` and `user@domain` name the same account."""
    return username.rpartition("\\")[2].partition("@")[0].lower()


class _NtlmStore:
    """The process-wide NTLM_USER_FILE: the union of the accounts of all running labs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._registered: dict[int, list[str]] = {}
        self._path: Path | None = None

    def register(self, accounts: Accounts) -> int:
        with self._lock:
            token = max(self._registered, default=0) + 1
            self._registered[token] = accounts.ntlm_lines()
            self._write()
            return token

    def unregister(self, token: int) -> None:
        with self._lock:
            self._registered.pop(token, None)
            self._write()

    def _write(self) -> None:
        if not self._registered:
            if self._path is not None:
                self._path.unlink(missing_ok=True)
                self._path = None
                os.environ.pop("NTLM_USER_FILE", None)
            return
        if self._path is None:
            handle, name = tempfile.mkstemp(prefix="hvbot-lab-ntlm-", suffix=".txt")
            os.close(handle)
            self._path = Path(name)
        lines = [line for group in self._registered.values() for line in group]
        self._path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.environ["NTLM_USER_FILE"] = str(self._path)


NTLM_STORE = _NtlmStore()


class AuthFailed(Exception):
    """The credentials are wrong or the token is invalid: answer 401 and forget the context."""


@dataclass
class AuthStep:
    """The result of one authentication step for a request."""

    user: str | None  # set once authenticated
    reply_token: str | None = None  # WWW-Authenticate value to send back


class ConnectionAuth:
    """The authentication state of one HTTP connection."""

    def __init__(self, accounts: Accounts, keytab: Path | None = None) -> None:
        self._accounts = accounts
        self._keytab = keytab
        self._context: spnego.ContextProxy | None = None
        self._scheme = "Negotiate"
        # The SPNEGO offer the Kerberos context answers, when Kerberos came inside SPNEGO.
        self._offer: KerberosOffer | None = None
        self.user: str | None = None
        self.encryption: WinRMEncryption | None = None

    def authenticate(self, authorization: str | None) -> AuthStep:
        """Process the request's Authorization header; raises `AuthFailed`."""
        if authorization is None:
            return AuthStep(self.user)
        match = _AUTH_HEADER.match(authorization)
        if match is None:
            raise AuthFailed("unsupported Authorization header")
        scheme, token = match.group("scheme"), match.group("token")
        try:
            raw = base64.b64decode(token, validate=True)
        except binascii.Error as exc:
            raise AuthFailed("token is not base64") from exc
        if scheme.lower() == "basic":
            return self._basic(raw)
        return self._negotiate(scheme, raw)

    def _basic(self, raw: bytes) -> AuthStep:
        username, sep, password = raw.decode("utf-8", "replace").partition(":")
        user = self._accounts.check(username, password) if sep else None
        if user is None:
            raise AuthFailed("wrong user name or password")
        self.user = user
        self.encryption = None
        return AuthStep(user)

    def _negotiate(self, scheme: str, raw: bytes) -> AuthStep:
        if self._context is None or self._context.complete:
            self._offer = kerberos_offer(raw) if self._keytab is not None else None
            if self._offer is not None:
                raw = self._offer.token
            self._context = self._new_context(raw)
            self._scheme = scheme
            self.user = None
            self.encryption = None
        try:
            out = self._context.step(raw)
        except spnego.exceptions.SpnegoError as exc:
            self._context = None
            raise AuthFailed("authentication failed") from exc
        if self._offer is not None:
            out = accepted(self._offer, out or b"")
        reply = f"{self._scheme} {base64.b64encode(out).decode()}" if out else None
        if not self._context.complete:
            return AuthStep(None, reply)
        user = self._accounts.check_principal(self._context.client_principal or "")
        if user is None:
            self._context = None
            raise AuthFailed("account may not log on to this host")
        self.user = user
        self.encryption = WinRMEncryption(self._context, WinRMEncryption.SPNEGO)
        return AuthStep(self.user, reply)

    def _new_context(self, raw: bytes) -> spnego.ContextProxy:
        options = spnego.NegotiateOptions.wrapping_winrm
        if raw.startswith(b"NTLMSSP\x00"):
            return spnego.server(protocol="ntlm", options=options)
        if _is_kerberos(raw):
            if self._keytab is None:
                raise AuthFailed("this host has no Kerberos keys")
            return spnego.server(
                protocol="kerberos", options=options, _gssapi_credential=_acceptor(self._keytab)
            )
        return spnego.server(protocol="negotiate", options=options)

    def unwrap(self, content_type: str, body: bytes) -> bytes:
        """The SOAP text of an encrypted (multipart/encrypted) request body."""
        boundary = _BOUNDARY.search(content_type)
        if self.encryption is None or boundary is None:
            raise AuthFailed("encrypted body without a security context")
        data: bytes = self.encryption.unwrap_message(body, boundary.group("boundary"))
        return data

    def wrap(self, body: bytes) -> tuple[str, bytes]:
        """Content-Type and payload of an encrypted reply."""
        if self.encryption is None:
            raise AuthFailed("no security context to encrypt with")
        content_type, payload = self.encryption.wrap_message(body)
        return (
            f'{content_type};protocol="{WinRMEncryption.SPNEGO}";boundary="Encrypted Boundary"',
            payload,
        )


def _is_kerberos(raw: bytes) -> bool:
    """Whether `raw` is a bare Kerberos token (not SPNEGO, whose OID comes first instead)."""
    if len(raw) < 2 or raw[0] != 0x60:
        return False
    header = 2 + (raw[1] & 0x7F if raw[1] & 0x80 else 0)
    return raw[header : header + len(_KRB5_OID)] == _KRB5_OID


def _acceptor(keytab: Path) -> object:
    """A GSSAPI acceptor credential holding the keys of one keytab (not the process default)."""
    # Imported here: the lab runs without gssapi unless a host is given a keytab.
    import gssapi
    from gssapi.raw.misc import GSSError

    try:
        return gssapi.Credentials(usage="accept", store={b"keytab": str(keytab).encode()})
    except GSSError as exc:
        raise AuthFailed("the host's keytab cannot be read") from exc
