"""Every command explains itself with --help."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from abusenet.cli import app

runner = CliRunner()


def _commands(typer_app, prefix=()):
    import typer.main

    group = typer.main.get_command(typer_app)
    stack = [(prefix, group)]
    while stack:
        path, cmd = stack.pop()
        yield path
        for name, sub in getattr(cmd, "commands", {}).items():
            stack.append(((*path, name), sub))


@pytest.mark.parametrize("path", sorted(_commands(app)), ids=lambda p: " ".join(p) or "root")
def test_help_explains(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    # A docstring or help text, not just the usage line.
    assert len(result.output.split()) > 25


@pytest.mark.parametrize(
    ("code", "heavy"),
    [
        # `abusenet --help` and every command's --help stay fast: no data or ML library loaded.
        ("import abusenet.cli", ("pandas", "torch", "duckdb", "neo4j")),
        # A run with the detector's default settings checks its config without torch, so a bad
        # mapping or input is reported in about a second.
        ("from abusenet.pipeline.config import load_run_config; load_run_config(None, [])",
         ("torch", "torch_geometric")),
    ],
)
def test_cheap_paths_do_not_import_heavy_libraries(code: str, heavy: tuple[str, ...]) -> None:
    import subprocess
    import sys

    script = f"{code}\nimport sys\nprint(sorted(set({heavy!r}) & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("command", ["run", "ingest", "serve"])
def test_piped_help_cuts_no_word(command: str) -> None:
    """Help read through a pipe or in a CI log (no terminal: rich's 80 columns) keeps every
    word of the options table whole (before: "labels.holdout_…", "neo4j.prune_max…")."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("TERMINAL_WIDTH", "COLUMNS")}
    out = subprocess.run([sys.executable, "-m", "abusenet", command, "--help"], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert "Usage" in out and "…" not in out
