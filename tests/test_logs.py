"""Structured logs: JSON fields, bound request ids, secret masking."""

from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path

from bot.app import ContextExecutor
from bot.logs import bind, configure, logging_to


def test_json_lines_carry_bound_context_and_extra_fields() -> None:
    stream = io.StringIO()
    configure("json", "INFO", stream=stream)
    with bind(request_id=42):
        logging.getLogger("hvbot.test").info("moved %s", "SRV-APP01", extra={"host": "HV-SRV02"})
    entry = json.loads(stream.getvalue().splitlines()[-1])
    assert entry["message"] == "moved SRV-APP01"
    assert entry["request_id"] == 42
    assert entry["host"] == "HV-SRV02"
    assert entry["level"] == "INFO"
    assert entry["pid"] == os.getpid()


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


def test_logging_to_a_file_restores_the_root_logger(tmp_path: Path) -> None:
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    path = tmp_path / "cli.log"
    with logging_to("json", "INFO", ["S3cret!pw"], path=path), bind(request_id=7):
        logging.getLogger("hvbot.test").info("login with %s", "S3cret!pw")
    assert (list(root.handlers), root.level) == before
    logging.getLogger("hvbot.test").error("after the block")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert (entry["message"], entry["request_id"]) == ("login with ***", 7)


def test_the_file_is_created_by_the_first_record_only(tmp_path: Path) -> None:
    path = tmp_path / "quiet.log"
    with logging_to("text", "WARNING", path=path):
        logging.getLogger("hvbot.test").info("below the level")
    assert not path.exists()


def test_bound_fields_follow_work_onto_the_bot_executor() -> None:
    stream = io.StringIO()
    configure("json", "INFO", stream=stream)
    log = logging.getLogger("hvbot.test")

    def nested() -> None:
        log.info("inner")

    with ContextExecutor(max_workers=2) as pool:

        def outer() -> None:
            log.info("outer")
            pool.submit(nested).result()

        with bind(request_id=42):
            pool.submit(outer).result()
        pool.submit(log.info, "unbound").result()
    entries = {e["message"]: e for e in map(json.loads, stream.getvalue().splitlines())}
    assert entries["outer"]["request_id"] == 42
    assert entries["inner"]["request_id"] == 42
    assert "request_id" not in entries["unbound"]
