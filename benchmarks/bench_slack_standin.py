"""What one call to the Slack stand-in costs, so its figures can be told apart from the bot's.

    .venv/bin/python benchmarks/bench_slack_standin.py [--runs 300]

Times, on loopback: Web API calls made with slack_sdk's WebClient (chat.postMessage,
chat.update, conversations.replies on a 100-message thread), a signed slash command delivered
by the driver to an HTTP endpoint that acks at once, and a slash command envelope delivered
over Socket Mode to slack_sdk's SocketModeClient that acks at once. Rate limits are off.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from slack_sdk import WebClient
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from lab.slack import Driver, SlackStandIn


def _times(action: Callable[[], object], runs: int) -> list[float]:
    action()  # warm-up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _row(label: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[max(int(len(ordered) * 0.99) - 1, 0)]
    return (
        f"{label:<34} {len(samples):>5} {statistics.median(samples):>10.2f}"
        f" {p99:>9.2f} {ordered[-1]:>9.2f}"
    )


def _acked_slash(driver: Driver) -> None:
    if not driver.slash("/migrate", "status", user="U_ALICE", channel="C_BENCH").acked:
        raise RuntimeError("a slash command was not acked")


class _Ack(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _web_api(slack: SlackStandIn, runs: int) -> list[str]:
    client = WebClient(token=slack.tokens.bot, base_url=slack.api_url)
    parent = client.chat_postMessage(channel="C_BENCH", text="parent")["ts"]
    for n in range(100):
        client.chat_postMessage(channel="C_BENCH", text=str(n), thread_ts=parent)
    return [
        _row(
            "web api chat.postMessage",
            _times(lambda: client.chat_postMessage(channel="C_BENCH", text="x"), runs),
        ),
        _row(
            "web api chat.update",
            _times(lambda: client.chat_update(channel="C_BENCH", ts=parent, text="y"), runs),
        ),
        _row(
            "web api conversations.replies 101",
            _times(lambda: client.conversations_replies(channel="C_BENCH", ts=parent), runs),
        ),
    ]


def _http_driver(slack: SlackStandIn, runs: int) -> str:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ack)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        driver = Driver(slack, bot_url=f"http://127.0.0.1:{server.server_port}/slack/events")
        return _row(
            "driver slash over signed http",
            _times(lambda: _acked_slash(driver), runs),
        )
    finally:
        server.shutdown()
        server.server_close()


def _socket_driver(slack: SlackStandIn, runs: int) -> str:
    client = SocketModeClient(
        app_token=slack.tokens.app, web_client=WebClient(base_url=slack.api_url)
    )

    def ack(sock: BaseSocketModeClient, request: SocketModeRequest) -> None:
        sock.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))

    client.socket_mode_request_listeners.append(ack)
    client.connect()
    try:
        if not slack.socket.wait_connected(timeout=20):
            raise RuntimeError("the Socket Mode client did not connect")
        driver = Driver(slack)
        return _row(
            "driver slash over socket mode",
            _times(lambda: _acked_slash(driver), runs),
        )
    finally:
        client.close()


def main() -> None:
    """Run every measurement on one stand-in and print one table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    print(f"{'call':<34} {'runs':>5} {'median ms':>10} {'p99 ms':>9} {'max ms':>9}")
    with SlackStandIn() as slack:
        slack.limits.enabled = False
        for row in _web_api(slack, args.runs):
            print(row)
        print(_http_driver(slack, args.runs))
        print(_socket_driver(slack, args.runs))


if __name__ == "__main__":
    main()
