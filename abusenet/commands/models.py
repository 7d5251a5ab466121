"""``abusenet models list | show VERSION | promote VERSION | rollback``: the model registry.

Tables go to stdout, errors to stderr as one line (exit status 1). MLflow is imported only when a
command runs, through :mod:`abusenet.registry`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import typer

if TYPE_CHECKING:
    from abusenet.registry.store import RegistryStore
    from abusenet.registry.versions import VersionRecord

T = TypeVar("T")

models_app = typer.Typer(
    help=(
        "The model registry: every model `abusenet run` trains is registered in MLflow with its "
        "metrics, settings, data fingerprint, report and model card. One version holds the "
        "alias `production`: `abusenet score` uses it when --model is not given. The registry "
        "is a SQLite store under $ABUSENET_HOME/mlflow unless MLFLOW_TRACKING_URI (and "
        "MLFLOW_REGISTRY_URI) name a team's tracking server."
    ),
    no_args_is_help=True,
)

ModelNameOption = typer.Option(
    None, "--model-name", envvar="ABUSENET_MODEL_NAME", show_default=False,
    help="The registered model's name, as the run config's registry.model_name "
    "(default: abusenet-detector).",
)
VersionArgument = typer.Argument(
    ..., metavar="VERSION",
    help="A version number (2 or v2) or an alias (production, previous).", show_default=False,
)


def _store(model_name: str | None) -> RegistryStore:
    from abusenet.registry.config import DEFAULT_MODEL_NAME
    from abusenet.registry.store import RegistryStore

    return RegistryStore.from_environment(model_name=model_name or DEFAULT_MODEL_NAME)


def _run(action: Callable[[], T]) -> T:
    """``action()``, a registry failure printed as one line on stderr (exit status 1)."""
    from abusenet.registry.errors import RegistryError

    try:
        return action()
    except RegistryError as err:
        typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None


def _figure(record: VersionRecord, name: str) -> str:
    value = record.metrics.get(name)
    return "" if value is None else f"{value:.3f}"


@models_app.command("list")
def list_(model_name: str | None = ModelNameOption) -> None:
    """List every registered version, newest first: aliases, graph, model hash, key figures.

    `abusenet models show VERSION` gives the rest (data fingerprint, every metric, settings).

    AUROC and AUPRC are the accounts' on the labels the run held back; ECE is the expected
    calibration error of their scores.
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from abusenet.registry.versions import HEADLINE_METRICS, list_versions

    store = _run(lambda: _store(model_name))
    records = _run(lambda: list_versions(store))
    console = Console()
    if not records:
        console.print(f"No version of {store.model_name!r} in the registry at "
                      f"{store.shown_uri} yet: `abusenet run` with labels registers one.",
                      highlight=False)
        return
    table = Table(title=f"{store.model_name} ({store.shown_uri}; times in UTC)",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True)
    for column in ("#", "aliases", "registered"):
        table.add_column(column, no_wrap=True)
    table.add_column("graph", overflow="fold", min_width=5)
    table.add_column("model", no_wrap=True)
    for column in HEADLINE_METRICS:
        table.add_column(column, justify="right", no_wrap=True)
    for r in records:
        table.add_row(
            str(r.version), ", ".join(r.aliases), f"{r.created:%Y-%m-%d %H:%M}", r.graph or "",
            r.model_version or "", *(_figure(r, metric) for metric in HEADLINE_METRICS.values()),
        )
    console.print(table)


@models_app.command()
def show(version: str = VersionArgument, model_name: str | None = ModelNameOption) -> None:
    """Show one version: its tags, every metric of its run, and the settings it was trained with."""
    from rich.console import Console
    from rich.table import Table

    from abusenet.registry.versions import get_version

    store = _run(lambda: _store(model_name))
    record = _run(lambda: get_version(store, version))
    console = Console()
    about = Table(title=f"{store.model_name} version {record.version}", title_justify="left",
                  show_header=False)
    about.add_column(style="bold")
    about.add_column()
    about.add_row("aliases", ", ".join(record.aliases) or "-")
    about.add_row("registered (UTC)", f"{record.created:%Y-%m-%d %H:%M:%S}")
    about.add_row("MLflow run", record.run_id or "-")
    for key, value in sorted(record.tags.items()):
        about.add_row(key, value)
    console.print(about)
    for title, rows in (
        ("metrics", [(k, f"{v:.6g}") for k, v in sorted(record.metrics.items())]),
        ("settings", sorted(record.params.items())),
    ):
        table = Table(title=title, title_justify="left")
        table.add_column("name")
        table.add_column("value", justify="right" if title == "metrics" else "left")
        for name, value in rows:
            table.add_row(name, value)
        console.print(table if rows else f"{title}: none recorded")


@models_app.command()
def promote(version: str = VersionArgument, model_name: str | None = ModelNameOption) -> None:
    """Put VERSION in production (alias `production`); the former one becomes `previous`.

    `abusenet models rollback` restores the former one.
    """
    from abusenet.registry.promotion import promote as promote_version

    store = _run(lambda: _store(model_name))
    change = _run(lambda: promote_version(store, version))
    if not change.changed:
        typer.echo(f"Version {change.production} of {store.model_name!r} is already in production.")
        return
    before = f"version {change.previous}" if change.previous is not None else "none"
    typer.echo(f"Version {change.production} of {store.model_name!r} is now in production "
               f"(before: {before}).")


@models_app.command()
def rollback(model_name: str | None = ModelNameOption) -> None:
    """Put the version that was in production before the current one back in production.

    Each rollback goes one promotion further back; it fails when there is none left.
    """
    from abusenet.registry.promotion import rollback as rollback_version

    store = _run(lambda: _store(model_name))
    change = _run(lambda: rollback_version(store))
    typer.echo(f"Rolled back {store.model_name!r}: version {change.production} is in production "
               f"again (version {change.previous} withdrawn).")


def register(app: typer.Typer) -> None:
    """Add the ``models`` command group to ``app``."""
    app.add_typer(models_app, name="models")
