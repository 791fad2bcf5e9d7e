"""`hvbot serve`: the Slack app running, as the one active bot of its audit database.

The process first waits for the lease (bot.slack.coordination): while another `serve` is
active it stands by, connected to nothing. Once active it wires the bot, re-attaches to what
an earlier process left running (`Workflow.recover`), and opens its front door:

- Socket Mode (default): slack_sdk's built-in WebSocket client, which needs no extra package
  and reconnects by itself when the socket drops or Slack asks it to.
- HTTP mode: bolt's WSGI adapter under waitress on 127.0.0.1:<http_port>/slack/events.
  waitress is a production WSGI server (bounded thread pool, buffering of slow clients,
  HTTP/1.1 keep-alive), pure Python and runs inside this process. That matters here: the bot
  is one process that owns the lease, its executor and the migrations it follows, so a
  pre-forking server (gunicorn) would duplicate or split that state.

Stopping (SIGTERM, SIGINT, or the lease lost): the door closes first (no new work), the
workflow stops following (running moves stay `running` in the database), then the lease is
given back so that a standby takes over at once and re-attaches to those moves.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from slack_bolt import App
from slack_bolt.adapter.socket_mode.builtin import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress.server import TcpWSGIServer, create_server

from bot.app import build_services
from bot.config import Config, Secrets
from bot.slack.app import create_app
from bot.slack.coordination import DEFAULT_TTL, Coordination, LeaseKeeper
from bot.slack.directory import SlackEmails, SlackUserGroups
from bot.slack.notifier import SlackNotifier
from bot.slack.pacing import Limits, Pacer
from bot.slack.settings import EVENTS_PATH, HTTP, SlackSettings
from bot.slack.witness import SlackWitness
from bot.store import database_path
from commands.workflow.notify import ProgressCadence
from commands.workflow.recovery import Action

log = logging.getLogger(__name__)

READING_SECONDS = 2.0

# Threads that read requests and run bolt's acknowledgement; the work itself goes to the
# bot's executor, so a few are enough for bursts of clicks.
HTTP_THREADS = 8


class FrontDoor(Protocol):
    """Where Slack's requests come in."""

    def open(self) -> None:
        """Starts taking requests."""

    def close(self) -> None:
        """Stops taking requests."""


class HttpDoor:
    """bolt's WSGI adapter served by waitress on loopback."""

    def __init__(self, app: App, port: int, *, host: str = "127.0.0.1") -> None:
        # The server's dispatchers (listener, trigger, connections) live in this map, so that
        # closing can reach every one of them.
        self._map: dict[int, Any] = {}
        server = create_server(
            SlackRequestHandler(app, path=EVENTS_PATH),
            map=self._map,
            host=host,
            port=port,
            threads=HTTP_THREADS,
            ident="hvbot",
        )
        assert isinstance(server, TcpWSGIServer)
        self._server = server
        self._thread = threading.Thread(target=server.run, name="hvbot-http", daemon=True)

    @property
    def url(self) -> str:
        """Where Slack must send commands, clicks and events."""
        host, port = self._server.getsockname()
        return f"http://{host}:{port}{EVENTS_PATH}"

    def open(self) -> None:
        """Starts serving in a thread."""
        self._thread.start()

    def close(self) -> None:
        """Closes the listening socket and every connection, then waits for the workers."""
        # The dispatchers belong to the server's loop thread: its trigger runs the closing
        # there (the typeshed stub types `trigger` as an int; it is waitress's trigger object).
        trigger: Any = self._server.trigger
        try:
            trigger.pull_trigger(self._close_all)
        except OSError:
            # The loop cannot be woken: its trigger's pipe is gone (EBADF, seen once while the
            # demo stopped: some neighbour closed that descriptor). A stop must still stop, so
            # close from here; the loop ends at its next turn, finding nothing left to serve.
            log.warning("could not wake the HTTP server's loop; closing from here", exc_info=True)
            self._close_all()
        self._thread.join(timeout=10)
        self._server.task_dispatcher.shutdown()

    def _close_all(self) -> None:
        for dispatcher in list(self._map.values()):
            try:
                dispatcher.close()
            except OSError:
                # Its descriptor is already gone (see `close`); it has left the map all the
                # same, and the others still have to close.
                log.warning("an HTTP server descriptor was already closed", exc_info=True)


