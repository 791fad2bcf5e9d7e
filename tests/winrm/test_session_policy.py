"""Retry policy with fake pools: transient errors are retried only when nothing can repeat."""

from __future__ import annotations

import datetime as dt
import http.client
from typing import Any, ClassVar

import pytest
import requests
from pypsrp.exceptions import WSManFaultError

from bot.config import Config, HostConfig, Secrets, WinRMConfig
from bot.winrm import migration, session
from bot.winrm.errors import WSMAN_INVALID_SELECTORS
from bot.winrm.hyperv import WinRMHyperV
from bot.winrm.session import ConnectionSettings, HostSession, Sessions
from commands.hyperv import ErrorKind, HostEvent, HyperVError, JobState
from commands.invocation import Invocation, Parameter

CONFIG = Config(
    hosts=(HostConfig("HV-SRV01", "hv-srv01.lab.local"), HostConfig("HV-SRV02", "hv-srv02.lab")),
    winrm=WinRMConfig(auth="basic", ssl=True),
)
PASSWORD = "pw-123456"
SECRETS = Secrets.from_environ({"HVBOT_WINRM_USER": "bot", "HVBOT_WINRM_PASSWORD": PASSWORD})
HOST = CONFIG.inventory.find("HV-SRV01")
assert HOST is not None
VM_ID = "6f1c2a9e-3b7d-4c55-9a0e-1d2f3a4b5c61"


def _move(vm: str = "SRV-APP01", destination: str = "hv-srv02.lab") -> Invocation:
    return Invocation("Move-VM", (Parameter("Name", vm), Parameter("DestinationHost", destination)))


MOVE = _move()


class FakePool:
    opened = 0
    failures: ClassVar[list[BaseException]] = []

    def __init__(self, connection: Any) -> None:
        self.pipelines: dict[str, Any] = {}
        self.id = "POOL"

    def open(self) -> None:
        FakePool.opened += 1
        if FakePool.failures:
            raise FakePool.failures.pop(0)

    def close(self) -> None:
        pass


class FakePipeline:
    """A pipeline whose invocations fail with the queued exceptions, then succeed."""

    failures: ClassVar[list[BaseException]] = []
    invoked = 0

    def __init__(self) -> None:
        self.id = "PS"
        self.output = ["ok"]
        self.had_errors = False
        self.streams = type("Streams", (), {"error": []})()

    def invoke(self) -> None:
        FakePipeline.invoked += 1
        if FakePipeline.failures:
            raise FakePipeline.failures.pop(0)

    def begin_invoke(self) -> None:
        self.invoke()


@pytest.fixture(autouse=True)
def fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    FakePool.opened = 0
    FakePool.failures = []
    FakePipeline.invoked = 0
    FakePipeline.failures = []
    monkeypatch.setattr(session, "RunspacePool", FakePool)
    monkeypatch.setattr(session, "build_pipeline", lambda pool, invocations: FakePipeline())
    monkeypatch.setattr(migration, "build_pipeline", lambda pool, invocations: FakePipeline())


def _session() -> HostSession:
    assert HOST is not None
    settings = ConnectionSettings.from_config(CONFIG, SECRETS)
    return HostSession(HOST, settings, retries=2, backoff=0.0, sleep=lambda _: None)


def _reset() -> requests.exceptions.ConnectionError:
    return requests.exceptions.ConnectionError(ConnectionResetError(104, "reset by peer"))


def _closed_unanswered() -> requests.exceptions.ConnectionError:
    return requests.exceptions.ConnectionError(
        http.client.RemoteDisconnected("Remote end closed connection without response")
    )


def test_a_close_without_answer_while_opening_plain_http_to_a_tls_port_is_not_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain = Config(hosts=CONFIG.hosts, winrm=WinRMConfig(auth="kerberos", ssl=False))
    probed: list[tuple[str, int]] = []

    def tls_there(server: str, port: int, timeout: float) -> bool:
        probed.append((server, port))
        return True

    monkeypatch.setattr(session, "speaks_tls", tls_there)
    FakePool.failures = [_closed_unanswered(), _closed_unanswered()]
    settings = ConnectionSettings.from_config(plain, SECRETS)
    assert HOST is not None
    with pytest.raises(HyperVError) as caught:
        HostSession(HOST, settings, backoff=0.0, sleep=lambda _: None).run(
            [Invocation("Get-VMHost")]
        )
    assert caught.value.kind is ErrorKind.PROTOCOL_MISMATCH
    assert probed == [("hv-srv01.lab.local", plain.winrm.port)]
    assert FakePool.opened == 1 and FakePipeline.invoked == 0


