"""Scenario loading: the packaged default, overrides, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.world import FaultKind, ScenarioError, load_scenario, parse_scenario


def test_default_lab_has_three_hosts_and_srv_app01() -> None:
    world = load_scenario()
    assert world.host_names() == ["HV-SRV01", "HV-SRV02", "HV-SRV03"]
    app = world.host("HV-SRV01.lab.local")
    assert app is not None
    vm = app.find_vm("SRV-APP01")
    assert vm is not None and len(vm.disks) == 2
    assert world.time_scale == 0.05
    assert world.credentials == {"LAB\\hvadmin": "Lab-Passw0rd!"}


def test_time_scale_override() -> None:
    assert load_scenario(time_scale=0.001).time_scale == 0.001


def test_faults_from_a_scenario(tmp_path: Path) -> None:
    path = tmp_path / "lab.toml"
    path.write_text(
        '[[hosts]]\nname = "H1"\n[[hosts]]\nname = "H2"\n'
        '[[faults]]\nkind = "slow_link"\nhost = "H2"\nmbps = 50\n',
        "utf-8",
    )
    world = load_scenario(path)
    fault = world.fault(FaultKind.SLOW_LINK, "h2")
    assert fault is not None and fault.mbps == 50
    assert world.host("H1.lab.local") is not None


def test_every_problem_is_listed() -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(
            {
                "hosts": [{"name": "H1", "auth": "NTLM", "memory_gb": "lots", "colour": "red"}],
                "vms": [{"name": "V", "host": "H9"}],
                "faults": [{"kind": "meteor"}],
            },
            "bad.toml",
        )
    text = str(caught.value)
    assert text.startswith("bad.toml: invalid scenario:")
    for expected in (
        "hosts[0].auth: 'NTLM' is not one of CredSSP, Kerberos",
        "hosts[0].memory_gb: expected a number",
        "hosts[0].colour: unknown key",
        "vms[0].host: no such host 'H9'",
        "faults[0].kind: 'meteor' is not one of",
    ):
        assert expected in text


def test_unreadable_and_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[[hosts]\n", "utf-8")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(broken)


def test_disk_off_any_volume_is_rejected() -> None:
    with pytest.raises(ScenarioError, match="not on a volume of H1"):
        parse_scenario(
            {
                "hosts": [{"name": "H1"}],
                "vms": [{"name": "V", "host": "H1", "disks": [{"path": "Q:\\v.vhdx"}]}],
            }
        )


def test_bad_lab_timings_are_listed_too() -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(
            {"lab": {"time_scale": "fast", "link_mbps": 0}, "hosts": [{"name": "H1"}]}, "t.toml"
        )
    text = str(caught.value)
    assert "lab.time_scale: expected a number, got 'fast'" in text
    assert "lab.link_mbps: must be above 0" in text
