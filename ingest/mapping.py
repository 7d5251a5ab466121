"""The mapping file: how a team's log columns become canonical event columns.

A mapping is a small YAML file (see ``ARCHITECTURE.md``)::

    columns:            # canonical name: source column
      account_id: uid
      ts: when
      event_type: action
    constants:          # canonical name: fixed value, for a column the source lacks
      event_type: purchase
    timestamp_format: "%Y-%m-%d %H:%M:%S"   # optional; ISO-8601, epoch s / ms / us / ns detected
    timezone: America/New_York              # optional: zone of times that carry none (default UTC)
    timestamps:         # optional: the plausible times; rows outside are quarantined
      min: 1970-01-01                       # earliest (UTC; default 1970-01-01, >= 1000-01-01)
      max_future: 1 day                     # latest, after the run's start (default; null: none)
      missing: row_order                    # logs without times: line n at n hours after 1970
    header: [uid, when, action]             # optional: column names of headerless CSV/TSV files
    delimiter: "\\t"                        # optional: CSV delimiter (default: by file suffix)
    decimal_mark: ","                       # optional: amounts and float attributes written
                                            #   1.234,56 (default "."; DuckDB engine)
    entities:           # optional: extra linked-entity types, node type: source column
      Email: email      #   -> node type Email, relation USED_EMAIL, event column email_id
      Address: {column: street, relation: LIVES_AT}
    attributes:         # optional: extra source columns kept on events, name: float | string
      rating: float
      result: {values: {success: 0, bad_password: 1}}   # text -> number: a float attribute
      outcome: {values: {ok: 0, wrong_password: 1, locked: 2}, failed: [wrong_password, locked]}
                        #   failed: the texts that are failed attempts (the ring search reads them)
      user_agent: {type: string, featurize: false}     # a text kept, never made features
    labels:             # optional: the labels file's columns
      account_id: uid
      label: label
      ts: flagged_at                        # optional
      header: [uid, label]                  # optional, for headerless label files
      values: {"-1": 1, "+1": 0}            # optional: source label value -> 0/1
      constants: {label: 1}                 # optional: e.g. a file that lists only abusers
    event_labels:       # optional: the event labels file's columns (same optional keys)
      event_id: txn_id
      label: is_fraud
      known_at: reported_at                 # optional: when the label became known
    entity_labels:      # optional: the entity labels file's columns (same optional keys)
      entity_id: terminal
      label: compromised
      constants: {node_type: Terminal}      # or node_type: <column>

Logs that come as several files in different schemas take ``sources:`` instead of the event
keys above (the labels sections stay at the top)::

    sources:
      signups:                              # the source's name (prefixes its event ids)
        files: "signups*.csv"               # glob(s) matched against the end of each file's path
        columns: {account_id: user, ts: created, device_id: device}
        constants: {event_type: signup}
      payments:
        files: ["payments/*.parquet", "payments*.csv"]
        columns: {account_id: payer, ts: paid_at, payment_id: card, amount: amount}
        constants: {event_type: payment}
        entities: {Merchant: shop}

Each source takes every event key of a one-source mapping (``columns``, ``constants``,
``timestamp_format``, ``timestamps``, ``timezone``, ``header``, ``delimiter``, ``decimal_mark``,
``entities``,
``attributes``); a list of sources names each with ``name:``. The events carry the union of the
sources' entity and attribute columns (null where a source lacks one), and every ``event_id`` is
``<source>:<id>`` so that two sources numbering their rows alike keep both; an event labels
file of one source's ids says so with ``event_labels: {source: payments, ...}``.

:func:`load_mapping` checks everything it can without reading data (unknown keys, missing
required columns, bad types) and raises :class:`MappingError` naming the key and the file;
:func:`check_source_columns` checks the mapping against a data file's columns.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path, PurePath
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

#: Canonical event columns (ARCHITECTURE.md) and whether each is required.
CANONICAL_COLUMNS: dict[str, bool] = {
    "event_id": False,
    "ts": True,
    "account_id": True,
    "event_type": True,
    "device_id": False,
    "ip": False,
    "payment_id": False,
    "counterparty_id": False,
    "amount": False,
}
#: Canonical labels columns and whether each is required.
LABEL_COLUMNS: dict[str, bool] = {"account_id": True, "label": True, "ts": False}
#: Canonical event labels columns and whether each is required.
EVENT_LABEL_COLUMNS: dict[str, bool] = {"event_id": True, "label": True, "known_at": False}
#: Canonical entity labels columns and whether each is required.
ENTITY_LABEL_COLUMNS: dict[str, bool] = {
    "entity_id": True, "label": True, "node_type": True, "known_at": False,
}
#: The three labels sections of a mapping: section -> (its canonical columns, the columns a
#: ``constants:`` entry may fix).
LABEL_SECTIONS: dict[str, tuple[dict[str, bool], tuple[str, ...]]] = {
    "labels": (LABEL_COLUMNS, ("label",)),
    "event_labels": (EVENT_LABEL_COLUMNS, ("label",)),
    "entity_labels": (ENTITY_LABEL_COLUMNS, ("label", "node_type")),
}
#: Attribute types a mapping may declare.
ATTRIBUTE_TYPES = ("float", "string")
#: Built-in node types and relations (graph/snapshot.py); an extra entity may not reuse them.
BUILTIN_NODE_TYPES = ("Account", "Device", "IP", "PaymentMethod")
BUILTIN_RELATIONS = ("USED_DEVICE", "USED_IP", "PAID_WITH", "TRANSACTED_WITH")

_EVENT_KEYS = (
    "columns", "constants", "timestamp_format", "timestamps", "timezone", "header", "delimiter",
    "decimal_mark", "entities", "attributes",
)
_TOP_KEYS = (*_EVENT_KEYS, "labels", "event_labels", "entity_labels", "sources")
#: ``timestamp_format`` values that force an epoch unit instead of a strftime pattern: how many
#: of the unit a second holds.
EPOCH_FORMATS = {"epoch_s": 1.0, "epoch_ms": 1e3, "epoch_us": 1e6, "epoch_ns": 1e9,
                 "epoch_h": 1 / 3600, "epoch_d": 1 / 86400}
#: Default earliest plausible event time: a time before it is quarantined.
TS_MIN = datetime(1970, 1, 1, tzinfo=UTC)
#: Earliest ``timestamps.min`` a mapping may set. DuckDB reads ``1/1/15`` as the year 1, so
#: every time before this bound is such a misread and is never let through.
TS_MIN_FLOOR = datetime(1000, 1, 1, tzinfo=UTC)
#: With ``timestamps: {missing: row_order}``, the seconds between consecutive lines' times: an
#: hour, the ring search's lockstep window, so neighbouring lines never act "together".
ROW_ORDER_STEP_S = 3600
#: Default of how far after the run's start an event may lie (clock skew, time zones).
TS_MAX_FUTURE = timedelta(days=1)
_DURATION = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs?|seconds?|m|min|mins?|minutes?|h|hours?|d|days?|"
    r"w|weeks?)\s*$"
)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_LABEL_OPTIONS = ("header", "delimiter", "values", "constants", "timestamp_format")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class MappingError(ValueError):
    """A mapping file is invalid, or does not fit the data it is applied to."""


@dataclass(frozen=True)
class EntitySpec:
    """An extra linked-entity type added by a mapping.

    Attributes
    ----------
    node_type
        Node type name in the graph (``Email``).
    source
        Column of the source logs holding the entity's id.
    relation
        Relation from ``Account`` to the entity (default ``USED_<NODE_TYPE>``).
    """

    node_type: str
    source: str
    relation: str

    @property
    def event_column(self) -> str:
        """Column of the canonical events holding this entity's id (``email_id``)."""
        return f"{snake_case(self.node_type)}_id"