def test_a_close_without_answer_over_tls_while_opening_is_a_drop_and_retried() -> None:
    FakePool.failures = [_closed_unanswered(), _closed_unanswered()]
    assert _session().run([Invocation("Get-VMHost")]).output == ["ok"]
    assert FakePool.opened == 3


def test_a_close_without_answer_on_an_open_pool_is_retried() -> None:
    FakePipeline.failures = [_closed_unanswered()]
    assert _session().run([Invocation("Get-VMHost")]).output == ["ok"]
    assert FakePipeline.invoked == 2


def test_idempotent_reads_are_retried_on_a_fresh_pool() -> None:
    FakePipeline.failures = [_reset(), _reset()]
    result = _session().run([Invocation("Get-VMHost")])
    assert result.output == ["ok"]
    assert FakePipeline.invoked == 3 and FakePool.opened == 3


def test_retries_are_bounded() -> None:
    FakePipeline.failures = [_reset(), _reset(), _reset(), _reset()]
    with pytest.raises(HyperVError) as caught:
        _session().run([Invocation("Get-VMHost")])
    assert caught.value.kind is ErrorKind.HOST_UNREACHABLE
    assert FakePipeline.invoked == 3


def test_a_change_is_not_repeated_after_an_ambiguous_failure() -> None:
    FakePipeline.failures = [_reset()]
    with pytest.raises(HyperVError):
        _session().run([Invocation("Set-VMHost")], idempotent=False)
    assert FakePipeline.invoked == 1


def test_a_change_is_resent_when_the_host_had_lost_our_shell() -> None:
    FakePipeline.failures = [WSManFaultError(WSMAN_INVALID_SELECTORS, "", "gone", "", "", "")]
    assert _session().run([Invocation("Set-VMHost")], idempotent=False).output == ["ok"]
    assert FakePipeline.invoked == 2


def test_non_transient_errors_are_not_retried() -> None:
    FakePipeline.failures = [requests.exceptions.SSLError("certificate verify failed")]
    with pytest.raises(HyperVError) as caught:
        _session().run([Invocation("Get-VMHost")])
    assert caught.value.kind is ErrorKind.TLS
    assert FakePipeline.invoked == 1


def test_a_move_that_may_have_started_is_followed_not_resent() -> None:
    FakePipeline.failures = [requests.exceptions.ReadTimeout("read timed out")]
    port = WinRMHyperV(Sessions(ConnectionSettings.from_config(CONFIG, SECRETS)))
    jobs: list[str] = []
    port.sessions.get = lambda host: _JobsSession(jobs)  # type: ignore[method-assign, assignment, return-value]
    assert HOST is not None
    handle = port.start_migration(HOST, MOVE, VM_ID)
    assert FakePipeline.invoked == 1
    assert handle.vm_id == VM_ID
    # No job visible yet right after an unconfirmed send: unknown, not "never started".
    assert handle.wait(0) is None
    assert handle.poll().state is JobState.STARTING


def test_a_move_refused_before_it_ran_is_reported() -> None:
    FakePipeline.failures = [WSManFaultError(WSMAN_INVALID_SELECTORS, "", "gone", "", "", "")]
    port = WinRMHyperV(Sessions(ConnectionSettings.from_config(CONFIG, SECRETS)))
    port.sessions.get = lambda host: _JobsSession([])  # type: ignore[method-assign, assignment, return-value]
    assert HOST is not None
    with pytest.raises(HyperVError) as caught:
        port.start_migration(HOST, MOVE, VM_ID)
    assert caught.value.kind is ErrorKind.WSMAN_FAULT
    assert FakePipeline.invoked == 1


class _JobsSession:
    """The shared session seen by the migration: no job yet."""

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls
        self.host = HOST
        self.scrub = ConnectionSettings.from_config(CONFIG, SECRETS).scrubber()

    def run(self, invocations: list[Invocation], idempotent: bool = True) -> session.Result:
        self.calls.append(invocations[0].cmdlet)
        return session.Result([], [], False)


def _port(calls: list[str]) -> WinRMHyperV:
    port = WinRMHyperV(Sessions(ConnectionSettings.from_config(CONFIG, SECRETS)))
    port.sessions.get = lambda host: _JobsSession(calls)  # type: ignore[method-assign, assignment, return-value]
    return port


