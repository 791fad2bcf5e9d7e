"""The HTTP(S) listener of one simulated host: `POST /wsman` on 127.0.0.1.

HTTP/1.1 with keep-alive and a Content-Length on every reply (NTLM and its encryption are tied
to the connection), Nagle off (or every round trip costs ~40 ms), one thread per connection.
A host the world marks unreachable drops its connections, like a host whose port is closed.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from lab.pipeline import CommandRunner
from lab.winrm import envelopes as env
from lab.winrm.auth import CHALLENGE_HEADERS, Accounts, AuthFailed, ConnectionAuth
from lab.winrm.service import WSManService

log = logging.getLogger(__name__)

SOAP_CONTENT_TYPE = "application/soap+xml;charset=UTF-8"
_MAX_BODY = 16 * 1024 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    listener: HostListener

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return self.listener.reachable()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Failed TLS handshakes and dropped connections are the client's business.
        log.debug("connection failed", exc_info=True, extra={"host": self.listener.host})

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        context = self.listener.tls_context
        if context is not None:
            # The handshake runs later, in the connection's own thread (see `setup`).
            sock = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            try:
                self.request.do_handshake()
            except (OSError, ssl.SSLError):
                self.close_connection = True
                raise
            self.request.settimeout(None)
        super().setup()
        self._auth = ConnectionAuth(self.server.listener.accounts, self.server.listener.keytab)

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionError, ssl.SSLError, TimeoutError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format % args, extra={"host": self.server.listener.host})

    def do_POST(self) -> None:
        listener = self.server.listener
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self._send(413, b"", close=True)
            return
        body = self.rfile.read(length) if length else b""
        if not listener.reachable():
            self.close_connection = True
            return
        if self.path.split("?")[0].lower() != "/wsman":
            self._send(404, b"")
            return
        try:
            step = self._auth.authenticate(self.headers.get("Authorization"))
        except AuthFailed:
            self._unauthorized(close=True)
            return
        extra = {"WWW-Authenticate": step.reply_token} if step.reply_token else {}
        if step.user is None:
            self._send(401, b"", extra, challenge=step.reply_token is None)
            return
        content_type = self.headers.get("Content-Type", "")
        encrypted = content_type.startswith("multipart/encrypted")
        try:
            soap = self._auth.unwrap(content_type, body) if encrypted else body
        except AuthFailed:
            self._unauthorized(close=True)
            return
        if not soap:
            self._send(200, b"", extra)
            return
        status, reply = listener.dispatch(soap, step.user, self.client_address[0])
        if encrypted:
            reply_type, payload = self._auth.wrap(reply)
            self._send(status, payload, {**extra, "Content-Type": reply_type})
        else:
            self._send(status, reply, {**extra, "Content-Type": SOAP_CONTENT_TYPE})

    def _unauthorized(self, *, close: bool) -> None:
        self._send(401, b"", challenge=True, close=close)

    def _send(
        self,
        status: int,
        payload: bytes,
        headers: dict[str, str] | None = None,
        *,
        challenge: bool = False,
        close: bool = False,
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if challenge:
            for offer in CHALLENGE_HEADERS:
                self.send_header("WWW-Authenticate", offer)
        self.send_header("Content-Length", str(len(payload)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)


class HostListener:
    """One simulated host's WinRM listener on 127.0.0.1, in its own thread."""

    def __init__(
        self,
        host: str,
        runner: CommandRunner,
        accounts: Accounts,
        *,
        port: int = 0,
        tls_context: ssl.SSLContext | None = None,
        reachable: Callable[[], bool] = lambda: True,
        max_operation_timeout: float = 60.0,
        keytab: Path | None = None,
    ) -> None:
        self.host = host
        self.accounts = accounts
        self.keytab = keytab
        self.tls_context = tls_context
        self.reachable = reachable
        self._server = _Server(("127.0.0.1", port), _Handler, bind_and_activate=True)
        self._server.listener = self
        self.port: int = self._server.server_address[1]
        scheme = "https" if tls_context is not None else "http"
        self.service = WSManService(
            host,
            runner,
            f"{scheme}://127.0.0.1:{self.port}/wsman",
            max_operation_timeout=max_operation_timeout,
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            # stop() waits for the serve loop to notice; a short poll keeps stopping fast.
            kwargs={"poll_interval": 0.05},
            name=f"lab-winrm-{host}",
            daemon=True,
        )

    @property
    def scheme(self) -> str:
        """`https` or `http`."""
        return "https" if self.tls_context is not None else "http"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()
        log.info("lab host listening", extra={"host": self.host, "port": self.port})

    def stop(self) -> None:
        """Stop serving, close the socket and every shell."""
        self._server.shutdown()
        self._server.server_close()
        self.service.close()

    def dispatch(self, soap: bytes, user: str, client_ip: str) -> tuple[int, bytes]:
        """HTTP status and reply envelope for one SOAP request."""
        try:
            request = env.parse_request(soap)
        except env.MalformedRequest:
            return 400, b""
        try:
            return 200, self.service.handle(request, user, client_ip)
        except env.WSManFault as fault:
            return 500, fault.envelope(request, "127.0.0.1")
        except Exception as exc:
            # Say so to the client (a WSMan fault) instead of dropping its connection.
            log.exception("lab request failed", extra={"host": self.host, "action": request.verb})
            return 500, env.internal_error(str(exc)).envelope(request, "127.0.0.1")