@dataclass(frozen=True)
class LabelsSpec:
    """How a labels file maps to its canonical columns.

    The same for the three levels: ``account_id, label[, ts]`` (``labels:``),
    ``event_id, label[, known_at]`` (``event_labels:``) and
    ``entity_id, label, node_type[, known_at]`` (``entity_labels:``). ``id_prefix``: put
    before every event id read (``payments:``, from ``event_labels.source`` of a ``sources:``
    mapping). ``timestamp_format``: the format of its time column (``ts`` / ``known_at``), as
    the events' ``timestamp_format`` (default: ISO-8601 or epoch numbers).
    """

    columns: dict[str, str]
    constants: dict[str, Any] = field(default_factory=dict)
    values: dict[str, int] = field(default_factory=dict)
    header: tuple[str, ...] | None = None
    delimiter: str | None = None
    id_prefix: str = ""
    timestamp_format: str | None = None


@dataclass(frozen=True)
class Mapping:
    """A validated mapping from source log columns to the canonical event schema.

    Attributes
    ----------
    columns
        Canonical column -> source column.
    constants
        Canonical column -> fixed value, for columns the source lacks.
    timestamp_format
        ``strftime`` format of the timestamp column, or ``None`` to detect ISO-8601 / epoch.
    ts_min
        Earliest plausible event time (UTC); earlier rows are quarantined.
    ts_max_future
        How far after the run's start an event may lie, or ``None`` for no upper bound.
    row_order_times
        The logs have no times (``timestamps: {missing: row_order}``): each row's time is its
        line number in hours after 1970-01-01 (:data:`ROW_ORDER_STEP_S`), so time means file
        order and ``columns.ts`` is absent.
    timezone
        IANA zone of the logs' times that carry none (``2025-03-01 10:00:00``, naive stored
        timestamps), or ``None`` for UTC; times with a zone or offset, and epoch numbers, keep
        their own.
    header
        Column names for headerless CSV/TSV files, or ``None`` when files have a header row.
    delimiter
        CSV delimiter, or ``None`` to choose by suffix (``.tsv`` -> tab, else comma).
    decimal_mark
        How texts write the amount's and the ``float`` attributes' decimals: ``.`` (``1234.56``)
        or ``,`` (``1.234,56`` or ``1234,56``: ``.`` then only groups thousands, so ``1.234``
        is 1234, and a text that groups them otherwise, such as ``1.5``, is not a number);
        ``None`` when the mapping does not say, read as ``.`` (but a file whose every dotted
        number looks like grouped thousands, ``1.500``, is refused: :mod:`ingest.plan`).
    entities
        Extra linked-entity types.
    attributes
        Extra source columns kept on events: name -> ``"float"`` or ``"string"``.
    attribute_values
        The ``float`` attributes given as ``{values: {text: number}}``: name -> (the text,
        trimmed and lower-cased -> its number). The ingest maps each row's text through it
        (case-insensitively) and quarantines a text the map lacks.
    not_featurized
        The ``string`` attributes given as ``{type: string, featurize: false}``: kept on the
        events, never made into per-value share features by the snapshot build (which makes
        them of a string attribute with few values, :mod:`graph.build`). Not part of
        :meth:`fingerprint` (the events are the same); the snapshot stage's key holds it.
    attribute_failures
        The ``{values: ...}`` attributes whose texts ``failed:`` names as failed attempts (a
        login's ``bad_password``): name -> the numbers of those texts. The ingest records them
        (:class:`ingest.state.IngestState`) and the ring search reads the events' failed
        attempts through them (:mod:`graph.rings.takeovers`). Not part of :meth:`fingerprint`
        (the events are the same).
    labels
        How to read a labels file, or ``None``.
    event_labels
        How to read an event labels file, or ``None``.
    entity_labels
        How to read an entity labels file, or ``None``.
    path
        The file the mapping was read from (for messages).
    sources
        With ``sources:``, the sources (each its own one-source mapping of the event keys);
        ``entities`` and ``attributes`` are then their union and ``columns`` is empty.
    """

    columns: dict[str, str]
    constants: dict[str, Any] = field(default_factory=dict)
    timestamp_format: str | None = None
    ts_min: datetime = TS_MIN
    ts_max_future: timedelta | None = TS_MAX_FUTURE
    row_order_times: bool = False
    timezone: str | None = None
    header: tuple[str, ...] | None = None
    delimiter: str | None = None
    decimal_mark: str | None = None
    entities: tuple[EntitySpec, ...] = ()
    attributes: dict[str, str] = field(default_factory=dict)
    attribute_values: dict[str, dict[str, float]] = field(default_factory=dict)
    not_featurized: tuple[str, ...] = ()
    attribute_failures: dict[str, tuple[float, ...]] = field(default_factory=dict)
    labels: LabelsSpec | None = None
    event_labels: LabelsSpec | None = None
    entity_labels: LabelsSpec | None = None
    path: str = "<mapping>"
    sources: tuple[SourceSpec, ...] = ()

    def label_section(self, section: str) -> LabelsSpec | None:
        """The labels section ``section`` (``labels``, ``event_labels``, ``entity_labels``)."""
        return {"labels": self.labels, "event_labels": self.event_labels,
                "entity_labels": self.entity_labels}[section]

    def entity_node_types(self) -> tuple[str, ...]:
        """The node types an entity label may name: the built-in entities and the mapping's."""
        return entity_node_types(self.entities)

    def source_columns(self) -> list[str]:
        """Source columns the logs must have, in a stable order."""
        cols = list(self.columns.values()) + [e.source for e in self.entities]
        cols += list(self.attributes)
        return list(dict.fromkeys(cols))

    def fingerprint(self) -> str:
        """A short hash of everything that changes the events this mapping produces."""
        if self.sources:
            return _digest({"sources": [(s.name, s.files, s.mapping.fingerprint())
                                        for s in self.sources]})
        content: dict[str, Any] = {
            "columns": self.columns,
            "constants": {k: str(v) for k, v in self.constants.items()},
            "timestamp_format": self.timestamp_format,
            "header": self.header,
            "delimiter": self.delimiter,
            "entities": [(e.node_type, e.source, e.relation) for e in self.entities],
            "attributes": self.attributes,
        }
        # Only when not the default, so that the fingerprints of older mappings stay the same.
        if (self.ts_min, self.ts_max_future) != (TS_MIN, TS_MAX_FUTURE):
            content["timestamps"] = [self.ts_min.isoformat(),
                                     None if self.ts_max_future is None
                                     else self.ts_max_future.total_seconds()]
        if self.row_order_times:
            content["row_order_times"] = ROW_ORDER_STEP_S
        if self.timezone is not None:
            content["timezone"] = self.timezone
        if self.decimal_mark == ",":
            content["decimal_mark"] = self.decimal_mark
        if self.attribute_values:
            content["attribute_values"] = self.attribute_values
        return _digest(content)


