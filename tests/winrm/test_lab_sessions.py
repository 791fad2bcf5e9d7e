"""Sessions against the lab: reuse, a host dropping the pool mid-poll, 20 threads, secrets."""

from __future__ import annotations

import base64
import json
import logging
import threading
import tomllib

import pytest

from bot.config import Secrets, parse_config
from bot.logs import JsonFormatter, bind
from bot.winrm.hyperv import WinRMHyperV
from bot.winrm.session import ConnectionSettings, Sessions
from commands.hyperv import ErrorKind, HyperVError, JobState
from commands.inventory import Host
from commands.invocation import Invocation
from commands.plans import plan_move
from commands.requests import Move
from lab.running import start_lab
from lab.world import parse_scenario
from support.winrm_lab import PASSWORD_ENV, TIME_SCALE, USER_ENV, Lab, scenario, toml_for


def _drop_shell(lab: Lab, host: str, shell_id: str) -> None:
    """What a WinRM restart or an idle timeout does to our pool on the host."""
    listener = next(x for x in lab.running._listeners if x.host == host)
    with listener.service._lock:
        shell = listener.service._shells.pop(shell_id)
    shell.close()


def test_one_pool_per_host_reused(lab: Lab) -> None:
    host = lab.host("HV-SRV01")
    for _ in range(5):
        lab.port.switches(host)
    session = lab.port.session(host)
    assert session.opened == 1
    assert session is lab.port.session(lab.host("hv-srv01.lab.local"))


def test_host_dropping_the_pool_mid_poll(lab: Lab) -> None:
    lab.world.time_scale = 0.008
    source = lab.host("HV-SRV01")
    vm = lab.port.get_vm(source, "SRV-APP01")
    plan = plan_move(Move("SRV-APP01", lab.host("HV-SRV02"), include_storage=True), vm, source)
    handle = lab.port.start_migration(source, plan.invocations[0], vm.id)
    first = handle.poll()
    session = lab.port.session(source)
    pool = session._pool
    assert pool is not None and session.opened == 1

    _drop_shell(lab, "HV-SRV01", pool.id)

    after = handle.poll()
    assert session.opened == 2
    assert after.state in (JobState.RUNNING, JobState.COMPLETED)
    assert after.percent >= first.percent
    outcome = handle.wait(30)
    assert outcome is not None and outcome.succeeded
    assert len(lab.world.calls("Move-VM")) == 1


def test_twenty_threads_share_one_host_session(lab: Lab) -> None:
    host = lab.host("HV-SRV02")
    errors: list[BaseException] = []
    results: list[tuple[str, ...]] = []

    def work() -> None:
        try:
            for _ in range(5):
                results.append(lab.port.switches(host))
                assert lab.port.host_settings(host).max_vm_migrations == 2
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(results) == 100
    assert set(results) == {("vSwitch-Backup", "vSwitch-Prod")}
    assert lab.port.session(host).opened == 1


def test_only_inventory_hosts_are_contacted(lab: Lab) -> None:
    stranger = Host("EVIL-SRV", "evil.example.com")
    with pytest.raises(HyperVError) as caught:
        lab.port.switches(stranger)
    assert caught.value.kind is ErrorKind.HOST_UNREACHABLE
    # Same short name, other FQDN: still refused.
    with pytest.raises(HyperVError):
        lab.port.switches(Host("HV-SRV01", "hv-srv01.evil.example.com"))


def test_missing_credentials_name_the_variables_not_values(lab: Lab) -> None:
    settings = ConnectionSettings.from_config(lab.config, Secrets.from_environ({}))
    with pytest.raises(HyperVError) as caught:
        Sessions(settings).get(lab.host("HV-SRV01")).open()
    assert caught.value.kind is ErrorKind.AUTHENTICATION
    assert USER_ENV in caught.value.summary and PASSWORD_ENV in caught.value.summary


def test_tls_validation_against_another_ca_fails_as_tls(lab: Lab) -> None:
    text = toml_for(lab.running).replace(
        str(lab.running.ca_file), "/etc/ssl/certs/ca-certificates.crt"
    )
    config = parse_config(tomllib.loads(text))
    settings = ConnectionSettings.from_config(config, lab.secrets)
    with pytest.raises(HyperVError) as caught:
        Sessions(settings).get(lab.host("HV-SRV01")).open()
    assert caught.value.kind is ErrorKind.TLS


