"""The ``abusenet`` command line.

Each command group lives in its own module under :mod:`abusenet.commands` and registers itself on
the application through ``register(app)``. Heavy libraries (torch, PyG, pandas) are imported inside
the commands, so ``abusenet --help`` stays fast. The options before the command (``--version``,
``-v`` / ``--log-level``) belong to the application itself: see :func:`main_options`.
"""

from __future__ import annotations

import importlib
import sys
from enum import StrEnum
from importlib.metadata import version

import typer
import typer.rich_utils

# Help piped or captured (a CI log, `| less`) gets 80 columns from rich, where the options
# table cuts its words ("labels.holdout_…"); 120 fits them. TERMINAL_WIDTH still wins.
if typer.rich_utils.MAX_WIDTH is None and not sys.stdout.isatty():
    typer.rich_utils.MAX_WIDTH = 120

from abusenet.logs import LEVELS, configure_logging, level_for

#: Modules under ``abusenet.commands`` that each define ``register(app: typer.Typer) -> None``.
COMMAND_MODULES: tuple[str, ...] = (
    "neo4j", "synth", "ingest", "run", "graph", "models", "case", "serve", "train",
)

app = typer.Typer(
    name="abusenet",
    help=(
        "Graph-based abuse-network detection: turn interaction logs into a graph of accounts, "
        "devices, payment instruments and IPs, score collusive rings with a GNN, and serve the "
        "results to investigators in Neo4j."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


#: ``--log-level`` values (any case).
LogLevel = StrEnum("LogLevel", {name: name for name in LEVELS})


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"abusenet {version('abusenet')}")
        raise typer.Exit()


@app.callback()
def main_options(
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, show_default=False,
        help="Log diagnostics on stderr: -v for INFO, -vv for DEBUG (default: warnings only).",
    ),
    log_level: LogLevel | None = typer.Option(
        None, "--log-level", metavar="LEVEL", case_sensitive=False,
        help=f"Log level of abusenet's diagnostics on stderr, one of {', '.join(LEVELS)}; "
        "wins over -v.",
    ),
    show_version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version,
        help="Print abusenet's version and exit.",
    ),
) -> None:
    """Options that come before the command: logging and --version."""
    configure_logging(level_for(verbose, None if log_level is None else log_level.value))


for _name in COMMAND_MODULES:
    importlib.import_module(f"abusenet.commands.{_name}").register(app)


def main() -> None:
    """Entry point for ``python -m abusenet``."""
    app()
