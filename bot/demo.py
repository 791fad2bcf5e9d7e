"""`hvbot demo`: a whole migration story through the bot's real Slack app, printed as the
Slack channel people would see.

Three simulated Hyper-V hosts listen on loopback and speak real WinRM over HTTPS (the
certificate is validated against the lab's own CA); the Slack stand-in plays Slack; the bot
runs as `hvbot serve` does (HTTP mode, signed requests, the pacer, the SQLite audit log). The
stand-in's driver plays @alice (on call), @bob (team lead) and @carol (change manager): it
types slash commands, mentions the bot in an incident thread and clicks the buttons the bot
posted. The transcript is the stand-in's channel: what people did and what the bot said, in
order, thread replies indented, a progress message in its last form with its edit count.
"""

from __future__ import annotations

import re
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.app import SETTLED_STATES
from bot.config import Config, Secrets, parse_config
from bot.slack.actions import APPROVE
from bot.slack.pacing import Limits
from bot.winrm.errors import record_text
from commands.invocation import Invocation, Parameter
from commands.workflow.notify import PROGRESS_SECONDS
from commands.workflow.records import TERMINAL_STATES, RequestRecord, State

if TYPE_CHECKING:
    from bot.slack.serve import ActiveBot
    from lab.slack.driver import Driver
    from lab.slack.server import SlackStandIn
    from lab.slack.workspace import Message
    from lab.world import World

ALICE, BOB, CAROL = "U_ALICE", "U_BOB", "U_CAROL"
ROLES = {ALICE: "on call", BOB: "team lead", CAROL: "change mgr"}
CHANNEL = "C_HVOPS"
WAIT = 120.0
_RECORDED = re.compile(r"Request #(\d+) recorded")


def _wait(probe: Callable[[], object], what: str) -> None:
    from lab.waiting import wait_until

    wait_until(probe, WAIT, what)


class SlackDemo:
    """Plays the people through the driver and prints the channel as it grows."""

    def __init__(self, bot: ActiveBot, slack: SlackStandIn, driver: Driver, out: TextIO) -> None:
        self.bot = bot
        self.slack = slack
        self.driver = driver
        self.out = out
        from lab.slack.transcript import LiveTranscript

        # The card's buttons are the people's to click, not lines to read.
        self.transcript = LiveTranscript(
            slack.workspace, CHANNEL, out, roles=ROLES, hide=("[Approve]",)
        )

    def section(self, title: str) -> None:
        """Prints a section heading."""
        self.transcript.flush()
        print(f"\n── {title} " + "─" * max(0, 70 - len(title)), file=self.out, flush=True)

    def note(self, text: str) -> None:
        """Prints a narrator's line."""
        print(f"   ({text})", file=self.out, flush=True)

    def slash(self, user: str, text: str) -> RequestRecord | None:
        """`user` types `/migrate text`; the request it recorded once settled, if any."""
        before = len(self.slack.workspace.ephemerals(CHANNEL, user))
        self.driver.slash("/migrate", text, user=user, channel=CHANNEL)
        _wait(lambda: len(self.slack.workspace.ephemerals(CHANNEL, user)) > before, "an answer")
        answer = self.slack.workspace.ephemerals(CHANNEL, user)[before].text
        return self._settle(answer)

    def mention(self, user: str, text: str, thread: str) -> RequestRecord | None:
        """`user` writes `@hvbot text` in the thread; the request it recorded once settled."""
        before = len(self._bot_messages(thread))
        self.driver.mention(text, channel=CHANNEL, user=user, thread_ts=thread)
        _wait(lambda: len(self._bot_messages(thread)) > before, "an answer in the thread")
        return self._settle(self._bot_messages(thread)[before].text)

    def click(self, user: str, record: RequestRecord, action: str = APPROVE) -> RequestRecord:
        """`user` clicks a button of the request's card; the request afterwards."""
        assert record.card_ts is not None
        before = self.bot.services.workflow.get(record.id)
        told = len(self.slack.workspace.ephemerals(CHANNEL, user))
        self.driver.click(CHANNEL, record.card_ts, action, user=user)
        _wait(
            lambda: (
                self.bot.services.workflow.get(record.id).version != before.version
                or len(self.slack.workspace.ephemerals(CHANNEL, user)) > told
            ),
            "the click to be answered",
        )
        self.idle()
        return self.bot.services.workflow.get(record.id)

    def finish(self, record: RequestRecord) -> RequestRecord:
        """Waits for the request's end and the bot's last words about it."""
        done = self.bot.services.wait_for(record.id, TERMINAL_STATES)
        self.idle()
        return done

    def approved_by_two(self, record: RequestRecord | None) -> RequestRecord | None:
        """@bob and @carol approve the request that waits for them; the request once ended
        (None when nothing was waiting for approval)."""
        if record is None or record.state is not State.AWAITING_APPROVAL:
            return None
        self.click(BOB, record)
        self.click(CAROL, record)
        return self.finish(record)

    def incident(self, user: str, text: str) -> str:
        """`user` starts an incident thread in the channel; its ts."""
        return self.slack.workspace.post(CHANNEL, user, text).ts

    def idle(self) -> None:
        """Waits until the bot has said everything it queued."""
        self.bot.pacer.idle(WAIT)

    def _settle(self, answer: str) -> RequestRecord | None:
        found = _RECORDED.search(answer)
        if found is None:
            self.idle()
            return None
        workflow = self.bot.services.workflow
        request_id = int(found.group(1))
        record = self.bot.services.wait_for(request_id, SETTLED_STATES)
        if record.state is State.AWAITING_APPROVAL:
            _wait(lambda: workflow.get(request_id).card_ts is not None, "the card")
            record = workflow.get(request_id)
        self.idle()
        return record

    def _bot_messages(self, thread: str) -> list[Message]:
        workspace = self.slack.workspace
        replies = [m for m in workspace.replies(CHANNEL, thread) if m.bot]
        private = [m for m in workspace.ephemerals(CHANNEL) if m.thread_ts == thread]
        return sorted([*replies, *private], key=lambda m: float(m.ts))


