"""The service's graph state: a run's snapshot and model in memory, kept current by events.

:class:`GraphState` holds every stored event in an in-memory DuckDB table, the snapshot's node
and edge tables, the detector and the run's rings. :meth:`GraphState.apply` adds accepted
events: their rows are appended to the events table, the touched accounts' and entities' rows
recomputed by :func:`graph.incremental.recompute_rows` (the snapshot's own SQL), the touched
edges replaced, and every account rescored with the detector over the whole graph, so a score
equals what ``abusenet score`` gives on a snapshot of the same events. Callers serialise
access (one lock in :mod:`abusenet.serve.app`).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from abusenet.pipeline.stages.files import EVENTS, MODEL, RINGS, SNAPSHOT
from abusenet.serve.durable_log import read_segments
from abusenet.serve.validation import canonical_mapping
from gnn.detector import AccountDetector
from graph.incremental import Touched, recompute_rows, touched_by
from graph.snapshot import ACCOUNT, Snapshot, read_snapshot
from graph.snapshot_sql import relation_sources
from ingest.engine import connect
from ingest.sql import literal
from ingest.state import IngestState
from ingest.store import event_files
from ingest.validate import event_schema

log = logging.getLogger(__name__)

#: How many shared entities and features a response names as reasons.
TOP_REASONS = 3


def run_paths(run_dir: Path) -> dict[str, Path]:
    """Where a batch run keeps its event store, snapshot, model and rings."""
    work = run_dir / ".work"
    return {
        "events": work / "ingest" / EVENTS,
        "snapshot": work / SNAPSHOT / SNAPSHOT,
        "model": run_dir / MODEL,
        "rings": run_dir / RINGS,
    }


def model_version(model_dir: Path) -> str:
    """A short content hash of the saved detector's weights and metadata."""
    digest = hashlib.sha256()
    for name in ("metadata.json", "model.pt"):
        digest.update((model_dir / name).read_bytes())
    return digest.hexdigest()[:12]


