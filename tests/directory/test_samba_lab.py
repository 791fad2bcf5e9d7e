"""The lab's DC is safe with several test processes at once, and goes away with its starter."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from bot.directory import ActiveDirectory
from lab.directory import RunningDC
from support.directory import settings

ROOT = Path(__file__).resolve().parents[2]
_CHILD = """
import sys
from lab.directory import start_dc
dc = start_dc()
print(dc.address, dc.process.pid, flush=True)
sys.stdin.read()
dc.stop()
"""


def start_child(env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def started(child: subprocess.Popen[str]) -> tuple[str, int]:
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line, child.stderr.read() if child.stderr else "no output"
    address, pid = line.split()
    return address, int(pid)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_gone(pid: int, within: float = 120.0) -> bool:
    deadline = time.monotonic() + within
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not alive(pid)


def answers(dc: RunningDC, address: str) -> bool:
    directory = ActiveDirectory(settings(dc, uri=f"ldaps://{address}"), dc.base_dn)
    try:
        return directory.find_computer("DC1") is not None
    finally:
        directory.close()


def test_another_process_gets_its_own_dc_and_stopping_it_leaves_ours(dc: RunningDC) -> None:
    child = start_child()
    try:
        address, samba_pid = started(child)
        assert address != dc.address
        assert answers(dc, address) and answers(dc, dc.address)
        assert child.stdin is not None
        child.stdin.close()
        assert child.wait(timeout=120) == 0
        assert wait_gone(samba_pid)
        assert answers(dc, dc.address)
    finally:
        child.kill()
        child.wait()


def test_a_killed_starter_takes_its_dc_with_it(dc: RunningDC) -> None:
    child = start_child()
    try:
        _, samba_pid = started(child)
        assert alive(samba_pid)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert wait_gone(samba_pid)
    assert answers(dc, dc.address)


def test_two_processes_on_a_fresh_machine_provision_once(dc: RunningDC, tmp_path: Path) -> None:
    env = {"HVBOT_SAMBA_DIR": str(tmp_path)}
    children = [start_child(env), start_child(env)]
    try:
        addresses = {started(child)[0] for child in children}
        assert len(addresses) == 2 and dc.address not in addresses
        assert len(list(tmp_path.glob("template-*"))) == 1
    finally:
        for child in children:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(timeout=120)


def said_with_kerberos(output: str, tmp_path: Path) -> bool:
    """`hvbot say -- host HV-SRV01` with the printed configuration switched to Kerberos and
    the printed Kerberos variables instead of the WinRM user and password."""
    fragment = output.split("# hvbot.toml fragment\n")[1].split("# credentials")[0]
    assert 'auth = "basic"' in fragment
    config = tmp_path / "hvbot.toml"
    config.write_text(
        fragment.replace('auth = "basic"', 'auth = "kerberos"')
        + f'\n[audit]\ndatabase = "{tmp_path / "audit.db"}"\n',
        encoding="utf-8",
    )
    exported = dict(
        line.removeprefix("export ").split("=", 1)
        for line in output.splitlines()
        if line.startswith("export ")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HVBOT_", "KRB5"))}
    env |= {k: shlex.split(v)[0] for k, v in exported.items() if not k.startswith("HVBOT_WINRM")}
    assert "unset HVBOT_WINRM_USER HVBOT_WINRM_PASSWORD" in output
    assert Path(env["KRB5_CLIENT_KTNAME"]).is_file()
    command = [sys.executable, "-m", "bot.cli", "say", "--config", str(config), "--as", "UX"]
    said = subprocess.run(
        [*command, "--", "host", "HV-SRV01"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert said.returncode == 0, said.stdout + said.stderr
    return "HV-SRV01: live migration settings" in said.stdout


def test_hvbot_lab_directory_prints_a_working_directory_section_and_stops_its_dc(
    dc: RunningDC, tmp_path: Path
) -> None:
    lab = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "lab", "--directory"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert lab.stdout is not None
        lines = []
        for line in lab.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Lab running"):
                break
        output = "\n".join(lines)
        assert "[directory]" in output, output
        env = dict(
            line.removeprefix("export ").split("=", 1)
            for line in lines
            if line.startswith("export HVBOT_LDAP")
        )
        uri = next(line for line in lines if line.startswith("uri = "))
        address = uri.split("//")[1].rstrip('"')
        ca_file = next(line for line in lines if line.startswith("ca_file = ")).split('"')[1]
        dn = shlex.split(env["HVBOT_LDAP_BIND_DN"])[0]
        password = shlex.split(env["HVBOT_LDAP_PASSWORD"])[0]
        reader = ActiveDirectory(
            settings(dc, uri=f"ldaps://{address}", bind_dn=dn, password=password, ca_file=ca_file),
            "DC=lab,DC=local",
        )
        computer = reader.find_computer("HV-SRV01")
        reader.close()
        assert computer is not None and computer.dns_host_name == "HV-SRV01.lab.local"
        assert len(computer.allowed_to_delegate_to) == 8  # two peers, four services each
        assert said_with_kerberos(output, tmp_path)
        samba_pid = int(Path(f"/proc/{lab.pid}/task/{lab.pid}/children").read_text().split()[0])
    finally:
        lab.send_signal(signal.SIGINT)
        out, _ = lab.communicate(timeout=120)
    assert lab.returncode == 0
    assert "Lab stopped." in out
    assert wait_gone(samba_pid)
