"""Socket Mode: a real WebSocket endpoint on loopback that delivers envelopes and checks acks.

`apps.connections.open` hands out `ws://127.0.0.1:<port>/link/?ticket=…`; each ticket opens
one connection. On connect the server says `hello`; each envelope
`{envelope_id, type, payload, accepts_response_payload, retry_attempt, retry_reason}` goes to
the newest open connection and must be acked with `{envelope_id[, payload]}` within 3 s
(architecture §4); a missing ack is recorded. `ask_reconnect` sends Slack's `disconnect` message,
`drop` closes sockets without a word (both are fault injection).
The `websockets` library does the protocol (pings are answered for the client's keep-alive).
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from lab.slack.workspace import APP_ID, Json

log = logging.getLogger(__name__)

ACK_TIMEOUT_SECONDS = 3.0
SETTLE_SECONDS = 2.0
ENVELOPE_TYPES = ("events_api", "interactive", "slash_commands")


class NoConnection(Exception):
    """No Socket Mode client is connected to receive an envelope."""


@dataclass(frozen=True)
class MissingAck:
    """An envelope that was not acked in time."""

    envelope_id: str
    type: str
    retry_attempt: int


@dataclass
class _Pending:
    done: threading.Event = field(default_factory=threading.Event)
    ack: Json | None = None


class SocketModeServer:
    """The WebSocket side of the stand-in."""

    def __init__(self, ack_timeout: float = ACK_TIMEOUT_SECONDS) -> None:
        self.ack_timeout = ack_timeout
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._tickets: set[str] = set()
        self._connections: list[ServerConnection] = []
        self._pending: dict[str, _Pending] = {}
        self._missing: list[MissingAck] = []
        self._acks: list[Json] = []
        self.connects = 0
        self.send_hello = True
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Listen on an ephemeral loopback port."""
        self._server = serve(
            self._serve_connection,
            "127.0.0.1",
            0,
            process_request=self._check_ticket,
            compression=None,
            ping_interval=None,
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="slack-socket-mode", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Close every connection and stop listening."""
        self.drop()
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def port(self) -> int:
        """The port the WebSocket endpoint listens on."""
        if self._server is None:
            raise RuntimeError("the Socket Mode server is not started")
        return int(self._server.socket.getsockname()[1])

    def new_url(self) -> str:
        """A one-use URL, as `apps.connections.open` returns."""
        ticket = secrets.token_urlsafe(16)
        with self._lock:
            self._tickets.add(ticket)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={APP_ID}"

    # -- what tests and the driver use ---------------------------------------------------

    def connected(self) -> int:
        """How many clients are connected now."""
        with self._lock:
            return len(self._connections)

    def wait_connected(self, timeout: float = 10.0, count: int = 1) -> bool:
        """Wait until at least `count` clients are connected."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._connections) >= count, timeout)

    def wait_connects(self, total: int, timeout: float = 10.0) -> bool:
        """Wait until clients have connected `total` times since the start."""
        with self._changed:
            return self._changed.wait_for(lambda: self.connects >= total, timeout)

    def deliver(
        self,
        kind: str,
        payload: Json,
        retry_attempt: int = 0,
        retry_reason: str = "",
        connect_timeout: float = 10.0,
    ) -> Json | None:
        """Send one envelope and wait for its ack; the ack (or None, recorded as missing)."""
        if kind not in ENVELOPE_TYPES:
            raise ValueError(f"unknown envelope type {kind!r}")
        if not self.wait_connected(connect_timeout):
            raise NoConnection("no Socket Mode client connected")
        # While a client replaces its connection, slack_sdk's builtin client acks on the old
        # session until it has closed it: give a reconnection a moment to settle first.
        with self._changed:
            self._changed.wait_for(lambda: len(self._connections) == 1, SETTLE_SECONDS)
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
        }
        pending = _Pending()
        with self._lock:
            self._pending[envelope_id] = pending
            connection = self._connections[-1]
        try:
            connection.send(json.dumps(envelope))
        except ConnectionClosed:
            log.debug("connection closed before the envelope went out")
        acked = pending.done.wait(self.ack_timeout)
        with self._lock:
            self._pending.pop(envelope_id, None)
            if not acked:
                self._missing.append(MissingAck(envelope_id, kind, retry_attempt))
                return None
        return pending.ack

    def missing_acks(self) -> list[MissingAck]:
        """Envelopes that were not acked within the ack timeout."""
        with self._lock:
            return list(self._missing)

    def acks(self) -> list[Json]:
        """Every ack received, in order."""
        with self._lock:
            return list(self._acks)

    def ask_reconnect(self, reason: str = "refresh_requested") -> None:
        """Send Slack's `disconnect` message to every client (they should reconnect)."""
        message = json.dumps(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": "hvbot-lab"}}
        )
        for connection in self._snapshot():
            try:
                connection.send(message)
            except ConnectionClosed:
                continue

    def drop(self) -> None:
        """Cut every connection at the TCP level, as a network failure would."""
        for connection in self._snapshot():
            connection.close_socket()

    # -- server side ---------------------------------------------------------------------

    def _snapshot(self) -> list[ServerConnection]:
        with self._lock:
            return list(self._connections)

    def _check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        ticket = (parse_qs(url.query).get("ticket") or [""])[0]
        with self._lock:
            if url.path.rstrip("/") == "/link" and ticket in self._tickets:
                self._tickets.discard(ticket)
                return None
        return connection.respond(401, "invalid or used ticket\n")

    def _serve_connection(self, connection: ServerConnection) -> None:
        with self._changed:
            self._connections.append(connection)
            self.connects += 1
            self._changed.notify_all()
        try:
            if self.send_hello:
                connection.send(json.dumps(_hello(len(self._snapshot()))))
            for raw in connection:
                self._on_message(raw)
        except ConnectionClosed:
            pass
        finally:
            with self._changed:
                self._connections.remove(connection)
                self._changed.notify_all()

    def _on_message(self, raw: Any) -> None:
        try:
            ack = json.loads(raw)
        except ValueError:
            log.warning("Socket Mode client sent something that is not JSON")
            return
        if not isinstance(ack, dict) or "envelope_id" not in ack:
            return
        with self._lock:
            self._acks.append(ack)
            pending = self._pending.get(str(ack["envelope_id"]))
        if pending is not None:
            pending.ack = ack
            pending.done.set()


def _hello(connections: int) -> Json:
    return {
        "type": "hello",
        "num_connections": connections,
        "debug_info": {"host": "hvbot-lab", "approximate_connection_time": 18060},
        "connection_info": {"app_id": APP_ID},
    }
