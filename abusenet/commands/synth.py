"""``abusenet synth``: generate realistic interaction logs with planted abuse rings."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from abusenet.commands.options import ProgressOption


class World(StrEnum):
    """Which generated world to write."""

    social = "social"
    cards = "cards"


class LogFormat(StrEnum):
    """File format of the generated event parts."""

    parquet = "parquet"
    csv = "csv"


def synth(
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (created; must be empty "
                             "unless --force)."),
    world: World = typer.Option(
        World.social, "--world",
        help="social: accounts with planted collusive rings; cards: card purchases at merchant "
             "terminals with compromised terminals and cards (configs/synth-cards.yaml)."),
    accounts: int = typer.Option(10_000, "--accounts", "-n", min=100,
                                 help="Accounts in the population (social: about 12 events each; "
                                      "cards: customers, about 2 purchases a day each)."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives the same files."),
    days: int = typer.Option(30, "--days", min=2, help="Length of the simulated window in days."),
    fmt: LogFormat = typer.Option(LogFormat.parquet, "--format",
                                  help="Event files: parquet, or gzipped csv."),
    config: Path | None = typer.Option(
        None, "--config", exists=True, dir_okay=False,
        help="YAML file of generator knobs (see configs/synth.yaml, or configs/synth-cards.yaml "
             "for --world cards, for all of them)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output directory."),
    progress: bool = ProgressOption,
) -> None:
    """Generate interaction logs with planted abuse rings and their ground truth.

    Writes OUT/events/part-*.parquet (or .csv.gz), OUT/labels.csv (partial, noisy labels),
    OUT/rings.parquet and OUT/truth_accounts.parquet (full truth, for evaluation only) and
    OUT/synth.json. Ingest the events with configs/mappings/synth.yaml.

    With --world cards: OUT/events/ (purchases, with terminal_id), OUT/event_labels.csv,
    OUT/entity_labels.csv and OUT/labels.csv (labels known with a delay), OUT/truth_events.parquet,
    OUT/truth_entities.parquet, OUT/truth_accounts.parquet, OUT/rings.parquet and OUT/synth.json.
    Ingest them with configs/mappings/synth_cards.yaml.
    """
    if world is World.cards:
        _synth_cards(out, accounts, seed, days, fmt, config, force, progress)
        return
    from ingest.synth import SynthConfig, generate, load_config

    result = _generate(generate, lambda: load_config(config) if config else SynthConfig(),
                       out, accounts, seed, days, fmt, force, progress)
    typer.echo(
        f"wrote {result.n_events:,} events of {result.n_accounts:,} accounts "
        f"({result.n_abusive:,} abusive in {result.n_rings:,} rings, {result.n_labels:,} labels) "
        f"to {result.out_dir} in {result.seconds:.1f} s "
        f"({result.n_events / max(result.seconds, 1e-9):,.0f} events/s)"
    )


def _synth_cards(out: Path, customers: int, seed: int, days: int, fmt: LogFormat,
                 config: Path | None, force: bool, progress: bool) -> None:
    from ingest.synth.cards import generate_cards
    from ingest.synth.cards_config import CardsConfig, load_cards_config

    result = _generate(generate_cards,
                       lambda: load_cards_config(config) if config else CardsConfig(),
                       out, customers, seed, days, fmt, force, progress)
    typer.echo(
        f"wrote {result.n_events:,} purchases of {result.n_accounts:,} customers at "
        f"{result.n_terminals:,} terminals ({result.n_fraud_events:,} fraudulent; "
        f"{result.n_compromised_terminals:,} compromised terminals, "
        f"{result.n_compromised_cards:,} compromised cards, {result.n_rings:,} rings) "
        f"to {result.out_dir} in {result.seconds:.1f} s"
    )


def _generate(generate: Callable[..., Any], knobs: Callable[[], Any], out: Path, accounts: int,
              seed: int, days: int, fmt: LogFormat, force: bool, progress: bool) -> Any:
    """Run a world's generator with its knobs; a bad knob or an occupied ``out`` exits 2."""
    try:
        return generate(
            out, n_accounts=accounts, seed=seed, days=days,
            fmt="csv.gz" if fmt is LogFormat.csv else "parquet",
            progress=progress, overwrite=force, **knobs().to_dict(),
        )
    except (ValueError, FileExistsError) as err:
        typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    """Add the ``synth`` command to ``app``."""
    app.command("synth")(synth)
