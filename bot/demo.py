"""`hvbot demo`: a whole migration story on the built-in lab, printed as a transcript.

Three simulated Hyper-V hosts listen on loopback and speak real WinRM over HTTPS (the
certificate is validated against the lab's own CA); the bot's real adapters, preflight,
workflow and SQLite audit log do the rest. People are played by the script. Slack itself
is not involved yet: what would be posted in a thread is printed.
"""

from __future__ import annotations

import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.app import SETTLED_STATES, Services, build_services
from bot.config import Config, Secrets, parse_config
from bot.console import ConsoleNotifier
from bot.winrm.errors import record_text
from commands.invocation import Invocation, Parameter
from commands.replies import ReplyKind
from commands.workflow.machine import WorkflowError
from commands.workflow.notify import PROGRESS_SECONDS, ProgressCadence
from commands.workflow.records import TERMINAL_STATES, Actor, Place, RequestRecord, State

if TYPE_CHECKING:
    from lab.world import World

PEOPLE = {"UALICE": "@alice (on call)", "UBOB": "@bob (team lead)", "UCAROL": "@carol (change mgr)"}
_CHANNEL = Place("C-INCIDENT-4711", "1732567000.000100")


class Demo:
    """Plays the people, prints what they type and what the bot answers."""

    def __init__(self, services: Services, notifier: ConsoleNotifier, out: TextIO) -> None:
        self.services = services
        self.out = out
        self.notifier = notifier

    @staticmethod
    def name(user: str) -> str:
        """How a Slack user id appears in the transcript."""
        return PEOPLE.get(user, f"@{user}").split(" ")[0]

    def section(self, title: str) -> None:
        """Print a section heading."""
        print(f"\n── {title} " + "─" * max(0, 70 - len(title)), file=self.out, flush=True)

    def note(self, text: str) -> None:
        """Print a narrator's line."""
        print(f"   ({text})", file=self.out, flush=True)

    def type(self, user: str, text: str) -> RequestRecord | None:
        """`user` types `/migrate text`; returns the request it recorded, if any."""
        print(f"{PEOPLE[user]:>22} › /migrate {text}", file=self.out, flush=True)
        reply = self.services.handler.handle(text, Actor(user), _CHANNEL)
        self.notifier.say(reply.text())
        if reply.kind is not ReplyKind.RECORDED or reply.request_id is None:
            return None
        # The notifier shows the card, or why the check refused the request.
        return self.services.wait_for(reply.request_id, SETTLED_STATES)

    def approve(self, user: str, request_id: int) -> None:
        """`user` clicks Approve on the card."""
        print(f"{PEOPLE[user]:>22} › clicks [Approve] on #{request_id}", file=self.out, flush=True)
        try:
            self.services.workflow.approve(request_id, Actor(user))
        except WorkflowError as refusal:
            self.notifier.say(str(refusal))


def _lab_config(fragment: str, directory: Path) -> Config:
    text = (
        fragment.replace('name = "HV-SRV01"', 'name = "HV-SRV01"\ncritical = true')
        + '\n[approvals]\nusers = ["UBOB", "UCAROL"]\nttl_minutes = 30\n'
        + "\n[executor]\npoll_seconds = 0.25\n"
        + f'\n[audit]\ndatabase = "{directory / "audit.db"}"\n'
        + '\n[logging]\nformat = "text"\n'
    )
    return parse_config(tomllib.loads(text))


@contextmanager
def _lab(time_scale: float, notifier: ConsoleNotifier) -> Iterator[tuple[Services, World, Path]]:
    from lab.running import start_lab
    from lab.world import load_scenario

    world = load_scenario(None, time_scale=time_scale)
    with (
        tempfile.TemporaryDirectory(prefix="hvbot-demo-") as tmp,
        start_lab(world, https=True) as lab,
    ):
        directory = Path(tmp)
        config = _lab_config(lab.config_fragment(), directory)
        secrets = Secrets.from_environ(
            {"HVBOT_WINRM_USER": lab.username, "HVBOT_WINRM_PASSWORD": lab.password}
        )
        # Progress at the pace people would see on real hosts, in the lab's faster time.
        cadence = ProgressCadence(min_seconds=PROGRESS_SECONDS * time_scale)
        services = build_services(config, secrets, notifier, cadence=cadence)
        try:
            yield services, world, directory
        finally:
            services.close()
            world.wait_idle()


def run_demo(out: TextIO, *, time_scale: float = 0.02) -> int:
    """Play the whole story; returns 0 when every step behaved as the story says."""
    from lab.world import Fault, FaultKind

    notifier = ConsoleNotifier(out, prefix="   hvbot", names=Demo.name)
    with _lab(time_scale, notifier) as (services, world, directory):
        demo = Demo(services, notifier, out)
        demo.section("The lab")
        for host in services.config.hosts:
            critical = " (critical: two approvals)" if host.critical else ""
            demo.note(f"{host.name} = https://{host.address}:{host.port}/wsman{critical}")
        demo.note("WinRM over HTTPS; the lab's certificate is validated against its own CA")
        demo.note(
            f"lab time runs {1 / time_scale:.0f}x faster: times below are the hosts' "
            "simulated seconds"
        )

        demo.section("1. Preflight catches a missing virtual switch")
        demo.type("UALICE", "check SRV-DB01 to HV-SRV03")

        demo.section("2. Configuration here, disks there: the seed's example, done right")
        demo.type(
            "UALICE",
            'check SRV-APP01 to HV-SRV02 vm-path "D:\\Hyper-V\\Virtual Machines" '
            'storage-path "D:\\Hyper-V\\Virtual Hard Disks"',
        )
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
        demo.type("UALICE", "SRV-* to HV-SRV02")
        demo.type("UALICE", "SRV-APP01 to HV-SRV9")

        demo.section("4. A shared-nothing live migration, approved by two people")
        record = demo.type(
            "UALICE", "SRV-APP01 to HV-SRV02 include-storage reason patch night, KB5044281"
        )
        if record is None:
            return 1
        demo.approve("UALICE", record.id)
        demo.approve("UBOB", record.id)
        demo.approve("UCAROL", record.id)
        moved = services.wait_for(record.id, TERMINAL_STATES)

        demo.section("5. Kerberos delegation lost: caught before anyone approves")
        demo.note("HV-SRV02's computer object loses its constrained delegation in AD")
        world.inject(Fault(FaultKind.KERBEROS_DELEGATION_MISSING, host="HV-SRV02"))
        refused = demo.type("UALICE", "SRV-APP01 to HV-SRV03 include-storage")
        world.clear_faults(FaultKind.KERBEROS_DELEGATION_MISSING)

        demo.section("6. A migration that fails halfway, explained with cause and fix")
        demo.note("the migration network to HV-SRV02 will drop at 60%")
        world.inject(Fault(FaultKind.FAIL_AT_PERCENT, host="HV-SRV02", percent=60))
        broken = demo.type("UALICE", "SRV-DB01 to HV-SRV02 reason rebalance")
        failed = None
        if broken is not None and broken.state is State.AWAITING_APPROVAL:
            demo.approve("UBOB", broken.id)
            demo.approve("UCAROL", broken.id)
            failed = services.wait_for(broken.id, TERMINAL_STATES)

        demo.section("7. The audit log")
        demo.type("UCAROL", "history")
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
            and report.ok
        )
        return 0 if story else 1
