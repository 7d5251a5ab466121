"""Event and entity labels files -> canonical event labels and entity labels.

Event labels (``--event-labels``, mapping section ``event_labels:``): ``event_id`` str,
``label`` int8 (1 = fraudulent), ``known_at`` (when the label became known). Entity labels
(``--entity-labels``, ``entity_labels:``): ``node_type`` str, ``entity_id`` str, ``label``,
``known_at``. Without a section, a file must have the canonical column names.

Read as account labels are (:mod:`ingest.labels`): ids trimmed as ingest trims them, rows with
an empty label value or id skipped and counted, other values not 0/1 (nor translated by
``values:``) an error naming the line, a ``known_at`` that is not a plausible time an error. An
id labelled more than once keeps one row, with the earliest ``known_at``; an id labelled both 0
and 1 is an error naming the lines (:class:`ContradictoryLabels`). An entity's ``node_type``
must be one of the graph's entity types (:func:`ingest.mapping.entity_node_types`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from ingest.engine import connect
from ingest.labels import (
    EMPTY_LABEL,
    LabelsError,
    check_label_times,
    check_label_values,
    label_sql,
    read_label_rows,
    skipped_lines,
    time_sql,
)
from ingest.mapping import (
    LabelsSpec,
    Mapping,
    MappingError,
    check_source_columns,
    entity_node_types,
)
from ingest.readers import source_columns
from ingest.sql import ident, literal

EVENT_LABELS_SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.string()),
        pa.field("label", pa.int8()),
        pa.field("known_at", pa.timestamp("us", tz="UTC")),
    ]
)
ENTITY_LABELS_SCHEMA = pa.schema(
    [
        pa.field("node_type", pa.string()),
        pa.field("entity_id", pa.string()),
        pa.field("label", pa.int8()),
        pa.field("known_at", pa.timestamp("us", tz="UTC")),
    ]
)
#: The sections used when a mapping has none: the canonical column names.
CANONICAL_EVENT_LABELS = LabelsSpec(columns={"event_id": "event_id", "label": "label"})
CANONICAL_ENTITY_LABELS = LabelsSpec(
    columns={"entity_id": "entity_id", "label": "label", "node_type": "node_type"}
)
#: How many contradicted ids a message lists.
_SHOWN = 5
_WHAT = {"event_labels": "event labels file", "entity_labels": "entity labels file"}


class ContradictoryLabels(LabelsError):
    """The same event or entity is labelled both 0 and 1."""


@dataclass(frozen=True)
class LevelLabelRows:
    """An event or entity labels file read by :func:`load_event_labels` /
    :func:`load_entity_labels`.

    Attributes
    ----------
    table
        The canonical labels (:data:`EVENT_LABELS_SCHEMA` or :data:`ENTITY_LABELS_SCHEMA`),
        one row per event or entity.
    without_label
        Rows with an id but an empty label value: skipped.
    without_id
        Rows with an empty id: skipped.
    lines_without_label
        The first few lines (file lines, header is line 1) of the rows without a label value.
    """

    table: pa.Table
    without_label: int = 0
    without_id: int = 0
    lines_without_label: tuple[int, ...] = ()

    @property
    def skipped(self) -> int:
        """Rows skipped for an empty label value or id."""
        return self.without_label + self.without_id


def _spec(mapping: Mapping | None, section: str) -> LabelsSpec:
    spec = mapping.label_section(section) if mapping is not None else None
    if spec is not None:
        return spec
    return CANONICAL_EVENT_LABELS if section == "event_labels" else CANONICAL_ENTITY_LABELS


def check_level_labels_file(
    path: str | os.PathLike[str], mapping: Mapping | None, section: str
) -> None:
    """Raise :class:`MappingError` unless the labels file has every column the mapping's
    ``section`` (``event_labels`` or ``entity_labels``) names (or the canonical ones)."""
    spec = _spec(mapping, section)
    found = source_columns(Path(path), header=spec.header, delimiter=spec.delimiter)
    if mapping is None or mapping.label_section(section) is None:
        missing = [c for c in spec.columns.values() if c not in found]
        if missing:
            where = "no mapping was given" if mapping is None else f"{mapping.path} has no"
            raise MappingError(
                f"{_WHAT[section]} {path} lacks column {missing[0]!r} and {where} "
                f"'{section}:' section to say which columns to use; its columns are: "
                f"{', '.join(map(repr, found))}"
            )
        return
    check_source_columns(mapping, found, str(path), section=section)


def load_event_labels(path: str | os.PathLike[str], mapping: Mapping | None) -> LevelLabelRows:
    """Read an event labels file into canonical event labels, one row per event.

    Parameters
    ----------
    path
        The file (any format :mod:`ingest.readers` reads).
    mapping
        Its ``event_labels`` section names the columns, ``values`` translation and constants;
        without one, the file must have ``event_id, label[, known_at]``.

    Returns
    -------
    LevelLabelRows
        The table (:data:`EVENT_LABELS_SCHEMA`, sorted by ``event_id``) and the rows skipped.

    Raises
    ------
    LabelsError
        A label that is neither 0/1 nor translated, or an implausible ``known_at``, naming the
        line; :class:`ContradictoryLabels` when an event is labelled both 0 and 1.
    """
    return _load(path, mapping, "event_labels", ("event_id",), EVENT_LABELS_SCHEMA)


def load_entity_labels(path: str | os.PathLike[str], mapping: Mapping | None) -> LevelLabelRows:
    """Read an entity labels file into canonical entity labels, one row per entity.

    Parameters
    ----------
    path
        The file (any format :mod:`ingest.readers` reads).
    mapping
        Its ``entity_labels`` section names the columns (``node_type`` a column or a constant),
        ``values`` translation and constants; without one, the file must have
        ``entity_id, label, node_type[, known_at]``. Its ``entities:`` add node types.

    Returns
    -------
    LevelLabelRows
        The table (:data:`ENTITY_LABELS_SCHEMA`, sorted by ``node_type, entity_id``) and the
        rows skipped.

    Raises
    ------
    LabelsError
        As :func:`load_event_labels`, and for a ``node_type`` that is not an entity type of the
        graph (naming the line and the allowed types).
    """
    return _load(path, mapping, "entity_labels", ("node_type", "entity_id"), ENTITY_LABELS_SCHEMA)


def _load(
    path: str | os.PathLike[str],
    mapping: Mapping | None,
    section: str,
    keys: tuple[str, ...],
    schema: pa.Schema,
) -> LevelLabelRows:
    check_level_labels_file(path, mapping, section)
    spec = _spec(mapping, section)
    table = read_label_rows(path, spec)
    if table is None:
        return LevelLabelRows(schema.empty_table())
    ident_column = keys[-1]
    prefix = f"{literal(spec.id_prefix)} || " if spec.id_prefix else ""
    selected = [f"{prefix}{_text(spec, ident_column)} AS {ident_column}"]
    if "node_type" in keys:
        selected.append(f"{_text(spec, 'node_type')} AS node_type")
    raw, label = label_sql(spec)
    ts, ts_raw = time_sql(table, spec, "known_at")
    what = _WHAT[section]
    con = connect()
    try:
        con.register("labels_raw", table)
        con.execute(
            f"CREATE TEMP TABLE parsed AS SELECT {', '.join(selected)}, {label} AS label, "
            f"{raw} AS raw, {ts} AS ts, {ts_raw} AS ts_raw, _line FROM labels_raw"
        )
        check_label_times(con, path, mapping, what=what, key=f"{section}.known_at")
        check_label_values(con, path, id_column=ident_column, what=what, section=section)
        if "node_type" in keys:
            _check_node_types(con, path, mapping)
        without_label, without_id, lines = skipped_lines(con, ident_column)
        con.execute(f"DELETE FROM parsed WHERE {ident_column} IS NULL OR ({EMPTY_LABEL})")
        _check_contradictions(con, path, keys, what)
        group = ", ".join(keys)
        result = con.sql(
            f"SELECT {group}, CAST(max(label) AS TINYINT) AS label, min(ts) AS known_at "
            f"FROM parsed GROUP BY {group} ORDER BY {group}"
        ).to_arrow_table()
    finally:
        con.close()
    return LevelLabelRows(result.cast(schema), without_label, without_id, lines)


def _text(spec: LabelsSpec, name: str) -> str:
    """SQL of a trimmed, non-empty text column (or the section's constant)."""
    if name in spec.constants:
        return literal(str(spec.constants[name]))
    return f"NULLIF(trim(CAST({ident(spec.columns[name])} AS VARCHAR)), '')"


def _check_node_types(
    con: duckdb.DuckDBPyConnection, path: str | os.PathLike[str], mapping: Mapping | None
) -> None:
    allowed = mapping.entity_node_types() if mapping is not None else entity_node_types()
    bad = con.execute(
        "SELECT min(_line), node_type FROM parsed WHERE entity_id IS NOT NULL AND "
        f"coalesce(node_type, '') NOT IN ({', '.join(literal(t) for t in allowed)}) "
        "GROUP BY node_type ORDER BY min(_line) LIMIT 1"
    ).fetchall()
    if bad:
        line, node_type = bad[0]
        raise LabelsError(
            f"entity labels file {path}, line {line}: node_type {node_type!r} is not a node type "
            f"of the graph; allowed: {', '.join(allowed)} (an extra type needs its column under "
            "the mapping's 'entities:'; account labels go in the --labels file)"
        )


def _check_contradictions(
    con: duckdb.DuckDBPyConnection,
    path: str | os.PathLike[str],
    keys: tuple[str, ...],
    what: str,
) -> None:
    group = ", ".join(keys)
    clashes = con.execute(
        f"SELECT {group}, list(_line ORDER BY _line) FILTER (label = 1), "
        f"list(_line ORDER BY _line) FILTER (label = 0), count(*) OVER () FROM parsed "
        f"GROUP BY {group} HAVING min(label) <> max(label) ORDER BY min(_line) LIMIT {_SHOWN}"
    ).fetchall()
    if not clashes:
        return
    described = []
    for row in clashes:
        name = ":".join(str(v) for v in row[: len(keys)])
        ones, zeros = row[len(keys)], row[len(keys) + 1]
        described.append(f"{name!r} is 1 on line{'s' if len(ones) > 1 else ''} "
                         f"{', '.join(map(str, ones[:3]))} and 0 on line"
                         f"{'s' if len(zeros) > 1 else ''} {', '.join(map(str, zeros[:3]))}")
    total = clashes[0][-1]
    more = f" (and {total - len(clashes):,} more)" if total > len(clashes) else ""
    raise ContradictoryLabels(
        f"{what} {path}: {total:,} contradictory label{'s' if total != 1 else ''}, the same "
        f"{'event' if keys == ('event_id',) else 'entity'} labelled both 1 and 0: "
        + "; ".join(described) + more
        + ". Keep one label per id (repeating the same label is fine)"
    )
