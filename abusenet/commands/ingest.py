"""``abusenet ingest``: interaction logs -> canonical events -> graph snapshot."""

from __future__ import annotations

from pathlib import Path

import typer

from abusenet.commands.options import ProgressOption

HELP = (
    "Ingest interaction logs into canonical events and build the graph snapshot.\n\n"
    "Rows that fail validation (an unparseable or ambiguous timestamp (1/1/15 without "
    "timestamp_format), epoch 0, a pre-1970 or future timestamp, empty account, "
    "non-numeric amount, malformed IP) go to OUT/quarantine.parquet with their file, line and "
    "reason, and every input row is accounted for in the printed summary (rows in = accepted "
    "+ quarantined + duplicates). A mapped column missing from a file stops the run before any "
    "work, and so do times that are compact dates (20250301) without timestamp_format. Words "
    "for a missing value (None, null, N/A, -) are no ids. A log without times: "
    "'timestamps: {missing: row_order}' in the mapping (each row's time from its line)."
)


EngineOption = typer.Option(
    "duckdb", "--engine",
    help="duckdb: ingest and build the snapshot on this machine. spark: on Spark (CSV/TSV logs; "
    "rows validated, deduplicated and written as Parquet by the executors; paths must be "
    "readable by every executor).",
)
SparkMasterOption = typer.Option(
    None, "--spark-master",
    help="Spark master URL for --engine spark (default local[*]: every core of this machine).",
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
    engine: str = EngineOption,
    spark_master: str | None = SparkMasterOption,
) -> None:
    """Run the ingest stage, then the snapshot build; see :data:`HELP`."""
    from graph.build import BuildError, write_snapshot_files
    from ingest.labels import LabelsError
    from ingest.mapping import MappingError, load_mapping
    from ingest.readers import InputError
    from ingest.run import TooManyBadRows, ingest_logs

    if engine not in ("duckdb", "spark"):
        typer.secho(f"error: --engine must be duckdb or spark, not {engine!r}", err=True,
                    fg=typer.colors.RED)
        raise typer.Exit(2)
    try:
        spec = load_mapping(mapping)
        if engine == "spark":
            from graph.spark_build import write_snapshot_spark
            from ingest.spark_ingest import ingest_logs_spark
            from ingest.spark_session import spark_session

            spark = spark_session(spark_master or "local[*]")
            summary = ingest_logs_spark(inputs, spec, out / "events", labels=labels,
                                        max_bad_fraction=max_bad_fraction,
                                        quarantine_path=out / "quarantine.parquet", spark=spark)
        else:
            summary = ingest_logs(
                inputs, spec, out / "events",
                labels=labels,
                max_bad_fraction=max_bad_fraction,
                quarantine_path=out / "quarantine.parquet",
                progress=progress,
            )
        typer.echo(str(summary))
        if snapshot and not summary.events_total:
            typer.secho(
                f"error: no snapshot was built: {out / 'events'} holds no events ("
                + ("every row of the input was quarantined: see the reasons above and "
                   f"{out / 'quarantine.parquet'}" if summary.quarantined else
                   "the input holds no rows") + ")", err=True, fg=typer.colors.RED)
            raise typer.Exit(1)
        if snapshot:
            manifest = (
                write_snapshot_spark(out / "events", out / "snapshot", mapping=spec, spark=spark)
                if engine == "spark" else
                write_snapshot_files(out / "events", out / "snapshot", mapping=spec,
                                     progress=progress))
            nodes = ", ".join(f"{manifest['nodes'][t]['count']:,} {t}"
                              for t in sorted(manifest["nodes"], key=lambda t: (t != "Account", t)))
            edges = ", ".join(f"{e['count']:,} {r}" for r, e in manifest["relations"].items())
            typer.echo(f"Snapshot written to {out / 'snapshot'}: nodes {nodes}; edges {edges}.")
            if labels is not None:
                _echo_labels_kept(manifest)
    except (MappingError, InputError, LabelsError, TooManyBadRows, BuildError) as err:
        hint = (" To store the good rows anyway (the others go to the quarantine), raise "
                "--max-bad-fraction." if isinstance(err, TooManyBadRows) else "")
        typer.secho(f"error: {err}{hint}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None


#: The share of the labelled accounts acting in no event above which the ingest warns: a real
#: export rarely labels accounts its logs lack, so many such are ids written otherwise.
LABELS_OUTSIDE_WARN = 0.2


def _echo_labels_kept(manifest: dict) -> None:
    """Say how many labelled accounts the graph holds, and warn when more than
    :data:`LABELS_OUTSIDE_WARN` of the labelled accounts act in no event (ids written otherwise
    than in the logs: leading zeros, prefixes, case)."""
    kept = (manifest.get("labels") or {}).get("count", 0)
    outside = manifest.get("labels_without_events", 0)
    typer.echo(f"Labels in the graph: {kept:,} accounts "
               f"({(manifest.get('labels') or {}).get('positives', 0):,} abusive); "
               f"{outside:,} labelled accounts act in no event and are left out.")
    if outside > LABELS_OUTSIDE_WARN * (kept + outside):
        which = ("none of them is an account of the logs, so a run would train on no label"
                 if not kept else f"a run would train on {kept:,} of the {kept + outside:,} "
                 "labelled accounts")
        typer.secho(
            f"warning: {outside:,} of the {kept + outside:,} labelled accounts act in no event: "
            f"{which}. Compare the labels file's ids with the logs' account_id / "
            "counterparty_id (leading zeros, prefixes, letter case)",
            err=True, fg=typer.colors.YELLOW)
