"""A real Samba AD domain controller on loopback, for the tests and `hvbot lab --directory`.

    with start_dc() as dc:
        dc.uri, dc.ca_file, dc.admin_dn, dc.admin_password

Recipe (architecture §8, re-checked on Debian 12 / Samba 4.17):
- The Debian packages are installed by `packages.sh` when missing (root; nothing starts).
- One domain is provisioned once into a cached *template* (about 7 s) under a file lock, and
  reused: each DC copies it (~33 MiB) into its own *slot* (about 1 s), so every DC starts
  from a clean domain and provisioning is not repeated. `ldb:nosync` skips fsync.
- Samba's ports are fixed (389, 636, 88...), and several test runs share this machine, so each
  DC gets its own loopback address 127.0.77.N, held with an flock (in /tmp, machine-wide) for
  the DC's lifetime; an address whose ports are taken by anything else is skipped.
  `interfaces = 127.0.77.N/8` (with the mask: a bare address matches no interface) and
  `bind interfaces only` keep every socket on that address.
- Only the ldap and kdc services run (no dns, dnsupdate, nbt, wrepl, smb): nothing is sent off
  loopback, and no `dns forwarder` line exists in the generated smb.conf.
- LDAPS presents a certificate from the template's own CA naming the slot's address, so
  clients validate it against `ca_file` like an enterprise CA.
- `samba -F -M single` runs as our child and receives SIGTERM when its starter dies
  (PR_SET_PDEATHSIG), so a crashed test run leaves no DC behind; a DC orphaned anyway (its
  starter was SIGKILLed between fork and prctl) is stopped by the next holder of its address.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import fcntl
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# The lab's hosts are in lab.local (lab/scenarios), so its domain is too.
REALM = "LAB.LOCAL"
DOMAIN = "LAB"
BASE_DN = "DC=lab,DC=local"
DC_NAME = "DC1"
ADMIN_DN = f"CN=Administrator,CN=Users,{BASE_DN}"
# Bump when the provisioning recipe changes, so cached templates are rebuilt.
_RECIPE = 2
_SLOTS = range(1, 200)
# Loopback addresses are a machine-wide resource, whatever state root a DC uses.
_ADDRESS_LOCKS = Path("/tmp/hvbot-samba-addresses")
_PACKAGES_SCRIPT = Path(__file__).with_name("packages.sh")
_PR_SET_PDEATHSIG = 1
_START_TIMEOUT = 180.0


class SambaUnavailable(Exception):
    """The DC cannot be installed, provisioned or started here; the message says why."""


def state_root() -> Path:
    """Where templates and slots live: `$HVBOT_SAMBA_DIR`, else /var/tmp/hvbot-samba."""
    return Path(os.environ.get("HVBOT_SAMBA_DIR") or "/var/tmp/hvbot-samba")


def ensure_packages() -> None:
    """Install the Samba packages if any is missing (idempotent, quiet when present)."""
    result = subprocess.run(
        ["bash", str(_PACKAGES_SCRIPT)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SambaUnavailable(
            f"cannot install the Samba packages: {result.stderr.strip() or result.returncode}"
        )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Template:
    """A provisioned domain to copy from, with its administrator password and TLS CA."""

    directory: Path

    @property
    def data(self) -> Path:
        """The provisioned private, state and cache directories."""
        return self.directory / "data"

    @property
    def ca_file(self) -> Path:
        """The CA certificate every slot's LDAPS certificate is issued by."""
        return self.directory / "ca.pem"

    @property
    def admin_password(self) -> str:
        """The domain Administrator's password (throw-away, made at provisioning)."""
        secrets_file = self.directory / "secrets.json"
        return str(json.loads(secrets_file.read_text(encoding="utf-8"))["admin_password"])


def _samba_version() -> str:
    result = subprocess.run(["samba", "--version"], capture_output=True, text=True, check=False)
    return result.stdout.strip().replace(" ", "-") or "unknown"


