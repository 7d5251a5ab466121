"""What an ingest run needs from its mapping, worked out once and passed along.

The staging, fast-path and quarantine steps each read source files and turn their rows into
canonical events; an :class:`IngestPlan`, built once per run from the mapping, gives them the
reader settings, the source and event columns and the transform query, so that none of them
goes back to the mapping, :mod:`ingest.readers` and :mod:`ingest.validate` on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from ingest.mapping import Mapping, check_source_columns
from ingest.readers import Chunk, csv_source_view, iter_chunks, rejected_csv_rows, source_columns
from ingest.validate import event_schema, transform_sql


@dataclass(frozen=True)
class IngestPlan:
    """A mapping's settings, as one ingest run uses them.

    Attributes
    ----------
    mapping
        The mapping itself (for the transform query).
    fingerprint
        The mapping's fingerprint (:meth:`ingest.mapping.Mapping.fingerprint`), which keys
        the ingested files in the ingest state.
    header
        Column names of headerless CSV/TSV files, or ``None``.
    delimiter
        The CSV delimiter, or ``None`` to choose it by suffix.
    source_columns
        The source columns the logs must have (those the quarantine keeps as text).
    event_columns
        The canonical event columns, in event-table order (:func:`ingest.validate.event_schema`).
    now
        The run's start: events later than it plus the mapping's ``ts_max_future`` are
        quarantined (one bound for every file of the run).
    """

    mapping: Mapping
    fingerprint: str
    header: tuple[str, ...] | None
    delimiter: str | None
    source_columns: tuple[str, ...]
    event_columns: tuple[str, ...]
    now: datetime

    @classmethod
    def of(cls, mapping: Mapping, now: datetime | None = None) -> IngestPlan:
        """The plan of ``mapping`` for a run started at ``now`` (default: now)."""
        return cls(
            mapping=mapping,
            fingerprint=mapping.fingerprint(),
            header=mapping.header,
            delimiter=mapping.delimiter,
            source_columns=tuple(mapping.source_columns()),
            event_columns=tuple(event_schema(mapping).names),
            now=now or datetime.now(UTC),
        )

    def check_columns(self, path: Path) -> None:
        """Check that the file ``path`` has every mapped column (reads only its header).

        Raises
        ------
        ingest.mapping.MappingError
            When a mapped column is missing from the file.
        """
        found = source_columns(path, header=self.header, delimiter=self.delimiter)
        check_source_columns(self.mapping, found, str(path))

    def csv_view(
        self, con: duckdb.DuckDBPyConnection, path: Path, view: str, *, rejects: str,
        numbered: bool,
    ) -> list[str] | None:
        """The view ``view`` over the CSV file ``path``: :func:`ingest.readers.csv_source_view`
        with this plan's header and delimiter; returns the file's columns (``None``: a
        compression DuckDB cannot read)."""
        return csv_source_view(con, path, view, header=self.header, delimiter=self.delimiter,
                               rejects=rejects, numbered=numbered)

    def rejected_rows(
        self, con: duckdb.DuckDBPyConnection, rejects: str, path: Path, names: list[str]
    ) -> Chunk | None:
        """The rows DuckDB rejected while scanning ``path``, the file of columns ``names``
        (:func:`ingest.readers.rejected_csv_rows`)."""
        return rejected_csv_rows(con, rejects, path, names, self.source_columns, self.delimiter)

    def chunks(self, path: Path) -> Iterator[Chunk]:
        """The source columns of ``path`` in bounded chunks (:func:`ingest.readers.iter_chunks`)."""
        return iter_chunks(path, self.source_columns, header=self.header,
                           delimiter=self.delimiter)

    def transform(self, source: pa.Schema, table: str, *, keep_raw: bool = False) -> str:
        """The query mapping the view ``table`` (of source columns ``source``) to canonical
        events and ``_reason`` (:func:`ingest.validate.transform_sql`)."""
        return transform_sql(self.mapping, source, table=table, keep_raw=keep_raw, now=self.now)

    def csv_transform(self, names: list[str], table: str, *, keep_raw: bool = False) -> str:
        """:meth:`transform` for a CSV view whose columns ``names`` are all text."""
        return self.transform(pa.schema([(c, pa.string()) for c in names]), table,
                              keep_raw=keep_raw)
