"""Snapshot tables shaped for the store: the property set of every node and relationship.

Both load paths (driver and bulk import) start here, so they write the same properties with the
same values. Each row gets ``content_hash``: a 64-bit hash of its key and properties, stored on the
node or relationship. Comparing it with the hash of the next snapshot's row tells the driver path
which rows changed, so an update writes only those.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from graph.snapshot import ACCOUNT, Snapshot
from graph.store.names import node_label, rel_type

#: Property holding a row's content hash (see module docstring).
HASH = "content_hash"
#: Suffix of the nanosecond list of a timestamp column in :func:`property_columns`.
NANOS = "#ns"
#: Account property holding the snapshot's label (1 = abusive, 0 = legitimate) when known.
LABEL = "label"
#: The longest id (UTF-8 bytes) Neo4j's range index, behind the unique id constraint, can hold.
MAX_ID_BYTES = 8164


class OversizeIdError(ValueError):
    """A node id too long for Neo4j's unique-id index; the message names it and the fix."""


@dataclass(frozen=True)
class NodeTable:
    """The nodes of one label: ``id``, property columns and ``content_hash``."""

    label: str
    frame: pd.DataFrame

    @property
    def properties(self) -> list[str]:
        """Property columns (everything but ``id`` and the hash)."""
        return [c for c in self.frame.columns if c not in ("id", HASH)]


@dataclass(frozen=True)
class RelTable:
    """The relationships of one type: ``src``, ``dst``, property columns and ``content_hash``.

    ``src_rows`` and ``dst_rows`` give each relationship's endpoints as rows of their node
    types' tables (:func:`node_tables`, same order), found once when the table is built.
    """

    rel_type: str
    src_label: str
    dst_label: str
    frame: pd.DataFrame
    src_rows: np.ndarray
    dst_rows: np.ndarray

    @property
    def properties(self) -> list[str]:
        """Property columns (everything but the endpoints and the hash)."""
        return [c for c in self.frame.columns if c not in ("src", "dst", HASH)]


def node_tables(snapshot: Snapshot) -> list[NodeTable]:
    """One :class:`NodeTable` per node type (``Account`` first), labels merged onto accounts."""
    tables = []
    for node_type in snapshot.node_types:
        frame = snapshot.nodes[node_type].copy()
        frame["id"] = frame["id"].astype(str)
        _check_id_sizes(node_type, frame["id"])
        if node_type == ACCOUNT and snapshot.labels is not None:
            known = snapshot.labels.drop_duplicates("account_id", keep="last")
            frame[LABEL] = frame["id"].map(known.set_index("account_id")["label"]).astype("Int64")
        tables.append(NodeTable(node_label(node_type), _with_hash(frame)))
    return tables


def rel_tables(snapshot: Snapshot) -> list[RelTable]:
    """One :class:`RelTable` per relation, in the snapshot's order.

    Relationships whose source or destination is not in the node tables are left out (with a
    warning), on both load paths alike.
    """
    known = {t: pa.array(df["id"].astype(str)) for t, df in snapshot.nodes.items()}
    tables = []
    for name, spec in snapshot.relations.items():
        frame = snapshot.edges[name].copy()
        frame["src"] = frame["src"].astype(str)
        frame["dst"] = frame["dst"].astype(str)
        empty = pa.array([], pa.string())
        src_rows = positions(frame["src"], known.get(spec.src_type, empty))
        dst_rows = positions(frame["dst"], known.get(spec.dst_type, empty))
        present = (src_rows >= 0) & (dst_rows >= 0)
        if not present.all():
            warnings.warn(
                f"relation {name}: {int((~present).sum())} relationship(s) name nodes missing "
                "from the snapshot's node tables and are not loaded",
                stacklevel=2,
            )
            frame = frame[present].reset_index(drop=True)
            src_rows, dst_rows = src_rows[present], dst_rows[present]
        tables.append(
            RelTable(rel_type(name), node_label(spec.src_type), node_label(spec.dst_type),
                     _with_hash(frame), src_rows, dst_rows)
        )
    return tables


