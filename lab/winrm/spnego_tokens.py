"""SPNEGO (RFC 4178) tokens carrying Kerberos, read and written by hand: what a lab host needs
to accept `Negotiate` as Windows' WinRM client and pypsrp's `auth="negotiate"` send it — a
NegTokenInit whose preferred mechanism is Kerberos, with the AP-REQ inside — and to answer
with a NegTokenResp holding the AP-REP.

pyspnego's own SPNEGO acceptor takes Kerberos keys only from the process's default keytab;
each lab host has its own, so the Kerberos part is accepted with that host's keys
(`lab.winrm.auth`) and only the SPNEGO wrapping is handled here. The accepted mechanism is the
initiator's first choice, so no mechListMIC is exchanged (RFC 4178 §5).
"""

from __future__ import annotations

from dataclasses import dataclass

_SPNEGO_OID = bytes.fromhex("2b0601050502")  # 1.3.6.1.5.5.2
# 1.2.840.113554.1.2.2 (Kerberos 5) and 1.2.840.48018.1.2.2 (Microsoft's Kerberos 5).
_KERBEROS_OIDS = frozenset(
    {bytes.fromhex("2a864886f712010202"), bytes.fromhex("2a864882f712010202")}
)
_APPLICATION_0, _SEQUENCE, _OID, _OCTETS, _ENUMERATED = 0x60, 0x30, 0x06, 0x04, 0x0A
_ACCEPT_COMPLETED = b"\x00"


@dataclass(frozen=True)
class KerberosOffer:
    """A NegTokenInit's Kerberos: the mechanism's OID as offered and its token (an AP-REQ)."""

    mech: bytes
    token: bytes


def kerberos_offer(raw: bytes) -> KerberosOffer | None:
    """The Kerberos token inside a SPNEGO NegTokenInit that prefers Kerberos; None for any
    other token (NTLM, bare Kerberos, SPNEGO preferring something else, malformed)."""
    try:
        tag, body, _ = _read(raw, 0)
        if tag != _APPLICATION_0:
            return None
        tag, oid, at = _read(body, 0)
        if tag != _OID or oid != _SPNEGO_OID:
            return None
        tag, init, _ = _read(body, at)
        if tag != _context(0):
            return None
        tag, sequence, _ = _read(init, 0)
        if tag != _SEQUENCE:
            return None
        fields = _fields(sequence)
        _, mech_types, _ = _read(fields[_context(0)], 0)
        tag, first, _ = _read(mech_types, 0)
        if tag != _OID or first not in _KERBEROS_OIDS or _context(2) not in fields:
            return None
        tag, token, _ = _read(fields[_context(2)], 0)
        return KerberosOffer(first, token) if tag == _OCTETS else None
    except (IndexError, KeyError):
        return None


def accepted(offer: KerberosOffer, token: bytes) -> bytes:
    """The NegTokenResp that completes the exchange: accept-completed, the mechanism as
    offered, and the Kerberos reply (AP-REP) when there is one."""
    fields = _write(_context(0), _write(_ENUMERATED, _ACCEPT_COMPLETED))
    fields += _write(_context(1), _write(_OID, offer.mech))
    if token:
        fields += _write(_context(2), _write(_OCTETS, token))
    return _write(_context(1), _write(_SEQUENCE, fields))


def _context(number: int) -> int:
    """The tag of a constructed, context-specific [number] field."""
    return 0xA0 | number


def _fields(sequence: bytes) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    at = 0
    while at < len(sequence):
        tag, value, at = _read(sequence, at)
        found[tag] = value
    return found


def _read(data: bytes, at: int) -> tuple[int, bytes, int]:
    """One DER element at `at`: its tag, its value and where the next one starts."""
    tag, length = data[at], data[at + 1]
    at += 2
    if length & 0x80:
        size = length & 0x7F
        length = int.from_bytes(data[at : at + size], "big")
        at += size
    end = at + length
    if end > len(data):
        raise IndexError("DER element runs past its container")
    return tag, data[at:end], end


def _write(tag: int, value: bytes) -> bytes:
    size = len(value)
    if size < 0x80:
        return bytes([tag, size]) + value
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets + value
