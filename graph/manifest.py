"""The snapshot's ``manifest.json``: one content, whichever engine built the snapshot.

:func:`make_manifest` describes the tables (files, row counts, the node types each relation
joins, feature columns, labels); :func:`events_meta` the events they were aggregated from
(counts per type, time span, files, the ingested inputs and their checksums). The DuckDB build
(:mod:`graph.build`), the Spark build (:mod:`graph.spark_build`) and
:func:`graph.snapshot.write_snapshot` all describe a snapshot through these two.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ingest.state import IngestState

#: The layout version a manifest declares; readers refuse any other.
SCHEMA_VERSION = 1


def make_manifest(
    nodes: Mapping[str, tuple[int, list[str]]],
    relations: Mapping[str, tuple[str, str, int]],
    labels: tuple[int, int] | None,
    meta: Mapping[str, Any],
) -> dict[str, Any]:
    """The ``manifest.json`` content of a snapshot, from its tables' facts.

    Parameters
    ----------
    nodes
        Node type -> (row count, feature columns).
    relations
        Relation name -> (source node type, destination node type, row count).
    labels
        (row count, positives), or ``None`` without labels.
    meta
        Further entries (:func:`events_meta`, build time, ...), after the tables'.

    Returns
    -------
    dict
        The manifest, ready for ``json.dumps``.
    """
    return {
        "schema_version": SCHEMA_VERSION,
        "created_at": datetime.now(UTC).isoformat(),
        "nodes": {
            t: {"file": f"nodes/{t}.parquet", "count": int(count), "features": features}
            for t, (count, features) in nodes.items()
        },
        "relations": {
            name: {
                "file": f"edges/{name}.parquet",
                "src": src_type,
                "dst": dst_type,
                "count": int(count),
            }
            for name, (src_type, dst_type, count) in relations.items()
        },
        "labels": None if labels is None else {
            "file": "labels.parquet", "count": int(labels[0]), "positives": int(labels[1]),
        },
        **meta,
    }


def events_meta(
    *,
    by_type: Mapping[str, int],
    first_ts: datetime | None,
    last_ts: datetime | None,
    files: Sequence[Path],
    state: IngestState,
    event_type_features: Mapping[str, str],
) -> dict[str, Any]:
    """The manifest entries about the events a snapshot was built from.

    Parameters
    ----------
    by_type
        Event count per event type, most frequent first.
    first_ts, last_ts
        The first and last event time (a naive time is read as UTC), ``None`` without events.
    files
        The event files read.
    state
        The ingest state of the events directory (its ingested inputs).
    event_type_features
        Event type -> the name of its ``n_events_<type>`` feature.

    Returns
    -------
    dict
        ``events`` (count, time span, counts by type, files, rows), ``event_type_features`` and
        ``inputs`` (the checksum and mapping of every ingested input, with its facts).
    """
    return {
        "events": {
            "count": sum(by_type.values()),
            "first_ts": _iso(first_ts),
            "last_ts": _iso(last_ts),
            "by_type": dict(by_type),
            "files": len(files),
            "rows": sum(pq.ParquetFile(p).metadata.num_rows for p in files),
        },
        "event_type_features": dict(event_type_features),
        "inputs": [
            {"sha256": key.split(":")[0], "mapping": key.split(":")[1], **facts}
            for key, facts in sorted(state.files.items())
        ],
    }


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).isoformat()