# slack_sdk's client calls a connection stale after 4 pings without a pong and reconnects; a
# connection cut without a word (a NAT or a firewall forgetting it) is noticed within ~15 s.
PING_INTERVAL = 3.0


class SocketDoor:
    """A Socket Mode connection (app token), reconnecting by itself."""

    def __init__(self, app: App, app_token: str) -> None:
        self._handler = SocketModeHandler(app, app_token, ping_interval=PING_INTERVAL)

    def open(self) -> None:
        """Connects (`apps.connections.open`, then the WebSocket)."""
        self._handler.connect()  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """Disconnects for good."""
        self._handler.close()  # type: ignore[no-untyped-call]


class ActiveBot:
    """The bot while it is the active one: services wired to Slack, recovery done, door open."""

    def __init__(
        self,
        config: Config,
        secrets: Secrets,
        settings: SlackSettings,
        coordination: Coordination,
        *,
        http_port: int | None = None,
        limits: Limits | None = None,
    ) -> None:
        client = settings.web_client()
        # Every reading that moved, every READING_SECONDS at most: the pacer spaces the edits
        # of a message (Limits.spacing) and keeps only the latest value waiting, so handing
        # readings over more often than edits go costs no Slack call, and the value an edit
        # shows is at most this old when it leaves.
        # One pacer for every Slack write the bot makes on its own: one budget.
        self.pacer = Pacer(limits)
        self.notifier = SlackNotifier(client, self.pacer)
        self.services = build_services(
            config,
            secrets,
            self.notifier,
            directory=SlackUserGroups(client),
            email_of=SlackEmails(client),
            cadence=ProgressCadence(percent_step=1, min_seconds=READING_SECONDS),
        )
        self.notifier.attach(self.services.store)
        if settings.witness_channel:
            self.services.store.add_witness(
                SlackWitness(client, settings.witness_channel, self.pacer)
            )
        self._accepting = threading.Event()
        self._accepting.set()
        try:
            app = create_app(
                self.services, settings, coordination=coordination, accepting=self._accepting
            )
            self.door: HttpDoor | SocketDoor
            if settings.mode == HTTP:
                self.door = HttpDoor(app, settings.http_port if http_port is None else http_port)
                self.where = self.door.url
            else:
                assert settings.app_token is not None
                self.door = SocketDoor(app, settings.app_token)
                self.where = "Socket Mode"
            self.recovered = self.services.workflow.recover()
            self.door.open()
        except BaseException:
            self.services.close()
            self.pacer.stop()
            raise

    @property
    def reattached(self) -> int:
        """How many running moves an earlier process left that this one follows now."""
        return sum(1 for d in self.recovered if d.action is Action.REATTACH)

    def stop(self) -> None:
        """No new work, then stop following (moves stay `running` for the next process)."""
        self._accepting.clear()
        self.door.close()
        self.services.close()
        # What was queued before the stop still goes out, for a little while at most.
        self.pacer.idle(timeout=10)
        self.pacer.stop()


def serve(
    config: Config,
    secrets: Secrets,
    settings: SlackSettings,
    *,
    stop: threading.Event,
    announce: Callable[[str], None],
    lease_ttl: float = DEFAULT_TTL,
    http_port: int | None = None,
) -> int:
    """Stands by until active, serves until `stop` is set (or the lease is lost), then hands
    over. Returns 0, or 1 when the lease was lost to another process."""
    coordination = Coordination(database_path(config), ttl=lease_ttl)
    lost = threading.Event()

    def on_lost() -> None:
        lost.set()
        stop.set()

    keeper = LeaseKeeper(coordination, on_lost)
    try:
        if not keeper.wait_until_active(announce, stop):
            return 0
        keeper.start_renewing()
        bot = ActiveBot(config, secrets, settings, coordination, http_port=http_port)
        announce(
            f"active: serving Slack ({bot.where}); {bot.reattached} running move(s) re-attached"
        )
        try:
            stop.wait()
        finally:
            bot.stop()
        return 1 if lost.is_set() else 0
    finally:
        keeper.stop(release=not lost.is_set())
        coordination.close()
