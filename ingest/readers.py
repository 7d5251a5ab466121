"""Streamed readers for interaction logs: CSV/TSV (plain or gzip), Parquet and JSON lines.

Inputs may be files, directories (searched recursively for known suffixes) or glob patterns.
Every reader yields :class:`Chunk` objects of bounded size holding the requested source columns,
so memory stays flat whatever the input size, and remembers each row's line number (CSV, JSON
lines: the physical line in the file, assuming no line breaks inside quoted CSV fields; Parquet:
the 1-based row number) for the quarantine.

CSV and JSON-lines values are read as strings: typing and validation happen afterwards, in one
vectorised pass (:mod:`ingest.validate`), so one odd value can never abort a whole file. A CSV
row with the wrong number of fields, or a JSON line that is not an object, comes out with a
per-row reader error (:attr:`Chunk.errors`) so that it is quarantined while the rest of the file
is read.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from ingest.sql import ident, literal

#: Suffixes a directory search picks up, and the format each means.
FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
COMPRESSIONS = (".gz", ".bz2", ".zst", ".lz4")
DEFAULT_BLOCK_BYTES = 32 << 20
DEFAULT_BATCH_ROWS = 1 << 20
_BOM = b"\xef\xbb\xbf"
#: How deep the keys of nested JSON objects are offered as dotted column names.
NESTED_DEPTH = 4
#: Reason given to JSON lines that are not a JSON object.
MALFORMED_JSON = "malformed JSON"
#: Reason given to CSV rows with more or fewer fields than the header.
WRONG_COLUMN_COUNT = "wrong number of columns"


class InputError(ValueError):
    """An input path matches no file, or a file cannot be read."""


@dataclass(frozen=True)
class Chunk:
    """A bounded slice of one source file.

    Attributes
    ----------
    table
        The requested source columns (strings for CSV and JSON lines, stored types for Parquet).
    lines
        int64 line (or row) number of each row in its file.
    errors
        Per-row reason the reader could not parse the row (null when fine), or ``None``.
    """

    table: pa.Table
    lines: pa.Array
    errors: pa.Array | None = None


def resolve_inputs(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Expand files, directories and glob patterns into a sorted, de-duplicated file list.

    The paths are absolute as given, links not followed (a ``sources:`` glob is matched
    against the name the user gave: ``in/logins.csv``, not the link's target); a file reached
    twice (through a link) is listed once.

    Raises
    ------
    InputError
        When an input matches nothing, or a directory holds no log files.
    """
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            files = sorted(
                p for p in path.rglob("*")
                if p.is_file() and not _hidden(p.relative_to(path)) and _known(p)
            )
            if not files:
                raise InputError(
                    f"directory {path} holds no log files (looked for {', '.join(FORMATS)}, "
                    "optionally .gz)"
                )
            found.extend(files)
        else:
            matches = sorted(Path(p) for p in glob.glob(str(item), recursive=True))
            matches = [p for p in matches if p.is_file()]
            if not matches:
                raise InputError(f"input {item} is not a file or directory and matches no file")
            found.extend(matches)
    unique: dict[Path, Path] = {}  # a file reached twice (a link) is read once
    for path in found:
        unique.setdefault(path.resolve(), Path(os.path.abspath(path)))
    return list(unique.values())


def file_format(path: Path) -> str:
    """``csv``, ``parquet`` or ``jsonl``: by suffix (compression suffixes skipped), else sniffed.

    A file named without a known suffix (``metadata.gz``, ``export``) is told by its first
    bytes (decompressed by its compression suffix): Parquet's magic ``PAR1``, a JSON object
    ``{`` for JSON lines, other text for CSV.

    Raises
    ------
    InputError
        When the file's name says nothing and its first bytes are not text.
    """
    return _suffix_format(path) or _sniff_format(path)


def _suffix_format(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes]
    while suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes.pop()
    return FORMATS.get(suffixes[-1]) if suffixes else None


def _sniff_format(path: Path, size: int = 4096) -> str:
    try:
        with open(path, "rb") as fh:
            if fh.read(4) == b"PAR1":
                return "parquet"
        with pa.input_stream(str(path), compression="detect") as stream:
            head = stream.read(size)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    if b"\0" in head:
        raise InputError(
            f"{path}: unknown file type (neither text nor Parquet); name it .csv, .tsv, "
            ".parquet or .jsonl (optionally .gz)"
        )
    start = head.removeprefix(_BOM).lstrip()[:1]
    return "jsonl" if start in (b"{", b"[") else "csv"


