"""`commands/` is the pure core: no Slack, WinRM, LDAP or SQLite code, nothing from bot or lab."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "commands"
FORBIDDEN = frozenset(
    {
        "slack_bolt",
        "slack_sdk",
        "pypsrp",
        "psrpcore",
        "spnego",
        "ldap3",
        "sqlite3",
        "sqlite_utils",
        "bot",
        "lab",
    }
)


def imported_modules(source: str) -> set[str]:
    """Every absolute module a Python source imports, wherever the import statement sits."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Call):
            modules.update(_dynamic_import(node))
    return modules


def _dynamic_import(call: ast.Call) -> list[str]:
    # `importlib.import_module("x")` and `__import__("x")` with a literal name.
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name not in ("import_module", "__import__") or not call.args:
        return []
    first = call.args[0]
    return [first.value] if isinstance(first, ast.Constant) and isinstance(first.value, str) else []


def forbidden(module: str) -> bool:
    """Whether `module` belongs to a package the core must not use (slack_* included)."""
    root = module.split(".", 1)[0]
    return root in FORBIDDEN or root.startswith("slack_")


CORE_FILES = sorted(CORE.rglob("*.py"))


def test_the_core_has_modules() -> None:
    assert len(CORE_FILES) > 5


@pytest.mark.parametrize("path", CORE_FILES, ids=[str(p.relative_to(ROOT)) for p in CORE_FILES])
def test_core_module_imports_no_adapter(path: Path) -> None:
    bad = sorted(m for m in imported_modules(path.read_text(encoding="utf-8")) if forbidden(m))
    assert not bad, f"{path.relative_to(ROOT)} imports {', '.join(bad)}"


@pytest.mark.parametrize(
    "source",
    [
        "import sqlite3",
        "import slack_bolt.app",
        "from slack_sdk import WebClient",
        "from pypsrp.powershell import PowerShell",
        "import psrpcore as p",
        "from spnego import client",
        "def f():\n    import ldap3",
        "from sqlite_utils import Database",
        "from bot.config import load_config",
        "import lab.world",
        "import importlib\nimportlib.import_module('bot.cli')",
        "__import__('sqlite3')",
        "from slack_whatever import x",
    ],
)
def test_the_check_catches_each_forbidden_import(source: str) -> None:
    assert any(forbidden(m) for m in imported_modules(source))


@pytest.mark.parametrize(
    "source",
    [
        "import ipaddress",
        "from commands.inventory import Host",
        "from . import values",
        "import botocore",
    ],
)
def test_the_check_allows_the_rest(source: str) -> None:
    assert not any(forbidden(m) for m in imported_modules(source))
