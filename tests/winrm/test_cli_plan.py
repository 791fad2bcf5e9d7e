"""`hvbot plan` and `hvbot hosts` against the lab."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from lab.world import Fault, FaultKind
from support.winrm_lab import Lab


@pytest.fixture
def config_file(lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in lab.environ().items():
        monkeypatch.setenv(name, value)
    return lab.write_config(tmp_path)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_resolves_the_source_and_the_disks(
    lab: Lab, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "SRV-APP01 to HV-SRV02 vm-path 'D:\\Hyper-V\\Virtual Machines\\SRV-APP01' "
        "storage-path E:\\Disks"
    )
    code, out, err = _run(capsys, "plan", "--config", str(config_file), "--", text)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1] == "# runs on HV-SRV01 (HV-SRV01.lab.local)"
    assert lines[-1] == (
        "Move-VM -Name 'SRV-APP01' -DestinationHost 'HV-SRV02.lab.local' "
        "-VirtualMachinePath 'D:\\Hyper-V\\Virtual Machines\\SRV-APP01' -Vhds @("
        "@{SourceFilePath = 'D:\\Hyper-V\\Virtual Hard Disks\\SRV-APP01-OS.vhdx'; "
        "DestinationFilePath = 'E:\\Disks\\SRV-APP01-OS.vhdx'}, "
        "@{SourceFilePath = 'D:\\Hyper-V\\Virtual Hard Disks\\SRV-APP01-Data.vhdx'; "
        "DestinationFilePath = 'E:\\Disks\\SRV-APP01-Data.vhdx'})"
    )
    # Planning changes nothing.
    assert lab.world.calls("Move-VM") == []


def test_plan_json_and_check(
    lab: Lab, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(
        capsys, "plan", "--config", str(config_file), "--json", "--", "check SRV-DB01 to HV-SRV03"
    )
    assert code == 0
    data = json.loads(out)
    assert data["plan"]["host"] == "HV-SRV01"
    assert data["plan"]["invocations"][0]["cmdlet"] == "Move-VM"
    assert data["check"][0]["cmdlet"] == "Compare-VM"
    assert data["vm"]["id"] == "0b8e4d21-7c3a-4f6e-8d1b-2e3f4a5b6c72"


def test_plan_host_setting_needs_no_host(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(
        capsys, "plan", "--config", str(config_file), "--", "host HV-SRV03 set auth kerberos"
    )
    assert code == 0
    assert (
        out.splitlines()[-1] == "Set-VMHost -VirtualMachineMigrationAuthenticationType 'Kerberos'"
    )


def test_plan_refusals(lab: Lab, config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "plan", "--config", str(config_file), "--", "SRV-* to HV-SRV02")
    assert code == 2 and out == "" and err
    code, out, err = _run(
        capsys, "plan", "--config", str(config_file), "--", "SRV-NONE to HV-SRV02"
    )
    # The hosts answered, and the answer is no: a refusal, like a bad name.
    assert code == 2 and "No inventory host runs a VM" in err and "fix:" in err
    code, _, err = _run(capsys, "plan", "--config", str(config_file), "--", "status")
    assert code == 2 and "`/migrate status` changes nothing on a host" in err
    assert "StatusRequest" not in err
    code, _, err = _run(capsys, "plan", "--config", str(config_file))
    assert code == 2 and err.startswith("Give the /migrate text after --")


def test_hosts_table(lab: Lab, config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "hosts", "--config", str(config_file))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["HOST", "REACHABLE", "AUTH"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"HV-SRV01", "HV-SRV02", "HV-SRV03"}
    assert "enabled" in rows["HV-SRV01"] and "Kerberos" in rows["HV-SRV01"]
    assert "10.10.10.0/24 (prio 1)" in rows["HV-SRV02"]

    lab.world.inject(Fault(FaultKind.BAD_CREDENTIALS, "HV-SRV02"))
    lab.world.inject(Fault(FaultKind.UNREACHABLE, "HV-SRV03"))
    code, out, err = _run(capsys, "hosts", "--config", str(config_file))
    assert code == 1
    # Under the table: each failure once, with its cause and fix.
    assert "HV-SRV02: The host refused the bot's credentials.\n  cause: " in err
    assert err.count("HV-SRV03: ") == 1 and err.count("  fix: ") == 2
    cells = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert cells["HV-SRV02"][1:4] == ["yes", "basic", "refused"]
    assert cells["HV-SRV03"][1] == "no"
    assert lab.password not in out
