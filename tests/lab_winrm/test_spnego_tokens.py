"""The lab's SPNEGO wrapping of Kerberos against pyspnego's own encoder and decoder (its private
`spnego._spnego` module: a second, independent implementation of RFC 4178)."""

from __future__ import annotations

import pytest
from spnego._spnego import NegState, NegTokenInit, NegTokenResp, unpack_token

from lab.winrm.spnego_tokens import accepted, kerberos_offer

KERBEROS, MS_KERBEROS = "1.2.840.113554.1.2.2", "1.2.840.48018.1.2.2"
NTLM = "1.3.6.1.4.1.311.2.2.10"
AP_REQ = bytes([0x60, 0x05, 0x06, 0x03]) + b"krb" * 200  # long enough for a long-form length


@pytest.mark.parametrize("mech", [KERBEROS, MS_KERBEROS])
def test_a_kerberos_offer_is_read_and_answered_as_pyspnego_expects(mech: str) -> None:
    raw = NegTokenInit(mech_types=[mech, NTLM], mech_token=AP_REQ).pack()
    offer = kerberos_offer(raw)
    assert offer is not None and offer.token == AP_REQ
    reply = unpack_token(accepted(offer, b"ap-rep" * 50))
    assert isinstance(reply, NegTokenResp)
    assert reply.neg_state is NegState.accept_complete
    assert reply.supported_mech == mech
    assert reply.response_token == b"ap-rep" * 50
    assert reply.mech_list_mic is None


@pytest.mark.parametrize(
    "raw",
    [
        NegTokenInit(mech_types=[NTLM, KERBEROS], mech_token=b"NTLMSSP\x00...").pack(),
        NegTokenInit(mech_types=[KERBEROS, NTLM]).pack(),  # no optimistic token
        b"NTLMSSP\x00\x01\x00\x00\x00",
        AP_REQ,
        b"",
        NegTokenInit(mech_types=[KERBEROS], mech_token=AP_REQ).pack()[:40],  # cut short
    ],
    ids=["prefers-ntlm", "no-token", "ntlm", "bare-kerberos", "empty", "truncated"],
)
def test_anything_else_is_left_to_the_other_acceptors(raw: bytes) -> None:
    assert kerberos_offer(raw) is None
