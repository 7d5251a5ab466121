"""The service's durable log: accepted events as Parquet segments in the run's event store.

Each accepted batch is written, before the service answers, as one segment per UTC day
(``day=YYYY-MM-DD/part-serve-<time>-<id>.parquet``, the layout and schema of
:mod:`ingest.store`), written to a hidden temporary file, ``fsync``'d, renamed into place and
its directory ``fsync``'d. So a ``kill -9`` loses nothing that was answered, a restart replays
the segments, and the next ``abusenet ingest`` / ``run`` on the store reads them as stored
events (deduplicating new rows against their ``event_id``).

The service writes one segment per group of requests (:mod:`abusenet.serve.writer`), not one
per request.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ingest.store import EVENTS_GLOB

#: File name prefix of the service's segments.
SEGMENT_PREFIX = "part-serve-"


def segment_files(events_dir: Path) -> list[Path]:
    """The service's segments in ``events_dir``, oldest first."""
    return sorted((p for p in events_dir.glob(EVENTS_GLOB) if p.name.startswith(SEGMENT_PREFIX)),
                  key=lambda p: p.name)


def append_segment(events: pa.Table, events_dir: Path) -> list[Path]:
    """Write ``events`` (canonical columns) durably into ``events_dir``; return the new files."""
    if events.num_rows == 0:
        return []
    stamp = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
    days = pc.strftime(events.column("ts"), format="%Y-%m-%d", locale="C")
    written = []
    new_folder = False
    distinct = sorted(set(days.to_pylist()))
    for day in distinct:
        rows = events if len(distinct) == 1 else events.filter(pc.equal(days, day))
        folder = events_dir / f"day={day}"
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            new_folder = True
        target = folder / f"{SEGMENT_PREFIX}{stamp}.parquet"
        tmp = folder / f".{target.name}.tmp"
        with open(tmp, "wb") as fh:
            # A segment is small and read once (at restart, or by the next ingest): no
            # compression, dictionaries or statistics (a third of the write's CPU).
            pq.write_table(rows, fh, compression="none", use_dictionary=False,
                           write_statistics=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        _fsync_dir(folder)
        written.append(target)
    if new_folder:  # the folder's own entry in events_dir made durable
        _fsync_dir(events_dir)
    return written


def read_segments(events_dir: Path, schema: pa.Schema) -> pa.Table:
    """Every event of the service's segments, in the canonical ``schema``."""
    files = segment_files(events_dir)
    if not files:
        return schema.empty_table()
    return pa.concat_tables([pq.read_table(p).select(schema.names).cast(schema) for p in files])


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
