"""The graph snapshot: Parquet node and edge tables plus ``manifest.json``.

A snapshot is the hand-off between ingest (which writes it), the Neo4j loader, the ring-candidate
search and the GNN (which read it). Layout of a snapshot directory::

    manifest.json
    nodes/<NodeType>.parquet   id: string (unique), first_ts, last_ts: timestamp[us, UTC],
                               then numeric feature columns (float64 / int64)
    edges/<REL>.parquet        src, dst: string (node ids), count: int64,
                               first_ts, last_ts: timestamp[us, UTC], amount_sum: float64
    labels.parquet             optional: account_id: string, label: int8 (1 = abusive),
                               ts: timestamp[us, UTC] or null (when the label became known)

``manifest.json`` names every table, its row count, the source and destination node types of each
relation, the feature columns of each node type, the schema version and the input checksums.
Snapshots are written into a temporary sibling directory and renamed into place, so a reader
never sees a half-written snapshot.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from graph.manifest import SCHEMA_VERSION, make_manifest
from ingest.files import replace_dir

ACCOUNT = "Account"
DEVICE = "Device"
IP = "IP"
PAYMENT_METHOD = "PaymentMethod"

#: The built-in relations: name -> (source node type, destination node type, event column).
RELATIONS: dict[str, tuple[str, str, str]] = {
    "USED_DEVICE": (ACCOUNT, DEVICE, "device_id"),
    "USED_IP": (ACCOUNT, IP, "ip"),
    "PAID_WITH": (ACCOUNT, PAYMENT_METHOD, "payment_id"),
    "TRANSACTED_WITH": (ACCOUNT, ACCOUNT, "counterparty_id"),
}

NODE_KEY_COLUMNS = ("id", "first_ts", "last_ts")
EDGE_COLUMNS = ("src", "dst", "count", "first_ts", "last_ts", "amount_sum")


class SnapshotError(ValueError):
    """A snapshot directory is missing, incomplete or of an unknown schema version."""


@dataclass(frozen=True)
class RelationSpec:
    """One relation type of a snapshot: its name and the node types it joins."""

    name: str
    src_type: str
    dst_type: str


@dataclass
class Snapshot:
    """A graph snapshot held in memory as pandas tables.

    Parameters
    ----------
    nodes
        Node type -> table with an ``id`` column (unique strings) and feature columns.
    edges
        Relation name -> table with ``src``, ``dst``, ``count``, ``first_ts``, ``last_ts``,
        ``amount_sum``.
    relations
        Relation name -> :class:`RelationSpec`.
    labels
        Optional ``account_id, label[, ts]`` table.
    meta
        Free-form manifest entries (input checksums, event counts, ...).
    """

    nodes: dict[str, pd.DataFrame]
    edges: dict[str, pd.DataFrame]
    relations: dict[str, RelationSpec]
    labels: pd.DataFrame | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def node_types(self) -> list[str]:
        """Node types in a stable order (``Account`` first)."""
        return sorted(self.nodes, key=lambda t: (t != ACCOUNT, t))

    def feature_columns(self, node_type: str) -> list[str]:
        """Numeric feature columns of ``node_type`` (everything but id and timestamps)."""
        table = self.nodes[node_type]
        return [
            c
            for c in table.columns
            if c not in NODE_KEY_COLUMNS and pd.api.types.is_numeric_dtype(table[c])
        ]

    def manifest(self) -> dict[str, Any]:
        """The ``manifest.json`` content describing this snapshot (see :mod:`graph.manifest`)."""
        return make_manifest(
            nodes={t: (len(df), self.feature_columns(t)) for t, df in self.nodes.items()},
            relations={name: (spec.src_type, spec.dst_type, len(self.edges[name]))
                       for name, spec in self.relations.items()},
            labels=None if self.labels is None
            else (len(self.labels), int((self.labels["label"] == 1).sum())),
            meta=self.meta,
        )


def write_snapshot(snapshot: Snapshot, path: str | os.PathLike[str]) -> Path:
    """Write ``snapshot`` to directory ``path`` atomically, replacing any previous snapshot.

    Returns the final path. The tables are written into a temporary sibling directory first and
    renamed into place, so a crash leaves either the old snapshot or the new one, never a mix.
    Tables are written in parallel, one per core at a time.
    """
    target = Path(path)
    tmp = new_snapshot_dir(target)
    try:
        files = [(table, tmp / "nodes" / f"{node_type}.parquet")
                 for node_type, table in snapshot.nodes.items()]
        files += [(table, tmp / "edges" / f"{name}.parquet")
                  for name, table in snapshot.edges.items()]
        if snapshot.labels is not None:
            files.append((snapshot.labels, tmp / "labels.parquet"))
        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            list(pool.map(lambda item: write_table(*item), files))
        publish_snapshot_dir(tmp, target, snapshot.manifest())
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def new_snapshot_dir(target: Path) -> Path:
    """A new temporary sibling of ``target`` with empty ``nodes/`` and ``edges/``, to fill and
    then move into place with :func:`publish_snapshot_dir`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    (tmp / "nodes").mkdir()
    (tmp / "edges").mkdir()
    return tmp


def publish_snapshot_dir(tmp: Path, target: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest`` into the filled directory ``tmp``, then replace ``target`` with it."""
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    replace_dir(tmp, target)


def write_table(table: pd.DataFrame, path: Path) -> None:
    """Write ``table`` (without its index) to the Parquet file ``path``.

    No dictionary encoding: node and edge ids are mostly distinct, so building dictionaries
    costs more than half the write for a few percent of file size.
    """
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), path, use_dictionary=False)


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check ``manifest.json`` of the snapshot at ``path``."""
    manifest_path = Path(path) / "manifest.json"
    if not manifest_path.is_file():
        raise SnapshotError(
            f"{path} is not a graph snapshot: {manifest_path.name} is missing "
            "(create one with `abusenet ingest`)"
        )
    manifest = json.loads(manifest_path.read_text())
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise SnapshotError(
            f"{manifest_path}: schema_version {version!r} is not supported "
            f"(this abusenet reads version {SCHEMA_VERSION}); rebuild the snapshot"
        )
    return manifest


def read_snapshot(
    path: str | os.PathLike[str],
    node_types: list[str] | None = None,
    relations: list[str] | None = None,
) -> Snapshot:
    """Read the snapshot at ``path`` (optionally only some node types and relations)."""
    root = Path(path)
    manifest = read_manifest(root)
    nodes = {
        t: pd.read_parquet(root / spec["file"])
        for t, spec in manifest["nodes"].items()
        if node_types is None or t in node_types
    }
    rels = {
        name: RelationSpec(name, spec["src"], spec["dst"])
        for name, spec in manifest["relations"].items()
        if relations is None or name in relations
    }
    edges = {name: pd.read_parquet(root / manifest["relations"][name]["file"]) for name in rels}
    labels_path = root / "labels.parquet"
    labels = pd.read_parquet(labels_path) if labels_path.is_file() else None
    known = {"schema_version", "created_at", "nodes", "relations", "labels"}
    meta = {k: v for k, v in manifest.items() if k not in known}
    return Snapshot(nodes=nodes, edges=edges, relations=rels, labels=labels, meta=meta)


def relation_specs(extra: Mapping[str, tuple[str, str]] | None = None) -> dict[str, RelationSpec]:
    """The built-in relation specs, plus ``extra`` (name -> (src type, dst type)) from a mapping."""
    specs = {name: RelationSpec(name, s, d) for name, (s, d, _) in RELATIONS.items()}
    for name, (src, dst) in (extra or {}).items():
        specs[name] = RelationSpec(name, src, dst)
    return specs
