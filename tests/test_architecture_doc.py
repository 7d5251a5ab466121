"""docs/ARCHITECTURE.md names every module with a line on its job, and nothing that is gone.

Package ``__init__`` and ``__main__`` files are left out: their package's heading says it.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ARCHITECTURE.md"
PACKAGES = ("abusenet", "gnn", "graph", "ingest")
#: A module line of the map: ``- `graph/store/load.py`: ...``.
LISTED = re.compile(r"^- `((?:abusenet|gnn|graph|ingest)/[\w/]+\.py)`: \S", re.MULTILINE)


def _modules() -> set[str]:
    return {
        path.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    }


def test_every_module_has_a_line_in_the_architecture_map() -> None:
    listed = set(LISTED.findall(DOC.read_text()))
    assert sorted(_modules() - listed) == [], "modules missing from docs/ARCHITECTURE.md"
    assert sorted(listed - _modules()) == [], "docs/ARCHITECTURE.md lists modules that are gone"
