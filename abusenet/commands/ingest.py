"""``abusenet ingest``: interaction logs -> canonical events -> graph snapshot."""

from __future__ import annotations

from pathlib import Path

import typer

from abusenet.commands.options import ProgressOption

HELP = (
    "Ingest interaction logs into canonical events and build the graph snapshot.\n\n"
    "Rows that fail validation (an unparseable, ambiguous (1/1/15 without timestamp_format), "
    "pre-1970 or future timestamp, empty account, non-numeric amount, malformed IP) go to "
    "OUT/quarantine.parquet with their file, line and reason, and every "
    "input row is accounted for in the printed summary (rows in = accepted + quarantined + "
    "duplicates). A mapped column missing from a file stops the run before any work."
)


def register(app: typer.Typer) -> None:
    """Add the ``ingest`` command to ``app``."""
    app.command(name="ingest", help=HELP)(ingest)


def ingest(
    inputs: list[str] = typer.Option(
        ..., "--input", "-i",
        help="Log files, directories or glob patterns (CSV/TSV, Parquet, JSON lines; .gz ok). "
        "Repeat for several.",
    ),
    mapping: Path = typer.Option(
        ..., "--mapping", "-m",
        help="Mapping YAML from your columns to the canonical ones (see configs/mappings/).",
    ),
    out: Path = typer.Option(
        ..., "--out", "-o",
        help="Output directory: receives events/, snapshot/ and quarantine.parquet. Running "
        "again with new files adds only those; files already ingested are skipped.",
    ),
    labels: Path | None = typer.Option(
        None, "--labels", "-l",
        help="Labels file (account, 1 = abusive / 0 = legitimate), read with the mapping's "
        "labels: section.",
    ),
    max_bad_fraction: float = typer.Option(
        0.01, "--max-bad-fraction", min=0.0, max=1.0,
        help="Abort, writing nothing, when more than this fraction of the new rows fail "
        "validation.",
    ),
    snapshot: bool = typer.Option(
        True, "--snapshot/--no-snapshot", help="Also build the graph snapshot in OUT/snapshot."
    ),
    progress: bool = ProgressOption,
) -> None:
    """Run the ingest stage, then the snapshot build; see :data:`HELP`."""
    from graph.build import BuildError, write_snapshot_files
    from ingest.labels import LabelsError
    from ingest.mapping import MappingError, load_mapping
    from ingest.readers import InputError
    from ingest.run import TooManyBadRows, ingest_logs

    try:
        spec = load_mapping(mapping)
        summary = ingest_logs(
            inputs, spec, out / "events",
            labels=labels,
            max_bad_fraction=max_bad_fraction,
            quarantine_path=out / "quarantine.parquet",
            progress=progress,
        )
        typer.echo(str(summary))
        if snapshot:
            manifest = write_snapshot_files(out / "events", out / "snapshot", mapping=spec,
                                            progress=progress)
            nodes = ", ".join(f"{manifest['nodes'][t]['count']:,} {t}"
                              for t in sorted(manifest["nodes"], key=lambda t: (t != "Account", t)))
            edges = ", ".join(f"{e['count']:,} {r}" for r, e in manifest["relations"].items())
            typer.echo(f"Snapshot written to {out / 'snapshot'}: nodes {nodes}; edges {edges}.")
    except (MappingError, InputError, LabelsError, TooManyBadRows, BuildError) as err:
        hint = (" To store the good rows anyway (the others go to the quarantine), raise "
                "--max-bad-fraction." if isinstance(err, TooManyBadRows) else "")
        typer.secho(f"error: {err}{hint}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
