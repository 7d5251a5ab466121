"""Every third-party package the code imports is declared in pyproject.toml, and nothing else is.

The imports of abusenet/, gnn/, graph/ and ingest/ (inside functions and under TYPE_CHECKING
too) are read with :mod:`ast`; each top-level module that is neither the standard library nor
one of the four packages must come from a distribution named in ``[project.dependencies]`` or
the ``spark`` extra.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("abusenet", "gnn", "graph", "ingest")
RUNTIME_EXTRAS = ("spark",)
#: Declared but never imported by name, with the reason.
NOT_IMPORTED = {
    "neo4j-rust-ext": "the neo4j driver loads it by itself (a faster codec)",
    "sqlalchemy": "MLflow's SQLite registry store needs it; mlflow-skinny does not require it",
    "alembic": "MLflow creates and migrates its SQLite registry schema with it",
    "httptools": "uvicorn's http='auto' picks its C HTTP parser for `abusenet serve`",
    "uvloop": "uvicorn's loop='auto' picks its libuv event loop for `abusenet serve`",
}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    assert match, requirement
    return _canonical(match.group(0))


def declared_distributions() -> set[str]:
    """The canonical names of the runtime dependencies and the runtime extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in RUNTIME_EXTRAS:
        requirements += project["optional-dependencies"][extra]
    return {_requirement_name(r) for r in requirements}


def imported_modules() -> dict[str, set[str]]:
    """Third-party top-level module -> the files (relative to the root) that import it."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.partition(".")[0]
                    if top not in sys.stdlib_module_names and top not in PACKAGES:
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_imported_package_is_declared() -> None:
    declared = declared_distributions()
    owners = packages_distributions()
    undeclared = {}
    for module, files in imported_modules().items():
        dists = {_canonical(d) for d in owners.get(module, [])}
        if not dists & declared:
            undeclared[module] = (sorted(dists) or ["not installed"], sorted(files))
    assert undeclared == {}, f"imported but not declared in pyproject.toml: {undeclared}"


def test_every_declared_package_is_imported() -> None:
    owners = packages_distributions()
    imported = {_canonical(d) for module in imported_modules() for d in owners.get(module, [])}
    unused = declared_distributions() - imported - set(NOT_IMPORTED)
    assert unused == set(), f"declared in pyproject.toml but imported nowhere: {sorted(unused)}"