def _lab_config(fragment: str, slack: SlackStandIn, directory: Path) -> Config:
    text = (
        fragment.replace('name = "HV-SRV01"', 'name = "HV-SRV01"\ncritical = true')
        + "\n"
        + slack.config_fragment(mode="http")
        + f'channels = ["{CHANNEL}"]\n'
        + f'\n[approvals]\nusers = ["{BOB}", "{CAROL}"]\nttl_minutes = 30\n'
        + "\n[executor]\npoll_seconds = 0.25\n"
        + f'\n[audit]\ndatabase = "{directory / "audit.db"}"\n'
        + '\n[logging]\nformat = "text"\n'
    )
    return parse_config(tomllib.loads(text))


@contextmanager
def _running(time_scale: float) -> Iterator[tuple[ActiveBot, SlackStandIn, World, Path]]:
    from bot.slack.coordination import Coordination
    from bot.slack.serve import ActiveBot
    from bot.slack.settings import SlackSettings
    from lab.running import start_lab
    from lab.slack.server import SlackStandIn
    from lab.world import load_scenario

    world = load_scenario(None, time_scale=time_scale)
    with (
        tempfile.TemporaryDirectory(prefix="hvbot-demo-") as tmp,
        start_lab(world, https=True) as lab,
        SlackStandIn() as slack,
    ):
        directory = Path(tmp)
        config = _lab_config(lab.config_fragment(), slack, directory)
        secrets = Secrets.from_environ(
            {
                "HVBOT_WINRM_USER": lab.username,
                "HVBOT_WINRM_PASSWORD": lab.password,
                **slack.environment(),
            }
        )
        coordination = Coordination(directory / "audit.db")
        # Progress edited at the pace Slack allows, in the lab's faster time.
        limits = Limits(spacing=PROGRESS_SECONDS * time_scale)
        bot = ActiveBot(
            config,
            secrets,
            SlackSettings.from_config(config, secrets),
            coordination,
            http_port=0,
            limits=limits,
        )
        try:
            yield bot, slack, world, directory
        finally:
            bot.stop()
            coordination.close()
            world.wait_idle()