def file_checksum(path: Path, block: int = 8 << 20) -> str:
    """SHA-256 of the file's bytes, hex (identifies a file's content whatever its name)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while data := fh.read(block):
            digest.update(data)
    return digest.hexdigest()


def source_columns(
    path: Path, *, header: Sequence[str] | None = None, delimiter: str | None = None
) -> list[str]:
    """The column names of a source file, read cheaply (header, Parquet schema, first lines).

    Raises
    ------
    InputError
        When the file cannot be opened or parsed.
    """
    fmt = file_format(path)
    try:
        if fmt == "parquet":
            return list(pq.ParquetFile(path).schema_arrow.names)
        if fmt == "jsonl":
            return _json_keys(path)
        if header is not None:
            return list(header)
        parse = _csv_parse(path, delimiter)
        parse.invalid_row_handler = _skip  # ragged rows are the reader's business, not ours
        reader = pcsv.open_csv(
            pa.input_stream(str(path), compression="detect"),
            read_options=pcsv.ReadOptions(block_size=1 << 20),
            parse_options=parse,
            convert_options=pcsv.ConvertOptions(column_types={}, include_columns=[]),
        )
        names = list(reader.schema.names)
        reader.close()
    except UnicodeDecodeError:
        raise InputError(_not_utf8(path)) from None
    except (OSError, pa.ArrowException, duckdb.Error) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        where = [i + 1 for i, n in enumerate(names) if n == twice[0]]
        raise InputError(f"{path}: its header names column {twice[0]!r} more than once "
                         f"(columns {', '.join(map(str, where))}); rename all but one in the "
                         "file, so that each column has a name of its own")
    return names


def _not_utf8(path: Path) -> str:
    """Why ``path``'s header could not be read as UTF-8 text, and how to convert it."""
    with pa.input_stream(str(path), compression="detect") as stream:
        head = stream.read(4)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return (f"{path} is UTF-16 text (it starts with a UTF-16 byte order mark, as Excel's "
                "'Unicode text' writes); logs must be UTF-8: convert it, e.g. "
                f"iconv -f UTF-16 -t UTF-8 {path.name} > {path.stem}-utf8{path.suffix}")
    return (f"{path} is not UTF-8 text in its header; logs must be UTF-8: convert it from its "
            f"encoding, e.g. iconv -f CP1252 -t UTF-8 {path.name} > {path.stem}-utf8{path.suffix} "
            "(CP1252 / Latin-1: Windows and Excel exports in Western Europe)")


