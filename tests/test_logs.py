"""Structured logs: JSON fields, bound request ids, secret masking."""

from __future__ import annotations

import io
import json
import logging

from bot.logs import bind, configure


def test_json_lines_carry_bound_context_and_extra_fields() -> None:
    stream = io.StringIO()
    configure("json", "INFO", stream=stream)
    with bind(request_id="42"):
        logging.getLogger("hvbot.test").info("moved %s", "SRV-APP01", extra={"host": "HV-SRV02"})
    entry = json.loads(stream.getvalue().splitlines()[-1])
    assert entry["message"] == "moved SRV-APP01"
    assert entry["request_id"] == "42"
    assert entry["host"] == "HV-SRV02"
    assert entry["level"] == "INFO"


def test_known_secrets_are_masked_in_messages_and_fields() -> None:
    stream = io.StringIO()
    configure("text", "INFO", secret_values=["S3cret!pw"], stream=stream)
    logging.getLogger("hvbot.test").warning(
        "auth failed with %s", "S3cret!pw", extra={"detail": "password=S3cret!pw"}
    )
    out = stream.getvalue()
    assert "S3cret!pw" not in out
    assert "auth failed with ***" in out
    assert "detail=password=***" in out