def template(root: Path | None = None) -> Template:
    """The cached provisioned domain, provisioning it first if needed (one process at a time)."""
    root = root or state_root()
    ensure_packages()
    tpl = Template(root / f"template-{_RECIPE}-{_samba_version()}")
    with _locked(root / "template.lock"):
        if (tpl.directory / "ready").exists():
            return tpl
        shutil.rmtree(tpl.directory, ignore_errors=True)
        tpl.data.mkdir(parents=True)
        password = f"Lab-{secrets.token_urlsafe(18)}-9a"
        empty = tpl.directory / "empty.conf"
        empty.write_text("", encoding="utf-8")
        command = [
            "samba-tool",
            "domain",
            "provision",
            "-s",
            str(empty),
            f"--targetdir={tpl.data}",
            f"--realm={REALM}",
            f"--domain={DOMAIN}",
            f"--host-name={DC_NAME}",
            "--server-role=dc",
            "--dns-backend=NONE",
            f"--adminpass={password}",
            "--option=interfaces=127.0.0.1/8",
            "--option=bind interfaces only=yes",
            "--option=disable netbios=yes",
            "--option=server services=ldap kdc",
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-5:])
            raise SambaUnavailable(f"samba-tool domain provision failed: {tail}")
        (tpl.directory / "secrets.json").write_text(
            json.dumps({"admin_password": password}), encoding="utf-8"
        )
        (tpl.directory / "secrets.json").chmod(0o600)
        _write_ca(tpl.directory)
        (tpl.directory / "ready").write_text(dt.datetime.now(dt.UTC).isoformat(), "utf-8")
    return tpl


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_ca(directory: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hvbot lab directory CA")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    (directory / "ca.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    ca_key = directory / "ca.key"
    ca_key.write_bytes(_private_pem(key))
    ca_key.chmod(0o600)


def _issue_server_certificate(tpl: Template, address: str, out: Path) -> tuple[Path, Path]:
    ca_key = serialization.load_pem_private_key((tpl.directory / "ca.key").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca_cert = x509.load_pem_x509_certificate(tpl.ca_file.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    fqdn = f"{DC_NAME}.{REALM}".lower()
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, fqdn)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(fqdn), x509.IPAddress(ipaddress.IPv4Address(address))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = out / "dc.pem", out / "dc.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(_private_pem(key))
    key_file.chmod(0o600)
    return cert_file, key_file


def _smb_conf(data: Path, address: str, cert: Path, key: Path, ca: Path) -> str:
    paths = {
        "private dir": data / "private",
        "state directory": data / "state",
        "cache directory": data / "cache",
        "lock directory": data,
        "pid directory": data / "run",
        "ncalrpc dir": data / "ncalrpc",
        "binddns dir": data / "bind-dns",
        "winbindd socket directory": data / "winbindd",
        "log file": data / "log.samba",
    }
    options = {
        "netbios name": DC_NAME,
        "realm": REALM,
        "workgroup": DOMAIN,
        "server role": "active directory domain controller",
        "server services": "ldap, kdc",
        "interfaces": f"{address}/8",
        "bind interfaces only": "yes",
        "disable netbios": "yes",
        "ldb:nosync": "true",
        "tls enabled": "yes",
        "tls certfile": str(cert),
        "tls keyfile": str(key),
        "tls cafile": str(ca),
        **{k: str(v) for k, v in paths.items()},
    }
    return "[global]\n" + "".join(f"\t{k} = {v}\n" for k, v in options.items())


def _address(slot: int) -> str:
    return f"127.0.77.{slot}"


def _ports_free(address: str) -> bool:
    for port in (88, 389, 636):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((address, port))
            except OSError:
                return False
    return True


def _stop_orphan(pid_file: Path) -> None:
    """Stop a DC that a dead holder of this address left running (only if it is that DC)."""
    try:
        pid_text, conf = pid_file.read_text(encoding="utf-8").split("\n", 1)
        pid = int(pid_text)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if not conf or conf.encode() not in cmdline:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, signal.SIGKILL)


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class RunningDC:
    """A started DC: where to reach it and the administrator's throw-away credentials."""

    address: str
    slot_dir: Path
    ca_file: Path
    admin_password: str
    process: subprocess.Popen[bytes]
    _slot_lock: IO[str]
    _pid_file: Path

    admin_dn: str = ADMIN_DN
    base_dn: str = BASE_DN
    realm: str = REALM

    @property
    def uri(self) -> str:
        """LDAPS on the DC's own loopback address."""
        return f"ldaps://{self.address}"

    @property
    def log_file(self) -> Path:
        """Samba's log, for a failing test to show."""
        return self.slot_dir / "data" / "log.samba"

    def stop(self) -> None:
        """Stop this DC and release its slot (the copy stays until the slot's next use)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._pid_file.unlink(missing_ok=True)
        self._slot_lock.close()

    def __enter__(self) -> RunningDC:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _take_slot() -> tuple[int, IO[str]]:
    _ADDRESS_LOCKS.mkdir(parents=True, exist_ok=True)
    for slot in _SLOTS:
        handle = (_ADDRESS_LOCKS / f"{slot}.lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _stop_orphan(_ADDRESS_LOCKS / f"{slot}.pid")
        if _ports_free(_address(slot)):
            return slot, handle
        handle.close()
    raise SambaUnavailable(f"no free loopback address for a DC (127.0.77.1-{_SLOTS[-1]} busy)")


def start_dc(root: Path | None = None) -> RunningDC:
    """Start a fresh DC (a copy of the cached template) on its own loopback address."""
    root = root or state_root()
    tpl = template(root)
    slot, lock = _take_slot()
    try:
        return _start_in_slot(tpl, root / f"slot-{slot}", slot, lock)
    except BaseException:
        lock.close()
        raise


def _start_in_slot(tpl: Template, slot_dir: Path, slot: int, lock: IO[str]) -> RunningDC:
    address = _address(slot)
    shutil.rmtree(slot_dir, ignore_errors=True)
    slot_dir.mkdir(parents=True)
    data = slot_dir / "data"
    shutil.copytree(tpl.data, data, symlinks=True)
    for sub in ("run", "ncalrpc", "winbindd"):
        (data / sub).mkdir(exist_ok=True)
    cert, key = _issue_server_certificate(tpl, address, slot_dir)
    conf = slot_dir / "smb.conf"
    conf.write_text(_smb_conf(data, address, cert, key, tpl.ca_file), encoding="utf-8")
    with (slot_dir / "samba.out").open("wb") as out:
        process = subprocess.Popen(
            ["samba", "-F", "-M", "single", "--no-process-group", "-s", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
    pid_file = _ADDRESS_LOCKS / f"{slot}.pid"
    pid_file.write_text(f"{process.pid}\n{conf}", encoding="utf-8")
    dc = RunningDC(address, slot_dir, tpl.ca_file, tpl.admin_password, process, lock, pid_file)
    try:
        _wait_ready(dc)
    except BaseException:
        dc.stop()
        raise
    return dc


def _wait_ready(dc: RunningDC) -> None:
    """Wait until LDAPS answers with a validated certificate (Samba opens its sockets early
    and finishes starting its services afterwards)."""
    context = ssl.create_default_context(cafile=str(dc.ca_file))
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if dc.process.poll() is not None:
            raise SambaUnavailable(f"samba exited with {dc.process.returncode}; see {dc.log_file}")
        try:
            with (
                socket.create_connection((dc.address, 636), timeout=5) as raw,
                context.wrap_socket(raw, server_hostname=dc.address),
            ):
                return
        except OSError:
            time.sleep(0.2)
    raise SambaUnavailable(f"samba did not answer LDAPS within {_START_TIMEOUT:.0f} s")
