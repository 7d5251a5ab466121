"""The service's graph state: a run's graph and model in memory, kept current by events.

:class:`GraphState` holds every stored event in numpy columns (:class:`graph.live_features.
LiveFeatures`, indexed per node), the event ids (hashed), the graph as a
:class:`~gnn.local_scoring.LocalGraph` (an id -> row index per node type, raw and scaled
features, in-neighbour lists per relation, grown in place), the detector, and the run's rings.
:meth:`GraphState.apply` adds accepted events: their columns are appended, the touched accounts'
and entities' feature rows recomputed from their own events (the snapshot's formulas, in
numpy), the new edges added, a boosted detector's column recomputed for the accounts whose
trees' input the change reaches (:class:`gnn.boosted.LiveBoostedColumn`), and the touched
nodes marked changed (:meth:`~gnn.local_scoring.LocalScorer.mark`). Scores are computed when read
(:meth:`~gnn.local_scoring.LocalScorer.current`): only what a change reaches is recomputed, so a
score read equals what ``abusenet score`` gives on a snapshot of the same events, however big a
hub the change touched.

Concurrency: writers (``apply``, ``reload_model``) hold :attr:`GraphState.write_lock` for the
whole update; readers and writers hold :attr:`GraphState.lock` while the graph is changed in
place or read (a read that finds stale scores recomputes them under it).

What a start computes from the snapshot and the model, and the stored events as the start holds
them, are kept for the next start (:mod:`abusenet.serve.start_cache`).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from abusenet.serve.durable_log import read_segments
from abusenet.serve.start_cache import (
    EVENTS_ADDED,
    EVENTS_META,
    cache_complete,
    file_stats,
    fit_and_save_start,
    fit_spilled,
    model_version,
    read_ahead,
    restore_start,
    restore_xgb_start,
    run_paths,
    save_busy,
    save_events,
    save_xgb_start,
    start_caches,
    stored_files,
    xgb_start_file,
)
from abusenet.serve.validation import canonical_mapping
from abusenet.validation.challenger import CHALLENGER, CHALLENGER_DIR, GNN, read_published
from gnn.baselines.xgb_graph import XGBGraph
from gnn.boosted import LiveBoostedColumn
from gnn.detector import AccountDetector
from gnn.ensemble_scoring import EnsembleScorer
from gnn.live_xgb_graph import LiveXGBGraph, grown_rows
from gnn.local_scoring import (
    INPUT_CACHE_ROWS,
    GrowingAdjacency,
    LocalGraph,
    LocalScorer,
    ScoreJournal,
)
from graph.incremental import new_edge_rows, new_edges
from graph.live_features import ACTOR, BUSY, LiveFeatures, NodeIndex
from graph.snapshot import ACCOUNT, Snapshot, read_snapshot
from graph.snapshot_sql import relation_sources
from graph.store.live_write import LiveChange
from ingest.engine import connect
from ingest.sql import literal
from ingest.state import IngestState
from ingest.validate import event_schema

log = logging.getLogger(__name__)

#: How many shared entities and features a response names as reasons.
TOP_REASONS = 3
#: From this many distinct accounts on, :meth:`GraphState.account_views` picks each account's
#: ring and top reasons with array operations (:meth:`GraphState._rings_of_batch`), below it
#: with a loop over the entries (faster for a few: no array set-up).
BATCH_VIEWS = 16
#: Entities with this many edges from accounts or more keep their accounts between views
#: (:class:`_HubAccounts`).
HUB_ACCOUNTS = 64
#: Accounts whose views :meth:`GraphState.warm` computes before the first request, one by
#: one and then all at once (the single's and the batch's paths).
WARM_ACCOUNTS = 64
#: Stored events taken in at once at start (their text is freed before the next ones are read;
#: each part's id lookup hashes every known id again, so parts are few: DuckDB's reader yields
#: a batch per Parquet row group whatever its batch size: at 1M accounts, 11.3M events looked
#: up in its 119 batches took 122.3 CPU s to load, in three parts 30.0 at load ~8).
_LOAD_ROWS = 4_000_000
#: Stored event ids hashed at a time at start (:func:`_hash_ids`).
_HASH_ROWS = 1 << 18
#: From this share of the events logged by the service, a start scores the whole graph again
#: after replaying them (one pass); below it, only their accounts now, and the rest they reach
#: when read (as the service does after each group of events).
_REPLAY_REFIT = 0.05
#: The share of the memory available at start (``MemAvailable``) that the GNN scorers' input
#: cache may take by default (:func:`auto_input_cache_rows`): holding every input row at 1M
#: accounts (~4.4M nodes, ~1.1 GB) cuts the CPU of a batch event by about a fifth.
AUTO_CACHE_SHARE = 0.25


class _RawValues:
    """Raw feature values of one node type, read (``[rows]``) and written as float64: the
    columns holding only integers below 2**24 in magnitude (counts: exact in float32) kept as
    float32, the others as float64 (a column is widened when a written value needs it)."""

    def __init__(self, values: np.ndarray) -> None:
        self.width = values.shape[1]
        self.narrow = np.array([j for j in range(self.width) if _exact32(values[:, j])],
                               dtype=np.int64)
        self.wide = np.setdiff1d(np.arange(self.width), self.narrow)
        self._narrow = values[:, self.narrow].astype(np.float32)
        self._wide = values[:, self.wide]

    def __len__(self) -> int:
        return len(self._wide)

    def __getitem__(self, rows: int | slice | np.ndarray) -> np.ndarray:
        narrow, wide = self._narrow[rows], self._wide[rows]
        out = np.empty((*wide.shape[:-1], self.width), dtype=np.float64)
        out[..., self.narrow] = narrow
        out[..., self.wide] = wide
        return out

    def __setitem__(self, rows: np.ndarray, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64)
        narrow = values[..., self.narrow].reshape(-1, len(self.narrow))
        with np.errstate(invalid="ignore"):  # NaN compares false: it fits float32
            inexact = (narrow != np.round(narrow)) | ~(np.abs(narrow) < 2 ** 24)
        widen = np.flatnonzero((inexact & ~np.isnan(narrow)).any(axis=0)).tolist()
        if widen:
            self.wide = np.concatenate([self.wide, self.narrow[widen]])
            self._wide = np.column_stack([self._wide, self._narrow[:, widen].astype(np.float64)])
            self.narrow = np.delete(self.narrow, widen)
            self._narrow = np.delete(self._narrow, widen, axis=1)
        self._narrow[rows] = values[..., self.narrow]
        self._wide[rows] = values[..., self.wide]

    def grow(self, size: int) -> None:
        """Room for ``size`` rows (new ones zero; none when there is room already)."""
        if size <= len(self):
            return
        for name in ("_narrow", "_wide"):
            held = getattr(self, name)
            grown = np.zeros((size, held.shape[1]), dtype=held.dtype)
            grown[:len(held)] = held
            setattr(self, name, grown)


def _exact32(values: np.ndarray) -> bool:
    """Whether float32 holds ``values`` exactly (integers below 2**24 in magnitude, or NaN)."""
    finite = values[~np.isnan(values)]
    return bool(np.all((finite == np.round(finite)) & (np.abs(finite) < 2 ** 24)))


class _NodeRows:
    """One node type's ids (row order, shared with the live features) and raw feature values
    (:class:`_RawValues`)."""

    def __init__(self, index: NodeIndex, table: pd.DataFrame, columns: list[str]) -> None:
        self.index = index
        self.columns = columns
        self.integer = [pd.api.types.is_integer_dtype(table[c]) for c in columns]
        self.raw = _RawValues(table[columns].to_numpy(dtype=np.float64))

    @property
    def ids(self) -> list[str]:
        """Node ids in row order."""
        return self.index.ids

    @property
    def row(self) -> dict[str, int]:
        """Node id -> row."""
        return self.index.row

    def frame(self, rows: np.ndarray | slice) -> pd.DataFrame:
        """Raw feature values of ``rows`` as a table (the scaler's input)."""
        return pd.DataFrame(self.raw[rows], columns=self.columns)

    def set(self, rows: np.ndarray, values: np.ndarray) -> None:
        """Store the raw feature ``values`` of ``rows`` (room made for new rows)."""
        if len(self.ids) > len(self.raw):
            self.reserve()
        self.raw[rows] = values

    def reserve(self) -> None:
        """Room for an eighth more rows than there are ids (unless there is), so that rows
        added one by one seldom copy the values."""
        n = len(self.ids)
        if len(self.raw) < n + n // 8:
            self.raw.grow(n + n // 8 + 1024)


class _Scaling:
    """A detector scaler's transform of raw rows of one node type, from its public statistics
    in numpy (``FeatureScaler.transform`` builds a DataFrame per call: a millisecond per
    event). Built only where it reproduces ``transform`` bit for bit on ``sample``; else
    :meth:`__call__` calls ``transform`` itself."""

    def __init__(self, scaler: Any, node_type: str, columns: list[str],
                 sample: np.ndarray) -> None:
        self.scaler, self.node_type, self.columns = scaler, node_type, columns
        wanted = scaler.columns.get(node_type, [])
        self.positions = [columns.index(c) for c in wanted if c in columns]
        self.exact = len(self.positions) == len(wanted) > 0
        # :meth:`_plan`'s (raw.narrow, raw.wide, plan), kept until raw widens a column
        self._planned: tuple[np.ndarray, np.ndarray, list] | None = None
        if self.exact:
            self.mean = np.asarray(scaler.mean[node_type], dtype=np.float64)
            self.std = np.asarray(scaler.std[node_type], dtype=np.float64)
            self.exact = np.array_equal(self(sample), self._transform(sample), equal_nan=True)

    def _transform(self, raw: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame(raw, columns=self.columns)
        return self.scaler.transform(self.node_type, frame).numpy()

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        """Scaled float32 features of ``raw`` rows (the node type's raw columns)."""
        if not self.exact:
            return self._transform(raw)
        values = raw[:, self.positions]
        values = np.sign(values) * np.log1p(np.abs(values))
        values = (values - self.mean) / self.std
        if not np.isfinite(values).all():  # one pass where all are (nan_to_num: six)
            np.nan_to_num(values, copy=False)
        return values.astype(np.float32)

    def read(self, raw: _RawValues, rows: np.ndarray) -> np.ndarray:
        """``self(raw[rows])``, the scaler's columns read straight from ``raw``'s float32 and
        float64 blocks into one array (no full-width rows gathered first) and scaled in place:
        the same values (a raw -0.0 may scale to -0.0 where ``__call__`` gives 0.0)."""
        if not self.exact:
            return self(raw[rows])
        values = np.empty((len(rows), len(self.positions)))
        for narrow, columns, into in self._plan(raw):
            got = (raw._narrow if narrow else raw._wide).take(rows, axis=0)  # ~1.5x rows[...]
            values[:, into] = got if columns is None else got.take(columns, axis=1)
        scaled = np.abs(values)
        np.log1p(scaled, out=scaled)
        np.copysign(scaled, values, out=scaled)
        scaled -= self.mean
        scaled /= self.std
        if not np.isfinite(scaled).all():  # one pass where all are (nan_to_num: six)
            np.nan_to_num(scaled, copy=False)
        return scaled.astype(np.float32)

    def _plan(self, raw: _RawValues) -> list[tuple[bool, np.ndarray | None, Any]]:
        """Per raw block (float32, float64) holding some of the scaler's columns: whether it
        is the float32 one, its columns to read in the scaler's order (None: all, in order)
        and where they go among the scaler's columns (a slice where consecutive); kept until
        ``raw`` widens a column."""
        planned = self._planned
        if planned is not None and planned[0] is raw.narrow and planned[1] is raw.wide:
            return planned[2]
        positions = np.asarray(self.positions, dtype=np.int64)
        plan: list[tuple[bool, np.ndarray | None, Any]] = []
        for narrow, held in ((True, raw.narrow), (False, raw.wide)):
            into = np.flatnonzero(np.isin(positions, held))
            if not len(into):
                continue
            place = np.empty(raw.width, dtype=np.int64)  # a raw column's place in the block
            place[held] = np.arange(len(held))
            columns = place[positions[into]]
            whole = np.array_equal(columns, np.arange(len(held)))
            consecutive = np.array_equal(into, np.arange(into[0], into[0] + len(into)))
            plan.append((narrow, None if whole else columns,
                         slice(int(into[0]), int(into[0]) + len(into)) if consecutive else into))
        self._planned = (raw.narrow, raw.wide, plan)
        return plan


class GraphState:
    """A run's graph, model and rings, current with every applied event.

    Build it with :meth:`load`.
    """

    def __init__(self, events_dir: Path, model_dir: Path, snapshot: Snapshot,
                 rings: pd.DataFrame, start: Path | None = None,
                 events_cache: Path | None = None,
                 input_cache_rows: int | None = None) -> None:
        #: The GNN scorers' input-embedding budget (:class:`~gnn.local_scoring.LocalScorer`;
        #: ``None``: :func:`auto_input_cache_rows` of the graph and the memory at start).
        self.input_cache_rows = INPUT_CACHE_ROWS if input_cache_rows is None else input_cache_rows
        self._live_setup(events_dir, snapshot)
        # Where a reload's whole pass writes its kept embeddings (:func:`fit_spilled`).
        self._spill_root = None if start is None else start.parent
        # The start caches (:meth:`warm` reads them ahead).
        self._caches = [cache for cache in (start, events_cache) if cache is not None]
        self.rings = rings.sort_values("score", ascending=False).reset_index(drop=True)
        self._ring_ids: list[str] = self.rings["ring_id"].tolist()  # _ring_rank's positions
        self.events_applied = 0
        self.lock = threading.RLock()
        self.write_lock = threading.RLock()
        self._ring_of = {m: r for r, ms in zip(self.rings["ring_id"], self.rings["members"],
                                               strict=True) for m in reversed(list(ms))}
        self._ring_score = dict(zip(self.rings["ring_id"], self.rings["score"].astype(float),
                                    strict=True))
        self._entity_rings: dict[str, list[str]] = {}
        self._hub_accounts = _HubAccounts()
        # (graph, into, outgoing) of _entity_adjacencies, for the graph it was built for
        self._adjacencies: tuple[LocalGraph, dict, dict] | None = None
        for ring_id, evidence in zip(self.rings["ring_id"], self.rings["evidence"], strict=True):
            for key in dict.fromkeys(evidence):
                self._entity_rings.setdefault(key, []).append(ring_id)
        detector = AccountDetector.load(model_dir)
        self._build_graph(snapshot, detector)
        if input_cache_rows is None:
            nodes, available = sum(self.graph.num_nodes.values()), available_memory()
            self.input_cache_rows = auto_input_cache_rows(
                nodes, detector.model_.hidden_channels * len(detector.members_), available)
            log.info("GNN input cache: %d rows for %d nodes (%s bytes of memory available)",
                     self.input_cache_rows, nodes, available)
        del snapshot  # load() keeps no reference: its tables are freed before the events' load
        _release_memory()
        self._load_events(events_cache)
        _release_memory()
        self._use_model(detector, model_dir, start)
        # Per account row: the position (in descending score order) of its best ring.
        self._ring_rank = np.full(len(self._index[ACCOUNT].ids), len(self.rings), dtype=np.int64)
        for rank, members in enumerate(self.rings["members"]):
            rows = [self._index[ACCOUNT].row[m] for m in members if m in self._index[ACCOUNT].row]
            self._ring_rank[rows] = np.minimum(self._ring_rank[rows], rank)

    def _live_setup(self, events_dir: Path, snapshot: Snapshot) -> None:
        """The event store's settings (schema, relations), the node index of ``snapshot``
        and the (empty) live features over it."""
        self.events_dir = events_dir
        self.ingest_state = IngestState.load(events_dir)
        self.schema = event_schema(canonical_mapping(self.ingest_state))
        self.relations = [r for r in relation_sources(self.ingest_state)
                          if r.name in snapshot.relations]
        self._index = _node_index(snapshot)
        float_attributes = [a for a, kind in self.ingest_state.attributes.items()
                            if kind == "float"]
        self.live = LiveFeatures(self._index, list(snapshot.meta.get("event_type_features", {})),
                                 self.relations, float_attributes,
                                 attribute_shares=snapshot.meta.get("attribute_shares"))

    @classmethod
    def load(cls, run_dir: Path, model_dir: Path | None = None,
             snapshot_dir: Path | None = None,
             input_cache_rows: int | None = None) -> GraphState:
        """The state of the batch run in ``run_dir`` (its model and snapshot unless given),
        with the service's logged events replayed; its GNN scorers hold ``input_cache_rows``
        input embeddings for reads (a graph whose nodes and an eighth more fit holds every
        row: less CPU per request for memory, ``abusenet serve --input-cache-rows``; default
        :func:`auto_input_cache_rows`: every row when they fit a share of the memory
        available at start, else :data:`~gnn.local_scoring.INPUT_CACHE_ROWS`).

        What the start computes from the snapshot and the model alone (the boosted column,
        the scorer's kept embeddings and scores) is saved under the run's work directory
        (``.work/serve/start/<key>``, :func:`~abusenet.serve.start_cache.start_key`) the
        first time and read back at later starts of the same snapshot and model
        (:meth:`_use_model`); the stored events as the live features hold them, likewise
        (``.work/serve/events/<key>``, :func:`~abusenet.serve.start_cache.events_key`,
        :meth:`_load_events`). A training ``abusenet run`` writes both
        (:meth:`prepare_start`), so that its first start reads them."""
        paths = run_paths(run_dir)
        rings = (pd.read_parquet(paths["rings"]) if paths["rings"].is_file()
                 else pd.DataFrame({"ring_id": [], "score": [], "members": [], "evidence": []}))
        model_dir, snapshot_dir = model_dir or paths["model"], snapshot_dir or paths["snapshot"]
        state = cls(paths["events"], model_dir, read_snapshot(snapshot_dir), rings,
                    *start_caches(run_dir, model_dir, snapshot_dir),
                    input_cache_rows=input_cache_rows)
        replayed = read_segments(state.events_dir, state.schema)
        if replayed.num_rows:
            with state.write_lock:
                state._update(replayed, stored=True)
                if replayed.num_rows >= _REPLAY_REFIT * state.live.size:
                    state.rescore()
                else:  # what the events reach is rescored when read, as in service
                    state.refresh(list(dict.fromkeys(
                        replayed.column("account_id").to_pylist())))
            log.info("replayed %d logged events", replayed.num_rows)
        # The held events' and nodes' arrays grown now, not on the first event or new node
        # (at 1M accounts the first new device's copies cost ~0.1 s of a request).
        state.live.reserve(1)
        state.graph.reserve()  # the first new node copies no feature array
        for rows in state.nodes.values():
            rows.reserve()
        log.info("kept %d hub entities for the views", state.keep_hubs())
        _release_memory()  # the start's temporaries, before the first request or reload
        return state

    @classmethod
    def prepare_start(cls, run_dir: Path, model_dir: Path | None = None,
                      snapshot_dir: Path | None = None) -> list[Path]:
        """Compute and save the caches that :meth:`load` of the same arguments reads (the
        start cache ``.work/serve/start/<key>`` and the stored events'
        ``.work/serve/events/<key>``), so that even the first start of the run's service
        reads them; the caches written (none when both are there already).

        The run's rings and the service's log are not read. The graph and the scorer's
        whole-graph pass are computed and freed before the stored events are read (the peak
        is the larger of the two, not their sum). Each cache is written into a temporary
        directory renamed when complete; one that cannot be written (read-only run, full
        disk) is skipped with a warning.
        """
        paths = run_paths(run_dir)
        model_dir, snapshot_dir = model_dir or paths["model"], snapshot_dir or paths["snapshot"]
        start, events = start_caches(run_dir, model_dir, snapshot_dir)
        xgb_start = xgb_start_file(start, model_dir)
        todo = [p for p in (start, events) if not cache_complete(p)]
        if start not in todo and xgb_start is not None and not xgb_start.is_file():
            todo.insert(0, start)  # XGB-Graph's scores missing from a complete cache
        if not todo:
            return []
        snapshot = read_snapshot(snapshot_dir)
        state = cls.__new__(cls)  # the graph and the events only: no rings, locks or model
        state.input_cache_rows = INPUT_CACHE_ROWS  # what the start cache keeps does not read it
        state._live_setup(paths["events"], snapshot)
        if start in todo:
            detector = AccountDetector.load(model_dir)
            state._build_graph(snapshot, detector)
            del snapshot
            _release_memory()
            state._fitted(detector, state._live_xgb_graph(model_dir), model_dir, start=start)
            del state.graph, state.nodes, detector
        else:
            del snapshot
        _release_memory()
        if events in todo:
            state._load_events(events)
        return [p for p in todo if cache_complete(p)]

    def _build_graph(self, snapshot: Snapshot, detector: AccountDetector) -> None:
        """The node rows and the graph of ``snapshot``: nodes in the order of its tables (and
        the node types of ``detector``'s scaler it lacks, empty), edges as
        :func:`gnn.data.snapshot_graph.snapshot_to_heterodata` lays them out (those naming a
        node missing from the node tables left out), their ids looked up in Arrow; features
        without columns until :meth:`_use_model` scales them."""
        self.nodes = {t: _NodeRows(self._index[t], snapshot.nodes[t], snapshot.feature_columns(t))
                      for t in snapshot.node_types}
        sizes = {t: len(snapshot.nodes[t]) for t in snapshot.node_types}
        widths = dict.fromkeys(sizes, 0)
        for t, columns in detector.scaler_.columns.items():
            if t not in sizes:
                sizes[t], widths[t] = 0, len(columns)
        edges = {}
        for name, spec in snapshot.relations.items():
            if spec.src_type not in sizes or spec.dst_type not in sizes:
                continue
            table = snapshot.edges[name]
            src = self._find(spec.src_type, table["src"])
            dst = self._find(spec.dst_type, table["dst"])
            known = (src >= 0) & (dst >= 0)
            if not known.all():
                log.warning("relation %s: %d edges name nodes missing from the node tables and "
                            "were left out", name, int((~known).sum()))
            edges[(spec.src_type, name, spec.dst_type)] = np.stack([src[known], dst[known]])
        self.edge_types = {et[1]: et for et in edges}
        self.graph = LocalGraph({t: np.zeros((n, widths[t]), np.float32)
                                 for t, n in sizes.items()}, edges)

    def _find(self, node_type: str, ids: pd.Series) -> np.ndarray:
        """Rows of ``ids`` of ``node_type`` (-1 for one not among its nodes)."""
        index = self._index.get(node_type)
        if index is None:
            return np.full(len(ids), -1, dtype=np.int64)
        return index.find(pa.array(ids.astype(str), type=pa.large_string()))

    # ------------------------------------------------------------------------------ updates
    def _events_layout(self) -> dict[str, Any]:
        """What the stored events' cache was saved for besides its key: the live features'
        roles, event types, float attributes and string attributes' values (when any), the
        canonical columns, the node counts."""
        layout = {"roles": list(self.live.roles), "event_types": self.live.event_types,
                  "attributes": self.live.float_attributes, "columns": self.schema.names,
                  "nodes": {t: len(index.ids) for t, index in self._index.items()}}
        if self.live.attribute_shares:  # only then: older caches keep their layout
            layout["attribute_shares"] = self.live.attribute_shares
        return layout

    def _load_events(self, cache: Path | None = None) -> None:
        """Every stored event into the live features, ``_LOAD_ROWS`` at a time (so the
        events' text is never held all at once), in :func:`stored_files` order; their ids
        hashed.

        ``cache``: the stored events' cache directory
        (:func:`~abusenet.serve.start_cache.events_key`). When it was saved for the same
        layout, what it holds is read instead (memory-mapped,
        :meth:`graph.live_features.LiveFeatures.restore`), back to the last time it was saved
        with segments the store still begins with (:meth:`_restore_events`), and the segments
        logged since are read and appended (:meth:`~graph.live_features.LiveFeatures.extend`):
        a start after the service logged events reads those only. Else every event is read
        from the store. Unless the cache held them all, what is held is then saved there.

        The busy entities' running rows over the stored events are saved with them and read
        back likewise (:meth:`~graph.live_features.LiveFeatures.save_busy`), so that a hub's
        first event after a start reads none of its history; a cache saved without them (or
        whose cannot be read) gets them now (:func:`~abusenet.serve.start_cache.save_busy`)."""
        layout = self._events_layout()
        stored, segments = stored_files(self.events_dir)
        held = None if cache is None else self._restore_events(cache, segments)
        busy = held is not None and self._restore_busy(cache)  # for a save again, or reads
        if held == len(segments):
            if not busy and save_busy(cache, self.live):
                self._restore_busy(cache)
            return
        hashes: list[np.ndarray] = []
        if held is None:
            self.live.load(self._read_events(stored, hashes))
            stored_ids = np.sort(np.concatenate(hashes)) if hashes else np.empty(0, np.uint64)
            self._saves = [[0, self.live.size, self._added_counts()]]
            self._segment_ids = np.empty(0, dtype=np.uint64)
            hashes = []
            held = 0
        else:
            stored_ids = self._stored_ids
        self.live.extend(self._read_events(segments[held:], hashes))
        new = np.concatenate(hashes) if hashes else np.empty(0, dtype=np.uint64)
        self._segment_ids = np.concatenate([self._segment_ids, new])
        new = np.sort(new)
        self._stored_ids = np.insert(stored_ids, np.searchsorted(stored_ids, new), new)
        self._event_ids: set[str] = set()
        if cache is None or not (stored or segments):
            return
        if len(segments) > self._saves[-1][0]:
            self._saves.append([len(segments), self.live.size, self._added_counts()])
        meta = {**layout, "size": self.live.size,
                "segments": file_stats(self.events_dir, segments), "saves": self._saves}
        added = {t: list(index.ids.added) for t, index in self._index.items()
                 if index.ids.added}
        if save_events(cache, self.live, self._stored_ids, self._segment_ids, meta, added):
            # Held from the files just written (mapped: pages no update reads are not resident)
            # instead of in the process's own memory, as a later start holds them.
            live = self.live
            self.live = LiveFeatures(self._index, live.event_types, live.relations,
                                     live.float_attributes, live.summary_events,
                                     attribute_shares=live.attribute_shares)
            try:
                self.live.restore(cache, live.size, base=live.base)
                self._stored_ids = np.load(cache / "stored_ids.npy", mmap_mode="r")
            except (OSError, ValueError):
                self.live = live
            else:
                self._restore_busy(cache)
            del live

    def _added_counts(self) -> dict[str, int]:
        """How many node ids of each type the events held so far added to the snapshot's."""
        return {t: len(index.ids.added) for t, index in self._index.items()}

    def _read_events(self, files: list[Path], hashes: list[np.ndarray]) -> Iterator[pa.Table]:
        """The events of ``files`` in parts of about ``_LOAD_ROWS`` (DuckDB yields a batch per
        Parquet row group), each part's ids hashed into ``hashes``."""
        if not files:
            return
        names = ", ".join(f'"{c}"' for c in self.schema.names)
        con = connect(keep_order=True)
        try:
            reader = con.sql(
                f"SELECT {names} FROM read_parquet({literal([str(p) for p in files])}, "
                "union_by_name = true, hive_partitioning = false)"
            ).to_arrow_reader(batch_size=_LOAD_ROWS)
            pending: list[pa.RecordBatch] = []
            for batch in reader:  # one a row group: joined into parts of _LOAD_ROWS
                pending.append(batch)
                if sum(b.num_rows for b in pending) >= _LOAD_ROWS:
                    yield self._part(pending, hashes)
                    pending = []
            if pending:
                yield self._part(pending, hashes)
        finally:
            con.close()

    def _part(self, batches: list[pa.RecordBatch], hashes: list[np.ndarray]) -> pa.Table:
        """``batches`` as one canonical table, their ids' hashes appended to ``hashes``."""
        events = pa.Table.from_batches(batches).select(self.schema.names).cast(self.schema)
        ids = events.column("event_id")
        # hashed a slice at a time: each slice's ids become Python strings meanwhile
        hashes.append(np.concatenate([_hash_ids(ids.slice(start, _HASH_ROWS))
                                      for start in range(0, max(len(ids), 1), _HASH_ROWS)]))
        return events

    def _restore_events(self, cache: Path, segments: list[Path]) -> int | None:
        """Read the stored events' cache ``cache`` (:meth:`_load_events`); how many of
        ``segments`` (the store's, in order) it holds, or None (nothing read) when there is
        none, it was saved for another layout or it cannot be read.

        When the store no longer begins with every segment the cache holds (some were
        removed), its events are cut back to those it held at its last save whose segments
        the store still begins with (at worst the stored files' alone)."""
        meta_file = cache / EVENTS_META
        if not meta_file.is_file():
            return None
        try:
            meta = json.loads(meta_file.read_text())
            size, saved, saves = meta.pop("size"), meta.pop("segments"), meta.pop("saves")
            if meta != self._events_layout():
                raise ValueError("saved for other roles, columns or nodes")
            current = file_stats(self.events_dir, segments[:len(saved)])
            same = next((k for k, (a, b) in enumerate(zip(saved, current, strict=False))
                         if a != b), min(len(saved), len(current)))
            saves = [s for s in saves if s[0] <= same]
            held, keep, added = saves[-1]
            stored_ids = np.load(cache / "stored_ids.npy", mmap_mode="r")
            segment_ids = np.load(cache / "segment_ids.npy")
            base = saves[0][1]
            if len(stored_ids) != size or len(segment_ids) != size - base:
                raise ValueError(f"{len(stored_ids)} event ids for {size} events")
            new_ids = json.loads((cache / EVENTS_ADDED).read_text())
            new_ids = {t: new_ids.get(t, [])[:n] for t, n in added.items() if n}
            for t, ids in new_ids.items():
                if (self._index[t].find_ids(ids) >= 0).any() or len(set(ids)) < len(ids):
                    raise ValueError(f"{t} ids it adds are known already")
            self.live.restore(cache, size, base=base)
        except (OSError, ValueError, KeyError, IndexError, TypeError) as err:
            log.warning("stored events' cache %s cannot be read (%s): reading the events", cache,
                        err)
            return None
        for t, ids in new_ids.items():  # the node ids its events named beyond the snapshot's
            self._index[t].rows(ids)
        if keep < size:  # segments it held are gone: their events and ids dropped
            self.live.truncate(keep)
            gone = np.sort(segment_ids[keep - base:])
            stored_ids = np.delete(stored_ids, np.searchsorted(stored_ids, gone))
            segment_ids = segment_ids[:keep - base]
        self._stored_ids, self._segment_ids, self._saves = stored_ids, segment_ids, saves
        self._event_ids = set()
        log.info("stored events read from %s", cache)
        return held

    def _restore_busy(self, cache: Path) -> bool:
        """Read the busy entities' running rows saved in the stored events' cache ``cache``
        (:meth:`~graph.live_features.LiveFeatures.restore_busy`); whether there were any that
        could be read (if not, they are computed when an entity is first read, or saved)."""
        try:
            return self.live.restore_busy(cache / BUSY)
        except (OSError, ValueError, KeyError, IndexError) as err:
            log.warning("busy entities' rows in %s cannot be read (%s): computing them", cache,
                        err)
            return False

    def known_ids(self, ids: list[str]) -> set[str]:
        """Those of ``ids`` already among the events or claimed (the stored ones by a 64-bit
        hash of the id: a new id is taken for a stored one with odds about 1e-12 per million
        events). :meth:`known_ids`, :meth:`claim` and :meth:`release` are called by one thread
        (the writer's log thread), so no id is claimed twice."""
        if not ids:
            return set()
        hashes = pd.util.hash_array(np.array(ids, dtype=object), categorize=False)
        at = np.minimum(np.searchsorted(self._stored_ids, hashes), len(self._stored_ids) - 1)
        stored = (self._stored_ids[at] == hashes) if len(self._stored_ids) else np.zeros(
            len(ids), dtype=bool)
        return {i for i, old in zip(ids, stored.tolist(), strict=True)
                if old or i in self._event_ids}

    def claim(self, ids: list[str]) -> None:
        """Count ``ids`` as known (their events are being logged): a later request carrying
        one of them finds it a duplicate."""
        self._event_ids.update(ids)

    def release(self, ids: list[str]) -> None:
        """Forget claimed ``ids`` whose events could not be logged."""
        self._event_ids.difference_update(ids)

    def apply(self, events: pa.Table) -> None:
        """Add canonical ``events`` (new ``event_id`` s) to the graph; the scores they reach
        are recomputed when read."""
        with self.write_lock:
            self._update(events)
            with self.lock:
                self.events_applied += events.num_rows

    def _update(self, events: pa.Table, stored: bool = False) -> None:
        """Add ``events`` to the live features (unless ``stored``: already held, as the logged
        events replayed at start are), recompute the rows they touch, add their edges and mark
        the touched nodes changed; under :attr:`lock` (a few milliseconds), so a reader never
        sees an id whose node is not in the graph yet."""
        with self.lock:
            if stored:
                codes = self.live.codes(events)
            else:
                codes = self.live.append(events)
                self._event_ids.update(events.column("event_id").to_pylist())
            touched = self.live.touched(codes)
            changed: dict[str, np.ndarray] = {}
            for node_type, rows in touched.items():
                if node_type not in self.nodes:
                    continue
                nodes = self.nodes[node_type]
                raw = self.live.rows(node_type, rows, nodes.columns)
                x = self._scaling[node_type](raw)
                nodes.set(rows, raw)
                added = len(nodes.ids) - self.graph.num_nodes[node_type]
                if added:
                    self.graph.add_nodes(node_type, added)
                if self.boosted is not None and node_type == self.boosted.target:
                    # Keep the boosted column (the last) until the column is updated below.
                    x = np.column_stack([x, self.graph.features(node_type, rows)[:, -1]])
                self.graph.set_features(node_type, rows, x)
                changed[node_type] = rows
            ends: dict[str, list[np.ndarray]] = {}
            for name, (src, dst) in new_edge_rows(events, self.relations, codes[ACTOR],
                                                  codes).items():
                edge_type = self.edge_types.get(name)
                if edge_type is None or not len(src):
                    continue
                added = self.graph.add_edges(edge_type, src, dst)
                if added.any():
                    ends.setdefault(edge_type[0], []).append(src[added])
                    ends.setdefault(edge_type[2], []).append(dst[added])
            for node_type, rows in ends.items():  # a new edge changes both ends' degrees
                changed[node_type] = np.union1d(
                    changed.get(node_type, np.empty(0, dtype=np.int64)), np.concatenate(rows))
            if self.boosted is not None:
                target = self.boosted.target
                moved = self.boosted.update(self.graph, changed)
                changed[target] = np.union1d(
                    changed.get(target, np.empty(0, dtype=np.int64)), moved)
            self.scorer.mark(self.graph, changed)
            if len(self.nodes[ACCOUNT].ids) > len(self._ring_rank):
                grown = np.full(len(self.nodes[ACCOUNT].ids) + len(self._ring_rank) // 8 + 1024,
                                len(self.rings), dtype=np.int64)
                grown[:len(self._ring_rank)] = self._ring_rank
                self._ring_rank = grown

    def _use_model(self, detector: AccountDetector, model_dir: Path,
                   start: Path | None = None, spill: Path | None = None) -> None:
        """Switch to ``detector`` (features rescaled with its scaler) and rescore everything.

        A detector with the boosted channel (``boost="input"`` or ``"residual"``) gets its
        column kept in the graph (:class:`gnn.boosted.LiveBoostedColumn`, the last account
        feature) and, when residual, added to the network's logit. The new model's whole pass
        (its features scaled into a graph of their own sharing this one's edges,
        :meth:`~gnn.local_scoring.LocalGraph.rescaled`; its boosted column, the GNN's and
        XGB-Graph's passes) runs outside :attr:`lock`: the caller holds :attr:`write_lock`, so
        no writer changes the graph meanwhile, and readers go on with the current model and
        its features. Only the swap to the new graph and scorer runs under :attr:`lock`.

        A model that publishes XGB-Graph or the blend (:func:`abusenet.validation.challenger.
        read_published`) scores with that candidate (:class:`_PublishedScores`), as ``abusenet
        score`` does.

        ``start`` (only while the graph is the snapshot's): the start cache's directory. When
        it holds what an earlier start computed, that is read back (the kept embeddings
        memory-mapped, :meth:`gnn.local_scoring.LocalScorer.restore`; XGB-Graph's scores,
        :func:`restore_xgb_start`) after a check (a few accounts scored from scratch must get
        the saved scores); else it is computed and saved there. ``spill`` (without ``start``):
        where the GNN's kept embeddings are written and mapped from (:func:`fit_spilled`).
        """
        scaling = {t: _Scaling(detector.scaler_, t, rows.columns, rows.raw[:1000])
                   for t, rows in self.nodes.items()}
        published = read_published(model_dir)
        xgb = self._live_xgb_graph(model_dir)
        graph, boosted, scorer = self._fitted(detector, xgb, model_dir, start=start, spill=spill)
        if xgb is not None:
            scorer = _PublishedScores(scorer, xgb, published["candidate"],
                                      float(published["blend_weight"] or 0.0))
            scorer.start(graph)
        if boosted is not None:
            boosted.warm()
        version = model_version(model_dir)
        with self.lock:
            self.graph = graph
            self.detector, self.model_dir, self._scaling = detector, model_dir, scaling
            self.boosted = boosted
            self.published = published["candidate"]
            self.model_version = version
            self.scorer = scorer
            self._adjacencies = None  # no reference to the old graph kept (hreview's note)
        del graph, scorer  # the old graph's features and the old scorer freed below
        _release_memory()  # the whole-graph pass's temporaries

    def _fitted(self, detector: AccountDetector, xgb: LiveXGBGraph | None = None,
                model_dir: Path | None = None, start: Path | None = None,
                spill: Path | None = None
                ) -> tuple[LocalGraph, LiveBoostedColumn | None, LocalScorer]:
        """A graph of the current nodes and edges with their features scaled with
        ``detector``'s scaler (:meth:`~gnn.local_scoring.LocalGraph.rescaled`), and its
        boosted column (when it has the boosted channel) and scorer fitted on it: read from
        the start cache ``start`` when it holds them (checked, :func:`restore_start`), else
        computed (and saved there unless ``start`` is ``None``; spilled under ``spill`` then,
        :func:`fit_spilled`). ``xgb`` (the published XGB-Graph of ``model_dir``) likewise:
        its scores read from ``start`` (checked, :func:`restore_xgb_start`) or computed and
        saved there (:func:`save_xgb_start`). The state itself is not changed."""
        xgb_scores = saved = None
        if xgb is not None:  # first (it reads the edges and raw values only), then freed
            saved = None if start is None or model_dir is None else xgb_start_file(start, model_dir)
            if saved is None or not restore_xgb_start(saved, self.graph, xgb):
                xgb_scores = xgb.fit(self.graph)
                _release_memory()
        # C order now, one type at a time (the scaler's arrays are not): rescaled takes them
        # as they are, not a copy of every type's beside them
        scaled = {t: np.ascontiguousarray(detector.scaler_.transform(
            t, rows.frame(slice(0, len(rows.ids)))).numpy()) for t, rows in self.nodes.items()}
        boost = getattr(detector, "boost_", None)
        boosted = None if boost is None else LiveBoostedColumn(boost, detector.model_)
        if boosted is not None:
            target = boosted.target
            scaled[target] = np.column_stack([scaled[target],
                                              np.zeros(len(scaled[target]), np.float32)])
        graph = self.graph.rescaled(scaled)
        del scaled
        scorer = _new_scorer(detector, boosted, self.input_cache_rows)
        if start is None or not restore_start(start, graph, boosted, scorer):
            if boosted is not None:
                boosted.fit(graph)
            if start is None:
                fit_spilled(scorer, graph, spill)
            else:
                fit_and_save_start(start, graph, boosted, scorer)
        if saved is not None and xgb_scores is not None:  # into the start cache, once there
            save_xgb_start(saved, xgb_scores)
        return graph, boosted, scorer

    def _live_xgb_graph(self, model_dir: Path) -> LiveXGBGraph | None:
        """The XGB-Graph saved in ``model_dir`` (``None`` when the model publishes the GNN)
        scoring the graph's accounts, its features scaled with its own scaler from the nodes'
        current raw values (not fitted yet)."""
        if read_published(model_dir)["candidate"] == GNN:
            return None
        challenger = XGBGraph.load(model_dir / CHALLENGER_DIR)
        scaler = getattr(challenger, "scaler_", None)
        if scaler is None:
            raise ValueError(f"{model_dir / CHALLENGER_DIR}: XGB-Graph saved without its "
                             "feature scaler")
        widths = {t: len(scaler.columns.get(t, [])) for t in self.graph.num_nodes}
        scaling = {t: _Scaling(scaler, t, rows.columns, rows.raw[:1000])
                   for t, rows in self.nodes.items() if widths.get(t)}

        def inputs(node_type: str, rows: np.ndarray) -> np.ndarray:
            if node_type not in scaling:
                return np.zeros((len(rows), widths[node_type]), dtype=np.float32)
            return scaling[node_type].read(self.nodes[node_type].raw, rows)

        return LiveXGBGraph(challenger, inputs, widths)

    def reload_model(self, model_dir: Path | None = None) -> str:
        """Load the detector in ``model_dir`` (default: the current one), rescore, and return
        its version. Reads are answered with the current model meanwhile (:meth:`_use_model`),
        its GNN's input embeddings encoded again when read
        (:meth:`~gnn.local_scoring.LocalScorer.drop_input_caches`: not one full cache held
        beside the other while the new scorer fills its own; filled again if the reload
        fails); writers wait."""
        model_dir = model_dir or self.model_dir
        detector = AccountDetector.load(model_dir)
        with self.write_lock, self._input_caches_dropped():
            self._use_model(detector, model_dir, spill=self._spill_root)
            self.keep_hubs()
        return self.model_version

    @contextlib.contextmanager
    def _input_caches_dropped(self) -> Iterator[None]:
        """The current GNN scorer's input caches dropped for the block (a reload's or a
        rescore's new scorer fills its own meanwhile: not one full cache held beside the
        other; reads encode again), filled again if it raises (under :attr:`write_lock`:
        the graph does not change meanwhile)."""
        with self.lock:  # no reference to the old scorer kept: it is freed at the swap
            getattr(self.scorer, "gnn", self.scorer).drop_input_caches()
        try:
            yield
        except BaseException:
            getattr(self.scorer, "gnn", self.scorer).refill_input_caches(self.graph)
            raise

    def rescore(self) -> None:
        """Score every account of the current graph with the current detector (whole graph,
        its embeddings kept for later updates): a new scorer fitted outside :attr:`lock`
        (under :attr:`write_lock`: the graph does not change; readers go on with the current
        scorer, its GNN input caches dropped meanwhile as in :meth:`reload_model`), swapped in
        under it."""
        with self.write_lock, self._input_caches_dropped():
            gnn = _new_scorer(self.detector, self.boosted, self.input_cache_rows)
            fit_spilled(gnn, self.graph, self._spill_root)
            scorer: LocalScorer | _PublishedScores = gnn
            if isinstance(self.scorer, _PublishedScores):  # the same XGB-Graph fitted again
                old = self.scorer.xgb
                xgb = LiveXGBGraph(old.model, old.inputs, old.widths, old.hub_degree, old.resync)
                xgb.fit(self.graph)
                scorer = _PublishedScores(gnn, xgb, self.scorer.candidate, self.scorer.weight)
                scorer.start(self.graph)
                del old, xgb
            with self.lock:
                self.scorer = scorer
            del gnn, scorer
        _release_memory()

    def refresh(self, account_ids: list[str]) -> None:
        """Make the scores of ``account_ids`` (those in the graph) current in one pass, so the
        views that follow find them computed."""
        rows = self._index[ACCOUNT].find_ids(account_ids)
        rows = rows[rows >= 0]
        with self.lock:
            self.scorer.current(self.graph, rows)

    def live_change(self, events: pa.Table, scored_at: datetime) -> LiveChange:
        """What applying ``events`` changed, for the Neo4j copy of the graph: every account
        and entity they name with its current raw feature values (accounts also with
        ``risk_score``, ``model_version`` and ``scored_at``), and each relationship they
        imply (:func:`graph.incremental.new_edges`)."""
        change = LiveChange()
        accounts = list(dict.fromkeys(events.column("account_id").to_pylist()))
        with self.lock:
            touched: dict[str, list[str]] = {ACCOUNT: accounts}
            for name, pairs in new_edges(events, self.relations).items():
                edge_type = self.edge_types.get(name)
                if edge_type is None:
                    continue
                touched.setdefault(edge_type[2], []).extend(dst for _, dst in pairs)
                for src, dst in pairs:
                    change.add_rel(edge_type[0], name, edge_type[2], src, dst)
            for node_type, ids in touched.items():
                nodes = self.nodes[node_type]
                ids = [i for i in dict.fromkeys(ids) if i in nodes.row]
                rows = np.array([nodes.row[i] for i in ids], dtype=np.int64)
                values = nodes.raw[rows] if len(rows) else np.empty((0, len(nodes.columns)))
                for node_id, row in zip(ids, values, strict=True):
                    change.add_node(node_type, node_id, {
                        c: _value(v, integer)
                        for c, v, integer in zip(nodes.columns, row.tolist(), nodes.integer,
                                                 strict=True)})
            accounts = [a for a in accounts if a in self.nodes[ACCOUNT].row]
            rows = np.array([self.nodes[ACCOUNT].row[a] for a in accounts], dtype=np.int64)
            scores = self.scorer.current(self.graph, rows) if len(rows) else []
        for account_id, score in zip(accounts, np.asarray(scores).tolist(), strict=True):
            change.add_node(ACCOUNT, account_id, {
                "risk_score": score, "model_version": self.model_version,
                "scored_at": scored_at})
        return change

    # ------------------------------------------------------------------------------ queries
    @property
    def num_accounts(self) -> int:
        """Accounts in the graph."""
        return len(self.nodes[ACCOUNT].ids)

    def graph_size(self) -> dict[str, int]:
        """Nodes per type and edges per relation."""
        with self.lock:
            sizes = {f"nodes:{t}": n for t, n in self.graph.num_nodes.items()}
            sizes.update({f"edges:{name}": self.graph.adjacency[et].num_edges
                          for name, et in self.edge_types.items()})
        return sizes

    def _neighbours(self, edge_type: tuple[str, str, str], node: int) -> list[str]:
        return [self.nodes[edge_type[0]].ids[i]
                for i in self.graph.adjacency[edge_type].neighbours(node).tolist()]

    def accounts_of(self, node_type: str, entity_id: str) -> list[str]:
        """Accounts that used the entity ``entity_id`` of type ``node_type``."""
        rows = self.nodes.get(node_type)
        row = None if rows is None or node_type == ACCOUNT else rows.row.get(entity_id)
        if row is None:
            return []
        out: list[str] = []
        for edge_type in self.edge_types.values():
            if edge_type[2] == node_type:
                out += self._neighbours(edge_type, row)
        return sorted(set(out))

    def _score_of(self, account_id: str) -> float | None:
        row = self.nodes[ACCOUNT].row.get(account_id)
        if row is None:
            return None
        return float(self.scorer.current(self.graph, np.array([row]))[0])

    def _mean_score(self, accounts: list[str]) -> float:
        """The mean current score of ``accounts``."""
        if not accounts:
            return 0.0
        rows = np.array([self.nodes[ACCOUNT].row[a] for a in accounts], dtype=np.int64)
        return float(np.nan_to_num(self.scorer.current(self.graph, rows)).mean())

    def entity_view(self, node_type: str, entity_id: str) -> dict[str, Any] | None:
        """An entity's risk (the mean score of its accounts), accounts and rings."""
        with self.lock:
            rows = self.nodes.get(node_type)
            if node_type == ACCOUNT or rows is None or entity_id not in rows.row:
                return None
            accounts = self.accounts_of(node_type, entity_id)
            return {"node_type": node_type, "entity_id": entity_id,
                    "score": self._mean_score(accounts), "accounts": accounts,
                    "rings": self._entity_rings.get(f"{node_type}:{entity_id}", [])}

    def ring_view(self, ring_id: str) -> dict[str, Any] | None:
        """A ring of the run: its score, members (with their current scores) and evidence."""
        if ring_id not in self._ring_score:
            return None
        row = self.rings[self.rings["ring_id"] == ring_id].iloc[0]
        members = list(row["members"])
        with self.lock:
            return {"ring_id": ring_id, "score": self._ring_score[ring_id],
                    "size": len(members), "kind": row.get("kind"),
                    "evidence": list(row["evidence"]),
                    "members": {m: self._score_of(m) for m in members}}

    def warm(self, accounts: int = WARM_ACCOUNTS) -> dict[str, float]:
        """Before the first request (``abusenet serve`` is not ready until it returns): the
        start caches read ahead into the page cache (:func:`read_ahead`), then the views of
        ``accounts`` accounts spread evenly over the rows computed (one by one, then at once)
        and dropped, so that the
        read path's first calls (the scorer's, the views') and the page faults of the arrays
        it reaches come before the first request instead of in it. A read, as a
        ``GET /v1/accounts`` is: the answers after it are the same. Returns the MB asked to
        be read ahead and the seconds the views took."""
        asked = read_ahead(self._caches)
        began = time.perf_counter()
        ids = self._index[ACCOUNT].ids
        if ids and accounts > 0:
            picks = np.unique(np.linspace(0, len(ids) - 1, accounts).astype(np.int64))
            picked = [ids[row] for row in picks.tolist()]
            for account in picked:
                self.account_views([account])
            self.account_views(picked)
        return {"read_ahead_mb": round(asked / 2 ** 20, 1),
                "views_s": round(time.perf_counter() - began, 3)}

    def account_view(self, account_id: str) -> dict[str, Any] | None:
        """An account's current score, ring and top reasons; ``None`` when unknown."""
        return self.account_views([account_id])[0]

    def account_views(self, account_ids: list[str]) -> list[dict[str, Any] | None]:
        """The view of each of ``account_ids`` (``None`` for an unknown one): its current
        score, its ring (its own, or else the best ring an account of one of its entities is
        in) and its top reasons (the shared entities with the highest risk, the mean last
        computed score of their other accounts, and its most unusual features).

        One pass for all of them: one rescoring of the distinct accounts, each relation's
        entities gathered for all at once, each distinct entity's accounts summed once
        (its risk for one account: the total less the account's own score, the total summed
        in account order, so that two entities of the same accounts tie exactly).
        """
        with self.lock:
            found = self._index[ACCOUNT].find_ids(account_ids)
            known = [(i, r) for i, r in enumerate(found.tolist()) if r >= 0]
            views: list[dict[str, Any] | None] = [None] * len(account_ids)
            if not known:
                return views
            rows, inverse = np.unique(found[found >= 0], return_inverse=True)
            scores = self.scorer.current(self.graph, rows).tolist()
            pick = self._rings_of_batch if len(rows) >= BATCH_VIEWS else self._rings_of
            rings = pick(rows, self._shared(rows))
            features = self._unusual(rows)
            for (position, _), k in zip(known, inverse.tolist(), strict=True):
                account_id = account_ids[position]
                ring, found = rings[k]
                ring_id, via = ((self._ring_of[account_id], None)
                                if account_id in self._ring_of else ring)
                views[position] = {
                    "account_id": account_id, "score": scores[k],
                    "model_version": self.model_version,
                    "ring": None if ring_id is None else {
                        "ring_id": ring_id, "score": self._ring_score[ring_id],
                        "membership": "member" if via is None else "joins", "via": via},
                    "reasons": {"shared_entities": found, "features": features[k]}}
            return views

    def _shared(self, rows: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray,
                                                     np.ndarray, np.ndarray, np.ndarray]]:
        """Each entity (not account) used by the account ``rows``, one entry per relation:
        ``(its node type, position in rows, its row, its number of accounts, their total last
        computed score (missing as 0), the lowest ring rank among them, the account's own
        score)``, the last six as arrays, in relation order and each account's neighbour
        order. Scores are summed in integer units (:data:`_SCORE_UNIT`: exact, so two entities
        of the same accounts tie exactly); the accounts and totals of entities with
        :data:`HUB_ACCOUNTS` edges or more are kept between calls (:class:`_HubAccounts`)."""
        into, outgoing = self._entity_adjacencies()
        hubs = self._hub_accounts
        units = hubs.sync(self.graph, self.scorer, into, outgoing, self._ring_rank)
        found = []
        for name, (_, _, node_type) in self.edge_types.items():
            if node_type == ACCOUNT:
                continue
            position, entity = self.graph.adjacency[
                (node_type, f"rev_{name}", ACCOUNT)].gather(rows)
            if not len(entity):
                continue
            entities, which = np.unique(entity, return_inverse=True)
            big = sum(a.degree(entities) for a in into[node_type]) >= HUB_ACCOUNTS
            small = np.flatnonzero(~big)
            count = np.empty(len(entities), dtype=np.int64)
            count[small], accounts = _distinct_accounts(into[node_type], entities[small],
                                                        len(units))
            lowest = np.full(len(entities), np.iinfo(np.int64).max)
            at = small.repeat(count[small])
            np.minimum.at(lowest, at, self._ring_rank[accounts])
            # fewer than HUB_ACCOUNTS accounts of at most 2**40 units: float64 sums exactly
            total = np.bincount(at, weights=units[accounts], minlength=len(entities))
            at = np.flatnonzero(big)
            if len(at):
                count[at], lowest[at], total[at] = hubs.accounts(
                    node_type, entities[at], into[node_type], self._ring_rank)
            found.append((node_type, position, entities[which], count[which],
                          total[which] / _SCORE_UNIT, lowest[which],
                          units[rows[position]] / _SCORE_UNIT))
        return found

    def _entity_adjacencies(self) -> tuple[dict[str, list[GrowingAdjacency]],
                                           dict[str, list[GrowingAdjacency]]]:
        """Per entity type (not accounts): the adjacencies from accounts into it, and those
        from it into accounts, in relation order (kept while the graph is the same)."""
        kept = self._adjacencies
        if kept is not None and kept[0] is self.graph:
            return kept[1], kept[2]
        entity_types = {et[2] for et in self.edge_types.values() if et[2] != ACCOUNT}
        into = {t: [self.graph.adjacency[et] for et in self.edge_types.values() if et[2] == t]
                for t in entity_types}
        outgoing = {t: [self.graph.adjacency[(t, f"rev_{name}", ACCOUNT)]
                        for name, et in self.edge_types.items() if et[2] == t]
                    for t in entity_types}
        self._adjacencies = (self.graph, into, outgoing)
        return into, outgoing

    def keep_hubs(self) -> int:
        """Keep every entity with :data:`HUB_ACCOUNTS` edges from accounts or more for the
        views now (:class:`_HubAccounts`: its distinct accounts' number, lowest ring rank and
        total score), as the first view reading it would; how many. :meth:`load` and
        :meth:`reload_model` call it, so that the first requests after a start do not gather
        the hubs' accounts (at 1M accounts 817 IPs of 701k edges); the views' answers are the
        same either way (the totals are exact integer sums)."""
        with self.lock:
            into, outgoing = self._entity_adjacencies()
            self._hub_accounts.sync(self.graph, self.scorer, into, outgoing, self._ring_rank)
            kept = 0
            for node_type, adjacencies in sorted(into.items()):
                every = np.arange(self.graph.num_nodes[node_type])
                hubs = np.flatnonzero(sum(a.degree(every) for a in adjacencies)
                                      >= HUB_ACCOUNTS)
                if len(hubs):
                    self._hub_accounts.accounts(node_type, hubs, adjacencies, self._ring_rank)
                kept += len(hubs)
            return kept

    def _rings_of(self, rows: np.ndarray, shared: list[tuple]) -> list[
            tuple[tuple[str | None, str | None], list[dict[str, Any]]]]:
        """Per account row: ``((best ring reached through an entity, via which entity),
        the top shared entities by risk)``; the ring is ``(None, None)`` when none is. Only
        the entities named (shared, or the way to a ring) have their ids read."""
        per_row: list[list[tuple[str, int, int, float, int]]] = [[] for _ in range(len(rows))]
        for node_type, position, entity, count, total, lowest, own in shared:
            for k, e, n, t, low, s in zip(position.tolist(), entity.tolist(), count.tolist(),
                                          total.tolist(), lowest.tolist(), own.tolist(),
                                          strict=True):
                per_row[k].append((node_type, e, n, (t - s) / (n - 1) if n > 1 else 0.0, low))
        name = self._entity_names()
        out = []
        for entries in per_row:
            best, via = len(self.rings), None
            for node_type, e, _, _, low in entries:  # the first entity reaching the best ring
                if low < best:
                    best, via = low, (node_type, e)
            ring = (None, None) if via is None else (self._ring_ids[best], name(*via))
            top = sorted((entry for entry in entries if entry[2] > 1),
                         key=lambda entry: -entry[3])
            if len(top) > TOP_REASONS:  # those tied with the last one taken stay in
                top = [entry for entry in top if entry[3] >= top[TOP_REASONS - 1][3]]
            found = [{"entity": name(node_type, e), "accounts": n, "risk": risk}
                     for node_type, e, n, risk, _ in top]
            found.sort(key=lambda s: (-s["risk"], s["entity"]))
            out.append((ring, found[:TOP_REASONS]))
        return out

    def _entity_names(self) -> Callable[[str, int], str]:
        """``name(node_type, row)`` -> ``"Type:id"``, each entity's id read once (ids are read
        one at a time, the slow part of a view)."""
        names: dict[tuple[str, int], str] = {}

        def name(node_type: str, entity: int) -> str:
            key = (node_type, entity)
            if key not in names:
                names[key] = f"{node_type}:{self.nodes[node_type].ids[entity]}"
            return names[key]

        return name

    def _rings_of_batch(self, rows: np.ndarray, shared: list[tuple]) -> list[
            tuple[tuple[str | None, str | None], list[dict[str, Any]]]]:
        """:meth:`_rings_of` with array operations: the same answers. Per row, the best ring
        is the first entry (in relation, then neighbour order) with the lowest ring rank; the
        top reasons are chosen among the entries whose risk is at least the row's
        ``TOP_REASONS``-th highest (the others cannot be among them), sorted by risk then
        entity name as :meth:`_rings_of` does, so only those have their ids read."""
        out: list[tuple[tuple[str | None, str | None], list[dict[str, Any]]]] = [
            ((None, None), []) for _ in range(len(rows))]
        if not shared:
            return out
        types = [s[0] for s in shared]
        kind = np.concatenate([np.full(len(s[1]), i) for i, s in enumerate(shared)])
        position, entity, count, total, lowest, own = (
            np.concatenate([s[j] for s in shared]) for j in range(1, 7))
        risk = np.where(count > 1, (total - own) / np.maximum(count - 1, 1), 0.0)

        order = np.lexsort((lowest, position))  # stable: entry order within ties
        first = order[np.flatnonzero(np.diff(position[order], prepend=-1))]
        ring_at = first[lowest[first] < len(self.rings)]
        shared_at = np.flatnonzero(count > 1)
        order = shared_at[np.lexsort((-risk[shared_at], position[shared_at]))]
        by_row = position[order]
        start = np.flatnonzero(np.diff(by_row, prepend=-1))
        size = np.diff(np.append(start, len(order)))
        group = np.repeat(np.arange(len(start)), size)
        last = np.where(size > TOP_REASONS, start + TOP_REASONS - 1, start)
        keep = (size[group] <= TOP_REASONS) | (risk[order] >= risk[order[last[group]]])
        order = order[keep]
        named = np.concatenate([ring_at, order])
        names = self._names_of(types, kind[named], entity[named])
        for k, low, via in zip(position[ring_at].tolist(), lowest[ring_at].tolist(),
                               names[:len(ring_at)], strict=True):
            out[k] = ((self._ring_ids[low], via), [])
        chosen: dict[int, list[dict[str, Any]]] = {}
        for k, name, n, r in zip(position[order].tolist(), names[len(ring_at):],
                                 count[order].tolist(), risk[order].tolist(), strict=True):
            chosen.setdefault(k, []).append({"entity": name, "accounts": n, "risk": r})
        for k, found in chosen.items():
            found.sort(key=lambda s: (-s["risk"], s["entity"]))
            out[k] = (out[k][0], found[:TOP_REASONS])
        return out

    def _names_of(self, types: list[str], kind: np.ndarray, entity: np.ndarray) -> list[str]:
        """``"Type:id"`` of each entity row ``entity`` of type ``types[kind]``, each type's
        ids read at once."""
        out = np.empty(len(kind), dtype=object)
        for which in np.unique(kind).tolist():
            node_type = types[which]
            at = np.flatnonzero(kind == which)
            out[at] = [f"{node_type}:{i}" for i in self.nodes[node_type].ids.take(entity[at])]
        return out.tolist()

    def _unusual(self, rows: np.ndarray) -> list[list[dict[str, Any]]]:
        """Per account row: its most unusual features (largest absolute scaled value)."""
        nodes = self.nodes[ACCOUNT]
        columns = self.detector.scaler_.columns.get(ACCOUNT, [])
        at = [nodes.columns.index(c) for c in columns]
        z = self.graph.features(ACCOUNT, rows)[:, :len(columns)]
        order = np.argsort(-np.abs(z), axis=1)[:, :TOP_REASONS]
        # each row's picked values read at once (one tolist each, not a scalar at a time)
        raw = np.take_along_axis(nodes.raw[rows][:, at], order, axis=1).tolist()
        picked = np.take_along_axis(z, order, axis=1).tolist()
        integer = [nodes.integer[j] for j in at]
        return [[{"feature": columns[i], "value": _value(v, integer[i]), "z": zk}
                 for i, v, zk in zip(ks, vs, zs, strict=True)]
                for ks, vs, zs in zip(order.tolist(), raw, picked, strict=True)]


def _distinct_accounts(into: list[GrowingAdjacency], entities: np.ndarray,
                       width: int) -> tuple[np.ndarray, np.ndarray]:
    """Each of ``entities``' distinct accounts along the edge types ``into`` (adjacencies
    from accounts), in account order: (their number per entity, all of them one entity after
    another); ``width``: more than any account row."""
    parts = [a.gather(entities) for a in into]
    pair = (parts[0][0] * width + parts[0][1] if len(parts) == 1
            else np.concatenate([p[0] * width + p[1] for p in parts]))
    # One relation's edges are distinct pairs, several relations' may repeat. A stable sort:
    # a merge of the sorted runs gather gives (one per entity's stored edges, then the added
    # ones), much faster than quicksort on them.
    pair = np.unique(pair) if len(parts) > 1 else np.sort(pair, kind="stable")
    bounds = np.searchsorted(pair, np.arange(len(entities) + 1) * width)
    count = np.diff(bounds)
    return count, pair - np.repeat(np.arange(len(entities)), count) * width


#: Scores are summed over an entity's accounts in integer units of 2**-40 (:class:`_HubAccounts`):
#: exact in any order, so a total kept between views and changed by the differences equals one
#: summed afresh (a score is off by 2**-41 at most; an overflow needs totals above 2**23,
#: more accounts than any graph here holds).
_SCORE_UNIT = 2.0 ** 40


def _score_units(scores: np.ndarray) -> np.ndarray:
    """``scores`` (NaN: never computed, as 0) in integer units of :data:`_SCORE_UNIT`."""
    return np.rint(np.nan_to_num(scores, nan=0.0) * _SCORE_UNIT).astype(np.int64)


class _HubAccounts:
    """Every account's last computed score in integer units (:data:`_SCORE_UNIT`), and the
    distinct accounts of the entities with :data:`HUB_ACCOUNTS` edges or more that a view read,
    in account order, with the lowest ring rank among them and their total score, kept between
    views.

    The edges added to a kept entity since are merged in (they are appended to the adjacency's
    added lists), not its thousands of accounts gathered, sorted and looked up again. An
    account's ring rank never changes (the rings are the run's), so the lowest rank changes
    only by the accounts merged in. The totals take the differences of the scores the scorer
    wrote since the last view (its :class:`~gnn.local_scoring.ScoreJournal`), through each
    changed account's entities, not a gather of every kept entity's accounts' scores at each
    view: integer sums, so the same totals as summed afresh."""

    def __init__(self) -> None:
        self.graph: LocalGraph | None = None
        self.scorer: Any = None
        self.units = np.zeros(0, dtype=np.int64)
        self._reset()

    def _reset(self) -> None:
        """Keep no entity."""
        # (node type, row) -> its distinct accounts, in account order (kept only where
        # several relations lead into the type: to tell an account new to it)
        self._accounts: dict[tuple[str, int], np.ndarray] = {}
        # node type -> row -> slot (-1: not kept); per slot: the total score units of its
        # accounts, their number and lowest ring rank, and the added edges taken in per
        # adjacency (slot x adjacency)
        self._slot_of: dict[str, np.ndarray] = {}
        self._totals: dict[str, np.ndarray] = {}
        self._size: dict[str, np.ndarray] = {}
        self._lowest: dict[str, np.ndarray] = {}
        self._taken: dict[str, np.ndarray] = {}
        self._count: dict[str, int] = {}  # node type -> slots taken

    def sync(self, graph: LocalGraph, scorer: Any,
             into: dict[str, list[GrowingAdjacency]],
             outgoing: dict[str, list[GrowingAdjacency]], rank: np.ndarray) -> np.ndarray:
        """Take in the scores ``scorer`` wrote since the last call (everything anew for
        another graph or scorer, or when its journal lost count); the score units of every
        account. ``into[t]``: the adjacencies from accounts into entity type ``t``;
        ``outgoing[t]``: those from ``t`` into accounts."""
        scores = scorer.scores_
        written = scorer.journal.take()
        if graph is not self.graph or scorer is not self.scorer or written is None:
            self.graph, self.scorer = graph, scorer
            self._reset()
            self.units = _score_units(scores)
            return self.units
        if len(self.units) < len(scores):
            self.units = grown_rows(self.units, len(scores), 0)
        units = _score_units(scores[written])
        delta = units - self.units[written]
        moved = np.flatnonzero(delta)
        changed, delta = written[moved], delta[moved]
        for node_type, slot_of in self._slot_of.items():
            if not len(changed):
                break
            parts = [a.gather(changed) for a in outgoing[node_type]]
            position = np.concatenate([p[0] for p in parts])
            entity = np.concatenate([p[1] for p in parts])
            slot = slot_of[np.minimum(entity, len(slot_of) - 1)]
            hit = (slot >= 0) & (entity < len(slot_of))
            if not hit.any():
                continue
            # the kept entities reached take in their added edges first (with the units
            # before the change), so each (entity, account) pair below is among their accounts
            self.accounts(node_type, np.unique(entity[hit]), into[node_type], rank)
            pair = np.unique(slot[hit] * len(changed) + position[hit])  # once per pair
            np.add.at(self._totals[node_type], pair // len(changed),
                      delta[pair % len(changed)])
        self.units[changed] += delta
        return self.units

    def accounts(self, node_type: str, entities: np.ndarray, into: list[GrowingAdjacency],
                 rank: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per entity of the distinct ``entities``: the number of its distinct accounts along
        ``into``, the lowest of their ``rank`` s (per account row: its best ring's position,
        more than any account row where none) and their total score units. The entities kept
        and not changed since are read at once; the others are kept now, one at a time."""
        taken = np.stack([a.added_of(entities) for a in into], axis=1)
        slot_of = self._slot_of.get(node_type, np.zeros(0, dtype=np.int64))
        slots = slot_of.take(entities, mode="clip") if len(slot_of) else np.full(
            len(entities), -1)
        slots[entities >= len(slot_of)] = -1
        behind = slots < 0
        held = np.flatnonzero(~behind)
        if len(held):
            behind[held] = (self._taken[node_type][slots[held]] != taken[held]).any(axis=1)
        for k in np.flatnonzero(behind).tolist():
            slots[k] = self._keep(node_type, int(entities[k]), taken[k], into, rank)
        return (self._size[node_type][slots], self._lowest[node_type][slots],
                self._totals[node_type][slots])

    def _keep(self, node_type: str, entity: int, taken: np.ndarray,
              into: list[GrowingAdjacency], rank: np.ndarray) -> int:
        """Keep the number of ``entity``'s distinct accounts, their lowest rank and total
        units (and the accounts, where several relations lead into its type), with ``taken``
        (its added edges per adjacency, all taken in now) merged in; its slot."""
        key = (node_type, entity)
        slot_of = self._slot_of.get(node_type)
        if slot_of is None or entity >= len(slot_of) or slot_of[entity] < 0:
            accounts = _distinct_accounts(into, np.array([entity]), len(rank))[1]
            slot = self._count.get(node_type, 0)
            self._count[node_type] = slot + 1
            self._slot_of[node_type] = grown_rows(
                self._slot_of.get(node_type, np.zeros(0, dtype=np.int64)), entity + 1, -1)
            self._slot_of[node_type][entity] = slot
            for name, fill in (("_totals", 0), ("_size", 0), ("_lowest", 0)):
                table = getattr(self, name)
                table[node_type] = grown_rows(table.get(node_type, np.zeros(0, dtype=np.int64)),
                                              slot + 1, fill)
            self._taken[node_type] = grown_rows(
                self._taken.get(node_type, np.zeros((0, len(into)), dtype=np.int64)),
                slot + 1, 0)
            self._totals[node_type][slot] = self.units[accounts].sum()
            self._lowest[node_type][slot] = (int(rank[accounts].min()) if len(accounts)
                                             else np.iinfo(np.int64).max)
            self._size[node_type][slot] = len(accounts)
        else:
            slot = int(slot_of[entity])
            old = self._taken[node_type][slot]
            new = [a.added_edges(np.array([entity]), np.array([o]))[1]
                   for a, o, n in zip(into, old.tolist(), taken.tolist(), strict=True) if n > o]
            if len(into) == 1:  # one relation's edges are distinct pairs: each account new
                fresh = new[0]
            else:  # an account may have used the entity along another relation already
                new = np.unique(np.concatenate(new))
                held = self._accounts[key]
                at = np.searchsorted(held, new)
                fresh = new[held[np.minimum(at, len(held) - 1)] != new]
                accounts = np.insert(held, np.searchsorted(held, fresh), fresh)
            self._lowest[node_type][slot] = min(int(self._lowest[node_type][slot]),
                                                int(rank[fresh].min()) if len(fresh)
                                                else np.iinfo(np.int64).max)
            self._totals[node_type][slot] += self.units[fresh].sum()
            self._size[node_type][slot] += len(fresh)
        if len(into) > 1:
            self._accounts[key] = accounts
        self._taken[node_type][slot] = taken
        return slot


class _PublishedScores:
    """The published candidate's account scores (``xgb-graph``, or the ``blend`` of the GNN's
    and XGB-Graph's: :func:`abusenet.validation.challenger.candidates`), with the interface of
    :class:`~gnn.local_scoring.LocalScorer` the state uses (:meth:`fit`, :meth:`mark`,
    :meth:`current`, :attr:`scores_`): the GNN's scores from its scorer, XGB-Graph's from
    :class:`~gnn.live_xgb_graph.LiveXGBGraph`, each recomputed when read where a change
    reached it.

    Parameters
    ----------
    gnn
        The GNN's scorer, fitted.
    xgb
        XGB-Graph on the same graph, fitted (or restored).
    candidate
        ``xgb-graph`` or ``blend``.
    weight
        The GNN's weight in the blend.
    """

    def __init__(self, gnn: LocalScorer, xgb: LiveXGBGraph, candidate: str,
                 weight: float) -> None:
        self.gnn, self.xgb, self.candidate, self.weight = gnn, xgb, candidate, weight
        #: The rows whose :attr:`scores_` :meth:`current` wrote (:class:`ScoreJournal`).
        self.journal = ScoreJournal()

    def _combine(self, gnn: np.ndarray, xgb: np.ndarray) -> np.ndarray:
        if self.candidate == CHALLENGER:
            return xgb.copy()
        return np.clip(self.weight * gnn + (1.0 - self.weight) * xgb, 0.0, 1.0)

    def start(self, graph: LocalGraph) -> np.ndarray:
        """Every account's published score, both candidates fitted already."""
        xgb = self.xgb.kept(graph)
        self.scores_ = self._combine(self.gnn.scores_[:len(xgb)], xgb)
        self.journal.reset()
        return self.scores_.copy()

    def _grow(self, graph: LocalGraph) -> None:
        n = graph.num_nodes[ACCOUNT]
        self.scores_ = grown_rows(self.scores_, n, np.nan)  # new accounts seldom copy them

    def mark(self, graph: LocalGraph, changed: dict[str, np.ndarray]) -> None:
        """Take in that the ``changed`` nodes changed (:meth:`LocalScorer.mark`,
        :meth:`LiveXGBGraph.mark`)."""
        self.gnn.mark(graph, changed)
        self.xgb.mark(graph, changed)
        self._grow(graph)

    def current(self, graph: LocalGraph, rows: np.ndarray) -> np.ndarray:
        """Current published scores of account ``rows``."""
        rows = np.asarray(rows, dtype=np.int64)
        out = self._combine(self.gnn.current(graph, rows), self.xgb.current(graph, rows))
        self._grow(graph)
        self.scores_[rows] = out
        self.journal.wrote(rows, len(self.scores_))
        return out


def _new_scorer(detector: AccountDetector, boosted: LiveBoostedColumn | None,
                input_cache_rows: int) -> LocalScorer | EnsembleScorer:
    """A scorer (not fitted) of ``detector``'s network (an :class:`EnsembleScorer` of its
    networks when it has several) holding ``input_cache_rows`` input embeddings (per network),
    adding the boosted column (``boosted``, kept in the graph) to its logit when the detector's
    boost is residual."""
    residual = boosted is not None and detector.boost == "residual"
    if len(detector.members_) > 1:
        return EnsembleScorer(detector.members_, detector.calibrator_, residual=residual,
                              input_cache_rows=input_cache_rows)
    return LocalScorer(detector.model_, detector.calibrator_, residual=residual,
                       input_cache_rows=input_cache_rows)


def auto_input_cache_rows(nodes: int, hidden: int, available: int | None) -> int:
    """The default input cache of the GNN scorers (``GraphState``'s ``input_cache_rows``) for
    a graph of ``nodes`` nodes and ``hidden`` channels: room for every row and an eighth more
    nodes (:class:`~gnn.local_scoring.LocalScorer`'s rule) when those float32 rows take at
    most :data:`AUTO_CACHE_SHARE` of ``available`` bytes, else
    :data:`~gnn.local_scoring.INPUT_CACHE_ROWS` (``available`` unknown: likewise)."""
    rows = nodes + nodes // 8
    if available is not None and rows * hidden * 4 <= AUTO_CACHE_SHARE * available:
        return max(rows, INPUT_CACHE_ROWS)
    return INPUT_CACHE_ROWS


def available_memory(root: Path = Path("/")) -> int | None:
    """Bytes of memory available to new allocations without swapping: Linux's
    ``MemAvailable`` (free memory and reclaimable page cache), or less where the process's
    memory cgroup sets a limit (a container's: ``MemAvailable`` is the whole machine's), what
    the limit leaves above the cgroup's usage (v2 ``memory.max`` - ``memory.current``, v1
    ``memory.limit_in_bytes`` - ``memory.usage_in_bytes``); ``None`` where neither is known.
    ``root``: where ``/proc`` and ``/sys`` are read (tests)."""
    found = []
    with contextlib.suppress(OSError, ValueError):
        for line in (root / "proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    found += [limit - usage for limit, usage in _cgroup_memory(root)]
    return max(min(found), 0) if found else None


def _cgroup_memory(root: Path) -> list[tuple[int, int]]:
    """(limit, usage) in bytes of each memory cgroup of this process that sets a limit (its
    own, from ``/proc/self/cgroup``, and the namespace's root: a container's own)."""
    cgroups = root / "sys/fs/cgroup"
    pairs = [(cgroups / "memory.max", cgroups / "memory.current"),
             (cgroups / "memory/memory.limit_in_bytes", cgroups / "memory/memory.usage_in_bytes")]
    with contextlib.suppress(OSError):
        for line in (root / "proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            own = path.lstrip("/")
            if not controllers:  # cgroup v2
                pairs.append((cgroups / own / "memory.max", cgroups / own / "memory.current"))
            elif "memory" in controllers.split(","):
                pairs.append((cgroups / "memory" / own / "memory.limit_in_bytes",
                              cgroups / "memory" / own / "memory.usage_in_bytes"))
    out = []
    for limit_file, usage_file in pairs:
        with contextlib.suppress(OSError, ValueError):
            limit = limit_file.read_text().strip()
            if limit != "max":  # v1's unlimited is a huge number: never the smallest
                out.append((int(limit), int(usage_file.read_text().strip())))
    return out


def _node_index(snapshot: Snapshot) -> dict[str, NodeIndex]:
    """Each node type's ids -> rows, in the order of the snapshot's node tables."""
    return {t: NodeIndex.of(table["id"].astype(str).tolist())
            for t, table in snapshot.nodes.items()}


def _release_memory() -> None:
    """Hand freed memory back to the system: objects in reference cycles, Arrow's pool (where
    freed Parquet and query buffers stay) and the C heap's free pages (glibc's ``malloc_trim``;
    skipped elsewhere). The load's temporaries (event text, the snapshot's tables, the
    whole-graph pass) otherwise stay in the process's resident memory, freed but not returned."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _hash_ids(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """64-bit hashes of event ids (the same id, the same hash; :meth:`GraphState.known_ids`
    hashes a short list the same way without the Arrow round trip)."""
    return pd.util.hash_array(np.asarray(ids.to_pandas(), dtype=object), categorize=False)


def _value(value: float, integer: bool) -> float | int | None:
    """A raw feature value for JSON (an int for a count column, ``None`` for missing)."""
    if value != value:  # NaN (np.isnan of a Python float costs ~1 us)
        return None
    return int(value) if integer else value
