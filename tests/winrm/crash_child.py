"""A bot process for the crash test: starts a migration then waits to be killed, or re-attaches.

    crash_child.py CONFIG start VM SOURCE DESTINATION
        prints one JSON line {vm_id, started_at, invocation} once the move is sent, then
        follows it until killed.
    crash_child.py CONFIG reattach SOURCE VM_ID STARTED_AT INVOCATION_JSON
        learns the outcome from the hosts alone and prints it as one JSON line.

Credentials come from the environment variables the config names, as in production.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.config import Secrets, load_config
from bot.winrm.hyperv import WinRMHyperV
from bot.winrm.session import ConnectionSettings, Sessions
from commands.inventory import Host
from commands.invocation import Invocation, Parameter
from commands.plans import plan_move
from commands.requests import Move


def _host(port: WinRMHyperV, name: str) -> Host:
    host = port.inventory.find(name)
    assert host is not None, name
    return host


def main(argv: list[str]) -> int:
    """Run one mode; see the module docstring."""
    config = load_config(argv[0])
    port = WinRMHyperV(
        Sessions(ConnectionSettings.from_config(config, Secrets.from_environ())),
        poll_interval=0.02,
    )
    if argv[1] == "start":
        vm_name, source, destination = argv[2], _host(port, argv[3]), _host(port, argv[4])
        vm = port.get_vm(source, vm_name)
        plan = plan_move(Move(vm_name, destination, include_storage=True), vm, source)
        handle = port.start_migration(source, plan.invocations[0], vm.id)
        line = {
            "vm_id": handle.vm_id,
            "started_at": handle.started_at.isoformat(),
            "invocation": plan.invocations[0].to_json(),
        }
        print(json.dumps(line), flush=True)
        while True:
            handle.poll()
            time.sleep(0.02)
    source = _host(port, argv[2])
    data = json.loads(argv[5])
    invocation = Invocation(
        data["cmdlet"], tuple(Parameter(p["name"], p["value"]) for p in data["parameters"])
    )
    handle = port.reattach_migration(
        source, argv[3], dt.datetime.fromisoformat(argv[4]), invocation
    )
    first = handle.poll()
    outcome = handle.wait(60)
    assert outcome is not None
    print(
        json.dumps(
            {
                "first_state": first.state.name,
                "succeeded": outcome.succeeded,
                "blackout": outcome.blackout_seconds,
                "error": outcome.error.kind.value if outcome.error else None,
                "events": [e.event_id for e in outcome.events],
            }
        ),
        flush=True,
    )
    port.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
