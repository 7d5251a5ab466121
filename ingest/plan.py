"""What an ingest run needs from its mapping, worked out once and passed along.

The staging, fast-path and quarantine steps each read source files and turn their rows into
canonical events; an :class:`IngestPlan`, built once per run from the mapping, gives them the
reader settings, the source and event columns and the transform query, so that none of them
goes back to the mapping, :mod:`ingest.readers` and :mod:`ingest.validate` on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ingest.mapping import Mapping, MappingError, SourceSpec, check_source_columns, source_of
from ingest.readers import Chunk, csv_source_view, iter_chunks, rejected_csv_rows, source_columns
from ingest.validate import COMPACT_DATE_PATTERN, event_schema, transform_sql

log = logging.getLogger(__name__)
#: The share of a file's sampled times that must be ``%Y%m%d`` dates to stop the ingest.
COMPACT_DATE_SHARE = 0.9
#: Epoch seconds below this (11.6 days after 1970-01-01) are no real event's time: a file whose
#: sampled times all are is asked what its numbers count (:meth:`IngestPlan.check_columns`).
SMALL_EPOCH = 1_000_000
#: A number that reads as thousands grouped by ``.`` (``1.500``, ``12.250.000``): 1.5 with a
#: decimal point, 1500 with a decimal comma.
DOTTED_THOUSANDS = r"^[+-]?[1-9][0-9]{0,2}(\.[0-9]{3})+$"
#: How many sampled texts with a ``.`` must all be :data:`DOTTED_THOUSANDS` for a mapping that
#: does not say its ``decimal_mark`` to be refused.
DOTTED_THOUSANDS_MIN = 5


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
    events
        The mapping whose event schema the run writes: ``mapping`` itself, or with
        ``sources:`` the whole mapping (the union of the sources' columns).
    source
        The source of a ``sources:`` mapping this plan reads (``mapping`` is its own), or
        ``None``.
    """

    mapping: Mapping
    fingerprint: str
    header: tuple[str, ...] | None
    delimiter: str | None
    source_columns: tuple[str, ...]
    event_columns: tuple[str, ...]
    now: datetime
    events: Mapping | None = None
    source: SourceSpec | None = None

    @classmethod
    def of(cls, mapping: Mapping, now: datetime | None = None, *,
           source: SourceSpec | None = None) -> IngestPlan:
        """The plan of ``mapping`` for a run started at ``now`` (default: now); with
        ``source`` (one of ``mapping.sources``), the plan of that source's files."""
        own = source.mapping if source is not None else mapping
        return cls(
            mapping=own,
            fingerprint=source.fingerprint() if source is not None else mapping.fingerprint(),
            header=own.header,
            delimiter=own.delimiter,
            source_columns=tuple(own.source_columns()),
            event_columns=tuple(event_schema(mapping).names),
            now=now or datetime.now(UTC),
            events=mapping,
            source=source,
        )

    @property
    def label(self) -> str:
        """``source signups: `` for a source's plan (to start its messages), else empty."""
        return f"source {self.source.name}: " if self.source is not None else ""

    def check_columns(self, path: Path) -> None:
        """Check that the file ``path`` has every mapped column (reads its header), and that
        its first times are not ``%Y%m%d`` dates read without a ``timestamp_format``.

        Raises
        ------
        ingest.mapping.MappingError
            When a mapped column is missing from the file, or its times are compact dates.
        """
        found = source_columns(path, header=self.header, delimiter=self.delimiter)
        check_source_columns(self.mapping, found, f"{self.label}{path}")
        self._check_times(path)
        self._check_decimal_mark(path)

    def _first_rows(self, path: Path, columns: list[str], sample: int) -> Chunk | None:
        """The first chunk (up to about ``sample`` rows) of ``columns`` of ``path``, or ``None``
        for a file without rows."""
        chunks = iter_chunks(path, columns, header=self.header, delimiter=self.delimiter,
                             block_bytes=1 << 20, batch_rows=sample)
        try:
            return next(chunks, None)
        finally:
            chunks.close()

    def _check_decimal_mark(self, path: Path, sample: int = 1000) -> None:
        """Stop when the mapping does not say its ``decimal_mark`` and every one of (at least
        :data:`DOTTED_THOUSANDS_MIN`) texts with a ``.`` among the first ``sample`` values of
        the amount or a ``float`` attribute looks like thousands grouped by ``.`` (``1.500``,
        ``2.250``): a German export of whole amounts, 1000 times too small if read as 1.5,
        or a log of three decimals. Only the mapping can say which."""
        mapping = self.mapping
        columns = [c for c in ([mapping.columns["amount"]] if "amount" in mapping.columns else [])
                   + [a for a, kind in mapping.attributes.items()
                      if kind == "float" and a not in mapping.attribute_values]]
        if mapping.decimal_mark is not None or not columns:
            return
        first = self._first_rows(path, list(dict.fromkeys(columns)), sample)
        if first is None:
            return
        for column in dict.fromkeys(columns):
            values = first.table.column(column).slice(0, sample)
            if not pa.types.is_string(values.type):
                continue  # stored numbers carry no decimal mark
            texts = pc.utf8_trim_whitespace(values).drop_null()
            dotted = texts.filter(pc.match_substring(texts, "."))
            if (len(dotted) >= DOTTED_THOUSANDS_MIN and pc.all(
                    pc.match_substring_regex(dotted, DOTTED_THOUSANDS)).as_py()):
                examples = ", ".join(repr(v) for v in dotted.slice(0, 3).to_pylist())
                raise MappingError(
                    f"{mapping.path}: column {column!r} of {path} writes every number with a "
                    f"'.' as thousands grouped by it ({examples}, ... {len(dotted):,} of its "
                    f"first {len(texts):,} values): read with a decimal point they are 1000 "
                    "times smaller than with a decimal comma. Say which in the mapping: "
                    "'decimal_mark: \",\"' (1.500 is 1500) or 'decimal_mark: \".\"' (1.500 is "
                    "1.5)")

    def _check_times(self, path: Path, sample: int = 1000) -> None:
        """Stop when the first ``sample`` times of ``path`` are, and the mapping has no
        ``timestamp_format`` to say how to read them, (nearly all) ``%Y%m%d`` dates, or whole
        numbers all under :data:`SMALL_EPOCH` (a simulation's step, hours or days since its
        start): read as epoch seconds, the dates would all be in 1970 and the steps would
        crowd into the first days of 1970, every event within the lockstep window of the
        others. Decided per file from a sample, never per row: seconds since a log's start
        (``20000000 + 5003 i``) read as a date now and then, by chance."""
        mapping = self.mapping
        if mapping.timestamp_format is not None or mapping.row_order_times:
            return
        column = mapping.columns["ts"]
        first = self._first_rows(path, [column], sample)
        if first is None:
            return
        values = first.table.column(column).slice(0, sample)
        if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)
                or pa.types.is_string(values.type)):
            return
        texts = pc.utf8_trim_whitespace(values.cast(pa.string())).drop_null()
        texts = texts.filter(pc.not_equal(texts, ""))
        if not len(texts):
            return
        compact = pc.match_substring_regex(texts, COMPACT_DATE_PATTERN)
        if pc.sum(compact).as_py() >= COMPACT_DATE_SHARE * len(texts):
            examples = ", ".join(repr(v) for v in texts.slice(0, 3).to_pylist())
            raise MappingError(
                f"{mapping.path}: columns.ts {column!r} of {path} holds compact dates "
                f"({examples}, ...), which epoch seconds would place in 1970; set "
                "'timestamp_format: \"%Y%m%d\"' in the mapping (or 'timestamp_format: "
                "epoch_s' if they are seconds)"
            )
        numbers = pc.cast(texts, pa.float64(), safe=False) if _all_numbers(texts) else None
        if numbers is not None:  # 0 is a missing time (quarantined as `ts is epoch 0`)
            numbers = numbers.filter(pc.not_equal(numbers, 0.0))
        if numbers is not None and len(numbers) and pc.max(pc.abs(numbers)).as_py() < SMALL_EPOCH:
            low, high = pc.min(numbers).as_py(), pc.max(numbers).as_py()
            raise MappingError(
                f"{mapping.path}: columns.ts {column!r} of {path} holds small numbers ({low:g} "
                f"to {high:g} in its first {len(texts):,} rows): read as epoch seconds every "
                f"event would fall within {high / 3600:.3g} hours of 1970-01-01. If they count "
                "a simulation's steps, set 'timestamp_format: epoch_h' (hours) or 'epoch_d' "
                "(days); if they are seconds since the log's start, 'timestamp_format: epoch_s'"
            )

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
        return transform_sql(self.mapping, source, table=table, keep_raw=keep_raw, now=self.now,
                             events=self.events,
                             id_prefix=self.source.id_prefix if self.source else "")

    def csv_transform(self, names: list[str], table: str, *, keep_raw: bool = False) -> str:
        """:meth:`transform` for a CSV view whose columns ``names`` are all text."""
        return self.transform(pa.schema([(c, pa.string()) for c in names]), table,
                              keep_raw=keep_raw)