def run_demo(out: TextIO, *, time_scale: float = 0.02) -> int:
    """Play the whole story; returns 0 when every step behaved as the story says."""
    from lab.slack.driver import Driver
    from lab.world import Fault, FaultKind

    with _running(time_scale) as (bot, slack, world, directory):
        demo = SlackDemo(bot, slack, Driver(slack, bot_url=bot.where), out)
        services = bot.services
        demo.section("The lab")
        for host in services.config.hosts:
            critical = " (critical: two approvals)" if host.critical else ""
            demo.note(f"{host.name} = https://{host.address}:{host.port}/wsman{critical}")
        demo.note("WinRM over HTTPS; the lab's certificate is validated against its own CA")
        demo.note(f"Slack stand-in: {slack.api_url} (watch the channel at {slack.page_url})")
        demo.note(f"hvbot serve, HTTP mode: {bot.where} (every request signed)")
        demo.note(
            f"lab time runs {1 / time_scale:.0f}x faster: times below are the hosts' "
            "simulated seconds"
        )

        demo.section("1. Preflight catches a missing virtual switch")
        demo.slash(ALICE, "check SRV-DB01 to HV-SRV03")

        demo.section("2. Configuration here, disks there: the seed's example, done right")
        demo.slash(
            ALICE,
            'check SRV-APP01 to HV-SRV02 vm-path "D:\\Hyper-V\\Virtual Machines" '
            'storage-path "D:\\Hyper-V\\Virtual Hard Disks"',
        )
        demo.transcript.flush()
        demo.note("the seed's own form mixes two parameter sets; PowerShell itself refuses it:")
        seed_form = Invocation(
            "Move-VM",
            (
                Parameter("Name", "SRV-APP01"),
                Parameter("DestinationHost", "HV-SRV02.lab.local"),
                Parameter("VirtualMachinePath", "D:\\Hyper-V\\Virtual Machines"),
                Parameter("DestinationStoragePath", "D:\\Hyper-V\\Virtual Hard Disks"),
                Parameter("IncludeStorage"),
            ),
        )
        source = services.config.inventory.find("HV-SRV01")
        assert source is not None
        answer = services.hyperv.session(source).run([seed_form], idempotent=False)
        message, fq_error_id, _ = record_text(answer.errors[0])
        demo.note(f"PS> {seed_form.render()}")
        demo.note(f"HV-SRV01: {message} [{fq_error_id}]")

        demo.section("3. Bad input gets one line, never a stack trace")
        demo.slash(ALICE, "SRV-* to HV-SRV02")
        demo.slash(ALICE, "SRV-APP01 to HV-SRV9")

        demo.section("4. A shared-nothing live migration, approved by two people")
        record = demo.slash(
            ALICE, "SRV-APP01 to HV-SRV02 include-storage reason patch night, KB5044281"
        )
        if record is None or record.state is not State.AWAITING_APPROVAL:
            return 1
        demo.click(ALICE, record)
        demo.click(BOB, record)
        demo.click(CAROL, record)
        moved = demo.finish(record)

        demo.section("5. Kerberos delegation lost: caught before anyone approves")
        demo.note("HV-SRV02's computer object loses its constrained delegation in AD")
        world.inject(Fault(FaultKind.KERBEROS_DELEGATION_MISSING, host="HV-SRV02"))
        refused = demo.slash(ALICE, "SRV-APP01 to HV-SRV03 include-storage")
        world.clear_faults(FaultKind.KERBEROS_DELEGATION_MISSING)

        demo.section("6. In an incident thread: a migration that fails halfway, explained")
        demo.note("the migration network to HV-SRV02 will drop at 60%")
        world.inject(Fault(FaultKind.FAIL_AT_PERCENT, host="HV-SRV02", percent=60))
        thread = demo.incident(CAROL, "INC-4711: SRV-DB01 slow, HV-SRV01 fans failing")
        broken = demo.mention(ALICE, "migrate SRV-DB01 to HV-SRV02 reason INC-4711", thread)
        failed = demo.approved_by_two(broken)

        demo.section("7. Patch night: HV-SRV01 emptied with one approval")
        world.clear_faults(FaultKind.FAIL_AT_PERCENT)
        drain = demo.slash(
            ALICE, "drain HV-SRV01 include-storage include-stopped reason patch night"
        )
        drained = demo.approved_by_two(drain)

        demo.section("8. The audit log")
        demo.slash(CAROL, "history")
        demo.transcript.flush()
        report = services.store.verify()
        demo.note(
            f"hash chain: {report.count} events, "
            + ("intact" if report.ok else f"BROKEN at {report.broken}")
        )
        demo.note(f"database: {directory / 'audit.db'} (removed when the demo ends)")
        story = (
            moved.state is State.SUCCEEDED
            and refused is not None
            and refused.state is State.FAILED
            and failed is not None
            and failed.state is State.FAILED
            and drained is not None
            and drained.state is State.SUCCEEDED
            and report.ok
        )
        return 0 if story else 1
