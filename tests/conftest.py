"""Marks each test by what it runs, so `scripts/test --fast` can leave out the slow kinds."""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).parent
# A folder (or a file) of tests and the mark its tests get.
MARKS: dict[str, str] = {
    "e2e": "e2e",
    "lab_world": "lab",
    "lab_winrm": "lab",
    "winrm/test_cli_plan.py": "lab",
    "slack_standin": "lab",
    "slack/test_slack_serve.py": "e2e",
}


def mark_of(path: Path) -> str | None:
    """The mark of the test file at `path`: by its folder or name; lab tests use the `lab` rig."""
    relative = path.relative_to(TESTS).as_posix()
    for prefix, mark in MARKS.items():
        if relative == prefix or relative.startswith(prefix + "/"):
            return mark
    return "lab" if path.name.startswith("test_lab_") else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Adds the `lab` or `e2e` mark to each test by where it lives, and `directory` to each
    test that uses the Samba DC (the `dc` fixture of tests/directory)."""
    for item in items:
        mark = mark_of(item.path)
        if mark is not None:
            item.add_marker(mark)
        if "dc" in getattr(item, "fixturenames", ()):
            item.add_marker("directory")
