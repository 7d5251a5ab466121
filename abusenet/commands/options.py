"""Options shared by every command, spelled the same everywhere."""

from __future__ import annotations

import typer

#: The one progress switch: bars on stderr unless ``--no-progress`` (or its alias ``--quiet``).
ProgressOption = typer.Option(
    True, "--progress/--no-progress", " /--quiet",
    help="Show progress bars on stderr; --no-progress (alias --quiet) shows none.",
)