def source_plans(
    mapping: Mapping, files: Sequence[Path], now: datetime | None = None, *,
    stored: Collection[str] = (),
) -> list[IngestPlan]:
    """The plan of each of ``files``: that of the one source whose globs it matches (with
    ``sources:``), or the plan of ``mapping`` for every file.

    ``stored``: the sources whose files the store already holds; a later drop may lack their
    files (logged), while a source of neither the store nor the input is refused.

    Raises
    ------
    ingest.mapping.MappingError
        Before any work: a file matched by no source or by two, or a source matching no file
        (a typo in a glob must not drop a source's data silently).
    """
    now = now or datetime.now(UTC)
    if not mapping.sources:
        return [IngestPlan.of(mapping, now)] * len(files)
    plans = {s.name: IngestPlan.of(mapping, now, source=s) for s in mapping.sources}
    chosen = [plans[source_of(mapping, path).name] for path in files]
    used = {p.source.name for p in chosen if p.source is not None}
    unused = [s for s in mapping.sources if s.name not in used]
    for source in [s for s in unused if s.name in stored]:
        log.info("source %s: no new input file matches %s (the store holds its earlier files)",
                 source.name, ", ".join(source.files))
    unused = [s for s in unused if s.name not in stored]
    if unused and files:
        raise MappingError(
            f"{mapping.path}: source {unused[0].name}'s files ({', '.join(unused[0].files)}) "
            f"match none of the {len(files)} input files; fix the glob, or drop the source")
    return chosen


def check_input_columns(mapping: Mapping, files: Sequence[Path]) -> None:
    """Check, reading only headers, that every file of ``files`` has the columns its mapping
    (its source's, with ``sources:``) names, and that every source matches a file.

    Raises
    ------
    ingest.mapping.MappingError
        On the first file that lacks a column, or as :func:`source_plans` does.
    """
    for path, plan in zip(files, source_plans(mapping, files), strict=True):
        found = source_columns(path, header=plan.header, delimiter=plan.delimiter)
        check_source_columns(plan.mapping, found, f"{plan.label}{path}")


def _all_numbers(texts: pa.Array) -> bool:
    """Whether every text of ``texts`` is a plain decimal number."""
    return bool(pc.all(pc.match_substring_regex(texts, r"^-?[0-9]+(\.[0-9]+)?$")).as_py())
