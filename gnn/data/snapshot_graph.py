"""Turn a graph snapshot into a PyG ``HeteroData`` for training and scoring.

Every node type keeps ``node_ids`` (the snapshot's string ids, a numpy array in row order) so
scores map back to store ids. Numeric features are ``sign(x) * log1p(|x|)`` then standardised.
Every relation is stored twice: as ``(src, REL, dst)`` and reversed as ``(dst, rev_REL, src)``,
so messages reach accounts from devices, IPs and payment methods. ``edge_time`` is the edge's
``first_ts`` in epoch seconds: the moment the link came into existence.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import torch
from torch_geometric.data import HeteroData
from torch_geometric.typing import EdgeType

from gnn.data.features import FeatureScaler
from graph.snapshot import ACCOUNT, Snapshot, read_snapshot

#: The time of an undated label or seed: later than every edge, so the whole graph is visible.
NO_TIME = np.iinfo(np.int64).max // 4



def known_times(times: np.ndarray | None) -> np.ndarray | None:
    """``times`` as int64 when some seed has a real time bound, else ``None`` (no bounds)."""
    if times is None:
        return None
    times = np.asarray(times, dtype=np.int64)
    return times if (times < NO_TIME).any() else None


def reverse_edge_type(edge_type: EdgeType) -> EdgeType:
    """``(src, REL, dst)`` -> ``(dst, rev_REL, src)``."""
    src, rel, dst = edge_type
    return (dst, f"rev_{rel}", src)


def opposite_edge_type(edge_type: EdgeType) -> EdgeType:
    """The edge type of the same edges in the other direction, for a stored relation or its
    reverse alike (``(src, REL, dst)`` <-> ``(dst, rev_REL, src)``)."""
    src, rel, dst = edge_type
    if rel.startswith("rev_"):
        return (dst, rel[len("rev_"):], src)
    return reverse_edge_type(edge_type)


def to_epoch_seconds(values: pd.Series) -> np.ndarray:
    """Timestamps (or nulls) -> int64 epoch seconds; nulls become :data:`NO_TIME`."""
    stamps = pd.to_datetime(values, utc=True)
    seconds = np.full(len(stamps), NO_TIME, dtype=np.int64)
    known = stamps.notna().to_numpy()
    if known.any():
        seconds[known] = stamps[known].dt.as_unit("s").astype("int64").to_numpy()
    return seconds


def snapshot_to_heterodata(
    snapshot: Snapshot, scaler: FeatureScaler | None = None
) -> tuple[HeteroData, FeatureScaler]:
    """Build the ``HeteroData`` of ``snapshot``.

    Parameters
    ----------
    snapshot
        The graph snapshot.
    scaler
        A fitted scaler (when scoring with a trained model); ``None`` fits a new one on this
        snapshot's numeric feature columns.

    Returns
    -------
    tuple[HeteroData, FeatureScaler]
        The graph (``x``, ``node_ids`` per node type; ``edge_index`` and ``edge_time`` per edge
        type, each relation also reversed) and the scaler used.
    """
    if scaler is None:
        columns = {t: snapshot.feature_columns(t) for t in snapshot.node_types}
        scaler = FeatureScaler().fit(snapshot.nodes, columns)
    data = HeteroData()
    index: dict[str, pd.Index] = {}
    for node_type in snapshot.node_types:
        table = snapshot.nodes[node_type]
        ids = table["id"].astype(str).to_numpy()
        index[node_type] = pd.Index(ids)
        data[node_type].x = scaler.transform(node_type, table)
        data[node_type].node_ids = ids
        data[node_type].num_nodes = len(ids)
    for node_type in scaler.columns:
        if node_type not in index:
            data[node_type].x = torch.zeros((0, len(scaler.columns[node_type])))
            data[node_type].node_ids = np.empty(0, dtype=object)
            data[node_type].num_nodes = 0
            index[node_type] = pd.Index([])
    for name, spec in snapshot.relations.items():
        table = snapshot.edges[name]
        if spec.src_type not in index or spec.dst_type not in index:
            continue
        src = index[spec.src_type].get_indexer(table["src"].astype(str))
        dst = index[spec.dst_type].get_indexer(table["dst"].astype(str))
        known = (src >= 0) & (dst >= 0)
        if not known.all():
            warnings.warn(
                f"relation {name}: {(~known).sum()} edges name nodes missing from the node "
                "tables and were left out",
                stacklevel=2,
            )
        edge_index = torch.from_numpy(np.stack([src[known], dst[known]]).astype(np.int64))
        edge_time = torch.from_numpy(to_epoch_seconds(table["first_ts"])[known])
        edge_type = (spec.src_type, name, spec.dst_type)
        data[edge_type].edge_index = edge_index
        data[edge_type].edge_time = edge_time
        reverse = reverse_edge_type(edge_type)
        data[reverse].edge_index = edge_index.flip(0)
        data[reverse].edge_time = edge_time
    return data, scaler


def model_view(data: HeteroData) -> HeteroData:
    """A copy of ``data`` holding only the tensors the model and sampler use.

    Drops ``node_ids`` and any other attribute, so mini-batch filtering stays cheap.
    """
    view = HeteroData()
    for node_type in data.node_types:
        view[node_type].x = data[node_type].x
        view[node_type].num_nodes = data[node_type].num_nodes
    for edge_type in data.edge_types:
        view[edge_type].edge_index = data[edge_type].edge_index
        if "edge_time" in data[edge_type]:
            view[edge_type].edge_time = data[edge_type].edge_time
    return view


def account_index(
    data: HeteroData, labels: pd.DataFrame, node_type: str = ACCOUNT
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map a labels table onto node rows.

    Parameters
    ----------
    data
        Graph with ``node_ids`` on ``node_type``.
    labels
        ``account_id, label[, ts]``; labels must be 0 or 1.

    Returns
    -------
    tuple[np.ndarray, np.ndarray, np.ndarray]
        Row indices, labels (float32) and label times in epoch seconds (:data:`NO_TIME` where
        unknown), for the labelled accounts present in the graph.

    Raises
    ------
    ValueError
        If a column is missing or a label is not 0/1.
    """
    missing = {"account_id", "label"} - set(labels.columns)
    if missing:
        raise ValueError(
            f"labels table lacks column(s) {sorted(missing)}; it has {list(labels.columns)} "
            "(expected account_id, label[, ts])"
        )
    values = pd.to_numeric(labels["label"], errors="coerce")
    bad = ~values.isin([0, 1])
    if bad.any():
        raise ValueError(
            f"labels must be 0 or 1; found {labels.loc[bad, 'label'].head(5).tolist()} "
            f"for account(s) {labels.loc[bad, 'account_id'].head(5).tolist()}"
        )
    rows = pd.Index(data[node_type].node_ids).get_indexer(labels["account_id"].astype(str))
    known = rows >= 0
    if "ts" in labels.columns:
        times = to_epoch_seconds(labels["ts"])
    else:
        times = np.full(len(labels), NO_TIME, dtype=np.int64)
    return rows[known], values.to_numpy(np.float32)[known], times[known]


def read_snapshot_graph(
    snapshot_dir: Path, scaler: FeatureScaler | None = None
) -> tuple[HeteroData, FeatureScaler]:
    """:func:`snapshot_to_heterodata` of the snapshot saved in ``snapshot_dir``, which is not kept.

    The memory the snapshot held is handed back once the graph is built: Arrow's pool (where its
    Parquet buffers stay when freed) and the C heap's free pages (glibc's ``malloc_trim``;
    skipped elsewhere). Large arrays allocated later are mapped apart and would reuse neither,
    so without this a stage's peak would still count the snapshot it dropped.
    """
    graph = snapshot_to_heterodata(read_snapshot(snapshot_dir), scaler)
    gc.collect()  # a snapshot's tables may sit in reference cycles
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return graph