@dataclass(frozen=True)
class SourceSpec:
    """One source of a ``sources:`` mapping: the files it reads and how their rows map.

    Attributes
    ----------
    name
        The source's name; its events' ids are ``<name>:<id>``.
    files
        Globs matched against the end of each input file's path (:meth:`matches`).
    mapping
        The source's own one-source mapping (no labels sections).
    """

    name: str
    files: tuple[str, ...]
    mapping: Mapping

    def matches(self, path: str | os.PathLike[str]) -> str | None:
        """The first of :attr:`files` that ``path`` matches (``PurePath.match``: from the right,
        so ``signups*.csv`` matches ``logs/signups-1.csv``), or ``None``."""
        for glob in self.files:
            if PurePath(path).match(glob):
                return glob
        return None

    @property
    def id_prefix(self) -> str:
        """What every ``event_id`` of this source starts with: ``<name>:``."""
        return f"{self.name}:"

    def fingerprint(self) -> str:
        """A short hash of the source's name and mapping: what its events depend on."""
        return _digest({"source": self.name, "mapping": self.mapping.fingerprint()})


def _digest(content: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def entity_node_types(entities: Iterable[EntitySpec] = ()) -> tuple[str, ...]:
    """``Device, IP, PaymentMethod`` and the node types of ``entities``, in that order."""
    return (*(t for t in BUILTIN_NODE_TYPES if t != "Account"), *(e.node_type for e in entities))


def snake_case(name: str) -> str:
    """``ShippingAddress`` -> ``shipping_address``; ``IPAddress`` -> ``ip_address``."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def load_mapping(path: str | os.PathLike[str]) -> Mapping:
    """Read and validate the mapping YAML at ``path``.

    Parameters
    ----------
    path
        A mapping file as described in the module docstring.

    Returns
    -------
    Mapping
        The validated mapping.

    Raises
    ------
    MappingError
        When the file is missing, is not YAML, has an unknown key, lacks a required canonical
        column, or has a value of the wrong type. The message names the key and the file.
    """
    where = str(path)
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise MappingError(f"mapping file {where} does not exist") from None
    except yaml.YAMLError as exc:
        raise MappingError(f"mapping file {where} is not valid YAML: {exc}") from None
    return mapping_from_dict(raw, where)


def mapping_from_dict(raw: Any, where: str = "<mapping>") -> Mapping:
    """Validate an already-parsed mapping (``dict``); see :func:`load_mapping`."""
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: a mapping file must be a YAML dictionary with 'columns:'")
    _check_keys(raw, _TOP_KEYS, where, "")
    if "sources" in raw:
        return _sources_mapping(raw, where)
    columns = _str_dict(raw.get("columns") or {}, where, "columns")
    constants = dict(raw.get("constants") or {})
    _check_keys(columns, CANONICAL_COLUMNS, where, "columns.", "canonical column")
    _check_keys(constants, CANONICAL_COLUMNS, where, "constants.", "canonical column")
    both = sorted(set(columns) & set(constants))
    if both:
        raise MappingError(
            f"{where}: {both[0]!r} is given both under 'columns' and 'constants'; keep one"
        )
    ts_min, ts_max_future, row_order = _timestamps(raw.get("timestamps"), where)
    if row_order and ("ts" in columns or raw.get("timestamp_format") is not None):
        raise MappingError(f"{where}: timestamps.missing: row_order gives every row its time "
                           "from its line; drop columns.ts and timestamp_format, or drop it")
    for name, required in CANONICAL_COLUMNS.items():
        if name == "ts" and row_order:
            continue
        if required and name not in columns and name not in constants:
            raise MappingError(
                f"{where}: required canonical column {name!r} is not mapped; add "
                f"'columns: {{{name}: <source column>}}' (or a constant for event_type"
                + (", or 'timestamps: {missing: row_order}' for logs without times)"
                   if name == "ts" else ")")
            )
    if "ts" in constants or "account_id" in constants:
        bad = "ts" if "ts" in constants else "account_id"
        raise MappingError(f"{where}: constants.{bad}: {bad} must come from a source column")
    timestamp_format = _timestamp_format(raw.get("timestamp_format"), where)
    attributes, attribute_values, not_featurized, failures = _attributes(
        raw.get("attributes") or {}, where)
    entities = _entities(raw.get("entities") or {}, where)
    return Mapping(
        columns=columns,
        constants=constants,
        timestamp_format=timestamp_format,
        ts_min=ts_min,
        ts_max_future=ts_max_future,
        row_order_times=row_order,
        timezone=_timezone(raw.get("timezone"), where),
        header=_header(raw.get("header"), where, "header"),
        delimiter=_delimiter(raw.get("delimiter"), where, "delimiter"),
        decimal_mark=_decimal_mark(raw.get("decimal_mark"), where),
        entities=entities,
        attributes=attributes,
        attribute_values=attribute_values,
        not_featurized=not_featurized,
        attribute_failures=failures,
        labels=_labels(raw["labels"], where) if raw.get("labels") is not None else None,
        event_labels=(_labels(raw["event_labels"], where, "event_labels")
                      if raw.get("event_labels") is not None else None),
        entity_labels=(_labels(raw["entity_labels"], where, "entity_labels",
                               entity_node_types(entities))
                       if raw.get("entity_labels") is not None else None),
        path=where,
    )


def _sources_mapping(raw: dict[str, Any], where: str) -> Mapping:
    """A ``sources:`` mapping: each source validated as a one-source mapping, the labels
    sections at the top, the entities and attributes the union of the sources'."""
    misplaced = [k for k in _EVENT_KEYS if k in raw]
    if misplaced:
        raise MappingError(f"{where}: with 'sources:', {misplaced[0]!r} goes under each source "
                           "(the top level keeps only the labels sections)")
    sources = _sources(raw["sources"], where)
    entities: dict[str, EntitySpec] = {}
    attributes: dict[str, str] = {}
    failures: dict[str, tuple[float, ...]] = {}
    for source in sources:
        for spec in source.mapping.entities:
            known = entities.setdefault(spec.node_type, spec)
            if known.relation != spec.relation:
                raise MappingError(
                    f"{where}: sources.{source.name}.entities.{spec.node_type} uses relation "
                    f"{spec.relation!r}, another source {known.relation!r}; use one name")
        for name, kind in source.mapping.attributes.items():
            if attributes.setdefault(name, kind) != kind:
                raise MappingError(
                    f"{where}: sources.{source.name}.attributes.{name} is {kind!r} here but "
                    f"{attributes[name]!r} in another source; use one type")
        for name, numbers in source.mapping.attribute_failures.items():
            if failures.setdefault(name, numbers) != numbers:
                raise MappingError(
                    f"{where}: sources.{source.name}.attributes.{name}.failed reads as "
                    f"{list(numbers)} here but {list(failures[name])} in another source; "
                    "name the same failed attempts")
    clash = set(attributes) & {e.event_column for e in entities.values()}
    if clash:
        raise MappingError(f"{where}: attribute {sorted(clash)[0]!r} is also an entity's event "
                           "column in another source; rename one")
    union = tuple(entities.values())
    return Mapping(
        columns={},
        entities=union,
        attributes=attributes,
        attribute_failures=failures,
        # one source's featurize: false holds for the attribute's column in every source
        not_featurized=tuple(sorted({a for s in sources for a in s.mapping.not_featurized})),
        labels=_labels(raw["labels"], where) if raw.get("labels") is not None else None,
        event_labels=(_labels(raw["event_labels"], where, "event_labels",
                              sources=tuple(s.name for s in sources))
                      if raw.get("event_labels") is not None else None),
        entity_labels=(_labels(raw["entity_labels"], where, "entity_labels",
                               entity_node_types(union))
                       if raw.get("entity_labels") is not None else None),
        path=where,
        sources=sources,
    )


def _sources(raw: Any, where: str) -> tuple[SourceSpec, ...]:
    """``sources:`` as a dictionary name -> spec, or a list of specs each with ``name:``."""
    if isinstance(raw, list):
        named = []
        for i, spec in enumerate(raw):
            if not isinstance(spec, dict) or "name" not in spec:
                raise MappingError(f"{where}: sources[{i}] must be a dictionary with 'name:'")
            named.append((spec["name"], {k: v for k, v in spec.items() if k != "name"}))
    elif isinstance(raw, dict):
        named = list(raw.items())
    else:
        raise MappingError(f"{where}: 'sources' must be a dictionary of name: source, or a list")
    if not named:
        raise MappingError(f"{where}: 'sources' is empty; give at least one source")
    names = [str(name) for name, _ in named]
    if len(set(names)) != len(names):
        raise MappingError(f"{where}: two sources are named alike: {names}")
    return tuple(_source(str(name), spec, where) for name, spec in named)


def _source(name: str, raw: Any, where: str) -> SourceSpec:
    key = f"sources.{name}"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise MappingError(f"{where}: {key}: a source needs a plain name (letters, digits, "
                           "'_', '-', '.')")
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: {key} must be a dictionary with 'files:' and 'columns:'")
    _check_keys(raw, (*_EVENT_KEYS, "files"), where, f"{key}.")
    files = raw.get("files")
    files = [files] if isinstance(files, str) else files
    if not files or not isinstance(files, list) or not all(
            isinstance(f, str) and f.strip() for f in files):
        raise MappingError(f"{where}: {key}.files must be a glob like 'signups*.csv' (matched "
                           "against the end of each input file's path) or a list of them")
    mapping = mapping_from_dict({k: v for k, v in raw.items() if k != "files"},
                                f"{where} ({key})")
    if mapping.row_order_times:
        raise MappingError(f"{where}: {key}.timestamps.missing: row_order times one file's "
                           "lines; several sources need their times (columns.ts)")
    return SourceSpec(name, tuple(files), mapping)


def check_source_columns(
    mapping: Mapping,
    available: Iterable[str],
    source: str,
    *,
    labels: bool = False,
    section: str | None = None,
) -> None:
    """Raise :class:`MappingError` unless every column the mapping names exists in ``source``.

    Parameters
    ----------
    mapping
        The mapping to check.
    available
        Column names found in the source file.
    source
        The source file (for the message). A ``sources:`` mapping is checked per source:
        :func:`ingest.plan.check_input_columns`.
    labels
        Check the mapping's ``labels`` section instead of the event columns.
    section
        Check this labels section (``labels``, ``event_labels``, ``entity_labels``) instead.
    """
    have = list(available)
    section = "labels" if labels and section is None else section
    if section is not None:
        spec = mapping.label_section(section)
        if spec is None:
            raise MappingError(f"{mapping.path} has no '{section}:' section")
        wanted = {f"{section}.{k}": v for k, v in spec.columns.items()}
    else:
        wanted = {f"columns.{k}": v for k, v in mapping.columns.items()}
        wanted |= {f"entities.{e.node_type}": e.source for e in mapping.entities}
        wanted |= {f"attributes.{a}": a for a in mapping.attributes}
    for key, column in wanted.items():
        if column not in have and not have:
            raise MappingError(
                f"{mapping.path}: {key} names source column {column!r}, but {source} has no "
                "columns at all: it is empty, or holds no header line or no JSON object (an "
                "empty JSON array); remove it from the input, or fill it"
            )
        if column not in have:
            raise MappingError(
                f"{mapping.path}: {key} names source column {column!r}, which {source} does not "
                f"have; its columns are: {', '.join(map(repr, have))}"
                f"{_near_miss(column, have) or _header_hint(have, key, set(wanted.values()))}"
            )


def _near_miss(column: str, have: list[str]) -> str:
    """``". Its column 'Acct' differs only in case or spaces ..."``: a column of the file that
    is ``column`` but for letter case and surrounding spaces (names match exactly); empty when
    none is."""
    near = [name for name in have if name.strip().casefold() == column.strip().casefold()]
    if not near:
        return ""
    return (f". Its column {near[0]!r} differs from {column!r} only in letter case or spaces "
            f"around it, and names are matched exactly: write {near[0]!r} in the mapping")


def source_of(mapping: Mapping, path: str | os.PathLike[str]) -> SourceSpec:
    """The one source of ``mapping.sources`` whose ``files:`` globs the file ``path`` matches.

    Raises
    ------
    MappingError
        When no source matches the file, or more than one does (naming the file and the globs).
    """
    hits = [(s, glob) for s in mapping.sources if (glob := s.matches(path)) is not None]
    if len(hits) == 1:
        return hits[0][0]
    globs = "; ".join(f"{s.name}: {', '.join(s.files)}" for s in mapping.sources)
    said = ("no source's files: glob" if not hits else
            f"{len(hits)} sources ({', '.join(f'{s.name} by {g!r}' for s, g in hits)})")
    raise MappingError(f"{mapping.path}: input file {path} matches {said}; each file must match "
                       f"exactly one source (globs: {globs})")


#: Delimiters a one-column header may hide.
_OTHER_DELIMITERS = (";", "|", "\t", ",")
#: A header name that is a value: a number, or a date with a four-digit year first.
_VALUE_NAME = re.compile(r"[-+]?\d+(\.\d*)?([eE][-+]?\d+)?|\d{4}-\d{2}-\d{2}.*")


def _header_hint(have: list[str], key: str, wanted: set[str]) -> str:
    """Why the columns found may not be the file's: another delimiter, no header line, or a
    file that is no log of this schema (none of the ``wanted`` columns, however split)."""
    section = key.split(".")[0] if key.split(".")[0] not in ("columns", "entities",
                                                             "attributes") else ""
    prefix = f"{section}." if section else ""
    first = ",".join(have)  # 'sep=;' read with ';' as the delimiter: 'sep=', ''
    if re.fullmatch(r"sep=.?,?", first.strip().lower()):
        return (". Its first line (sep=...) is Excel's delimiter hint, not a header: "
                "delete that line from the file (and say the delimiter in the mapping, "
                f"'{prefix}delimiter: ...')")
    if len(have) == 1:
        found = [d for d in _OTHER_DELIMITERS if d in have[0]
                 and wanted & {n.strip() for n in have[0].split(d)}]
        if found:
            return (f". The header holds {found[0]!r}: set '{prefix}delimiter: "
                    f"{json.dumps(found[0])}' in the mapping")
    if any(_VALUE_NAME.fullmatch(name.strip()) for name in have):
        return (f". The first line looks like data, not a header: name the columns with "
                f"'{prefix}header: [...]' in the mapping")
    names = {n.strip() for name in have for d in (*_OTHER_DELIMITERS, " ")
             for n in name.split(d)}
    if not wanted & names:
        return (". None of the mapping's columns is in it: is it a file of another kind (a "
                "labels file)? A directory given to --input is read whole, every .csv, .tsv, "
                ".parquet and .jsonl under it: name the log files instead, or move the others "
                "out")
    return ""


def _check_keys(
    raw: dict[str, Any], allowed: Iterable[str], where: str, prefix: str, what: str = "key"
) -> None:
    allowed = list(allowed)
    for key in raw:
        if key not in allowed:
            raise MappingError(
                f"{where}: unknown {what} {prefix}{key!s}; allowed: {', '.join(allowed)}"
            )


def _str_dict(raw: Any, where: str, key: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: '{key}' must be a dictionary of name: source column")
    for name, value in raw.items():
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise MappingError(f"{where}: {key}.{name} must be a column name, got {value!r}")
    return {str(k): str(v) for k, v in raw.items()}


def _timestamps(raw: Any, where: str) -> tuple[datetime, timedelta | None, bool]:
    """``timestamps: {min: <date or time>, max_future: <duration or null>, missing: row_order}``
    -> the bounds, and whether the rows take their times from their line numbers."""
    if raw is None:
        return TS_MIN, TS_MAX_FUTURE, False
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: 'timestamps' must be a dictionary like "
                           "{min: 1970-01-01, max_future: 1 day}")
    _check_keys(raw, ("min", "max_future", "missing"), where, "timestamps.")
    if raw.get("missing", "row_order") != "row_order":
        raise MappingError(f"{where}: timestamps.missing must be row_order (each row's time "
                           f"from its line, for logs without times), got {raw['missing']!r}")
    row_order = "missing" in raw
    lowest = raw.get("min", TS_MIN)
    if isinstance(lowest, str):
        try:
            lowest = datetime.fromisoformat(lowest.strip())
        except ValueError:
            lowest = None
    if isinstance(lowest, date) and not isinstance(lowest, datetime):
        lowest = datetime(lowest.year, lowest.month, lowest.day)
    if not isinstance(lowest, datetime):
        raise MappingError(f"{where}: timestamps.min must be a date or time like 1970-01-01, "
                           f"got {raw.get('min')!r}")
    lowest = lowest if lowest.tzinfo else lowest.replace(tzinfo=UTC)
    if lowest < TS_MIN_FLOOR:
        raise MappingError(f"{where}: timestamps.min {raw.get('min')} is before the year 1000; "
                           "such times are misread dates, not events")
    if "max_future" in raw and raw["max_future"] is None:
        return lowest, None, row_order
    ahead = raw.get("max_future", "1 day")
    match = _DURATION.match(str(ahead)) if isinstance(ahead, str) else None
    if match is None:
        raise MappingError(f"{where}: timestamps.max_future must be a duration like '1 day', "
                           f"'12 h' or '30 d' (or null: no upper bound), got {ahead!r}")
    return lowest, timedelta(**{_UNITS[match.group(2)[0]]: float(match.group(1))}), row_order


def _timezone(raw: Any, where: str) -> str | None:
    """``timezone: Europe/Berlin``: an IANA zone name, checked against the zone database."""
    if raw is None:
        return None
    try:
        ZoneInfo(str(raw))
    except (ValueError, ZoneInfoNotFoundError):
        raise MappingError(f"{where}: timezone {raw!r} is not an IANA time zone like "
                           "'America/New_York' or 'Europe/Berlin'") from None
    return str(raw)


def _timestamp_format(raw: Any, where: str) -> str | None:
    """``timestamp_format``: one of :data:`EPOCH_FORMATS`, or a strftime pattern that DuckDB's
    ``strptime`` reads (checked here: a pattern it rejects, such as ``%s`` or an empty one,
    would otherwise fail the ingest with DuckDB's traceback, and one without a ``%``
    directive, such as Java's ``YYYY-MM-DD``, would quarantine every row)."""
    if raw is None or raw in EPOCH_FORMATS:
        return raw
    epochs = ", ".join(EPOCH_FORMATS)
    if not isinstance(raw, str) or "%" not in raw:
        raise MappingError(
            f"{where}: timestamp_format {raw!r} is neither a strftime pattern with % directives "
            f"(such as '%Y-%m-%d %H:%M:%S'; Java / SQL patterns like 'YYYY-MM-DD HH:mm:ss' are "
            f"not read) nor one of {epochs}")
    import duckdb

    try:
        duckdb.sql(f"SELECT try_strptime('', '{raw.replace(chr(39), chr(39) * 2)}')").fetchall()
    except duckdb.Error as exc:
        seconds = " (epoch seconds are 'epoch_s')" if "%s" in raw else ""
        raise MappingError(f"{where}: timestamp_format {raw!r} is no pattern DuckDB's strptime "
                           f"reads: {str(exc).splitlines()[0]}{seconds}") from None
    return raw


def _decimal_mark(raw: Any, where: str) -> str | None:
    """``decimal_mark: ","``: the character before the decimals, ``.`` or ``,`` (``None``: not
    said)."""
    if raw is not None and raw not in (".", ","):
        raise MappingError(f"{where}: decimal_mark must be \".\" (1234.56) or \",\" "
                           f"(1.234,56), got {raw!r}")
    return raw


def _header(raw: Any, where: str, key: str) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw or not all(isinstance(c, str) for c in raw):
        raise MappingError(f"{where}: '{key}' must be a list of column names")
    if len(set(raw)) != len(raw):
        raise MappingError(f"{where}: '{key}' repeats a column name: {raw}")
    return tuple(raw)


def _delimiter(raw: Any, where: str, key: str) -> str | None:
    if raw is not None and (not isinstance(raw, str) or len(raw) != 1):
        raise MappingError(f"{where}: '{key}' must be a single character, got {raw!r}")
    return raw


def _attributes(
    raw: Any, where: str
) -> tuple[dict[str, str], dict[str, dict[str, float]], tuple[str, ...],
           dict[str, tuple[float, ...]]]:
    """``attributes:`` -> (name -> kind, the value maps of the ``{values: ...}`` ones, the
    names given ``featurize: false``, the numbers of the texts a ``{values: ..., failed:
    [...]}`` one names as failed attempts)."""
    if isinstance(raw, list):
        raw = dict.fromkeys(raw, "string")
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: 'attributes' must be a dictionary of column: float | "
                           "string | {values: {text: number}} | {type: string, featurize: false}")
    kinds: dict[str, str] = {}
    values: dict[str, dict[str, float]] = {}
    not_featurized: list[str] = []
    failures: dict[str, tuple[float, ...]] = {}
    for name, kind in raw.items():
        if "." in str(name):
            raise MappingError(
                f"{where}: attributes.{name}: a nested field cannot be an attribute (attribute "
                "names are plain: letters, digits and _, and name a top-level column of the "
                "logs); export it as a top-level column, or map it under 'columns' if it is a "
                "canonical column (columns take dotted paths)"
            )
        if name in CANONICAL_COLUMNS or not _NAME.match(str(name)):
            raise MappingError(
                f"{where}: attributes.{name}: an attribute needs a plain name that is not a "
                "canonical column (map canonical columns under 'columns')"
            )
        if isinstance(kind, dict) and "values" in kind:
            _check_keys(kind, ("values", "failed"), where, f"attributes.{name}.")
            values[str(name)] = _value_map(kind.get("values"), where, f"attributes.{name}.values")
            if "failed" in kind:
                failures[str(name)] = _failed(kind["failed"], values[str(name)], where,
                                              f"attributes.{name}.failed")
            kind = "float"
        elif isinstance(kind, dict):
            kind, featurize = _typed_spec(kind, where, f"attributes.{name}")
            if not featurize:
                not_featurized.append(str(name))
        if kind not in ATTRIBUTE_TYPES:
            raise MappingError(
                f"{where}: attributes.{name}: type {kind!r} is not one of {ATTRIBUTE_TYPES} "
                "or {values: {text: number}}"
            )
        kinds[str(name)] = str(kind)
    return kinds, values, tuple(not_featurized), failures


