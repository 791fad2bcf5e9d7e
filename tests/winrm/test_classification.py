"""Classification of failures (no lab needed): knowledge base, transport errors, scrubbing."""

from __future__ import annotations

import datetime as dt
import http.client
import socket
import ssl
from types import SimpleNamespace

import pytest
import requests
from pypsrp.exceptions import AuthenticationError, WinRMTransportError, WSManFaultError

from bot.winrm import objects as o
from bot.winrm.errors import (
    Scrubber,
    incompatibilities_error,
    is_transient,
    records_error,
    shell_lost,
    transport_error,
)
from commands.diagnosis import (
    KNOWLEDGE,
    SEED_TROUBLESHOOTING,
    blackout_seconds,
    diagnose,
    diagnose_events,
    diagnose_incompatibility,
    hresults,
    kind_of,
)
from commands.hyperv import ErrorKind, HostEvent, Incompatibility

PASSWORD = "S3cret-Passw0rd!"
SCRUB = Scrubber([PASSWORD])
NOW = dt.datetime(2026, 11, 25, 21, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (
            "Virtual machine migration operation failed at migration source. Failed to "
            "establish a connection with host 'HV-SRV02': No credentials are available in "
            "the security package (0x8009030E).",
            ErrorKind.DELEGATION,
        ),
        (
            "The credentials supplied to the package were not recognized (0x8009030D).",
            ErrorKind.CREDENTIALS_NOT_RECOGNIZED,
        ),
        ("A connection attempt failed (0x8007274C).", ErrorKind.MIGRATION_NETWORK),
        (
            "No connection could be made because the target machine actively refused it. "
            "(0x8007274D)",
            ErrorKind.MIGRATION_NETWORK,
        ),
        (
            "Not enough memory in the system to start the virtual machine (0x8007000E).",
            ErrorKind.NOT_ENOUGH_MEMORY,
        ),
        (
            "Insufficient system resources exist to complete the requested service (0x800705AA)",
            ErrorKind.NOT_ENOUGH_MEMORY,
        ),
        (
            "The virtual machine 'SRV-APP01' is using processor-specific features not supported "
            "on physical computer 'HV-SRV03'.",
            ErrorKind.CPU_INCOMPATIBLE,
        ),
        (
            "The operation cannot be performed because the hardware on the destination computer "
            "is not compatible with the virtual machine.",
            ErrorKind.CPU_INCOMPATIBLE,
        ),
        ("Could not find Ethernet switch 'LAN-Prod'.", ErrorKind.SWITCH_MISSING),
        ("The path 'E:\\Nowhere' does not exist.", ErrorKind.PATH_MISSING),
        ("There is not enough space on the disk. (0x80070070)", ErrorKind.NOT_ENOUGH_DISK),
        (
            "The host does not support the virtual machine's configuration version 11.0.",
            ErrorKind.VERSION_UNSUPPORTED,
        ),
        ("The virtual machine has an ISO attached from 'C:\\ISO\\setup.iso'.", ErrorKind.LOCAL_ISO),
        (
            "Parameter set cannot be resolved using the specified named parameters.",
            ErrorKind.INVALID_PARAMETERS,
        ),
        ("Hyper-V was unable to find a virtual machine with name 'X'.", ErrorKind.VM_NOT_FOUND),
        ("The operation could not find a virtual machine named 'X'.", ErrorKind.VM_NOT_FOUND),
        ("The operation was cancelled.", ErrorKind.CANCELLED),
    ],
)
def test_knowledge_base_recognises_windows_texts(text: str, kind: ErrorKind) -> None:
    assert kind_of(text) is kind


def test_hresult_beats_text_and_accepts_signed_values() -> None:
    # .NET writes HResult as a signed 32-bit integer.
    assert kind_of("something unrelated", hresult=-2146893042) is ErrorKind.DELEGATION
    assert hresults("a 0x8009030E b 0x8007274d") == (0x8009030E, 0x8007274D)


def test_fqeid_classifies_when_the_message_says_nothing() -> None:
    assert (
        kind_of("", fq_error_id="AmbiguousParameterSet,Microsoft.HyperV.PowerShell.Commands.MoveVM")
        is ErrorKind.INVALID_PARAMETERS
    )
    assert diagnose("no idea").kind is ErrorKind.REMOTE_ERROR


def test_every_kind_has_a_summary_cause_and_fix() -> None:
    for kind in ErrorKind:
        diagnosis = KNOWLEDGE[kind]
        assert diagnosis.summary and diagnosis.cause and diagnosis.fix, kind


