"""Kerberos from the bot to the lab's hosts, with tickets from the real Samba DC.

The hosts' computer objects, SPNs and keytabs and the bot's account live in the test DC; the
lab's listeners accept Kerberos with those keytabs; the bot asks for tickets with a password
from its environment variables or a client keytab (KRB5_CLIENT_KTNAME). Every host is reached
through `address = "127.0.0.1"`, so every ticket proves the service name came from the FQDN.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypsrp.powershell import RunspacePool

from bot.config import Config, Secrets, parse_config
from bot.store import SqliteAuditStore
from bot.winrm.hyperv import WinRMHyperV
from bot.winrm.session import ConnectionSettings, Sessions
from commands.hyperv import ErrorKind, HyperVError
from commands.workflow.records import State
from lab.directory import RunningDC
from lab.directory.kerberos import LabRealm, kerberos_realm
from lab.directory.objects import LabDirectory, admin_connection
from lab.running import RunningLab, start_lab
from lab.world import World, parse_scenario
from support.e2e import BotRig
from support.winrm_lab import PASSWORD_ENV, TIME_SCALE, USER_ENV, lab_config, scenario, toml_for

pytest.importorskip("gssapi", reason="hvbot[kerberos] is not installed (needs libkrb5-dev)")


def _world() -> World:
    return parse_scenario(scenario(), "default+shared", time_scale=TIME_SCALE)


@pytest.fixture(scope="module")
def realm(dc: RunningDC, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabRealm]:
    """The lab's hosts and users in the DC, their keytabs, and KRB5_CONFIG for this process."""
    world = _world()
    hosts = [(n, h.fqdn) for n in world.host_names() if (h := world.host(n)) is not None]
    conn = admin_connection(dc)
    unit = LabDirectory(conn, dc.base_dn, f"krb{os.getpid()}")
    work = tmp_path_factory.mktemp("kerberos")
    try:
        made = kerberos_realm(dc, unit, hosts, world.credentials, work)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("KRB5_CONFIG", str(made.krb5_conf))
            yield made
    finally:
        unit.clear()
        conn.unbind()