def _failed(raw: Any, values: dict[str, float], where: str, key: str) -> tuple[float, ...]:
    """``failed: [bad_password]``: texts of the attribute's ``values:`` map that are failed
    attempts -> their numbers (sorted, distinct). Each text must be one of the map's; a
    number that a success text shares is refused (the events would not tell them apart)."""
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise MappingError(f"{where}: {key} must be a non-empty list of texts of the 'values:' "
                           "map, e.g. [bad_password]")
    words = []
    for text in raw:
        word = str(text).strip().lower()
        if isinstance(text, bool) or word not in values:
            raise MappingError(f"{where}: {key}: {text!r} is not a text of the 'values:' map "
                               f"({', '.join(values)})")
        words.append(word)
    numbers = {values[w] for w in words}
    shared = sorted(w for w, n in values.items() if n in numbers and w not in words)
    if shared:
        raise MappingError(f"{where}: {key}: {shared[0]!r} has the number of a failed attempt "
                           "but is not named failed; give failed attempts numbers of their own")
    return tuple(sorted(numbers))


def _typed_spec(raw: dict[str, Any], where: str, key: str) -> tuple[Any, bool]:
    """``{type: string, featurize: false}`` (``type`` default ``string``, ``featurize`` default
    true) -> (the type as written, whether it is featurized); ``featurize: false`` is refused on
    anything but a string attribute."""
    _check_keys(raw, ("type", "featurize"), where, f"{key}.")
    kind = raw.get("type", "string")
    featurize = raw.get("featurize", True)
    if not isinstance(featurize, bool):
        raise MappingError(f"{where}: {key}.featurize must be true or false, got {featurize!r}")
    if not featurize and kind != "string":
        raise MappingError(f"{where}: {key}.featurize: false applies to string attributes "
                           f"(their per-value shares); this one is {kind!r}")
    return kind, featurize