def test_seed_table_is_complete() -> None:
    assert len(SEED_TROUBLESHOOTING) == 5


def test_compare_vm_message_id_33012_is_a_missing_switch() -> None:
    item = Incompatibility(33012, "Could not find Ethernet switch 'LAN-Prod'.", "Network Adapter")
    assert diagnose_incompatibility(item).kind is ErrorKind.SWITCH_MISSING
    error = incompatibilities_error([item], "HV-SRV01", SCRUB)
    assert error.kind is ErrorKind.SWITCH_MISSING
    assert "33012" in error.detail


def _event(event_id: int, message: str) -> HostEvent:
    return HostEvent(event_id, NOW, "Information", message)


def test_events_tell_the_failure_and_the_blackout() -> None:
    events = [
        _event(20413, "Migration of 'SRV-APP01' started."),
        _event(21502, "Live migration of 'SRV-APP01' failed: Could not find Ethernet switch 'X'."),
    ]
    told = diagnose_events(events)
    assert told is not None and told.kind is ErrorKind.SWITCH_MISSING
    assert diagnose_events([_event(20413, "started")]) is None
    assert (
        diagnose_events([_event(21501, "nothing specific")]) == KNOWLEDGE[ErrorKind.MIGRATION_LIMIT]
    )
    ok = _event(
        20415, "'SRV-APP01' was live migrated successfully with a blackout time of 0.5 seconds."
    )
    assert blackout_seconds(ok) == 0.5
    assert blackout_seconds(_event(20415, "blackout time 250 ms")) == 0.25
    assert blackout_seconds(_event(21502, "blackout 3 s")) is None


def test_scrubber_removes_the_password_and_assignments() -> None:
    text = f"user=bob password={PASSWORD} other pwd: 'abc def' token=xyz; {PASSWORD}"
    scrubbed = SCRUB(text)
    assert PASSWORD not in scrubbed
    assert "abc def" not in scrubbed and "xyz" not in scrubbed
    assert "user=bob" in scrubbed


def _fault(code: int) -> WSManFaultError:
    return WSManFaultError(code, "HV", f"fault reason {PASSWORD}", "", "", "")


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (AuthenticationError(f"Failed to authenticate {PASSWORD}"), ErrorKind.AUTHENTICATION),
        (WinRMTransportError("http", 401, "denied"), ErrorKind.AUTHENTICATION),
        (WinRMTransportError("http", 500, "boom"), ErrorKind.WSMAN_FAULT),
        (_fault(0x80338029), ErrorKind.TIMEOUT),
        (_fault(0x8033805B), ErrorKind.WSMAN_FAULT),
        (requests.exceptions.SSLError(ssl.SSLCertVerificationError("bad cert")), ErrorKind.TLS),
        (requests.exceptions.ReadTimeout("read timed out"), ErrorKind.TIMEOUT),
        (requests.exceptions.ConnectTimeout("connect timed out"), ErrorKind.TIMEOUT),
        (
            requests.exceptions.ConnectionError(socket.gaierror(-2, "Name or service not known")),
            ErrorKind.DNS,
        ),
        (
            requests.exceptions.ConnectionError(ConnectionRefusedError(111, "Connection refused")),
            ErrorKind.HOST_UNREACHABLE,
        ),
    ],
)
def test_transport_errors_are_classified_and_scrubbed(exc: Exception, kind: ErrorKind) -> None:
    error = transport_error(exc, "HV-SRV01", SCRUB)
    assert error.kind is kind
    assert error.host == "HV-SRV01"
    assert error.summary == KNOWLEDGE[kind].summary
    for text in (str(error), error.detail, error.cause, error.fix):
        assert PASSWORD not in text


def test_transience() -> None:
    assert is_transient(_fault(0x8033805B)) and shell_lost(_fault(0x8033805B))
    assert not is_transient(_fault(0x80338029))
    assert is_transient(requests.exceptions.ConnectionError(ConnectionResetError()))
    assert not is_transient(requests.exceptions.SSLError("bad"))
    assert not is_transient(requests.exceptions.ConnectionError(socket.gaierror(-2, "unknown")))
    assert not is_transient(AuthenticationError("no"))


def _record(message: str, fqeid: str, hresult: int | None = None) -> SimpleNamespace:
    exception = SimpleNamespace(
        adapted_properties={"Message": message, "HResult": hresult}, extended_properties={}
    )
    return SimpleNamespace(exception=exception, fq_error=fqeid, message=None)


