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


BOT_FILES = sorted((ROOT / "bot").rglob("*.py"))
# The `hvbot lab` and `hvbot demo` commands start the lab; they import it inside the command.
LAB_USERS = frozenset({"bot/cli/lab.py", "bot/demo.py"})


def module_level_imports(source: str) -> set[str]:
    """The modules imported when the source is imported (not inside functions or TYPE_CHECKING)."""
    modules: set[str] = set()
    pending: list[ast.AST] = list(ast.parse(source).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
        elif isinstance(node, ast.If | ast.Try | ast.With | ast.ExceptHandler):
            children = ast.iter_child_nodes(node)
            pending.extend(c for c in children if isinstance(c, ast.stmt | ast.ExceptHandler))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules.update(imported_modules(ast.unparse(node)))
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return ast.unparse(test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def _is_lab(module: str) -> bool:
    return module.split(".", 1)[0] == "lab"


def test_the_lab_commands_exist() -> None:
    assert {p.relative_to(ROOT).as_posix() for p in BOT_FILES} >= LAB_USERS


@pytest.mark.parametrize("path", BOT_FILES, ids=[str(p.relative_to(ROOT)) for p in BOT_FILES])
def test_bot_imports_the_lab_only_inside_the_lab_commands(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    name = path.relative_to(ROOT).as_posix()
    assert not any(_is_lab(m) for m in module_level_imports(source)), f"{name} imports lab"
    if name not in LAB_USERS:
        assert not any(_is_lab(m) for m in imported_modules(source)), f"{name} imports lab"


@pytest.mark.parametrize(
    ("source", "at_import"),
    [
        ("import lab.world", True),
        ("try:\n    from lab import running\nexcept ImportError:\n    pass", True),
        ("try:\n    pass\nexcept ImportError:\n    import lab", True),
        ("if TYPE_CHECKING:\n    from lab.world import World", False),
        ("def run():\n    from lab.running import start_lab", False),
    ],
)
def test_the_lab_check_tells_module_level_from_lazy_imports(source: str, at_import: bool) -> None:
    assert any(_is_lab(m) for m in module_level_imports(source)) is at_import
    assert any(_is_lab(m) for m in imported_modules(source))


LANGUAGE_FILES = sorted((CORE / "language").rglob("*.py"))


def relative_imports(package: str, source: str) -> set[str]:
    """The modules the relative imports of a source in `package` name, made absolute."""
    parts = package.split(".")
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = ".".join([*parts[: len(parts) - node.level + 1], node.module or ""])
            modules.update(f"{base.rstrip('.')}.{alias.name}" for alias in node.names)
    return modules


@pytest.mark.parametrize(
    "path", LANGUAGE_FILES, ids=[str(p.relative_to(ROOT)) for p in LANGUAGE_FILES]
)
def test_the_language_does_not_import_the_workflow(path: Path) -> None:
    # Parsing text comes before anything is recorded: the language must not need the workflow.
    source = path.read_text(encoding="utf-8")
    package = ".".join(path.relative_to(ROOT).parent.parts)
    found = imported_modules(source) | relative_imports(package, source)
    bad = sorted(m for m in found if m.startswith("commands.workflow"))
    assert not bad, f"{path.relative_to(ROOT)} imports {', '.join(bad)}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from ..workflow import records", "commands.workflow.records"),
        ("from .. import workflow", "commands.workflow"),
        ("from .values import vm_name", "commands.language.values.vm_name"),
    ],
)
def test_relative_imports_are_made_absolute(source: str, expected: str) -> None:
    assert expected in relative_imports("commands.language", source)
