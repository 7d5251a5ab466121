"""The event store's layout: canonical events partitioned by day, the labels and the quarantine.

An events directory holds ``day=YYYY-MM-DD/part-*.parquet`` files, ``labels.parquet`` (the account
labels given with the logs), ``quarantine.parquet`` (rejected rows with their reasons) and the
ingest state (:mod:`ingest.state`). Readers find the stored events through :func:`event_files`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq

EVENTS_GLOB = "day=*/*.parquet"
LABELS_FILE = "labels.parquet"
QUARANTINE_FILE = "quarantine.parquet"


def event_files(events_dir: str | os.PathLike[str]) -> list[Path]:
    """The canonical event Parquet files under ``events_dir``, sorted."""
    return sorted(Path(events_dir).glob(EVENTS_GLOB))


def count_events(events_dir: str | os.PathLike[str]) -> int:
    """Number of stored events, from Parquet footers (no data read)."""
    return sum(pq.ParquetFile(p).metadata.num_rows for p in event_files(events_dir))