def _value_map(raw: Any, where: str, key: str) -> dict[str, float]:
    """``values: {success: 0, bad_password: 1}``: text -> finite number. Keys are trimmed and
    lower-cased (the ingest matches case-insensitively); an integer key is its digits."""
    if not isinstance(raw, dict) or not raw:
        raise MappingError(f"{where}: {key} must be a non-empty dictionary of text: number, "
                           "e.g. {success: 0, bad_password: 1}")
    out: dict[str, float] = {}
    for text, number in raw.items():
        if isinstance(text, bool) or not isinstance(text, str | int) or not str(text).strip():
            raise MappingError(f"{where}: {key}: key {text!r} must be a text; quote it "
                               "(YAML reads yes / no / true / false as booleans)")
        if (isinstance(number, bool) or not isinstance(number, int | float)
                or number != number or abs(number) == float("inf")):
            raise MappingError(f"{where}: {key}.{text}: {number!r} is not a finite number")
        word = str(text).strip().lower()
        if out.setdefault(word, float(number)) != float(number):
            raise MappingError(f"{where}: {key}: two keys read as {word!r} (matched ignoring "
                               "case and spaces) with different numbers; keep one")
    return out


def _entities(raw: Any, where: str) -> tuple[EntitySpec, ...]:
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: 'entities' must be a dictionary of NodeType: source column")
    specs = []
    for node_type, value in raw.items():
        key = f"entities.{node_type}"
        if not _NAME.match(str(node_type)) or node_type in BUILTIN_NODE_TYPES:
            raise MappingError(
                f"{where}: {key}: an entity type needs a new CamelCase name (not one of "
                f"{', '.join(BUILTIN_NODE_TYPES)}), e.g. Email"
            )
        if isinstance(value, dict):
            _check_keys(value, ("column", "relation"), where, f"{key}.")
            column = value.get("column")
            relation = value.get("relation") or f"USED_{snake_case(node_type).upper()}"
        else:
            column, relation = value, f"USED_{snake_case(node_type).upper()}"
        if not isinstance(column, str):
            raise MappingError(f"{where}: {key} must name a source column")
        if relation in BUILTIN_RELATIONS or not _NAME.match(relation):
            raise MappingError(f"{where}: {key}: relation {relation!r} is built in or invalid")
        specs.append(EntitySpec(str(node_type), column, relation))
    event_columns = [s.event_column for s in specs]
    clash = set(event_columns) & set(CANONICAL_COLUMNS)
    if clash or len(set(event_columns)) != len(event_columns):
        raise MappingError(f"{where}: entity types {list(raw)} clash with each other or with "
                           "canonical columns; rename one")
    return tuple(specs)


