"""Hosts that take a connection and misbehave: one deadline per call, and the right words."""

from __future__ import annotations

import socket
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bot.config import Secrets, parse_config
from bot.winrm.session import ConnectionSettings, Sessions
from commands.hyperv import ErrorKind, HyperVError
from commands.invocation import Invocation

USER_ENV, PASSWORD_ENV = "HVBOT_TEST_USER", "HVBOT_TEST_PASSWORD"
SECRETS = Secrets.from_environ({USER_ENV: "bot", PASSWORD_ENV: "pw-123456"})


class _Listener:
    """A loopback TCP port that accepts connections, then stays silent or closes them."""

    def __init__(self, silent: bool) -> None:
        self.silent = silent
        self.accepted = 0
        self.requests = 0
        self._held: list[socket.socket] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self.accepted += 1
            if self.silent:
                self._held.append(conn)
            else:
                # Reads the request, then closes without a word (as a TLS port sent plain
                # HTTP does too, which is why the bot probes before saying so).
                if conn.recv(65536).startswith(b"POST"):
                    self.requests += 1
                conn.close()

    def close(self) -> None:
        self._server.close()
        for conn in self._held:
            conn.close()


@contextmanager
def _host(silent: bool) -> Iterator[tuple[_Listener, Sessions]]:
    listener = _Listener(silent)
    text = f"""
[winrm]
auth = "basic"
ssl = false
username_env = "{USER_ENV}"
password_env = "{PASSWORD_ENV}"
operation_timeout = 1
read_timeout = 2
connection_timeout = 2

[[hosts]]
name = "HV-SRV01"
fqdn = "hv-srv01.lab.local"
address = "127.0.0.1"
port = {listener.port}
"""
    settings = ConnectionSettings.from_config(parse_config(tomllib.loads(text)), SECRETS)
    try:
        yield listener, Sessions(settings, backoff=0.01, sleep=lambda _: None)
    finally:
        listener.close()


def _call(sessions: Sessions) -> HyperVError:
    host = sessions.settings.inventory.find("HV-SRV01")
    assert host is not None
    with pytest.raises(HyperVError) as caught:
        sessions.get(host).run([Invocation("Get-VMHost")])
    return caught.value


def test_a_host_that_takes_the_call_and_never_answers_is_not_answering_once() -> None:
    with _host(silent=True) as (listener, sessions):
        error = _call(sessions)
    assert error.kind is ErrorKind.TIMEOUT
    assert "not answering" in error.summary
    assert "read_timeout" in error.fix
    # One attempt used the call's whole deadline (winrm.read_timeout): no retry after it.
    assert listener.accepted == 1


def test_a_host_dropping_connections_is_not_said_to_expect_tls() -> None:
    with _host(silent=False) as (listener, sessions):
        error = _call(sessions)
    assert error.kind is ErrorKind.HOST_UNREACHABLE
    assert "closed it without answering" in error.summary
    assert "TLS" not in error.summary
    # A drop is worth a retry (within the call's deadline); a TLS mismatch would not be.
    assert listener.requests > 1
