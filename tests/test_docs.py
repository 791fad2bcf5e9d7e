"""docs/architecture.md names real files: its "where to change what" traces can be followed."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
# A path in backquotes, up to a file name with an extension (folders may be still to come).
PATH = re.compile(r"`((?:bot|commands|lab|tests|scripts|benchmarks)/[\w/.-]*\.(?:py|md|toml))`")


def test_every_file_the_architecture_names_exists() -> None:
    named = set(PATH.findall(ARCHITECTURE.read_text(encoding="utf-8")))
    assert len(named) > 20
    assert sorted(p for p in named if not (ROOT / p).exists()) == []


def test_code_cites_the_architecture_not_a_missing_design_file() -> None:
    sources = [p for d in ("bot", "commands", "lab", "tests") for p in (ROOT / d).rglob("*.py")]
    sources += list((ROOT / "commands").rglob("*.md")) + list((ROOT / "lab").rglob("*.md"))
    citing = sorted(str(p.relative_to(ROOT)) for p in sources if "DESIGN" + " §" in p.read_text())
    assert citing == []