def iter_chunks(
    path: Path,
    columns: Sequence[str],
    *,
    header: Sequence[str] | None = None,
    delimiter: str | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Iterator[Chunk]:
    """Stream ``columns`` of the file at ``path`` in bounded chunks.

    Parameters
    ----------
    path
        A CSV/TSV (optionally compressed), Parquet or JSON-lines file.
    columns
        Source columns to read; others are skipped without being parsed.
    header
        Column names for a headerless CSV/TSV file.
    delimiter
        CSV delimiter; default tab for ``.tsv`` and comma otherwise.
    block_bytes
        CSV / JSON-lines block size (bounds memory per chunk).
    batch_rows
        Parquet rows per chunk.

    Yields
    ------
    Chunk
        Consecutive slices of the file, in file order.
    """
    fmt = file_format(path)
    try:
        if fmt == "parquet":
            yield from _parquet_chunks(path, columns, batch_rows)
        elif fmt == "jsonl":
            yield from _json_chunks(path, columns, block_bytes)
        else:
            yield from _csv_chunks(path, columns, header, delimiter, block_bytes)
    except pa.ArrowException as exc:
        raise InputError(f"cannot read {path}: {exc}") from None


def csv_scan_sql(
    path: Path,
    names: Sequence[str],
    *,
    header: bool,
    delimiter: str | None,
    rejects: str,
    numbered: bool = True,
) -> str | None:
    """A DuckDB query reading the CSV file ``path`` with DuckDB's parallel CSV reader.

    The query returns every column of ``names`` as text (null when empty) and ``_line``. With
    ``numbered``, ``_line`` is the row's line number counted over the rows DuckDB accepted
    (exact when no row is rejected, which :func:`rejected_csv_rows` corrects for), and the
    query must run with ``preserve_insertion_order = true`` so rows keep their file order
    (which keeps DuckDB to about one core). Without it ``_line`` is null and rows come in any
    order, in parallel. Rows DuckDB rejects
    (wrong number of columns, invalid UTF-8, ...) go to the table ``<rejects>_errors``, for
    :func:`rejected_csv_rows`. ``None`` when DuckDB cannot read the file's compression
    (bz2, lz4), so the caller falls back to :func:`iter_chunks`.
    """
    compression = _duckdb_compression(path)
    if compression is None:
        return None
    columns = "{" + ", ".join(f"{literal(n)}: 'VARCHAR'" for n in names) + "}"
    scan = (
        f"read_csv({literal(str(path))}, columns = {columns}, header = {literal(header)}, "
        f"delim = {literal(_csv_parse(path, delimiter).delimiter)}, quote = '\"', "
        f"escape = '\"', auto_detect = false, compression = {literal(compression)}, "
        f"store_rejects = true, rejects_table = {literal(rejects + '_errors')}, "
        f"rejects_scan = {literal(rejects + '_scans')})"
    )
    if not numbered:
        return f"SELECT *, CAST(NULL AS BIGINT) AS _line FROM {scan}"
    first_line = 2 if header else 1
    return f"SELECT *, row_number() OVER () + {first_line - 1} AS _line FROM {scan}"


def csv_source_view(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    view: str,
    *,
    header: Sequence[str] | None,
    delimiter: str | None,
    rejects: str,
    numbered: bool,
) -> list[str] | None:
    """Create the temporary view ``view`` over the CSV file ``path``: its columns as text,
    ``_line`` and a null ``_error`` (see :func:`csv_scan_sql`).

    ``header`` is the mapping's list of column names for a file without a header row (``None``:
    the file's first row names them). Returns the column names, or ``None`` when DuckDB cannot
    read the file's compression.
    """
    names = source_columns(path, header=header, delimiter=delimiter)
    scan = csv_scan_sql(path, names, header=header is None, delimiter=delimiter,
                        rejects=rejects, numbered=numbered)
    if scan is None:
        return None
    con.execute(f"CREATE OR REPLACE TEMP VIEW {ident(view)} AS SELECT *, "
                f"CAST(NULL AS VARCHAR) AS _error FROM ({scan})")
    return names


def rejected_csv_rows(
    con: duckdb.DuckDBPyConnection,
    rejects: str,
    path: Path,
    names: Sequence[str],
    columns: Sequence[str],
    delimiter: str | None,
) -> Chunk | None:
    """The rows DuckDB rejected in a :func:`csv_scan_sql` scan, as one erroneous chunk.

    Their fields are split from the rejected line's text (for the quarantine); the reason is
    :data:`WRONG_COLUMN_COUNT` or ``unreadable CSV row (<DuckDB's error>)``. The reject
    tables are dropped. ``None`` when nothing was rejected.
    """
    rows = con.execute(
        f"SELECT line, arg_min(CAST(error_type AS VARCHAR), column_idx), "
        f"arg_min(csv_line, column_idx) FROM {ident(rejects + '_errors')} "
        "GROUP BY line ORDER BY line"
    ).fetchall()
    for table in ("_errors", "_scans"):
        con.execute(f"DROP TABLE IF EXISTS {ident(rejects + table)}")
    if not rows:
        return None
    reasons = [
        WRONG_COLUMN_COUNT if error in ("MISSING COLUMNS", "TOO MANY COLUMNS")
        else f"unreadable CSV row ({error.lower()})"
        for _, error, _ in rows
    ]
    lines = [(int(line), text.strip("\r\n")) for line, _, text in rows]
    splitter = _RaggedRows(list(names), columns, _csv_parse(path, delimiter).delimiter)
    return splitter.chunk(lines, reasons)


def shifted_lines(lines: np.ndarray, first: int, skipped: np.ndarray) -> np.ndarray:
    """True line numbers of rows numbered ``lines`` as if the ``skipped`` lines were absent.

    ``first`` is the line of the first row; ``skipped`` the sorted lines left out.
    """
    # The i-th skipped line comes before the good row of index (its line - first - i).
    before = skipped - first - np.arange(len(skipped))
    return lines + np.searchsorted(before, lines - first, side="right")


def _csv_chunks(
    path: Path,
    columns: Sequence[str],
    header: Sequence[str] | None,
    delimiter: str | None,
    block_bytes: int,
) -> Iterator[Chunk]:
    parse = _csv_parse(path, delimiter)
    ragged = _RaggedRows(list(header) if header else source_columns(path, delimiter=delimiter),
                         columns, parse.delimiter)
    parse.invalid_row_handler = ragged.keep
    reader = pcsv.open_csv(
        pa.input_stream(str(path), compression="detect"),
        # One thread: the reader then tells each ragged row's line number.
        read_options=pcsv.ReadOptions(
            block_size=block_bytes, column_names=list(header) if header else None,
            use_threads=False,
        ),
        parse_options=parse,
        convert_options=pcsv.ConvertOptions(
            include_columns=list(columns),
            column_types={c: pa.string() for c in columns},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    next_line = 1 if header else 2
    for batch in reader:
        n = batch.num_rows
        if n:
            lines = ragged.good_lines(next_line, n)
            yield Chunk(pa.Table.from_batches([batch]), pa.array(lines))
            next_line = int(lines[-1]) + 1
        if (bad := ragged.take(before=next_line)) is not None:
            yield bad
    if (bad := ragged.take()) is not None:
        yield bad


class _RaggedRows:
    """CSV rows with the wrong number of fields, kept (with their line) for the quarantine.

    The CSV reader skips such a row and reports it here before it hands out the batch that
    follows it, so the good rows' line numbers can be worked out around the skipped ones.
    Assumes, like all CSV line numbers here, no line breaks inside quoted fields.
    """

    def __init__(self, names: list[str], columns: Sequence[str], delimiter: str) -> None:
        self._names, self._columns, self._delimiter = names, list(columns), delimiter
        self._rows: list[tuple[int, str]] = []

    def keep(self, row: pcsv.InvalidRow) -> str:
        self._rows.append((row.number, row.text))
        return "skip"

    def good_lines(self, start: int, n: int) -> np.ndarray:
        """Lines of the next ``n`` good rows from line ``start`` on, skipping ragged lines."""
        skipped = np.array(sorted(line for line, _ in self._rows if line >= start), np.int64)
        return shifted_lines(np.arange(start, start + n, dtype=np.int64), start, skipped)

    def take(self, before: int | None = None) -> Chunk | None:
        """The kept rows above line ``before`` (all when ``None``), as one erroneous chunk."""
        rows = sorted(r for r in self._rows if before is None or r[0] < before)
        self._rows = [r for r in self._rows if before is not None and r[0] >= before]
        return self.chunk(rows, [WRONG_COLUMN_COUNT] * len(rows)) if rows else None

    def chunk(self, rows: list[tuple[int, str]], reasons: list[str]) -> Chunk:
        """``(line, text)`` rows with their ``reasons``, fields split from the text."""
        values: dict[str, list[str | None]] = {c: [] for c in self._columns}
        for _, text in rows:
            fields = dict(zip(self._names, next(csv.reader([text], delimiter=self._delimiter),
                                                []), strict=False))
            for c in self._columns:
                values[c].append(fields.get(c))
        table = pa.table({c: pa.array(v, pa.string()) for c, v in values.items()})
        return Chunk(table, pa.array([line for line, _ in rows], pa.int64()),
                     pa.array(reasons, pa.string()))


def _parquet_chunks(path: Path, columns: Sequence[str], batch_rows: int) -> Iterator[Chunk]:
    next_row = 1
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows, columns=list(columns)):
        n = batch.num_rows
        if n:
            yield Chunk(pa.Table.from_batches([batch]), _line_numbers(next_row, n))
        next_row += n


def _json_chunks(path: Path, columns: Sequence[str], block_bytes: int) -> Iterator[Chunk]:
    """JSON lines read as raw text lines, then fields extracted by DuckDB as strings.

    Reading each line as text first keeps exact line numbers and lets a malformed line or a
    field whose type varies between lines be quarantined instead of aborting the file. A file
    holding one JSON array (``[{...}, {...}]``, one line or pretty-printed) gives its elements
    as the lines, numbered from 1 like Parquet rows (:func:`_json_array_elements`).
    """
    reader: Iterator[pa.RecordBatch]
    if _is_json_array(path):
        reader = _json_array_elements(path, max(1024, block_bytes // 512))
    else:
        reader = pcsv.open_csv(
            pa.input_stream(str(path), compression="detect"),
            read_options=pcsv.ReadOptions(
                block_size=block_bytes, column_names=["line"], use_threads=True
            ),
            parse_options=pcsv.ParseOptions(
                delimiter="\x1f", quote_char=False, escape_char=False, ignore_empty_lines=False
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={"line": pa.string()}, strings_can_be_null=False
            ),
        )
    con = duckdb.connect()
    # Only valid JSON objects reach the json_* functions (they raise on anything else).
    fields = ", ".join(f"{_json_field(c)} AS {ident(c)}" for c in columns)
    sql = (
        f"SELECT {fields}, line_no, CASE WHEN obj IS NULL THEN {literal(MALFORMED_JSON)} END "
        "AS error FROM (SELECT line_no, CASE WHEN json_type(valid) = 'OBJECT' THEN valid END "
        "AS obj FROM (SELECT line_no, CASE WHEN json_valid(line) THEN line END AS valid "
        "FROM lines WHERE trim(line) <> ''))"
    )
    next_line = 1
    try:
        for batch in reader:
            n = batch.num_rows
            lines = pa.table({"line": batch.column(0), "line_no": _line_numbers(next_line, n)})
            next_line += n
            con.register("lines", lines)
            out = con.sql(sql).to_arrow_table()
            con.unregister("lines")
            if out.num_rows:
                yield Chunk(
                    out.select(list(columns)),
                    out.column("line_no").combine_chunks(),
                    out.column("error").combine_chunks(),
                )
    finally:
        con.close()


def _is_json_array(path: Path, size: int = 4096) -> bool:
    """Whether the file's first character (past a byte-order mark and blanks) is ``[``."""
    with pa.input_stream(str(path), compression="detect") as stream:
        head = stream.read(size)
    return head.removeprefix(_BOM).lstrip()[:1] == b"["


def _json_array_elements(path: Path, rows: int, limit: int | None = None
                         ) -> Iterator[pa.RecordBatch]:
    """The elements of the JSON array in ``path`` as JSON text (column ``line``), in file order,
    ``rows`` a batch (DuckDB's ``read_json_objects``, streamed); the first ``limit`` only."""
    con = duckdb.connect()
    try:
        sql = (f"SELECT json AS line FROM read_json_objects({literal(str(path))}, "
               "format = 'array')" + (f" LIMIT {int(limit)}" if limit is not None else ""))
        yield from con.sql(sql).to_arrow_reader(rows)
    except duckdb.Error as exc:
        raise InputError(f"cannot read {path} as a JSON array: {exc}") from None
    finally:
        con.close()


def _json_keys(path: Path, sample_bytes: int = 1 << 20) -> list[str]:
    """Keys of the JSON objects in the first ``sample_bytes`` of a JSON-lines file (of a JSON
    array: its first 1,000 elements), with the dotted paths of nested objects' keys
    (``user.id`` for ``{"user": {"id": ...}}``)."""
    if _is_json_array(path):
        lines = [v for batch in _json_array_elements(path, 1000, limit=1000)
                 for v in batch.column(0).to_pylist()]
    else:
        with pa.input_stream(str(path), compression="detect") as stream:
            head = stream.read(sample_bytes).decode("utf-8", errors="replace")
        head = head.removeprefix("\ufeff")
        lines = [ln for ln in head.splitlines()[:-1] or head.splitlines() if ln.strip()]
    keys: set[str] = set()
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            keys.update(_key_paths(obj, "", NESTED_DEPTH))
    return sorted(keys)


def _key_paths(obj: dict, prefix: str, depth: int) -> Iterator[str]:
    for key, value in obj.items():
        path = f"{prefix}{key}"
        yield path
        if depth > 1 and isinstance(value, dict):
            yield from _key_paths(value, f"{path}.", depth - 1)


def _csv_parse(path: Path, delimiter: str | None) -> pcsv.ParseOptions:
    if delimiter is None:
        suffixes = [s.lower() for s in path.suffixes]
        delimiter = "\t" if ".tsv" in suffixes else ","
    return pcsv.ParseOptions(delimiter=delimiter)


def _duckdb_compression(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix not in COMPRESSIONS:
        return "none"
    return {".gz": "gzip", ".zst": "zstd"}.get(suffix)


def _skip(row: pcsv.InvalidRow) -> str:
    return "skip"


def _line_numbers(start: int, n: int) -> pa.Array:
    return pa.array(np.arange(start, start + n, dtype=np.int64))


def _known(path: Path) -> bool:
    return _suffix_format(path) is not None


def _hidden(rel: Path) -> bool:
    return any(part.startswith((".", "_")) for part in rel.parts)


def _json_path(*keys: str) -> str:
    return literal("$." + ".".join('"' + k.replace('"', '\\"') + '"' for k in keys))


def _json_field(column: str) -> str:
    """SQL of a JSON object's field ``column`` as text: the key itself, else, for a dotted name,
    the nested path (``user.id``: ``$."user"."id"``)."""
    field = f"json_extract_string(obj, {_json_path(column)})"
    if "." not in column:
        return field
    return f"coalesce({field}, json_extract_string(obj, {_json_path(*column.split('.'))}))"
