"""The stand-in's HTTP side and the object that starts everything: `SlackStandIn`.

    with SlackStandIn() as slack:
        client = WebClient(token=slack.tokens.bot, base_url=slack.api_url)

Routes on 127.0.0.1:<ephemeral port>: `/api/<method>` (the Web API, form, JSON or query
parameters, token in `Authorization: Bearer` or a `token` parameter as Slack accepts),
`/response/<key>` (response URLs) and the read-only web page at `/`.
"""

from __future__ import annotations

import json
import logging
import threading
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lab.slack.limits import Faults, RateLimits
from lab.slack.page import render as render_page
from lab.slack.responses import PATH_PREFIX, ResponseUrls
from lab.slack.socket_mode import SocketModeServer
from lab.slack.transcript import transcript
from lab.slack.webapi import Answer, Call, CallLog, Tokens, WebApi
from lab.slack.workspace import Clock, Json, Workspace

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
_MAX_BODY = 4 * 1024 * 1024


class SlackStandIn:
    """A local Slack: workspace, Web API, response URLs, Socket Mode and the web page."""

    def __init__(self, clock: Clock | None = None, tokens: Tokens | None = None) -> None:
        self.clock = clock or Clock()
        self.tokens = tokens or Tokens.generate()
        self.workspace = Workspace(self.clock)
        self.limits = RateLimits(self.clock)
        self.faults = Faults()
        self.log = CallLog()
        self.socket = SocketModeServer()
        self.responses = ResponseUrls(self.workspace, self.log)
        self.api = WebApi(
            self.workspace,
            self.tokens,
            self.limits,
            self.faults,
            self.log,
            page_url=lambda: self.page_url,
            socket_url=self.socket.new_url,
        )
        self._http: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SlackStandIn:
        """Listen on ephemeral loopback ports (HTTP and WebSocket)."""
        self._http = _Server((LOOPBACK, 0), _Handler)
        self._http.standin = self
        self.responses.base_url = f"http://{LOOPBACK}:{self.port}"
        self.socket.start()
        self._thread = threading.Thread(
            target=self._http.serve_forever, name="slack-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop both listeners."""
        self.socket.stop()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The HTTP port."""
        if self._http is None:
            raise RuntimeError("the stand-in is not started")
        return int(self._http.server_address[1])

    @property
    def api_url(self) -> str:
        """The Web API base URL (slack_sdk's `base_url`, ends with a slash)."""
        return f"http://{LOOPBACK}:{self.port}/api/"

    @property
    def page_url(self) -> str:
        """The read-only web page of the channels."""
        return f"http://{LOOPBACK}:{self.port}/"

    def calls(self, method: str | None = None) -> list[Call]:
        """The call log, all or one method's."""
        return self.log.calls(method)

    def transcript(self, channel: str) -> str:
        """The channel as readable text (threads indented, edits compact)."""
        return transcript(self.workspace, channel)

    def config_fragment(self, http_port: int = 3000, mode: str = "socket") -> str:
        """The `[slack]` lines of `hvbot.toml` that point the bot at this stand-in."""
        return (
            f'[slack]\nmode = "{mode}"\napi_url = "{self.api_url}"\n'
            "# in http mode the bot answers on 127.0.0.1:<http_port>/slack/events\n"
            f"http_port = {http_port}\n"
        )

    def environment(self) -> dict[str, str]:
        """The environment variables holding the throw-away secrets, by their default names."""
        return {
            "SLACK_BOT_TOKEN": self.tokens.bot,
            "SLACK_APP_TOKEN": self.tokens.app,
            "SLACK_SIGNING_SECRET": self.tokens.signing_secret,
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: SlackStandIn

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("stand-in connection failed", exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format % args)

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        standin = self.server.standin
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self._send_json(Answer(413, {"ok": False, "error": "request_too_large"}))
            return
        body = self.rfile.read(length) if length else b""
        if url.path.startswith("/api/"):
            params = _params(url.query, body, self.headers.get("Content-Type") or "")
            token = _bearer(self.headers.get("Authorization")) or params.pop("token", None)
            method = url.path.removeprefix("/api/")
            self._send_json(standin.api.call(method, params, token))
        elif url.path.startswith(PATH_PREFIX) and self.command == "POST":
            try:
                payload: object = json.loads(body or b"null")
            except ValueError:
                payload = None
            self._send_json(standin.responses.use(url.path.removeprefix(PATH_PREFIX), payload))
        else:
            page = render_page(standin.workspace, url.path) if self.command == "GET" else None
            if page is None:
                self._send(404, b"not found\n", "text/plain; charset=utf-8")
            else:
                self._send(200, page.encode(), "text/html; charset=utf-8")

    def _send_json(self, answer: Answer) -> None:
        self._send(
            answer.status,
            json.dumps(answer.body).encode(),
            "application/json; charset=utf-8",
            answer.headers,
        )

    def _send(
        self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _bearer(header: str | None) -> str | None:
    if header and header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


def _params(query: str, body: bytes, content_type: str) -> Json:
    """Query string and body merged, as Slack reads a method's arguments."""
    params: Json = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    if not body:
        return params
    if content_type.startswith("application/json"):
        try:
            decoded = json.loads(body)
        except ValueError:
            return params
        if isinstance(decoded, dict):
            params.update(decoded)
    else:
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        params.update({k: v[-1] for k, v in form.items()})
    return params
