"""Authentication and transport security: Basic, NTLM with message encryption, HTTPS."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from pypsrp.exceptions import AuthenticationError
from pypsrp.powershell import RunspacePool

from lab.running import RunningLab, start_lab
from lab.winrm import CertificateAuthority
from support.lab_winrm import PASSWORD, USER, FakeWorld, invoke, wsman


@pytest.fixture
def ntlm_lab(world: FakeWorld) -> Iterator[RunningLab]:
    """A lab over plain HTTP whose clients use NTLM (hence message encryption)."""
    with start_lab(world, auth="ntlm", max_operation_timeout=5) as running:
        yield running


@pytest.fixture
def https_lab(world: FakeWorld) -> Iterator[RunningLab]:
    """A lab over HTTPS with a throw-away CA."""
    with start_lab(world, auth="basic", https=True, max_operation_timeout=5) as running:
        yield running


@pytest.mark.parametrize("username", [USER, "tester", "tester@lab.local"])
def test_basic_accepts_the_account_in_any_spelling(lab: RunningLab, username: str) -> None:
    with RunspacePool(wsman(lab, username=username)) as pool:
        assert invoke(pool, "Get-VM").output


def test_a_wrong_password_gets_401(lab: RunningLab) -> None:
    with pytest.raises(AuthenticationError):
        RunspacePool(wsman(lab, password="wrong")).open()
    reply = requests.post(lab.endpoint("HV-A").url, data=b"<x/>", timeout=5)
    assert reply.status_code == 401
    assert "Negotiate" in reply.headers["WWW-Authenticate"]
    assert 'Basic realm="WSMAN"' in reply.headers["WWW-Authenticate"]


def test_the_world_can_refuse_a_logon(lab: RunningLab, world: FakeWorld) -> None:
    world.refused.add("HV-B")
    with pytest.raises(AuthenticationError):
        RunspacePool(wsman(lab, "HV-B")).open()
    with RunspacePool(wsman(lab, "HV-A")) as pool:
        assert invoke(pool, "Get-VM").output


def test_ntlm_with_message_encryption(ntlm_lab: RunningLab, world: FakeWorld) -> None:
    client = wsman(ntlm_lab)
    with RunspacePool(client) as pool:
        assert invoke(pool, "Get-VM").output
        assert client.transport.wrap_required
        assert client.transport.encryption is not None
    assert world.calls[-1][1] == USER


def test_ntlm_with_a_wrong_password_gets_401(ntlm_lab: RunningLab) -> None:
    with pytest.raises(AuthenticationError):
        RunspacePool(wsman(ntlm_lab, password="wrong")).open()


def test_ntlm_refused_by_the_world(ntlm_lab: RunningLab, world: FakeWorld) -> None:
    world.refused.add("HV-A")
    with pytest.raises(AuthenticationError):
        RunspacePool(wsman(ntlm_lab)).open()


def test_https_validates_against_the_lab_ca(https_lab: RunningLab) -> None:
    assert https_lab.ca_file is not None and https_lab.ca_file.is_file()
    options = https_lab.client_options("HV-A")
    assert options["ssl"] is True
    assert options["cert_validation"] == str(https_lab.ca_file)
    with RunspacePool(wsman(https_lab)) as pool:
        assert invoke(pool, "Get-VM").output


def test_https_fails_against_another_ca(https_lab: RunningLab, tmp_path: Path) -> None:
    other = CertificateAuthority.create(tmp_path)
    with pytest.raises(requests.exceptions.SSLError):
        RunspacePool(wsman(https_lab, cert_validation=str(other.ca_file))).open()


def test_ntlm_over_https(world: FakeWorld) -> None:
    with (
        start_lab(world, auth="ntlm", https=True) as running,
        RunspacePool(wsman(running)) as pool,
    ):
        assert invoke(pool, "Get-VM").output


def test_the_lab_cleans_up_its_certificates(world: FakeWorld) -> None:
    with start_lab(world, https=True) as running:
        ca_file = running.ca_file
        assert ca_file is not None and ca_file.is_file()
    assert not ca_file.exists()


def test_credentials_come_from_the_world(world: FakeWorld) -> None:
    with start_lab(world) as running:
        assert (running.username, running.password) == (USER, PASSWORD)


def test_the_ntlm_user_file_lives_as_long_as_the_labs(world: FakeWorld) -> None:
    with start_lab(world, auth="ntlm") as running:
        path = Path(os.environ["NTLM_USER_FILE"])
        assert f":{USER.split(chr(92))[1]}:{PASSWORD}" in path.read_text()
        with RunspacePool(wsman(running)) as pool:
            assert invoke(pool, "Get-VM").output
    assert "NTLM_USER_FILE" not in os.environ
    assert not path.exists()


def test_users_see_only_their_own_shells() -> None:
    other, other_password = "LAB\\other", "0ther-Pass!"
    world = FakeWorld(credentials={USER: PASSWORD, other: other_password})
    with start_lab(world) as running, RunspacePool(wsman(running)) as mine:
        [seen] = RunspacePool.get_runspace_pools(wsman(running))
        assert seen.id.upper() == str(mine.id).upper()
        stranger = wsman(running, username=other, password=other_password)
        assert RunspacePool.get_runspace_pools(stranger) == []


def test_a_lab_that_cannot_start_leaves_nothing_behind(
    world: FakeWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            start_lab(world, auth="ntlm", https=True, ports={"HV-B": port})
    assert list(tmp_path.iterdir()) == []
    assert "NTLM_USER_FILE" not in os.environ
