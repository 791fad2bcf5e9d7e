"""The LDAP adapter against a real Samba AD DC: lookups, delegation check and repair, TLS."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from ldap3 import MODIFY_REPLACE

from bot.directory import ActiveDirectory
from commands.delegation import (
    MIGRATION_SERVICE,
    plan_for,
    read_report,
)
from commands.inventory import Host
from commands.workflow.approvals import DirectoryError
from lab.directory import RunningDC
from lab.directory.objects import ComputerSpec, LabDirectory, admin_connection, full_delegation
from support.directory import settings, start_or_skip

A = Host("HV-A", "hv-a.lab.local")
B = Host("HV-B", "hv-b.lab.local")
PAIR_A = (A.name, A.fqdn)
PAIR_B = (B.name, B.fqdn)


def both_complete(lab: LabDirectory) -> None:
    lab.add_computer(ComputerSpec(*PAIR_A, delegate_to=full_delegation([PAIR_B])))
    lab.add_computer(ComputerSpec(*PAIR_B, delegate_to=full_delegation([PAIR_A])))


def found(ad: ActiveDirectory) -> list[tuple[str, str]]:
    return sorted((f.code, f.host) for f in read_report(ad, A, B).findings)


def test_delegation_complete(lab_dir: LabDirectory, ad: ActiveDirectory) -> None:
    both_complete(lab_dir)
    report = read_report(ad, A, B)
    assert report.ok, report.lines()
    # The same through the handler's port.
    assert ad.report(A, B) == report
    assert ad.repair_plan(A, B).empty


def test_cifs_missing(lab_dir: LabDirectory, ad: ActiveDirectory) -> None:
    only_migration = [v for v in full_delegation([PAIR_B]) if not v.startswith("cifs/")]
    lab_dir.add_computer(ComputerSpec(*PAIR_A, delegate_to=only_migration))
    lab_dir.add_computer(ComputerSpec(*PAIR_B, delegate_to=full_delegation([PAIR_A])))
    findings = read_report(ad, A, B).findings
    assert sorted(f.message for f in findings) == [
        "may not delegate to cifs/HV-B",
        "may not delegate to cifs/hv-b.lab.local",
    ]
    assert all(f.storage_only and f.host == "HV-A" for f in findings)


def test_migration_service_missing(lab_dir: LabDirectory, ad: ActiveDirectory) -> None:
    only_cifs = [v for v in full_delegation([PAIR_B]) if v.startswith("cifs/")]
    lab_dir.add_computer(ComputerSpec(*PAIR_A, delegate_to=only_cifs))
    lab_dir.add_computer(ComputerSpec(*PAIR_B, delegate_to=full_delegation([PAIR_A])))
    findings = read_report(ad, A, B).findings
    assert sorted(f.message for f in findings) == [
        f"may not delegate to {MIGRATION_SERVICE}/HV-B",
        f"may not delegate to {MIGRATION_SERVICE}/hv-b.lab.local",
    ]
    assert not any(f.storage_only for f in findings)


def test_one_direction_only(lab_dir: LabDirectory, ad: ActiveDirectory) -> None:
    lab_dir.add_computer(ComputerSpec(*PAIR_A, delegate_to=full_delegation([PAIR_B])))
    lab_dir.add_computer(ComputerSpec(*PAIR_B, any_protocol=False))
    assert (
        found(ad)
        == [("delegation_protocol_transition", "HV-B")]
        + [("delegation_target_missing", "HV-B")] * 4
    )


def test_unconstrained_delegation_on(lab_dir: LabDirectory, ad: ActiveDirectory) -> None:
    lab_dir.add_computer(
        ComputerSpec(*PAIR_A, delegate_to=full_delegation([PAIR_B]), unconstrained=True)
    )
    lab_dir.add_computer(ComputerSpec(*PAIR_B, delegate_to=full_delegation([PAIR_A])))
    assert found(ad) == [("delegation_unconstrained", "HV-A")]
    plan = plan_for(ad, A, B)
    assert any("turn OFF unconstrained delegation" in line for line in plan.lines())


def test_short_names_only(lab_dir: LabDirectory, ad: ActiveDirectory) -> None:
    short = [f"{MIGRATION_SERVICE}/HV-B", "cifs/HV-B"]
    lab_dir.add_computer(ComputerSpec(*PAIR_A, delegate_to=short))
    lab_dir.add_computer(ComputerSpec(*PAIR_B, delegate_to=full_delegation([PAIR_A])))
    findings = read_report(ad, A, B).findings
    assert sorted(f.message for f in findings) == [
        f"may not delegate to {MIGRATION_SERVICE}/hv-b.lab.local",
        "may not delegate to cifs/hv-b.lab.local",
    ]


def test_computer_by_short_name_or_fqdn_in_any_case(
    lab_dir: LabDirectory, ad: ActiveDirectory
) -> None:
    both_complete(lab_dir)
    for name in ("HV-A", "hv-a", "hv-a.lab.local", "HV-A.LAB.LOCAL."):
        computer = ad.find_computer(name)
        assert computer is not None and computer.name == "HV-A", name
    assert ad.find_computer("HV-C") is None


HOSTILE = [
    "*",
    "HV-*",
    "HV-A)(objectClass=*",
    "*)(|(sAMAccountName=*",
    "hv-a.lab.local)(dNSHostName=*",
    "\\2a",
    "HV-A\x00",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_filter_injection_in_a_host_name_matches_nothing(
    lab_dir: LabDirectory, ad: ActiveDirectory, name: str
) -> None:
    both_complete(lab_dir)
    assert ad.find_computer(name) is None
    hostile = Host(name, name + ".lab.local")
    assert ad.computer(hostile) is None


@pytest.mark.parametrize("value", ["*", "*@lab.local", "alice@example.com)(mail=*", "*)(|(cn=*"])
def test_filter_injection_in_a_user_or_group_name_matches_nothing(
    lab_dir: LabDirectory, ad: ActiveDirectory, value: str
) -> None:
    user = lab_dir.add_user("alice", mail="alice@example.com", upn="alice@lab.local")
    lab_dir.add_group("HV-Approvers", [user])
    assert ad.find_user(value) is None
    assert ad.group_dn(value) is None


def test_fix_then_recheck_green_and_a_second_fix_changes_nothing(
    lab_dir: LabDirectory, ad: ActiveDirectory
) -> None:
    lab_dir.add_computer(ComputerSpec(*PAIR_A, any_protocol=False, unconstrained=True))
    lab_dir.add_computer(
        ComputerSpec(
            *PAIR_B,
            delegate_to=[f"{MIGRATION_SERVICE}/HV-A"],
            spns=[f"HOST/{B.fqdn}", f"HOST/{B.name}"],
        )
    )
    assert not read_report(ad, A, B).ok
    plan = plan_for(ad, A, B)
    assert "turn OFF unconstrained delegation" in "\n".join(plan.lines())
    for change in plan.changes:
        ad.apply(change)
    after = read_report(ad, A, B)
    assert after.ok, after.lines()
    assert [c.missing(ad.computer(h)) for c, h in zip(plan.changes, (A, B), strict=True)] == [
        [],
        [],
    ]
    raw_a = lab_dir.read(f"CN=HV-A,{lab_dir.ou_dn}", ["userAccountControl"])
    assert raw_a["userAccountControl"] == [str(0x1001000)]
    raw_b = lab_dir.read(f"CN=HV-B,{lab_dir.ou_dn}", ["servicePrincipalName"])
    assert f"{MIGRATION_SERVICE}/{B.fqdn}" in raw_b["servicePrincipalName"]
    audits = [c.audit() for c in plan.changes]
    assert {a["dn"] for a in audits} == {f"CN=HV-A,{lab_dir.ou_dn}", f"CN=HV-B,{lab_dir.ou_dn}"}
    assert plan_for(ad, A, B).empty


def test_fix_without_a_write_account_says_so_and_writes_nothing(
    dc: RunningDC, lab_dir: LabDirectory
) -> None:
    lab_dir.add_computer(ComputerSpec(*PAIR_A, any_protocol=False))
    lab_dir.add_computer(ComputerSpec(*PAIR_B, delegate_to=full_delegation([PAIR_A])))
    reader = ActiveDirectory(settings(dc), dc.base_dn, write_hint=" (set $HVBOT_LDAP_WRITE_...)")
    assert reader.write_refusal() == (
        "no write-capable directory account is configured (set $HVBOT_LDAP_WRITE_...)"
    )
    (change,) = plan_for(reader, A, B).changes
    with pytest.raises(DirectoryError, match="no write-capable directory account"):
        reader.apply(change)
    assert lab_dir.read(f"CN=HV-A,{lab_dir.ou_dn}", ["userAccountControl"]) == {
        "userAccountControl": [str(0x1000)]
    }
    reader.close()


def test_a_flag_changed_after_the_plan_is_not_overwritten(
    lab_dir: LabDirectory, ad: ActiveDirectory
) -> None:
    lab_dir.add_computer(ComputerSpec(*PAIR_A, any_protocol=False))
    lab_dir.add_computer(ComputerSpec(*PAIR_B, delegate_to=full_delegation([PAIR_A])))
    (change,) = plan_for(ad, A, B).changes
    dn = f"CN=HV-A,{lab_dir.ou_dn}"
    lab_dir.conn.modify(dn, {"userAccountControl": [(MODIFY_REPLACE, [str(0x1000 | 0x80000)])]})
    with pytest.raises(DirectoryError, match="refused the change"):
        ad.apply(change)
    assert lab_dir.read(dn, ["userAccountControl"])["userAccountControl"] == [str(0x81000)]


def test_paged_search_reads_every_page(dc: RunningDC, lab_dir: LabDirectory) -> None:
    for i in range(7):
        lab_dir.add_computer(ComputerSpec(f"HV-P{i}", f"hv-p{i}.lab.local"))
    small_pages = ActiveDirectory(settings(dc, page_size=2), lab_dir.ou_dn)
    computers = [small_pages.find_computer(f"HV-P{i}") for i in range(7)]
    assert all(c is not None for c in computers)
    from bot.directory.connection import LdapConnection

    raw = LdapConnection(settings(dc, page_size=2))
    assert len(raw.search(lab_dir.ou_dn, "(objectClass=computer)", ["cn"])) == 7
    raw.close()
    small_pages.close()


def test_starttls_on_389_validates_and_binds(dc: RunningDC, lab_dir: LabDirectory) -> None:
    both_complete(lab_dir)
    plain = ActiveDirectory(settings(dc, uri=f"ldap://{dc.address}"), dc.base_dn)
    assert plain.find_computer("HV-A") is not None
    plain.close()


def test_an_untrusted_certificate_is_refused_with_a_clear_line(dc: RunningDC) -> None:
    other_ca = ActiveDirectory(settings(dc, ca_file=None), dc.base_dn)
    with pytest.raises(DirectoryError, match="TLS certificate is not trusted"):
        other_ca.find_computer("HV-A")


def test_a_wrong_password_is_a_clear_line_without_the_password(dc: RunningDC) -> None:
    wrong = ActiveDirectory(settings(dc, password="not-the-password"), dc.base_dn)
    with pytest.raises(DirectoryError) as caught:
        wrong.find_computer("HV-A")
    assert "refused the bind" in str(caught.value)
    assert "not-the-password" not in str(caught.value)


def test_a_dropped_connection_is_reopened(lab_dir: LabDirectory, ad: ActiveDirectory) -> None:
    both_complete(lab_dir)
    assert ad.find_computer("HV-A") is not None
    kept = ad._read._connection
    assert kept is not None
    kept.socket.shutdown(socket.SHUT_RDWR)
    assert ad.find_computer("HV-B") is not None
    assert ad._read._connection is not kept


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word (a hung DC)."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for s in held:
        s.close()
    listener.close()


@pytest.mark.parametrize("scheme", ["ldaps", "ldap"])
def test_a_directory_that_never_answers_times_out(
    dc: RunningDC, silent_server: int, scheme: str
) -> None:
    hung = ActiveDirectory(
        settings(dc, uri=f"{scheme}://127.0.0.1:{silent_server}", timeout=1.0, connect_timeout=1.0),
        dc.base_dn,
    )
    with pytest.raises(DirectoryError, match=r"did not answer|cannot reach"):
        hung.find_computer("HV-A")
    report = read_report(hung, A, B)
    assert report.unknown is not None and not report.findings


def test_directory_down_mid_check_gives_unknown(dc: RunningDC) -> None:
    own = start_or_skip()
    try:
        unit = LabDirectory(admin_connection(own), own.base_dn, "down")
        unit.add_computer(ComputerSpec(*PAIR_A, delegate_to=full_delegation([PAIR_B])))
        unit.add_computer(ComputerSpec(*PAIR_B, delegate_to=full_delegation([PAIR_A])))
        directory = ActiveDirectory(settings(own), own.base_dn)
        assert read_report(directory, A, B).ok
    finally:
        own.stop()
    report = read_report(directory, A, B)
    assert report.unknown is not None
    assert f"cannot reach the directory at {own.uri}" in report.unknown
    assert report.lines()[0].startswith("Kerberos delegation HV-A ↔ HV-B: unknown — ")