class GraphState:
    """A run's graph, model and rings, current with every applied event.

    Build it with :meth:`load`.
    """

    def __init__(self, events_dir: Path, model_dir: Path, snapshot: Snapshot,
                 rings: pd.DataFrame) -> None:
        self.events_dir = events_dir
        self.model_dir = model_dir
        self.snapshot = snapshot
        self.ingest_state = IngestState.load(events_dir)
        self.schema = event_schema(canonical_mapping(self.ingest_state))
        self.relations = [r for r in relation_sources(self.ingest_state)
                          if r.name in snapshot.relations]
        self.event_types = list(snapshot.meta.get("event_type_features", {}))
        self.float_attributes = [a for a, kind in self.ingest_state.attributes.items()
                                 if kind == "float"]
        self.rings = rings.sort_values("score", ascending=False).reset_index(drop=True)
        self.events_applied = 0
        self.lock = threading.RLock()
        self._con = connect(keep_order=True)
        self._load_events()
        self._ring_of = {m: r for r, ms in zip(self.rings["ring_id"], self.rings["members"],
                                               strict=True) for m in reversed(list(ms))}
        self.reload_model(model_dir)

    @classmethod
    def load(cls, run_dir: Path, model_dir: Path | None = None,
             snapshot_dir: Path | None = None) -> GraphState:
        """The state of the batch run in ``run_dir`` (its model and snapshot unless given),
        with the service's logged events replayed."""
        paths = run_paths(run_dir)
        snapshot = read_snapshot(snapshot_dir or paths["snapshot"])
        rings = (pd.read_parquet(paths["rings"]) if paths["rings"].is_file()
                 else pd.DataFrame({"ring_id": [], "score": [], "members": [], "evidence": []}))
        state = cls(paths["events"], model_dir or paths["model"], snapshot, rings)
        replayed = read_segments(state.events_dir, state.schema)
        if replayed.num_rows:
            state._update(touched_by(replayed, state.relations))
            state.rescore()
            log.info("replayed %d logged events", replayed.num_rows)
        return state

    # ------------------------------------------------------------------------------ updates
    def _load_events(self) -> None:
        names = ", ".join(f'"{c}"' for c in self.schema.names)
        files = [str(p) for p in event_files(self.events_dir)]
        self._con.register("_empty", self.schema.empty_table())
        self._con.execute(f"CREATE TABLE all_events AS SELECT {names} FROM _empty")
        self._con.unregister("_empty")
        if files:
            self._con.execute(
                f"INSERT INTO all_events BY NAME SELECT {names} FROM read_parquet("
                f"{literal(files)}, union_by_name = true, hive_partitioning = false)")

    def known_ids(self, ids: list[str]) -> set[str]:
        """Those of ``ids`` already among the events."""
        self._con.register("_ids", pa.table({"id": pa.array(ids, pa.string())}))
        try:
            rows = self._con.execute(
                "SELECT DISTINCT event_id FROM all_events WHERE event_id IN "
                "(SELECT id FROM _ids)").fetchall()
        finally:
            self._con.unregister("_ids")
        return {r[0] for r in rows}

    def apply(self, events: pa.Table) -> None:
        """Add canonical ``events`` (new ``event_id`` s) to the graph and rescore."""
        self._con.register("_new", events.select(self.schema.names).cast(self.schema))
        try:
            self._con.execute("INSERT INTO all_events BY NAME SELECT * FROM _new")
        finally:
            self._con.unregister("_new")
        self._update(touched_by(events, self.relations))
        self.events_applied += events.num_rows
        self.rescore()

    def _update(self, touched: Touched) -> None:
        nodes, edges = recompute_rows(self._con, "all_events", touched, self.event_types,
                                      self.relations, self.float_attributes)
        merged_nodes = dict(self.snapshot.nodes)
        for node_type, rows in nodes.items():
            old = merged_nodes.get(node_type)
            if old is None:
                continue
            rows = _like(rows, old)
            merged_nodes[node_type] = pd.concat(
                [old[~old["id"].isin(rows["id"])], rows], ignore_index=True)
        merged_edges = dict(self.snapshot.edges)
        for name, rows in edges.items():
            old = merged_edges[name]
            merged_edges[name] = pd.concat(
                [old[~old["src"].isin(touched.accounts)], _like(rows, old)], ignore_index=True)
        self.snapshot = replace(self.snapshot, nodes=merged_nodes, edges=merged_edges)

    def reload_model(self, model_dir: Path | None = None) -> str:
        """Load the detector in ``model_dir`` (default: the current one), rescore, and return
        its version."""
        model_dir = model_dir or self.model_dir
        detector = AccountDetector.load(model_dir)
        version = model_version(model_dir)
        with self.lock:
            self.detector, self.model_dir, self.model_version = detector, model_dir, version
            self.rescore()
        return version

    def rescore(self) -> None:
        """Score every account of the current graph with the current detector."""
        scores = self.detector.score_accounts(self.snapshot)
        self.scores = pd.Series(scores["score"].to_numpy(), index=scores["account_id"])

    # ------------------------------------------------------------------------------ queries
    def graph_size(self) -> dict[str, int]:
        """Nodes per type and edges per relation."""
        sizes = {f"nodes:{t}": len(df) for t, df in self.snapshot.nodes.items()}
        sizes.update({f"edges:{r}": len(df) for r, df in self.snapshot.edges.items()})
        return sizes

    def entities_of(self, account_id: str) -> list[tuple[str, str]]:
        """``(node type, entity id)`` of every entity (not account) ``account_id`` used."""
        found = []
        for rel in self.relations:
            if rel.node_type == ACCOUNT:
                continue
            table = self.snapshot.edges[rel.name]
            found += [(rel.node_type, d) for d in table.loc[table["src"] == account_id, "dst"]]
        return found

    def accounts_of(self, node_type: str, entity_id: str) -> list[str]:
        """Accounts that used the entity ``entity_id`` of type ``node_type``."""
        out: list[str] = []
        for rel in self.relations:
            if rel.node_type == node_type and rel.node_type != ACCOUNT:
                table = self.snapshot.edges[rel.name]
                out += table.loc[table["dst"] == entity_id, "src"].tolist()
        return sorted(set(out))

    def entity_view(self, node_type: str, entity_id: str) -> dict[str, Any] | None:
        """An entity's risk (the mean score of its accounts), accounts and rings."""
        table = self.snapshot.nodes.get(node_type)
        if table is None or node_type == ACCOUNT or not (table["id"] == entity_id).any():
            return None
        accounts = self.accounts_of(node_type, entity_id)
        scores = self.scores.reindex(accounts).fillna(0.0)
        key = f"{node_type}:{entity_id}"
        rings = [r for r, ev in zip(self.rings["ring_id"], self.rings["evidence"], strict=True)
                 if key in set(ev)]
        return {"node_type": node_type, "entity_id": entity_id,
                "score": float(scores.mean()) if len(scores) else 0.0,
                "accounts": accounts, "rings": rings}

    def ring_view(self, ring_id: str) -> dict[str, Any] | None:
        """A ring of the run: its score, members (with their current scores) and evidence."""
        rows = self.rings[self.rings["ring_id"] == ring_id]
        if rows.empty:
            return None
        row = rows.iloc[0]
        members = list(row["members"])
        return {"ring_id": ring_id, "score": float(row["score"]), "size": len(members),
                "kind": row.get("kind"), "evidence": list(row["evidence"]),
                "members": {m: _maybe(self.scores.get(m)) for m in members}}

    def account_view(self, account_id: str) -> dict[str, Any] | None:
        """An account's current score, ring and top reasons; ``None`` when unknown."""
        if account_id not in self.scores.index:
            return None
        entities = self.entities_of(account_id)
        return {"account_id": account_id, "score": float(self.scores[account_id]),
                "model_version": self.model_version, "ring": self._ring(account_id, entities),
                "reasons": self._reasons(account_id, entities)}

    def _ring(self, account_id: str, entities: list[tuple[str, str]]) -> dict[str, Any] | None:
        ring_id = self._ring_of.get(account_id)
        via = None
        if ring_id is None:
            for node_type, entity_id in entities:
                others = [a for a in self.accounts_of(node_type, entity_id) if a != account_id]
                joined = next((self._ring_of[a] for a in others if a in self._ring_of), None)
                if joined is not None and (ring_id is None or self._ring_score(joined)
                                           > self._ring_score(ring_id)):
                    ring_id, via = joined, f"{node_type}:{entity_id}"
        if ring_id is None:
            return None
        return {"ring_id": ring_id, "score": self._ring_score(ring_id),
                "membership": "member" if via is None else "joins", "via": via}

    def _ring_score(self, ring_id: str) -> float:
        return float(self.rings.loc[self.rings["ring_id"] == ring_id, "score"].iloc[0])

    def _reasons(self, account_id: str, entities: list[tuple[str, str]]) -> dict[str, Any]:
        shared = []
        for node_type, entity_id in entities:
            accounts = self.accounts_of(node_type, entity_id)
            if len(accounts) < 2:
                continue
            others = [a for a in accounts if a != account_id]
            risk = float(self.scores.reindex(others).fillna(0.0).mean())
            shared.append({"entity": f"{node_type}:{entity_id}", "accounts": len(accounts),
                           "risk": risk})
        shared.sort(key=lambda s: (-s["risk"], s["entity"]))
        table = self.snapshot.nodes[ACCOUNT]
        row = table[table["id"] == account_id]
        z = self.detector.scaler_.transform(ACCOUNT, row).numpy()[0]
        columns = self.detector.scaler_.columns.get(ACCOUNT, [])
        order = np.argsort(-np.abs(z))[:TOP_REASONS]
        features = [{"feature": columns[i], "value": _maybe(row.iloc[0][columns[i]]),
                     "z": float(z[i])} for i in order]
        return {"shared_entities": shared[:TOP_REASONS], "features": features}


def _like(rows: pd.DataFrame, old: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with the columns and dtypes of ``old``."""
    rows = rows.reindex(columns=old.columns)
    return rows.astype(old.dtypes.to_dict()) if len(rows) else old.iloc[0:0]


def _maybe(value: Any) -> Any:
    """A JSON-friendly number (``None`` for missing)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value
