"""The data stages: logs -> canonical events -> graph snapshot -> ring candidates."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from abusenet.pipeline.errors import PipelineError
from abusenet.pipeline.stages.files import CANDIDATES, EVENTS, QUARANTINE, SNAPSHOT
from ingest.files import write_parquet_atomic
from ingest.mapping import Mapping

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from graph.rings.candidates import RingCandidate
    from graph.rings.config import RingConfig

logger = logging.getLogger(__name__)


def spark_for(master: str | None) -> SparkSession:
    """The Spark session of the Spark engine at ``master`` (default ``local[*]``)."""
    from ingest.spark_session import spark_session

    return spark_session(master or "local[*]")


def ingest_stage(
    inputs: Sequence[str],
    mapping: Mapping,
    labels: Path | None,
    out: Path,
    *,
    max_bad_fraction: float,
    progress: bool = True,
    engine: str = "duckdb",
    spark_master: str | None = None,
) -> dict[str, Any]:
    """Logs -> ``out/events`` (canonical events, labels) and ``out/quarantine.parquet``, by the
    DuckDB engine or (``engine="spark"``) on Spark at ``spark_master``."""
    if engine == "spark":
        from ingest.spark_ingest import ingest_logs_spark

        summary = ingest_logs_spark(
            list(inputs), mapping, out / EVENTS, labels=labels,
            max_bad_fraction=max_bad_fraction, quarantine_path=out / QUARANTINE,
            spark=spark_for(spark_master),
        )
    else:
        from ingest.run import ingest_logs

        summary = ingest_logs(
            list(inputs), mapping, out / EVENTS, labels=labels,
            max_bad_fraction=max_bad_fraction, quarantine_path=out / QUARANTINE,
            progress=progress,
        )
    return {
        "rows_in": summary.rows_in,
        "accepted": summary.accepted,
        "quarantined": summary.quarantined,
        "duplicates": summary.duplicates,
        "reasons": dict(summary.reasons),
        "events": summary.events_total,
        "labels": summary.labels,
        "label_positives": summary.label_positives,
        "files": summary.files_new,
        "quarantine": (out / QUARANTINE).is_file(),
    }


def snapshot_stage(
    events_dir: Path,
    mapping: Mapping,
    out: Path,
    *,
    event_labels: Path | None = None,
    entity_labels: Path | None = None,
    attribute_shares: dict[str, dict[str, str]] | None = None,
    progress: bool = True,
    engine: str = "duckdb",
    spark_master: str | None = None,
) -> dict[str, Any]:
    """Events -> graph snapshot in ``out/snapshot`` (with the labels, for Neo4j's investigators;
    event and entity labels files are kept for the graph's events and entities), by the DuckDB
    engine or (``engine="spark"``) on Spark at ``spark_master``; ``attribute_shares``: the
    string attributes' share features to build (a saved model's), else found in the events.

    The counts come from the snapshot's manifest; the one table read back is two columns of the
    account nodes, to say when the counterparties look like hubs mapped as accounts
    (:func:`graph.counterparties.counterparty_shape`: ``counterparty_hint`` in the info). The
    string attributes made share features, with their values, are ``text_features`` in the
    info (the summary names them: a text that records the outcome would leak the label)."""
    if engine == "spark":
        from graph.spark_build import write_snapshot_spark

        if event_labels is not None or entity_labels is not None:
            raise PipelineError("--engine spark does not keep event or entity labels yet; "
                                "run without --event-labels / --entity-labels, or with "
                                "--engine duckdb")
        manifest = write_snapshot_spark(events_dir, out / SNAPSHOT, mapping=mapping,
                                        attribute_shares=attribute_shares,
                                        spark=spark_for(spark_master))
    else:
        from graph.build import write_snapshot_files

        manifest = write_snapshot_files(events_dir, out / SNAPSHOT, mapping=mapping,
                                        event_labels=event_labels,
                                        entity_labels=entity_labels,
                                        attribute_shares=attribute_shares, progress=progress)
    from graph.counterparties import counterparty_shape

    info: dict[str, Any] = {
        "nodes": {t: int(spec["count"]) for t, spec in manifest["nodes"].items()},
        "relationships": {r: int(spec["count"]) for r, spec in manifest["relations"].items()},
        "labels": None if manifest["labels"] is None else int(manifest["labels"]["count"]),
    }
    if manifest.get("attribute_shares"):
        info["text_features"] = {name: list(values)
                                 for name, values in manifest["attribute_shares"].items()}
    shape = counterparty_shape(out / SNAPSHOT)
    hint = shape.hint() if shape is not None else None
    if hint:
        logger.warning(hint)
        info["counterparty_hint"] = hint
    return info


def candidates_stage(
    snapshot_dir: Path,
    rings: RingConfig,
    out: Path,
    *,
    events: Path | None = None,
    engine: str = "duckdb",
    spark_master: str | None = None,
) -> dict[str, Any]:
    """Unsupervised ring candidates of the snapshot -> ``out/candidates.parquet``.

    With ``events`` (the ingest stage's canonical events, where they are) a pair's time
    coincidence counts every episode: the search reads the pairs' accounts' events and keeps
    the times of their uses of what they share (:func:`graph.rings.pairs.event_use_times`);
    without, first and last uses. It also reads the transfers of the hubs whose busy pairs the
    snapshot times at their ends only (:func:`graph.rings.off_routine.event_transfer_times`),
    so their off-routine fans are judged transfer by transfer, and the failed attempts the
    mapping declared (:func:`graph.rings.takeovers.event_failures`) for the takeover search
    (``rings.takeovers``; without the events or a declaration there is none), and whether its
    candidates got in where they failed (:func:`graph.rings.takeovers.entered_pairs`).
    ``over_max_size`` counts the candidates of more than ``max_size`` (``rings.max_size``)
    accounts (communities and dense blocks judged whole, up to ``rings.max_group_size``): the
    run summary says it.

    With ``engine="spark"`` the account projection and its connected components at each
    ``rings.component_weights`` are computed on Spark at ``spark_master``
    (:func:`graph.spark_rings.spark_ring_components`); the rest of the search (communities,
    peeling, flows, null model) still runs here, on the whole snapshot in memory. Hub entities
    are chained in a seeded hash order there, not NumPy's, so components held together only
    by a hub's chain may differ from the DuckDB engine's."""
    from graph.rings.candidates import find_ring_candidate_table
    from graph.rings.off_routine import event_transfer_times
    from graph.rings.pairs import event_use_times
    from graph.rings.takeovers import entered_pairs, event_failures
    from graph.snapshot import ACCOUNT, read_snapshot

    read_events = events is not None and events.exists()
    if events is not None and not read_events:
        logger.warning("ring candidates: the events %s are not there: pairs' time coincidence "
                       "and busy hubs' transfers read first and last times only", events)
    linked = None
    if engine == "spark":
        from graph.spark_rings import spark_ring_components

        linked = spark_ring_components(spark_for(spark_master), snapshot_dir, rings)
    takeovers = read_events and rings.takeovers
    # the search reads the edges and the account ids, no other node table (GBs at 1M accounts);
    # its table of candidates goes to the file as it is, no Python object per candidate
    candidates = find_ring_candidate_table(
        read_snapshot(snapshot_dir, node_types=[ACCOUNT]), rings, linked_components=linked,
        use_times=event_use_times(events) if read_events else None,
        transfer_times=event_transfer_times(events) if read_events else None,
        failures=event_failures(events) if takeovers else None,
        entered=partial(entered_pairs, events) if takeovers else None)
    write_candidates(candidates, out / CANDIDATES)
    whole = int(pc.sum(pc.greater(pc.list_value_length(candidates["members"]),
                                  rings.max_size)).as_py() or 0)
    if whole:
        logger.info("ring candidates: %d group(s) of more than rings.max_size=%d accounts "
                    "judged whole (up to rings.max_group_size=%d)", whole, rings.max_size,
                    rings.max_group_size)
    return {"candidates": candidates.num_rows, "over_max_size": whole,
            "max_size": rings.max_size, "episode_times": read_events}


def write_candidates(candidates: pa.Table | Sequence[RingCandidate], path: Path) -> None:
    """Write ``candidates`` (a candidates table, :data:`graph.rings.candidates.CANDIDATE_SCHEMA`,
    or the candidates themselves: members, kind, evidence, features, every internal transfer
    tie and the core of members tied by rare entities or transfers) to the Parquet file
    ``path``, atomically, as :func:`read_candidates` reads them back.

    The file keeps the pandas metadata of a DataFrame of the same columns (files written before
    the search gave a table were written from one, and read alike)."""
    from graph.rings.candidates import candidate_table

    table = candidates if isinstance(candidates, pa.Table) else candidate_table(candidates)
    write_parquet_atomic(table.replace_schema_metadata(_pandas_metadata()), path)


def _pandas_metadata() -> dict[bytes, bytes]:
    """The schema metadata pandas writes with a DataFrame of candidates (one made-up row)."""
    sample = pd.DataFrame({"ring_id": ["r"], "members": [["a"]], "kind": ["k"],
                           "evidence": [["e"]], "features": ["{}"], "ties": [[["a", "b"]]],
                           "core": [["a"]]})
    return pa.Schema.from_pandas(sample, preserve_index=False).metadata


def read_candidates(path: Path, block: int = 50_000) -> list[RingCandidate]:
    """The :class:`~graph.rings.candidates.RingCandidate` list :func:`candidates_stage` wrote,
    read ``block`` rows at a time (the whole table beside the objects is not held)."""
    from graph.rings.candidates import candidates_from_batches

    return candidates_from_batches(pq.ParquetFile(path).iter_batches(batch_size=block))
