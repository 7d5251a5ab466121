"""The service's durable log: accepted events as Parquet segments in the run's event store.

Each accepted batch is written, before the service answers, as one segment per UTC day
(``day=YYYY-MM-DD/part-serve-<time>-<id>.parquet``, the layout and schema of
:mod:`ingest.store`), in two steps: :func:`write_segment` writes hidden temporary files,
:meth:`PendingSegment.commit` ``fsync`` s each, renames it into place and ``fsync`` s its
directory. So a ``kill -9`` loses nothing that was answered, a restart replays the committed
segments, and the next ``abusenet ingest`` / ``run`` on the store reads them as stored events
(deduplicating new rows against their ``event_id``).

The service writes one segment per group of requests (:mod:`abusenet.serve.writer`), not one
per request, and applies a group while its segment is being committed.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from pathlib import Path
from typing import BinaryIO

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


class PendingSegment:
    """A segment written (:func:`write_segment`) but not durable yet: its files are hidden
    temporaries until :meth:`commit`, so a restart replays none of its events before then.

    Parameters
    ----------
    events_dir
        The event store it goes into.
    """

    def __init__(self, events_dir: Path) -> None:
        self.events_dir = events_dir
        self.files: list[tuple[BinaryIO, Path, Path]] = []  # (open file, temporary, target)
        self.new_folder = False  # a day folder created: events_dir's entry made durable too

    def commit(self) -> list[Path]:
        """Make the segment durable: each file ``fsync`` ed, renamed into place, its folder
        ``fsync`` ed; the files in place. An error leaves the segment's durability unknown (a
        failed ``fsync`` cannot be retried: the pages it failed to write may count as clean)."""
        written = []
        for fh, tmp, target in self.files:
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
            os.replace(tmp, target)
            _fsync_dir(target.parent)
            written.append(target)
        if self.new_folder:
            _fsync_dir(self.events_dir)
        return written

    def discard(self) -> None:
        """Remove the temporary files (the segment never becomes part of the log)."""
        for fh, tmp, _ in self.files:
            with contextlib.suppress(OSError):
                fh.close()
            tmp.unlink(missing_ok=True)


def write_segment(events: pa.Table, events_dir: Path) -> PendingSegment:
    """Write ``events`` (canonical columns, at least one) into ``events_dir`` as hidden
    temporary files, one per UTC day, not yet durable (:meth:`PendingSegment.commit`).
    An error removes what was written."""
    pending = PendingSegment(events_dir)
    stamp = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
    days = pc.strftime(events.column("ts"), format="%Y-%m-%d", locale="C")
    distinct = sorted(set(days.to_pylist()))
    try:
        for day in distinct:
            rows = events if len(distinct) == 1 else events.filter(pc.equal(days, day))
            folder = events_dir / f"day={day}"
            if not folder.is_dir():
                folder.mkdir(parents=True, exist_ok=True)
                pending.new_folder = True
            target = folder / f"{SEGMENT_PREFIX}{stamp}.parquet"
            tmp = folder / f".{target.name}.tmp"
            fh = open(tmp, "wb")  # noqa: SIM115 -- held open until commit's fsync
            pending.files.append((fh, tmp, target))
            # A segment is small and read once (at restart, or by the next ingest): no
            # compression, dictionaries or statistics (a third of the write's CPU).
            pq.write_table(rows, fh, compression="none", use_dictionary=False,
                           write_statistics=False)
    except BaseException:
        pending.discard()
        raise
    return pending


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