def test_error_records_first_specific_wins_and_detail_is_scrubbed() -> None:
    records = [
        _record("A generic failure.", "Unspecified,Microsoft.HyperV.PowerShell.Commands.MoveVM"),
        _record(
            f"No credentials are available in the security package (password={PASSWORD})",
            "Unspecified,Microsoft.HyperV.PowerShell.Commands.MoveVM",
        ),
    ]
    error = records_error(records, "HV-SRV01", SCRUB)
    assert error.kind is ErrorKind.DELEGATION
    assert "0x8009030E" in error.summary
    assert PASSWORD not in error.detail and "Commands.MoveVM" in error.detail
    assert PASSWORD not in str(error)


def test_objects_read_adapted_then_extended_properties() -> None:
    obj = SimpleNamespace(
        adapted_properties={"Name": "SRV-APP01"}, extended_properties={"Extra": 5}
    )
    enum = SimpleNamespace(to_string="Running", property_sets=[2])
    assert o.text(obj, "name") == "SRV-APP01"
    assert o.number(obj, "Extra") == 5
    assert o.text_of(enum) == "Running" and o.as_int(enum) == 2
    assert o.optional_int(obj, "Missing") is None
    assert o.seconds("PT1M2.5S") == 62.5
    assert o.seconds("00000000000130.000000:000") == 90
    stamp = o.timestamp("2026-11-25T21:03:04.1234567+00:00")
    assert stamp == dt.datetime(2026, 11, 25, 21, 3, 4, 123456, tzinfo=dt.UTC)
    assert o.timestamp("2026-11-25T21:03:04Z") == dt.datetime(2026, 11, 25, 21, 3, 4, tzinfo=dt.UTC)
    assert o.items(None) == [] and o.items("x") == ["x"]


def test_a_dropped_handshake_is_not_a_certificate_problem() -> None:
    eof = requests.exceptions.SSLError(ssl.SSLEOFError(8, "EOF occurred in violation of protocol"))
    assert transport_error(eof, "HV-SRV01", SCRUB).kind is ErrorKind.HOST_UNREACHABLE
    assert is_transient(eof)


def _plain_http_answer() -> requests.exceptions.SSLError:
    """What requests raises when TLS is spoken to a port that answers in plain HTTP."""
    wrong = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)")
    return requests.exceptions.SSLError(wrong)


def test_tls_to_a_plain_http_port_is_a_protocol_mismatch_not_a_certificate() -> None:
    error = transport_error(_plain_http_answer(), "HV-SRV01", SCRUB)
    assert error.kind is ErrorKind.PROTOCOL_MISMATCH
    assert "without TLS" in error.summary
    assert "winrm.ssl" in error.fix and "5985" in error.fix and "5986" in error.fix
    assert not is_transient(_plain_http_answer())
    # A real certificate failure keeps its own diagnosis.
    bad_cert = requests.exceptions.SSLError(ssl.SSLCertVerificationError("bad cert"))
    assert transport_error(bad_cert, "HV-SRV01", SCRUB).kind is ErrorKind.TLS


def test_plain_http_closed_by_a_tls_port_while_opening_is_a_protocol_mismatch() -> None:
    unanswered = requests.exceptions.ConnectionError(
        http.client.RemoteDisconnected("Remote end closed connection without response")
    )
    error = transport_error(unanswered, "HV-SRV01", SCRUB, opening=True, tls_port=True)
    assert error.kind is ErrorKind.PROTOCOL_MISMATCH
    assert "expects HTTPS" in error.summary
    assert not is_transient(unanswered, opening=True, tls_port=True)
    # Without TLS on the port (the session probes it), the host dropped the connection.
    dropped = transport_error(unanswered, "HV-SRV01", SCRUB, opening=True)
    assert dropped.kind is ErrorKind.HOST_UNREACHABLE
    assert "closed it without answering" in dropped.summary and "TLS" not in dropped.summary
    assert is_transient(unanswered, opening=True)
    # Once a pool is open, the same drop is a lost connection: worth a retry.
    assert transport_error(unanswered, "HV-SRV01", SCRUB).kind is ErrorKind.HOST_UNREACHABLE
    assert is_transient(unanswered)
    # A reset is not an answer-less close: it stays a reachability problem.
    reset = requests.exceptions.ConnectionError(ConnectionResetError(104, "reset by peer"))
    assert transport_error(reset, "HV-SRV01", SCRUB, opening=True).kind is (
        ErrorKind.HOST_UNREACHABLE
    )


