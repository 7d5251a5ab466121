"""The ``abusenet`` command line.

Each command group lives in its own module under :mod:`abusenet.commands` and registers itself on
the application through ``register(app)``. Heavy libraries (torch, PyG, pandas) are imported inside
the commands, so ``abusenet --help`` stays fast.
"""

from __future__ import annotations

import importlib

import typer

#: Modules under ``abusenet.commands`` that each define ``register(app: typer.Typer) -> None``.
COMMAND_MODULES: tuple[str, ...] = ("neo4j", "synth", "ingest", "run", "graph")

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

for _name in COMMAND_MODULES:
    importlib.import_module(f"abusenet.commands.{_name}").register(app)


def main() -> None:
    """Entry point for ``python -m abusenet``."""
    app()
