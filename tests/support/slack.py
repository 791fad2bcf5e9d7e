"""Bots for tests against the Slack stand-in: bolt over HTTP or Socket Mode, a raw receiver."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from socketserver import ThreadingMixIn
from typing import Any, Self
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import Ack, App, Respond, Say
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from lab.slack import SlackStandIn

CARD_TEXT = "Move SRV-APP01 to HV-SRV02?"


def wait_for(condition: Callable[[], object], timeout: float = 20.0) -> None:
    """Wait until `condition()` is true (generous: the machine is shared)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def card(request_id: str) -> list[dict[str, Any]]:
    """An approval card like the bot's: a summary and Approve / Reject buttons."""
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*#{request_id}* {CARD_TEXT}"}},
        {
            "type": "actions",
            "block_id": f"decide-{request_id}",
            "elements": [
                {
                    "type": "button",
                    "action_id": "approve",
                    "text": {"type": "plain_text", "text": "Approve"},
                    "value": f"{request_id}:1",
                    "style": "primary",
                },
                {
                    "type": "button",
                    "action_id": "reject",
                    "text": {"type": "plain_text", "text": "Reject"},
                    "value": f"{request_id}:1",
                    "style": "danger",
                },
            ],
        },
    ]


@dataclass
class Seen:
    """What the test bot received, for assertions."""

    commands: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    mentions: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: list[dict[str, Any]], body: dict[str, Any]) -> None:
        with self.lock:
            kind.append(body)


def build_app(slack: SlackStandIn, seen: Seen) -> App:
    """A bolt app pointed at the stand-in: /migrate posts a card, clicks edit it, mentions reply."""
    client = WebClient(token=slack.tokens.bot, base_url=slack.api_url)
    app = App(client=client, signing_secret=slack.tokens.signing_secret)

    @app.command("/migrate")
    def migrate(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        seen.add(seen.commands, body)
        if body["text"] == "status":
            respond("Nothing is running.")
            return
        client.chat_postMessage(
            channel=body["channel_id"], text=CARD_TEXT, blocks=card(str(len(seen.commands)))
        )

    @app.action("approve")
    def approve(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        seen.add(seen.actions, body)
        if body["user"]["id"] == "U_ALICE":
            respond("You cannot approve your own request.")
            return
        client.chat_update(
            channel=body["channel"]["id"],
            ts=body["container"]["message_ts"],
            text=f"Approved by <@{body['user']['id']}>",
            blocks=[],
        )

    @app.event("app_mention")
    def mention(body: dict[str, Any], event: dict[str, Any], say: Say) -> None:
        seen.add(seen.mentions, body)
        say(text="On it.", thread_ts=event.get("thread_ts") or event["ts"])

    return app


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Served:
    """A loopback HTTP server run in a thread for the duration of a `with` block."""

    def __init__(self, server: HTTPServer) -> None:
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/slack/events"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class BoltOverHttp(_Served):
    """A bolt app served over real HTTP on loopback at `/slack/events`."""

    def __init__(self, app: App) -> None:
        super().__init__(
            make_server(
                "127.0.0.1",
                0,
                SlackRequestHandler(app),
                server_class=_ThreadingWSGIServer,
                handler_class=_QuietHandler,
            )
        )


class BoltOverSocket:
    """A bolt app connected to the stand-in's Socket Mode endpoint (slack_sdk builtin client).

    The builtin client notices a dropped socket only when its pings go unanswered for four
    ping intervals, so a short interval keeps the reconnection test short.
    """

    def __init__(self, app: App, slack: SlackStandIn) -> None:
        self.handler = SocketModeHandler(app, slack.tokens.app, ping_interval=1)
        self.slack = slack

    def __enter__(self) -> BoltOverSocket:
        self.handler.connect()  # type: ignore[no-untyped-call]
        assert self.slack.socket.wait_connected(timeout=20)
        return self

    def __exit__(self, *exc: object) -> None:
        self.handler.close()  # type: ignore[no-untyped-call]


@dataclass
class Received:
    """One request a raw receiver got."""

    headers: dict[str, str]
    body: bytes
    valid: bool


class RawReceiver(_Served):
    """An HTTP endpoint that checks signatures with slack_sdk's SignatureVerifier."""

    def __init__(
        self,
        signing_secret: str,
        status: int = 200,
        reply: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.verifier = SignatureVerifier(signing_secret)
        self.status = status
        self.reply = reply
        self.headers = headers or {}
        self.received: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items()}
                valid = receiver.verifier.is_valid_request(body, headers)
                receiver.received.append(Received(headers, body, valid))
                self.send_response(receiver.status)
                self.send_header("Content-Length", str(len(receiver.reply)))
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(receiver.reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        super().__init__(server)

    def json_bodies(self) -> list[Any]:
        return [json.loads(r.body) for r in self.received]
