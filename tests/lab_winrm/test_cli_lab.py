"""`hvbot lab` runs the lab and the Slack stand-in, prints how to connect, stops on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import requests
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan
from slack_sdk import WebClient

from bot.config import load_config

ROOT = Path(__file__).resolve().parents[2]


def test_hvbot_lab_prints_a_working_config_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "lab", "--time-scale", "0.01"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Lab running"):
                break
        output = "".join(lines)
        fragment = output.split("# hvbot.toml fragment\n", 1)[1].split("# credentials", 1)[0]
        config_file = tmp_path / "hvbot.toml"
        config_file.write_text(fragment)
        config = load_config(config_file)
        user = re.search(r"export HVBOT_WINRM_USER=(.+)", output)
        password = re.search(r"export HVBOT_WINRM_PASSWORD=(.+)", output)
        assert user and password
        host = next(h for h in config.hosts if h.name == "HV-SRV01")
        assert host.address == "127.0.0.1" and host.port
        assert tomllib.loads(fragment)["winrm"]["auth"] == config.winrm.auth == "basic"
        client = WSMan(
            host.address,
            port=host.port,
            ssl=config.winrm.ssl,
            auth=config.winrm.auth,
            username=user.group(1).strip("'"),
            password=password.group(1).strip("'"),
            encryption="never",
        )
        with RunspacePool(client) as pool:
            ps = PowerShell(pool)
            ps.add_cmdlet("Get-VM")
            assert ps.invoke()
        check_the_slack_stand_in(output, config.slack.api_url)
        process.send_signal(signal.SIGINT)
        remaining, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert "Lab stopped." in remaining


def check_the_slack_stand_in(output: str, api_url: str) -> None:
    """The printed [slack] api_url and tokens reach a running stand-in; its page is up."""
    exports = dict(re.findall(r"export (SLACK_\w+)=(\S+)", output))
    assert set(exports) == {"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"}
    assert api_url.startswith("http://127.0.0.1:")
    bot = WebClient(token=exports["SLACK_BOT_TOKEN"].strip("'"), base_url=api_url)
    assert bot.auth_test()["ok"]
    opened = WebClient(base_url=api_url).apps_connections_open(
        app_token=exports["SLACK_APP_TOKEN"].strip("'")
    )
    assert opened["url"].startswith("ws://127.0.0.1:")
    page = re.search(r"web page\s+(http://127\.0\.0\.1:\d+/)", output)
    assert page and requests.get(page.group(1), timeout=10).status_code == 200


def test_hvbot_lab_refuses_a_time_scale_of_zero() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "lab", "--time-scale", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--time-scale must be above 0" in done.stderr


def test_hvbot_lab_refuses_ports_it_cannot_use(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    assert main(["lab", "--base-port", "99999"]) == 2
    assert "--base-port must leave room for 3 ports" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["lab", "--base-port", str(port)]) == 2
    assert "cannot listen on 127.0.0.1: Address already in use" in capsys.readouterr().err
