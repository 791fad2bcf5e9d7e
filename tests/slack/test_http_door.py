"""The HTTP door stops, whatever became of its loop's wake-up pipe."""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest
from slack_bolt import App

from bot.slack.serve import HttpDoor


def _door() -> HttpDoor:
    app = App(token="xoxb-test", signing_secret="secret", token_verification_enabled=False)
    door = HttpDoor(app, 0)
    door.open()
    return door


def _port(door: HttpDoor) -> int:
    return int(door.url.split(":")[2].split("/")[0])


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.parametrize("pipe_gone", [False, True])
def test_closing_the_door_closes_its_port(pipe_gone: bool) -> None:
    door = _door()
    port = _port(door)
    assert not _refused(port)
    if pipe_gone:
        # A neighbour closing the descriptor of the loop's wake-up pipe (what EBADF showed).
        trigger: Any = door._server.trigger
        os.close(trigger.trigger)
    door.close()
    assert _refused(port)