@pytest.fixture
def ccache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ticket cache of this test's own (never the machine's shared default)."""
    path = tmp_path / "ccache"
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{path}")
    monkeypatch.delenv("KRB5_CLIENT_KTNAME", raising=False)
    return path


@pytest.fixture
def world() -> World:
    return _world()


@pytest.fixture
def lab(realm: LabRealm, world: World) -> Iterator[RunningLab]:
    """The default lab over plain HTTP (so WinRM messages are Kerberos-encrypted)."""
    with start_lab(world, auth="kerberos", keytabs=realm.keytabs) as running:
        yield running
        world.wait_idle(10)


def _port(
    lab: RunningLab, env: dict[str, str], config: Config | None = None
) -> tuple[WinRMHyperV, ConnectionSettings]:
    config = config or lab_config(lab)
    settings = ConnectionSettings.from_config(config, Secrets.from_environ(env))
    return WinRMHyperV(Sessions(settings, retries=0), poll_interval=0.02), settings


def _password_env(realm: LabRealm, lab: RunningLab, user: str | None = None) -> dict[str, str]:
    return {USER_ENV: user or realm.principal(lab.username), PASSWORD_ENV: lab.password}


def _failure(
    lab: RunningLab, env: dict[str, str], host: str = "HV-SRV01", config: Config | None = None
) -> HyperVError:
    port, settings = _port(lab, env, config)
    target = settings.inventory.find(host)
    assert target is not None
    try:
        with pytest.raises(HyperVError) as caught:
            port.get_vm(target, "SRV-APP01")
    finally:
        port.close()
    return caught.value


def test_a_password_from_the_environment_gets_a_ticket_and_encrypts_messages(
    realm: LabRealm, lab: RunningLab, ccache: Path
) -> None:
    _, settings = _port(lab, _password_env(realm, lab))
    host = settings.inventory.find("HV-SRV01")
    assert host is not None
    wsman = settings.wsman(host)
    with RunspacePool(wsman) as pool:
        assert pool.state == 2  # opened: authenticated by Kerberos
    assert wsman.transport.server == "127.0.0.1"
    assert wsman.transport.encryption is not None
    assert wsman.transport.encryption.protocol.endswith("session-encrypted")
    assert wsman.transport.encryption.context.negotiated_protocol == "kerberos"


def test_a_client_keytab_asks_for_the_fqdn_service_name_behind_an_ip_address(
    realm: LabRealm, lab: RunningLab, ccache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KRB5_CLIENT_KTNAME", str(realm.client_keytabs[lab.username]))
    port, settings = _port(lab, {})
    host = settings.inventory.find("HV-SRV01")
    assert host is not None and settings.endpoint(host).server == "127.0.0.1"
    try:
        assert port.get_vm(host, "SRV-APP01").host == "HV-SRV01"
    finally:
        port.close()
    tickets = subprocess.run(["klist", "-c", str(ccache)], capture_output=True, text=True)
    assert f"HTTP/{host.fqdn.lower()}@{realm.realm}" in tickets.stdout
    assert "127.0.0.1" not in tickets.stdout


def test_no_ticket_says_how_to_give_the_bot_one(
    realm: LabRealm, lab: RunningLab, ccache: Path
) -> None:
    error = _failure(lab, {})
    assert error.kind is ErrorKind.AUTHENTICATION
    assert error.summary == "The bot has no valid Kerberos ticket to reach HV-SRV01."
    assert "KRB5_CLIENT_KTNAME" in error.fix and "kinit" in error.fix


@pytest.mark.parametrize("user", ["hvadmin@OTHER.TEST", "hvadmin@hvlab.test"])
def test_a_wrong_realm_is_named_with_its_fix(
    realm: LabRealm, lab: RunningLab, ccache: Path, user: str
) -> None:
    error = _failure(lab, _password_env(realm, lab, user))
    assert error.summary == f"Kerberos realm {user.partition('@')[2]} is unknown to this machine."
    assert "capitals" in error.fix
    assert lab.password not in f"{error.summary} {error.cause} {error.fix} {error.detail}"


def test_an_unknown_service_principal_names_the_host_and_the_fix(
    realm: LabRealm, lab: RunningLab, ccache: Path
) -> None:
    # A typo in the host's FQDN: the domain has no computer by that name.
    text = toml_for(lab).replace('fqdn = "HV-SRV03.lab.local"', 'fqdn = "hv-srv3.lab.local"')
    assert "hv-srv3.lab.local" in text
    config = parse_config(tomllib.loads(text))
    error = _failure(lab, _password_env(realm, lab), host="HV-SRV03", config=config)
    assert error.summary == "The domain knows no service principal for HV-SRV03 (HTTP/<its FQDN>)."
    assert "setspn -Q HTTP/<fqdn>" in error.fix


def test_a_full_migration_with_the_bot_authenticated_by_kerberos(
    realm: LabRealm, world: World, lab: RunningLab, tmp_path: Path
) -> None:
    config = tmp_path / "hvbot.toml"
    config.write_text(
        lab.config_fragment()
        + '\n[approvals]\nusers = ["UBOB"]\n'
        + "\n[executor]\npoll_seconds = 0.1\n"
        + f'\n[audit]\ndatabase = "{tmp_path / "audit.db"}"\n',
        encoding="utf-8",
    )
    assert 'auth = "kerberos"' in config.read_text(encoding="utf-8")
    env = {
        k: v for k, v in os.environ.items() if k not in ("HVBOT_WINRM_USER", "HVBOT_WINRM_PASSWORD")
    }
    env |= {
        "KRB5_CONFIG": str(realm.krb5_conf),
        "KRB5_CLIENT_KTNAME": str(realm.client_keytabs[lab.username]),
        "KRB5CCNAME": f"FILE:{tmp_path / 'ccache'}",
    }
    rig = BotRig(world, lab, config, env)
    submitted = rig.run("request", "--as", "UALICE", "--", "SRV-APP01 to HV-SRV02 include-storage")
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    approved = rig.run("approve", "1", "--as", "UBOB", timeout=120)
    assert approved.returncode == 0, approved.stdout + approved.stderr
    with SqliteAuditStore(tmp_path / "audit.db") as store:
        record = store.get(1)
        assert record is not None and record.state is State.SUCCEEDED
        assert store.verify().ok
    world.wait_idle(10)
    assert [c.host for c in world.calls("Move-VM")] == ["HV-SRV01"]
    destination = world.host("HV-SRV02")
    assert destination is not None and destination.find_vm("SRV-APP01") is not None


def test_negotiate_carries_kerberos_inside_spnego_and_encrypts_messages(
    realm: LabRealm, lab: RunningLab, ccache: Path
) -> None:
    text = toml_for(lab).replace('auth = "kerberos"', 'auth = "negotiate"')
    port, settings = _port(lab, _password_env(realm, lab), parse_config(tomllib.loads(text)))
    host = settings.inventory.find("HV-SRV01")
    assert host is not None
    wsman = settings.wsman(host)
    with RunspacePool(wsman) as pool:
        assert pool.state == 2  # opened: the SPNEGO exchange completed
    assert wsman.transport.encryption is not None
    assert wsman.transport.encryption.context.negotiated_protocol == "kerberos"
    try:
        assert port.get_vm(host, "SRV-APP01").host == "HV-SRV01"
    finally:
        port.close()


def _say_host(lab: RunningLab, realm: LabRealm, tmp_path: Path, *prefix: str) -> str:
    """`hvbot say -- host HV-SRV01` with a ticket from the lab user's keytab, run after
    `prefix` (faketime); what it printed, and the exit code in front."""
    config = tmp_path / "hvbot.toml"
    config.write_text(toml_for(lab) + f'\n[audit]\ndatabase = "{tmp_path / "a.db"}"\n')
    conf = tmp_path / "krb5.conf"
    # MIT corrects a client's own skew by default (kdc_timesync = 1: kinit 10 minutes ahead
    # succeeds, tried on this machine); with it off, as on a client set up so, the KDC's
    # refusal reaches the bot.
    conf.write_text(
        realm.krb5_conf.read_text(encoding="utf-8").replace(
            "[libdefaults]\n", "[libdefaults]\n kdc_timesync = 0\n"
        ),
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k not in (USER_ENV, PASSWORD_ENV)}
    env |= {
        "KRB5_CONFIG": str(conf),
        "KRB5_CLIENT_KTNAME": str(realm.client_keytabs[lab.username]),
        "KRB5CCNAME": f"FILE:{tmp_path / ('cc' + str(len(prefix)))}",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }
    command = [sys.executable, "-m", "bot.cli", "say", "--config", str(config), "--as", "UX"]
    said = subprocess.run(
        [*prefix, *command, "--", "host", "HV-SRV01"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return f"{said.returncode}\n{said.stdout}{said.stderr}"


def test_a_clock_more_than_five_minutes_off_is_named_with_its_fix(
    realm: LabRealm, lab: RunningLab, tmp_path: Path
) -> None:
    faketime = shutil.which("faketime")
    if faketime is None:
        pytest.skip("faketime is not installed (lab/directory/packages.sh installs it, as root)")
    on_time = _say_host(lab, realm, tmp_path)
    assert on_time.startswith("0\n") and "HV-SRV01: live migration settings" in on_time
    skewed = _say_host(lab, realm, tmp_path, faketime, "-f", "+10m")
    assert skewed.startswith("1\n"), skewed
    assert "Kerberos refused the bot: clocks differ by more than 5 minutes." in skewed
    assert "w32tm /resync" in skewed
    assert "Traceback" not in skewed