def _labels(
    raw: Any, where: str, section: str = "labels", node_types: tuple[str, ...] = (),
    sources: tuple[str, ...] = (),
) -> LabelsSpec:
    """One labels section (:data:`LABEL_SECTIONS`); ``node_types``: those an entity may have;
    ``sources``: the names an event labels section's ``source:`` may give (its ids are then
    that source's, ``<source>:<id>`` in the events)."""
    canonical, fixable = LABEL_SECTIONS[section]
    if not isinstance(raw, dict):
        required = ", ".join(f"{k}:" for k, needed in canonical.items() if needed)
        raise MappingError(f"{where}: '{section}' must be a dictionary ({required} ...)")
    _check_keys(raw, (*canonical, *_LABEL_OPTIONS, *(("source",) if sources else ())), where,
                f"{section}.")
    if "source" in raw and raw["source"] not in sources:
        raise MappingError(f"{where}: {section}.source {raw['source']!r} is not a source; "
                           f"allowed: {', '.join(sources)}")
    columns = _str_dict(
        {k: v for k, v in raw.items() if k in canonical}, where, section
    )
    constants = dict(raw.get("constants") or {})
    _check_keys(constants, fixable, where, f"{section}.constants.")
    both = sorted(set(columns) & set(constants))
    if both and section != "labels":  # account labels: a constant wins, as it always has
        raise MappingError(f"{where}: {section}.{both[0]} is given both as a column and under "
                           f"{section}.constants; keep one")
    for name, required in canonical.items():
        if required and name not in columns and name not in constants:
            raise MappingError(
                f"{where}: {section}.{name} is required (the {section} file's column"
                + (f", or {section}.constants.{name}" if name in fixable else "") + ")"
            )
    values = raw.get("values") or {}
    if not isinstance(values, dict) or any(v not in (0, 1) for v in values.values()):
        raise MappingError(f"{where}: {section}.values must map source label values to 0 or 1")
    if "label" in constants and constants["label"] not in (0, 1):
        raise MappingError(f"{where}: {section}.constants.label must be 0 or 1")
    if "node_type" in constants and constants["node_type"] not in node_types:
        raise MappingError(
            f"{where}: {section}.constants.node_type {constants['node_type']!r} is not a node "
            f"type of the graph; allowed: {', '.join(node_types)} (an extra type needs its "
            "column under 'entities:'; account labels go in the 'labels:' file)"
        )
    return LabelsSpec(
        id_prefix=f"{raw['source']}:" if "source" in raw else "",
        columns=columns,
        constants=constants,
        values={str(k): int(v) for k, v in values.items()},
        header=_header(raw.get("header"), where, f"{section}.header"),
        delimiter=_delimiter(raw.get("delimiter"), where, f"{section}.delimiter"),
        timestamp_format=_timestamp_format(raw.get("timestamp_format"), where),
    )