def test_no_secret_in_any_log_line_or_error(
    lab: Lab, captured_logs: pytest.LogCaptureFixture
) -> None:
    from lab.world import Fault, FaultKind

    lab.port.find_vm("SRV-APP01")
    lab.world.inject(Fault(FaultKind.BAD_CREDENTIALS, "HV-SRV03"))
    port = lab.new_port()
    try:
        with pytest.raises(HyperVError) as caught:
            port.switches(lab.host("HV-SRV03"))
    finally:
        port.close()
    texts = [r.getMessage() for r in captured_logs.records]
    texts += [str(v) for r in captured_logs.records for v in r.__dict__.values()]
    texts += [str(caught.value), caught.value.detail, caught.value.cause, caught.value.fix]
    # Basic auth sends the password base64-encoded: that form must not leak either.
    header = base64.b64encode(f"{lab.running.username}:{lab.password}".encode()).decode()
    assert texts and not [t for t in texts if lab.password in t or header in t]
    # Sanity: the capture really saw the traffic (pypsrp logs every message at debug level).
    assert any(r.name.startswith("pypsrp") for r in captured_logs.records)


def test_ntlm_with_message_encryption_over_http() -> None:
    world = parse_scenario(scenario(), "ntlm", time_scale=TIME_SCALE)
    with start_lab(world, auth="ntlm", https=False) as running:
        config = parse_config(tomllib.loads(toml_for(running)))
        assert (config.winrm.auth, config.winrm.ssl) == ("ntlm", False)
        secrets = Secrets.from_environ({USER_ENV: running.username, PASSWORD_ENV: running.password})
        port = WinRMHyperV(Sessions(ConnectionSettings.from_config(config, secrets)))
        try:
            assert port.find_vm("SRV-APP01").host == "HV-SRV01"
        finally:
            port.close()


def _sessions_for(text: str, lab_secrets: Secrets, sleeps: list[float]) -> Sessions:
    settings = ConnectionSettings.from_config(parse_config(tomllib.loads(text)), lab_secrets)
    return Sessions(settings, backoff=0.01, sleep=sleeps.append)


def test_tls_to_a_plain_http_listener_is_a_protocol_mismatch() -> None:
    world = parse_scenario(scenario(), "default", time_scale=TIME_SCALE)
    with start_lab(world, https=False) as running:
        text = toml_for(running).replace("ssl = false", "ssl = true")
        secrets = Secrets.from_environ({USER_ENV: running.username, PASSWORD_ENV: running.password})
        sleeps: list[float] = []
        with pytest.raises(HyperVError) as caught:
            sessions = _sessions_for(text, secrets, sleeps)
            host = sessions.settings.inventory.find("HV-SRV01")
            assert host is not None
            sessions.get(host).open()
    assert caught.value.kind is ErrorKind.PROTOCOL_MISMATCH
    assert "certificate" not in caught.value.summary
    assert sleeps == []


def test_plain_http_to_an_https_listener_is_a_protocol_mismatch_not_retried(lab: Lab) -> None:
    text = toml_for(lab.running).replace("ssl = true", "ssl = false")
    sleeps: list[float] = []
    sessions = _sessions_for(text, lab.secrets, sleeps)
    with pytest.raises(HyperVError) as caught:
        sessions.get(lab.host("HV-SRV01")).run([Invocation("Get-VMSwitch")])
    assert caught.value.kind is ErrorKind.PROTOCOL_MISMATCH
    assert "did not answer" not in caught.value.summary
    assert sleeps == []


class _Formatted(logging.Handler):
    """Formats each record where it is emitted, as the real log handlers do."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


def test_find_vm_worker_threads_log_with_the_callers_request_id(lab: Lab) -> None:
    handler = _Formatted()
    winrm_log = logging.getLogger("bot.winrm")
    winrm_log.addHandler(handler)
    previous = winrm_log.level
    winrm_log.setLevel(logging.DEBUG)
    port = lab.new_port()
    try:
        with bind(request_id=42):
            port.find_vm("SRV-APP01")
    finally:
        winrm_log.removeHandler(handler)
        winrm_log.setLevel(previous)
        port.close()
    opened = [line for line in handler.lines if line["message"] == "winrm pool opened"]
    # One pool per inventory host, each opened on a worker thread of the search.
    assert len(opened) == len(lab.config.inventory)
    assert all(line.get("request_id") == 42 for line in handler.lines), handler.lines
