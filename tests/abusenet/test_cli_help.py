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
