"""`/migrate drain`: every form into its typed request, every slip into one line."""

from __future__ import annotations

import dataclasses

import pytest

from commands.language import render, to_dict
from commands.language.registry import BY_NAME
from commands.requests import (
    Drain,
    DrainCancelRequest,
    DrainCheckRequest,
    DrainRequest,
    MigrateRequest,
    Move,
    Request,
    StatusRequest,
)
from support.language import SRV01, SRV02, SRV03, ok, refusal

ALL_FLAGS = Drain(SRV01, (SRV02, SRV03), include_storage=True, include_stopped=True, reason="x y")

FORMS: list[tuple[str, Request]] = [
    ("drain HV-SRV01", DrainRequest(Drain(SRV01))),
    ("DRAIN hv-srv01.lab.local.", DrainRequest(Drain(SRV01))),
    ("drain HV-SRV01 to HV-SRV02", DrainRequest(Drain(SRV01, (SRV02,)))),
    ("drain HV-SRV01 to HV-SRV03 HV-SRV02", DrainRequest(Drain(SRV01, (SRV03, SRV02)))),
    (
        "drain HV-SRV01 to HV-SRV02 HV-SRV03 include-storage include-stopped reason x y",
        DrainRequest(ALL_FLAGS),
    ),
    (
        "drain HV-SRV01 include-stopped reason x  y to HV-SRV02",
        DrainRequest(Drain(SRV01, include_stopped=True, reason="x y to HV-SRV02")),
    ),
    (
        "drain HV-SRV01 include\u2013storage to <http://hv-srv02.lab.local|hv-srv02.lab.local>",
        DrainRequest(Drain(SRV01, (SRV02,), include_storage=True)),
    ),
    ("drain check HV-SRV01", DrainCheckRequest(Drain(SRV01))),
    (
        "drain CHECK HV-SRV01 include-stopped to HV-SRV02 HV-SRV03 include-storage reason x y",
        DrainCheckRequest(ALL_FLAGS),
    ),
    ("drain cancel #42", DrainCancelRequest(42)),
    ("drain cancel 007", DrainCancelRequest(7)),
    # A VM named `drain` is quoted, like any VM named as a subcommand.
    ('"drain" to HV-SRV02', MigrateRequest(Move("drain", SRV02))),
    ("status drain", StatusRequest(vm="drain")),
]


@pytest.mark.parametrize(("text", "expected"), FORMS, ids=[f[0] for f in FORMS])
def test_drain_form(text: str, expected: Request) -> None:
    assert ok(text) == expected
    assert ok(render(expected)) == expected


def test_drain_json_shape() -> None:
    data = to_dict(DrainCheckRequest(ALL_FLAGS))
    assert data == {
        "action": "drain",
        "operation": "check",
        "host": "hv-srv01.lab.local",
        "destinations": ["hv-srv02.lab.local", "hv-srv03.lab.local"],
        "include_storage": True,
        "include_stopped": True,
        "reason": "x y",
        "canonical": "/migrate drain check HV-SRV01 to HV-SRV02 HV-SRV03 include-storage "
        "include-stopped reason x y",
    }
    assert to_dict(DrainCancelRequest(3))["operation"] == "cancel"


def test_drain_requests_are_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ALL_FLAGS.source = SRV02  # type: ignore[misc]


REFUSALS: list[tuple[str, str]] = [
    ("drain", "missing the host to drain"),
    ("drain HV-SRV9", "unknown host 'HV-SRV9'; did you mean HV-SRV0"),
    ("drain evil.example.com", "unknown host 'evil.example.com'"),
    ("drain 10.0.0.1", "not by address"),
    ("drain <@U123>", "mention, not a host"),
    ("drain HV-SRV01 to", "missing a destination host after 'to'"),
    ("drain HV-SRV01 to HV-SRV01", "HV-SRV01 is the host being drained"),
    ("drain HV-SRV01 to HV-SRV02 hv-srv01.lab.local", "HV-SRV01 is the host being drained"),
    ("drain HV-SRV01 to HV-SRV02 HV-SRV02", "HV-SRV02 is listed twice"),
    ("drain HV-SRV01 to HV-SRV02 HV-SRV9", "unknown host 'HV-SRV9'"),
    ("drain HV-SRV01 to HV-SRV02 to HV-SRV03", "to is given twice"),
    ("drain HV-SRV01 include-storage include-storage", "include-storage is given twice"),
    ("drain HV-SRV01 HV-SRV02", "missing 'to' before 'HV-SRV02': write drain HV-SRV01 to HV-SRV02"),
    ("drain HV-SRV01 to HV-SRV02 include-storag", "did you mean include-storage?"),
    ("drain HV-SRV01 include-stoped", "did you mean include-stopped?"),
    ("drain HV-SRV01 storage-path D:\\VMs", "storage-path does not apply to a drain"),
    ("drain HV-SRV01 from HV-SRV02", "from does not apply to a drain"),
    ("drain HV-SRV01 reason", "missing the text after reason"),
    ('drain HV-SRV01 "include-storage"', "keyword here: write it without quotes"),
    ("drain HV-SRV01 to *", "unknown host '*'"),
    ("drain check", "missing the host to drain"),
    ("drain cancel", "missing the request id, e.g. drain cancel #42"),
    ("drain cancel HV-SRV01", "drain cancel takes a request id such as #42"),
    ("drain cancel #42 now", "unexpected 'now' after request #42"),
    ("drian HV-SRV01", "did you mean drain?"),
]


@pytest.mark.parametrize(("text", "fragment"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_drain_refusal(text: str, fragment: str) -> None:
    error = refusal(text)
    assert fragment in error.message
    if not text.startswith("drian"):
        assert error.usage == BY_NAME["drain"].usage
    assert "\n" not in error.line()