@pytest.mark.parametrize("name", ["*", "SRV-APP0?", "SRV[1]", "SRV`*", ""])
def test_a_pattern_name_never_reaches_a_host(name: str) -> None:
    for invocation in (
        _move(name),
        Invocation("Get-VMHardDiskDrive", (Parameter("VMName", name),)),
    ):
        with pytest.raises(HyperVError) as caught:
            _session().run([invocation])
        assert caught.value.kind is ErrorKind.INVALID_PARAMETERS
    calls: list[str] = []
    assert HOST is not None
    with pytest.raises(HyperVError):
        _port(calls).start_migration(HOST, _move(name), VM_ID)
    assert (FakePool.opened, FakePipeline.invoked, calls) == (0, 0, [])


@pytest.mark.parametrize("destination", ["evil.example.com", "hv-srv03.lab"])
def test_a_move_to_a_host_outside_the_inventory_is_never_sent(destination: str) -> None:
    calls: list[str] = []
    port = _port(calls)
    assert HOST is not None
    with pytest.raises(HyperVError) as started:
        port.start_migration(HOST, _move(destination=destination), VM_ID)
    with pytest.raises(HyperVError) as compared:
        port.compare(HOST, _move(destination=destination))
    assert started.value.kind is compared.value.kind is ErrorKind.INVALID_PARAMETERS
    assert (FakePool.opened, FakePipeline.invoked, calls) == (0, 0, [])


def test_basic_auth_never_travels_in_clear_text_off_this_machine() -> None:
    plain = WinRMConfig(auth="basic", ssl=False, port=5985)
    remote = Config(hosts=(HostConfig("HV-SRV01", "hv-srv01.lab.local"),), winrm=plain)
    assert HOST is not None
    with pytest.raises(HyperVError) as caught:
        ConnectionSettings.from_config(remote, SECRETS).wsman(HOST)
    error = caught.value
    assert error.kind is ErrorKind.TLS
    shown = " ".join((str(error), error.summary, error.cause, error.fix, error.detail))
    assert PASSWORD not in shown
    lab = Config(hosts=(HostConfig("HV-SRV01", "hv-srv01.lab.local", address="127.0.0.1"),))
    lab_plain = Config(hosts=lab.hosts, winrm=plain)
    assert ConnectionSettings.from_config(lab_plain, SECRETS).wsman(HOST).transport.ssl is False


def test_host_event_text_in_an_outcome_is_scrubbed() -> None:
    port = _port([])
    said = f"Migration of SRV-APP01 failed: logon with password={PASSWORD} refused ({PASSWORD})"
    port.events_since = lambda host, since: (  # type: ignore[method-assign]
        HostEvent(21502, dt.datetime.now(dt.UTC), "Error", said),
    )
    assert HOST is not None
    handle = port.reattach_migration(HOST, VM_ID, dt.datetime.now(dt.UTC), MOVE)
    outcome = handle.wait(0)
    assert outcome is not None and outcome.error is not None
    assert "SRV-APP01" in outcome.error.detail
    assert PASSWORD not in outcome.error.detail


def test_turning_tls_validation_off_is_never_silent(caplog: pytest.LogCaptureFixture) -> None:
    unchecked = Config(hosts=CONFIG.hosts, winrm=WinRMConfig(auth="basic", cert_validation=False))
    assert HOST is not None
    with caplog.at_level("WARNING", logger="bot.winrm.session"):
        wsman = ConnectionSettings.from_config(unchecked, SECRETS).wsman(HOST)
    assert wsman.transport.cert_validation is False
    assert [r.getMessage() for r in caplog.records] == ["winrm TLS certificate not validated"]
    assert ConnectionSettings.from_config(CONFIG, SECRETS).wsman(HOST).transport.cert_validation


@pytest.mark.parametrize("auth", ["kerberos", "negotiate"])
def test_a_host_reached_through_an_address_keeps_its_fqdn_as_the_kerberos_name(auth: str) -> None:
    behind_nat = Config(
        hosts=(HostConfig("HV-SRV01", "hv-srv01.lab.local", address="10.0.0.7"),),
        winrm=WinRMConfig(auth=auth, ssl=True, port=5986),
    )
    assert HOST is not None
    transport = ConnectionSettings.from_config(behind_nat, SECRETS).wsman(HOST).transport
    session = requests.Session()
    transport._build_auth_negotiate(session, auth)  # what pypsrp does on first contact
    assert transport.server == "10.0.0.7"
    assert session.auth.hostname_override == "hv-srv01.lab.local"  # type: ignore[union-attr]


def test_a_host_reached_by_its_fqdn_needs_no_override() -> None:
    direct = Config(hosts=CONFIG.hosts, winrm=WinRMConfig(auth="kerberos", ssl=True, port=5986))
    assert HOST is not None
    transport = ConnectionSettings.from_config(direct, SECRETS).wsman(HOST).transport
    assert getattr(transport, "negotiate_hostname_override", "missing") is None