def test_a_host_that_cannot_find_a_vm_does_not_speak_for_the_whole_inventory() -> None:
    record = _record(
        "Hyper-V was unable to find a virtual machine with name 'SRV-APP01'.",
        "InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVM",
    )
    error = records_error([record], "HV-SRV02", SCRUB)
    assert error.kind is ErrorKind.VM_NOT_FOUND
    assert "inventory" not in error.summary


KERBEROS_TEXTS = [
    "No credentials are available in the security package (0x8009030E).",
    "The Virtual Machine Management Service failed to authenticate the connection for a "
    "Virtual machine migration at the source host: no suitable credentials available.",
    "Failed to establish a connection with host 'HV-SRV02': The target principal name is "
    "incorrect. (0x80090322).",
    "Kerberos constrained delegation is not configured for the migration service.",
]


@pytest.mark.parametrize("text", KERBEROS_TEXTS)
def test_a_kerberos_failure_is_delegation_in_every_form_it_arrives_in(text: str) -> None:
    fix = KNOWLEDGE[ErrorKind.DELEGATION].fix
    # An error record of Move-VM.
    record = records_error(
        [_record(text, "Unspecified,Microsoft.HyperV.PowerShell.Commands.MoveVM")],
        "HV-SRV01",
        SCRUB,
    )
    assert record.kind is ErrorKind.DELEGATION and record.fix == fix
    # The migration job's ErrorDescription, and a 21502 event's message.
    assert diagnose(text).kind is ErrorKind.DELEGATION
    event = HostEvent(21502, dt.datetime.now(dt.UTC), "Error", text)
    assert diagnose_events([event]) == KNOWLEDGE[ErrorKind.DELEGATION]
    assert "delegation" in fix.casefold()


class _Krb5Error(Exception):
    """The shape of the `krb5` package's error: MIT's message and its code."""


# What MIT Kerberos says, wrapped as pyspnego and krb5 raise it on the bot's side, and the
# summary hvbot gives for it. The clock-skew text is MIT's error_message(KRB5KRB_AP_ERR_SKEW).
BOT_KERBEROS_FAILURES = [
    (_Krb5Error('Cannot find KDC for realm "hvlab.test" -1765328230'), "realm hvlab.test"),
    (
        _Krb5Error("Client 'LABhvadmin@HVLAB.TEST' not found in Kerberos database -1765328378"),
        "no account LABhvadmin@HVLAB.TEST",
    ),
    (
        _Krb5Error("Clock skew too great while getting initial credentials -1765328347"),
        "clocks differ by more than 5 minutes",
    ),
    (
        RuntimeError(
            "SpnegoError (4294967295): Major (851968): Unspecified GSS failure.  Minor code "
            "may provide more information, Minor (2529638949): Clock skew too great"
        ),
        "clocks differ by more than 5 minutes",
    ),
    (
        RuntimeError(
            "SpnegoError (7): Major (458752): No credentials were supplied, or the credentials "
            "were unavailable or inaccessible, Minor (2529639053): No Kerberos credentials "
            "available (default cache: FILE:/tmp/krb5cc_0)"
        ),
        "no valid Kerberos ticket",
    ),
    (
        RuntimeError("Minor (2529638944): Ticket expired, Context: Processing security token"),
        "no valid Kerberos ticket",
    ),
    (
        RuntimeError("Minor (2529638919): Server not found in Kerberos database"),
        "no service principal for HV-SRV01",
    ),
    (_Krb5Error("Preauthentication failed -1765328360"), "refused the bot's Kerberos password"),
]


@pytest.mark.parametrize(("raised", "summary"), BOT_KERBEROS_FAILURES)
def test_each_kerberos_failure_of_the_bot_is_one_line_with_its_fix(
    raised: Exception, summary: str
) -> None:
    # pypsrp lets the auth hook's error through requests; it can arrive wrapped too.
    wrapped = requests.exceptions.ConnectionError(raised)
    for exc in (raised, wrapped):
        error = transport_error(exc, "HV-SRV01", SCRUB, opening=True)
        assert error.kind is ErrorKind.AUTHENTICATION
        assert summary in error.summary and "\n" not in error.summary
        assert error.fix and error.fix != KNOWLEDGE[ErrorKind.AUTHENTICATION].fix
        # Nothing retrying can fix: the same ticket request would fail the same way.
        assert not is_transient(exc, opening=True)


def test_a_kerberos_failure_never_carries_the_password() -> None:
    raised = _Krb5Error(f"Preauthentication failed for password {PASSWORD}")
    error = transport_error(raised, "HV-SRV01", SCRUB)
    assert PASSWORD not in f"{error.summary} {error.cause} {error.fix} {error.detail}"