def positions(values: pd.Series | np.ndarray, keys: pa.Array) -> np.ndarray:
    """The position of each of ``values`` in ``keys`` (the first, if repeated), -1 if absent.

    Arrow's hash look-up on strings, about 5x faster than ``pd.Index.get_indexer`` (which turns
    Arrow-backed strings into Python objects first).
    """
    if len(keys) == 0:
        return np.full(len(values), -1, dtype=np.int64)
    found = pc.index_in(pa.array(values, type=keys.type), value_set=keys)
    return found.fill_null(-1).to_numpy().astype(np.int64)


def _check_id_sizes(node_type: str, ids: pd.Series) -> None:
    sizes = ids.str.len()
    # A character takes at most 4 bytes: only ids that might be too long are encoded.
    suspects = ids[sizes * 4 > MAX_ID_BYTES]
    if suspects.empty:
        return
    nbytes = suspects.str.encode("utf-8").str.len()
    if (nbytes > MAX_ID_BYTES).any():
        first = suspects[nbytes > MAX_ID_BYTES].iloc[0]
        raise OversizeIdError(
            f"{node_type} id {first[:40]!r}... is {len(first.encode())} bytes in UTF-8, more "
            f"than the {MAX_ID_BYTES} bytes Neo4j can index for the unique id constraint "
            f"({int((nbytes > MAX_ID_BYTES).sum())} such id(s)); shorten or hash these ids "
            "before building the snapshot (e.g. map the column to a digest in the mapping step)"
        )


def _with_hash(frame: pd.DataFrame) -> pd.DataFrame:
    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    frame[HASH] = hashes.view(np.int64)
    return frame


def is_temporal(series: pd.Series) -> bool:
    """Whether ``series`` holds timestamps (stored as Neo4j ``DateTime`` in UTC)."""
    return isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(
        series
    )


def temporal_columns(frame: pd.DataFrame, properties: list[str]) -> list[str]:
    """The timestamp columns among ``properties``, in order."""
    return [c for c in properties if is_temporal(frame[c])]


def property_columns(frame: pd.DataFrame, properties: list[str]) -> dict[str, list[Any]]:
    """Each property column (and the content hash) as a plain Python list, for the driver.

    Rows travel as parallel lists (one Bolt list per column, indexed by row in Cypher), which the
    driver packs in bulk, instead of one map per row. A missing value is ``None``: setting a
    property to null removes it, so a value that disappears from the snapshot disappears from the
    store too. A timestamp column ``c`` of :func:`temporal_columns` becomes two integer lists,
    ``c`` (epoch seconds) and ``c + NANOS`` (nanoseconds), turned into a ``DateTime`` on the
    server: the driver converts ``datetime`` objects one by one in Python (about 10k a second),
    while integers cost nothing.
    """
    temporal = set(temporal_columns(frame, properties))
    columns: dict[str, list[Any]] = {}
    for name in [*properties, HASH]:
        series = frame[name]
        missing = series.isna().to_numpy()
        if name in temporal:
            micros = pd.to_datetime(series, utc=True).dt.tz_localize(None).to_numpy(
                "datetime64[us]").view(np.int64)
            columns[name] = _with_none(micros // 1_000_000, missing)
            columns[name + NANOS] = _with_none(micros % 1_000_000 * 1000, missing)
        elif not missing.any() and series.dtype.kind in "biuf":
            columns[name] = series.to_numpy().tolist()
        else:
            values = series.astype(object).to_numpy()
            columns[name] = _with_none(values, missing)
    return columns


def _with_none(values: np.ndarray, missing: np.ndarray) -> list[Any]:
    if not missing.any():
        return values.tolist()
    values = values.astype(object)
    values[missing] = None
    return values.tolist()
