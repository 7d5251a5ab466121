"""XGB-Graph scores of chosen accounts of a graph that grows in place, from their neighbourhood.

:class:`gnn.baselines.xgb_graph.XGBGraph` scores an account from
:func:`~gnn.baselines.xgb_graph.hop_features`: its own scaled features and ``log1p`` in-degree
per relation (level 0), then per hop, for every relation ending at it, the mean over its
in-neighbours of their previous level. With ``hops`` hops an account's row depends only on the
nodes within ``hops`` in-hops of it, so :class:`LiveXGBGraph` computes the rows asked for from
their neighbourhood in a :class:`~gnn.local_scoring.LocalGraph` (its current edges) and the
nodes' current scaled features: the batch formula's values up to float64 summation order (each
level cast to float32 as the batch casts it), put through the same trees and calibrator
(:meth:`~gnn.baselines.xgb_graph.XGBGraph.probabilities`).

Hubs (nodes with ``hub_degree`` in-neighbours or more along an edge type) keep the running
float64 sum of their in-neighbours' level 0 along it, so a hub's level 1 costs O(1) to read and
a change of one of its neighbours O(1) to take in (:meth:`LiveXGBGraph.mark`); the sums are
rebuilt from the neighbours after ``resync`` differences. Kept scores are recomputed only when
read, and only when something in their neighbourhood changed since (each node and each hub's
sums carry the tick of their last change): a change at a hub reaching thousands of accounts
costs nothing until one of them is read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import cached_property, partial

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse._sparsetools import csr_matvecs
from torch_geometric.typing import EdgeType

from gnn.baselines.xgb_graph import XGBGraph
from gnn.data.snapshot_graph import reverse_edge_type
from gnn.local_scoring import GrowingAdjacency, LocalGraph
from graph.snapshot import ACCOUNT

#: Target rows :meth:`LiveXGBGraph.fit` scores at a time (their two-hop neighbourhood's levels
#: are its transient: at 1M accounts 4096 rows peak 1,118 MiB above the start, 16384 1,260 MiB,
#: for the same CPU).
_FIT_ROWS = 4096
#: In-neighbour edges summed at a time when building hubs' sums.
_BUILD_EDGES = 1 << 18


def grown_rows(values: np.ndarray, size: int, fill: float) -> np.ndarray:
    """``values`` with at least ``size`` rows (new rows ``fill``; grown by an eighth more)."""
    if size <= len(values):
        return values
    out = np.full((size + len(values) // 8 + 1024, *values.shape[1:]), fill, dtype=values.dtype)
    out[:len(values)] = values
    return out


def _csr_product(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                 values: np.ndarray) -> np.ndarray:
    """``csr_matrix((data, indices, indptr)) @ values`` (``values`` float64, one row per column
    of the matrix): scipy's own kernel, each row's terms added in their order to a zero row,
    without the matrix's set-up and checks (~20 us a product, a dozen products a batch)."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    rows, width = len(indptr) - 1, values.shape[1]
    out = np.zeros((rows, width))
    if rows and width:
        indices = np.asarray(indices, dtype=indptr.dtype)
        csr_matvecs(rows, len(values), width, indptr, indices,
                    np.asarray(data, dtype=np.float64), values.ravel(), out.ravel())
    return out


def _mean_edges(position: np.ndarray, src: np.ndarray, n_rows: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """In-neighbour edges (``position``: the row of ``n_rows`` each ends at, ``src``: its
    source) in the batch's order: by row, each row's sources descending (the order in which
    the batch's mean matrix, scipy's diagonal @ adjacency product, holds and sums them, so
    that a mean on a float32 rounding tie rounds the same way). Returns the edges' rows and
    sources in that order, each edge's share of its row's mean and the rows' CSR ``indptr``."""
    top = int(src.max()) + 1 if len(src) else 1
    if n_rows * top < 2**62:  # one key, by row then source descending (edges are distinct)
        key = np.multiply(position, top, dtype=np.int64)
        key += top - 1
        key -= src
        order = np.argsort(key, kind="stable")
        del key
    else:
        order = np.lexsort((-src, position))
    position, src = position[order], src[order]
    degree = np.bincount(position, minlength=n_rows)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(degree, out=indptr[1:])
    share = (1.0 / np.maximum(degree, 1).astype(np.float64))[position]
    return position, src, share, indptr


def _in_edges_from(adjacency: GrowingAdjacency, nodes: np.ndarray, first: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The in-edges of each of ``nodes`` from its ``first``-th on, in the order of
    :meth:`~gnn.local_scoring.GrowingAdjacency.neighbours` (built ones, then added ones), node
    by node: (position in ``nodes`` of its destination, source row). Only the edges asked for
    are read (a hub's ``neighbours`` copies all of them)."""
    nodes, first = np.asarray(nodes, dtype=np.int64), np.asarray(first, dtype=np.int64)
    rowptr = adjacency.rowptr
    start, end = rowptr.take(nodes, mode="clip"), rowptr.take(nodes + 1, mode="clip")
    built = end - start
    start = start + np.minimum(first, built)
    counts = end - start
    total = int(counts.sum())
    base_position = np.arange(len(nodes)).repeat(counts)
    base_src = adjacency.col[np.arange(total) + (start - (counts.cumsum() - counts)).repeat(counts)]
    position, src = adjacency.added_edges(nodes, np.maximum(first - built, 0))
    if not len(src):
        return base_position, base_src
    if not total:
        return position, src
    position = np.concatenate([base_position, position])
    order = np.argsort(position, kind="stable")  # node by node, built edges first
    return position[order], np.concatenate([base_src, src])[order]


def _members(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Whether each of ``values`` is one of ``keys`` (``np.isin``, by a search in the sorted
    keys: a few ``keys``)."""
    if not len(keys) or not len(values):
        return np.zeros(len(values), dtype=bool)
    keys = np.sort(keys)
    found = keys.take(np.searchsorted(keys, values), mode="clip")
    return found == values


#: ``(node_type, rows) -> level of those rows`` (float64): the level below, as a product reads it.
_Below = Callable[[str, np.ndarray], np.ndarray]


class _Distinct:
    """The distinct rows of one node type that some in-neighbour edges read, ascending, and each
    edge's position among them (``np.unique(..., return_inverse=True)``); for many edges (a
    tenth of the type's rows or more) from a mark per row of the type: O(edges + rows of the
    type) a call, no sort (at 1M rows, 125k edges: 1.8 ms against 2.4 ms; 27k: 1.2 against
    0.4 ms)."""

    def __init__(self, size: int) -> None:
        self.mark = np.zeros(size, dtype=bool)
        self.position = np.zeros(size, dtype=np.int32 if size < 2**31 else np.int64)

    def __call__(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The distinct ``rows`` (ascending) and each one's position among them."""
        if len(rows) * 10 < len(self.mark):
            distinct, position = np.unique(rows, return_inverse=True)
            return distinct, position.reshape(-1)
        self.mark[rows] = True
        distinct = np.flatnonzero(self.mark)
        self.mark[distinct] = False
        self.position[distinct] = np.arange(len(distinct))
        return distinct, self.position[rows]


def _matrix_rows(matrix: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    """The distinct ascending ``rows`` of ``matrix`` (a slice where they are consecutive: the
    same entries in the same order, without the fancy index's copies)."""
    if len(rows) and int(rows[-1]) - int(rows[0]) + 1 == len(rows):
        return matrix[int(rows[0]):int(rows[-1]) + 1]
    return matrix[rows]


def _compact(matrix: sp.csr_matrix, distinct: _Distinct) -> tuple[sp.csr_matrix, np.ndarray]:
    """``matrix`` with only the columns its entries use (in order, each row's entries kept in
    their order, so a product sums the same terms in the same order) and those columns
    (``distinct``: of the columns' node type)."""
    sources, column = distinct(matrix.indices)
    return sp.csr_matrix((matrix.data, column, matrix.indptr),
                         shape=(matrix.shape[0], len(sources))), sources


def _distinct_rows(parts: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The distinct rows of ``parts``, ascending, and each part's positions among them."""
    rows, position = np.unique(parts[0] if len(parts) == 1 else np.concatenate(parts),
                               return_inverse=True)
    position = position.reshape(-1)
    ends = np.cumsum([len(p) for p in parts]).tolist()
    return rows, [position[end - len(p):end] for end, p in zip(ends, parts, strict=True)]


def _rows_of(level: dict[str, np.ndarray], node_type: str, rows: np.ndarray) -> np.ndarray:
    """``rows`` of ``level[node_type]``."""
    return level[node_type][rows]


class _Slotted:
    """Node rows held in slots of a table: each row's slot (-1: none) and the slots used."""

    def __init__(self) -> None:
        self.slot_of = np.full(0, -1, dtype=np.int64)
        self.size = 0

    def _reach(self, rows: np.ndarray) -> None:
        """Room in :attr:`slot_of` for ``rows``."""
        self.slot_of = grown_rows(self.slot_of, int(rows.max()) + 1 if len(rows) else 0, -1)

    def slots(self, rows: np.ndarray) -> np.ndarray:
        """Slot of each of ``rows`` (-1: none)."""
        self._reach(rows)
        return self.slot_of[rows]


class _Pinned(_Slotted):
    """The level 0 of one node type's rows that some hub's sums hold, as summed."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.values = np.empty((0, width))

    def pin(self, rows: np.ndarray, values: np.ndarray) -> None:
        """Hold ``values`` for the distinct, not yet pinned ``rows``."""
        self._reach(rows)
        self.values = grown_rows(self.values, self.size + len(rows), 0.0)
        self.slot_of[rows] = np.arange(self.size, self.size + len(rows))
        self.values[self.size:self.size + len(rows)] = values
        self.size += len(rows)


class _HubSums(_Slotted):
    """The running sums of one edge type's hubs (a node's slot -1: not a hub): per hub, the
    float64 sum of its first ``counts`` in-neighbours' level 0, the differences added since
    last built, and the tick of its last change."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.nodes = np.empty(0, dtype=np.int64)
        self.sums = np.empty((0, width))
        self.counts = np.empty(0, dtype=np.int64)
        self.diffs = np.empty(0, dtype=np.int64)
        self.ticks = np.empty(0, dtype=np.int64)

    def allocate(self, nodes: np.ndarray) -> np.ndarray:
        """Slots for the new hubs ``nodes`` (distinct), their sums empty."""
        slots = np.arange(self.size, self.size + len(nodes))
        end = self.size + len(nodes)
        self._reach(nodes)
        self.nodes = grown_rows(self.nodes, end, -1)
        self.sums = grown_rows(self.sums, end, 0.0)
        self.counts = grown_rows(self.counts, end, 0)
        self.diffs = grown_rows(self.diffs, end, 0)
        self.ticks = grown_rows(self.ticks, end, 0)
        self.slot_of[nodes] = slots
        self.nodes[slots] = nodes
        self.size = end
        return slots


def _probabilities(model: XGBGraph) -> Callable[[np.ndarray], np.ndarray]:
    """``model.probabilities``, for a calibrated gbtree model its calibrator on the fitted
    booster's ``inplace_predict`` margins called straight, as the sklearn wrapper's
    ``predict(output_margin=True)`` calls it (the same range of trees, the same float32
    margins), without the wrapper's ~0.1 ms a call (a batch's 100 rows: ~0.6 -> 0.5 ms)."""
    calibrator = getattr(model, "calibrator_", None)
    classifier = model.model_
    if calibrator is None or classifier.booster == "gblinear":
        return model.probabilities
    booster = classifier.get_booster()
    try:  # the wrapper's range: up to the best iteration where early stopping kept one
        trees = (0, classifier.best_iteration + 1)
    except AttributeError:
        trees = (0, 0)
    missing = classifier.missing

    def probabilities(features: np.ndarray) -> np.ndarray:
        margins = booster.inplace_predict(features, iteration_range=trees,
                                          predict_type="margin", missing=missing)
        return calibrator.transform(margins.astype(np.float64))

    return probabilities


class LiveXGBGraph:
    """A fitted XGB-Graph scoring the accounts of a :class:`LocalGraph` as it is now.

    Parameters
    ----------
    model
        The fitted XGB-Graph (its ``hops`` and trees).
    inputs
        ``(node_type, rows) -> scaled features`` (float32, the XGB-Graph scaler's columns) of
        the graph's nodes as they are now.
    widths
        Node type -> width of its scaled features (every node type of the graph).
    hub_degree
        In-degree along an edge type from which a node keeps the running sums of its
        in-neighbours' level 0 (set at :meth:`fit` / :meth:`restore`, and when a node reaches
        it later).
    resync
        Differences added to a hub's sums before they are built again from its neighbours.
    """

    def __init__(self, model: XGBGraph, inputs: Callable[[str, np.ndarray], np.ndarray],
                 widths: dict[str, int], hub_degree: int = 64, resync: int = 4096) -> None:
        self.model = model
        self.hops = model.hops
        self.inputs = inputs
        self.widths = widths
        if hub_degree < 1 or resync < 1:
            raise ValueError(f"hub_degree ({hub_degree}) and resync ({resync}) must be >= 1")
        self.hub_degree = hub_degree
        self.resync = resync
        self._hubs: dict[EdgeType, _HubSums] = {}
        self._pinned: dict[str, _Pinned] = {}
        self._changed: dict[str, np.ndarray] = {}
        self._tick = 0
        self._scores = np.empty(0)
        self._scored = np.empty(0, dtype=np.int64)

    def _into(self, graph: LocalGraph) -> dict[str, list[EdgeType]]:
        """Per node type, the edge types ending at it in the snapshot graph's order (each
        relation, then its reverse)."""
        order = [et for r in graph.relations for et in (r, reverse_edge_type(r))]
        return {t: [et for et in order if et[2] == t] for t in self.widths}

    # ------------------------------------------------------------------------------ levels
    def _level0(self, graph: LocalGraph, node_type: str, rows: np.ndarray,
                into: dict[str, list[EdgeType]]) -> np.ndarray:
        """Level 0 of ``rows`` of ``node_type`` (float64): scaled features and ``log1p``
        in-degree per edge type ending at it."""
        out = np.empty((len(rows), self._width(into, node_type, 0)))
        width = self.widths[node_type]
        out[:, :width] = self.inputs(node_type, rows)
        degrees = np.empty((len(into[node_type]), len(rows)))
        for j, et in enumerate(into[node_type]):
            degrees[j] = graph.adjacency[et].degree(rows)
        out[:, width:] = np.log1p(degrees).T
        return out

    def _hub_slots(self, et: EdgeType, rows: np.ndarray, level: int
                   ) -> tuple[_HubSums | None, np.ndarray, np.ndarray]:
        """At level 1, the hubs' table along ``et``, the mask of the ``rows`` that are hubs
        there and their slots (no table and none at other levels)."""
        table = self._hubs.get(et) if level == 1 else None
        if table is None or not table.size:
            return None, np.zeros(len(rows), dtype=bool), np.empty(0, dtype=np.int64)
        slots = table.slots(rows)
        hub = slots >= 0
        return table, hub, slots[hub]

    def _hub_means(self, et: EdgeType, rows: np.ndarray, level: int,
                   mean: np.ndarray) -> np.ndarray:
        """At level 1, write into ``mean`` the means of the ``rows`` that are hubs along ``et``
        (from their running sums); the mask of those rows (none at other levels)."""
        table, hub, picked = self._hub_slots(et, rows, level)
        if table is not None and len(picked):
            mean[hub] = table.sums[picked] / table.counts[picked][:, None]
        return hub

    def _held_level0(self, graph: LocalGraph, node_type: str, rows: np.ndarray,
                     into: dict[str, list[EdgeType]]) -> np.ndarray:
        """:meth:`_level0` of ``rows``, the pinned ones read as pinned (:meth:`mark`
        keeps them current: the same values), only the others computed."""
        pinned = self._pinned[node_type]
        slots = pinned.slots(rows)
        missing = np.flatnonzero(slots < 0)
        if len(missing) == len(rows):
            return self._level0(graph, node_type, rows, into)
        out = pinned.values.take(slots, axis=0)  # the missing rows' (slot -1) written below
        if len(missing):
            out[missing] = self._level0(graph, node_type, rows[missing], into)
        return out

    def _levels(self, graph: LocalGraph, into: dict[str, list[EdgeType]], targets: np.ndarray,
                held: bool) -> list[dict[str, tuple[np.ndarray, np.ndarray]]]:
        """Per level ``h`` (0 to :attr:`hops`), node type -> (distinct ascending rows, their
        level ``h``, float64): every level of account ``targets`` (distinct) and the levels
        below that they read, each computed once for all the rows that need it (a row's
        values do not depend on the other rows: a mean reads its row's edges only, in their
        order); at level 1, hubs read their running sums; ``held``: level 0 read from the
        pinned rows where held (:meth:`_held_level0`), else computed."""
        # top down: the rows of each level per node type, and the edges their means read
        # (each edge type's sources: one part of the rows wanted at the level below)
        wanted: list[dict[str, list[np.ndarray]]] = [{ACCOUNT: [targets]}
                                                     for _ in range(self.hops + 1)]
        rows_of: list[dict[str, np.ndarray]] = [{} for _ in range(self.hops + 1)]
        edges: dict[tuple[int, EdgeType], tuple[_HubSums | None, np.ndarray, np.ndarray,
                                                np.ndarray, np.ndarray, int]] = {}
        columns: dict[tuple[int, str], list[np.ndarray]] = {}
        for level in range(self.hops, -1, -1):
            for t, parts in wanted[level].items():
                rows, columns[level, t] = _distinct_rows(parts)
                rows_of[level][t] = rows
                for et in into[t] if level else ():
                    table, hub, picked = self._hub_slots(et, rows, level)
                    small = np.flatnonzero(~hub)
                    position, src = graph.adjacency[et].gather(rows[small])
                    below = wanted[level - 1].setdefault(et[0], [])
                    edges[level, et] = table, hub, picked, small, position, len(below)
                    below.append(src)
        level0 = self._held_level0 if held else self._level0
        levels = [{t: (rows, level0(graph, t, rows, into)) for t, rows in rows_of[0].items()}]
        # bottom up: each level's means of the level below
        for level in range(1, self.hops + 1):
            below = levels[-1]
            current = {}
            for t, rows in rows_of[level].items():
                out = np.zeros((len(rows), self._width(into, t, level)))
                column = 0
                for et in into[t]:
                    width = self._width(into, et[0], level - 1)
                    mean = out[:, column:column + width]
                    column += width
                    table, hub, picked, small, position, part = edges[level, et]
                    if table is not None and len(picked):
                        mean[hub] = table.sums[picked] / table.counts[picked][:, None]
                    if not len(position):
                        continue
                    # summed in the batch's order (by the same product: a sparse mean matrix
                    # over the rows of the level below)
                    _, source, share, indptr = _mean_edges(
                        position, columns[level - 1, et[0]][part], len(small))
                    mean[small] = _csr_product(indptr, source, share, below[et[0]][1])
                current[t] = rows, out
            levels.append(current)
        return levels

    def _width(self, into: dict[str, list[EdgeType]], node_type: str, level: int) -> int:
        """Columns of level ``level`` of ``node_type``."""
        if level == 0:
            return self.widths[node_type] + len(into[node_type])
        return sum(self._width(into, et[0], level - 1) for et in into[node_type])

    def features(self, graph: LocalGraph, rows: np.ndarray, held: bool = False) -> np.ndarray:
        """:func:`~gnn.baselines.xgb_graph.hop_features` of account ``rows`` (float32);
        ``held``: level 0 read from the pinned rows where held (kept current by :meth:`mark`),
        else every value computed from the graph."""
        rows = np.asarray(rows, dtype=np.int64)
        into = self._into(graph)
        targets, back = np.unique(rows, return_inverse=True)
        levels = self._levels(graph, into, targets, held)
        x = np.empty((len(targets), sum(self._width(into, ACCOUNT, h)
                                        for h in range(self.hops + 1))), dtype=np.float32)
        column = 0
        for level in levels:  # each level cast to float32, as the batch does
            level_rows, values = level[ACCOUNT]
            x[:, column:column + values.shape[1]] = values[np.searchsorted(level_rows, targets)]
            column += values.shape[1]
        return x[back.reshape(-1)]

    def scores(self, graph: LocalGraph, rows: np.ndarray, held: bool = False) -> np.ndarray:
        """Probability of abuse of account ``rows`` (float64), computed now (``held``: as in
        :meth:`features`)."""
        if not len(rows):
            return np.empty(0)
        return np.asarray(self._trees(self.features(graph, rows, held)), dtype=np.float64)

    @cached_property
    def _trees(self) -> Callable[[np.ndarray], np.ndarray]:
        """The model's :meth:`~gnn.baselines.xgb_graph.XGBGraph.probabilities` of rows of
        features (set at the first score: the model is fitted by then)."""
        return _probabilities(self.model)

    # ------------------------------------------------------------------------------ hubs
    def _pinned_values(self, graph: LocalGraph, node_type: str, rows: np.ndarray,
                       into: dict[str, list[EdgeType]]) -> np.ndarray:
        """The pinned level 0 of ``rows`` (those not pinned yet computed now and pinned)."""
        pinned = self._pinned[node_type]
        slots = pinned.slots(rows)
        missing = np.unique(rows[slots < 0])
        if len(missing):
            pinned.pin(missing, self._level0(graph, node_type, missing, into))
            slots = pinned.slots(rows)
        return pinned.values[slots]

    def _build(self, graph: LocalGraph, into: dict[str, list[EdgeType]], et: EdgeType,
               slots: np.ndarray) -> None:
        """Sum the hubs of ``slots`` (along ``et``) from all their in-neighbours now."""
        table, adjacency = self._hubs[et], graph.adjacency[et]
        degree = adjacency.degree(table.nodes[slots])
        total = np.cumsum(degree)
        lo = 0
        while lo < len(slots):  # hubs of about _BUILD_EDGES in-edges at a time
            done = int(total[lo - 1]) if lo else 0
            hi = max(lo + 1, int(np.searchsorted(total, done + _BUILD_EDGES, side="right")))
            part = slots[lo:hi]
            position, src = adjacency.gather(table.nodes[part])
            values = torch.from_numpy(self._pinned_values(graph, et[0], src, into))
            sums = torch.zeros((len(part), values.shape[1]), dtype=torch.float64)
            table.sums[part] = sums.index_add_(0, torch.from_numpy(position), values).numpy()
            table.counts[part] = degree[lo:hi]
            lo = hi
        table.diffs[slots] = 0
        table.ticks[slots] = self._tick

    def _set_up(self, graph: LocalGraph) -> None:
        """Forget what was kept; the hubs' sums built from the graph as it is now (tick 0)."""
        into = self._into(graph)
        self._tick = 0
        self._changed = {t: np.zeros(graph.num_nodes.get(t, 0), dtype=np.int64)
                         for t in self.widths}
        self._pinned = {t: _Pinned(self._width(into, t, 0)) for t in self.widths}
        self._hubs = {}
        for et, adjacency in graph.adjacency.items():
            n = graph.num_nodes[et[2]]
            hubs = np.flatnonzero(adjacency.degree(np.arange(n)) >= self.hub_degree)
            self._hubs[et] = _HubSums(self._width(into, et[0], 0))
            if len(hubs):
                self._build(graph, into, et, self._hubs[et].allocate(hubs))

    def _mean_matrix(self, graph: LocalGraph, et: EdgeType) -> sp.csr_matrix:
        """The in-neighbour mean matrix of edge type ``et`` (destination rows x source rows),
        each row's entries in descending source order: the batch's matrix, in its order."""
        n = graph.num_nodes[et[2]]
        _, src, share, indptr = _mean_edges(*graph.adjacency[et].gather(np.arange(n)), n)
        return sp.csr_matrix((share, src, indptr), shape=(n, graph.num_nodes[et[0]]))

    def _parts(self, into: dict[str, list[EdgeType]], means: dict[EdgeType, sp.csr_matrix],
               distinct: dict[str, _Distinct], below: _Below, node_type: str, rows: np.ndarray,
               level: int) -> list[np.ndarray]:
        """Level ``level`` (>= 1) of the distinct ascending ``rows`` of ``node_type`` (float64),
        one block of columns per edge type ending at it: the means of the level ``level - 1``
        of their in-neighbours there (``below``; at level 1, hubs' from their running sums)."""
        parts = []
        for et in into[node_type]:
            mean = np.zeros((len(rows), self._width(into, et[0], level - 1)))
            small = np.flatnonzero(~self._hub_means(et, rows, level, mean))
            matrix, sources = _compact(_matrix_rows(means[et], rows[small]), distinct[et[0]])
            if len(small) == len(rows):  # no hub: the product is the block
                mean = matrix @ below(et[0], sources)
            else:
                mean[small] = matrix @ below(et[0], sources)
            parts.append(mean)
        return parts

    def _rows_level(self, into: dict[str, list[EdgeType]],
                    means: dict[EdgeType, sp.csr_matrix], distinct: dict[str, _Distinct],
                    below: _Below, node_type: str, rows: np.ndarray, level: int) -> np.ndarray:
        """:meth:`_parts` of ``rows`` side by side."""
        return np.hstack([np.empty((len(rows), 0)),
                          *self._parts(into, means, distinct, below, node_type, rows, level)]
                         ).reshape(len(rows), self._width(into, node_type, level))

    def _last_parts(self, into: dict[str, list[EdgeType]],
                    means: dict[EdgeType, sp.csr_matrix], distinct: dict[str, _Distinct],
                    below: _Below, rows: np.ndarray) -> Iterator[np.ndarray]:
        """Accounts' level :attr:`hops` (>= 2) of ``rows`` (float64) from the level
        ``hops - 2`` of the nodes within two in-hops (``below``), a block of columns at a time:
        the level ``hops - 1`` of only their in-neighbours computed here (one edge type's
        block of it at a time), their means summed in the same order (a column block of a
        product sums what the whole product sums there)."""
        for et in into[ACCOUNT]:
            matrix, sources = _compact(_matrix_rows(means[et], rows), distinct[et[0]])
            for part in self._parts(into, means, distinct, below, et[0], sources,
                                    self.hops - 1):
                yield np.asarray(matrix @ part).reshape(len(rows), part.shape[1])

    def fit(self, graph: LocalGraph) -> np.ndarray:
        """Every account's score computed now (the hubs' sums built first): the values of
        :meth:`scores` on every account, level by level over the whole graph (each node's
        levels below ``hops - 1`` computed once; accounts :data:`_FIT_ROWS` at a time, with
        the level ``hops - 1`` of their in-neighbours), the batch
        :meth:`~gnn.baselines.xgb_graph.XGBGraph.score_graph`'s values without its
        whole-graph tables.

        Level 0 is held as the nodes' scaled features only (float32, as :attr:`inputs` gives
        them; their float64 level 0 is the exact upcast with the ``log1p`` in-degrees, both
        made for the rows a product reads); each mean is the batch mean matrix's rows times
        the rows of the level below that they read (the same products, summed in the same
        order); a hub's level 1 is read from its sums, never computed."""
        self._set_up(graph)
        into = self._into(graph)
        n = graph.num_nodes[ACCOUNT]
        # needed[h]: the node types whose level h is read (accounts' every level is a feature)
        needed = [{ACCOUNT}]
        for _ in range(self.hops):
            needed.append({ACCOUNT} | {et[0] for t in needed[-1] for et in into[t]})
        needed.reverse()
        means = {et: self._mean_matrix(graph, et) for et in graph.adjacency
                 if self.hops and et[2] in set().union(*needed[1:])}

        def whole(t: str, h: int, rows_level: Callable[[np.ndarray], np.ndarray],
                  dtype: type = np.float64) -> np.ndarray:
            """Level ``h`` of every row of ``t``, :data:`_FIT_ROWS` rows at a time (at level 0
            its scaled features)."""
            size = graph.num_nodes.get(t, 0)
            width = self.widths[t] if h == 0 else self._width(into, t, h)
            out = np.empty((size, width), dtype=dtype)
            for lo in range(0, size, _FIT_ROWS):
                rows = np.arange(lo, min(lo + _FIT_ROWS, size))
                out[rows] = rows_level(rows)
            return out

        features = {t: whole(t, 0, partial(self.inputs, t), np.float32) for t in needed[0]}
        degrees = {}  # the log1p in-degree columns of level 0 (float64)
        for t in needed[0]:
            every = np.arange(graph.num_nodes.get(t, 0))
            degrees[t] = np.empty((len(every), len(into[t])))
            for j, et in enumerate(into[t]):
                degrees[t][:, j] = np.log1p(graph.adjacency[et].degree(every).astype(np.float64))

        def level0(t: str, rows: np.ndarray) -> np.ndarray:
            """:meth:`_level0` of ``rows`` of ``t`` from the held features and degrees."""
            out = np.empty((len(rows), self._width(into, t, 0)))
            width = features[t].shape[1]
            out[:, :width] = features[t].take(rows, axis=0)  # take: ~1.5x the fancy index
            out[:, width:] = degrees[t].take(rows, axis=0)
            return out

        below: _Below = level0
        distinct = {t: _Distinct(graph.num_nodes.get(t, 0)) for t in set().union(*needed)}
        kept = []
        for h in range(1, self.hops - 1):
            level = {t: whole(t, h, partial(self._rows_level, into, means, distinct, below, t,
                                            level=h))
                     for t in needed[h]}
            kept.append(level[ACCOUNT].astype(np.float32))
            below = partial(_rows_of, level)
            if h == 1:  # the accounts' level 0 is still read, as a feature
                features = {ACCOUNT: features[ACCOUNT]}
                degrees = {ACCOUNT: degrees[ACCOUNT]}
        scores = np.empty(n)
        width = sum(self._width(into, ACCOUNT, h) for h in range(self.hops + 1))
        for lo in range(0, n, _FIT_ROWS):
            rows = np.arange(lo, min(lo + _FIT_ROWS, n))
            x = np.empty((len(rows), width), dtype=np.float32)
            column = 0
            for level in range(self.hops + 1):  # each level cast to float32, as the batch does
                if level == 0:
                    blocks: Iterable[np.ndarray] = [level0(ACCOUNT, rows)]
                elif level < self.hops - 1:
                    blocks = [kept[level - 1][rows]]
                elif level == self.hops and level >= 2:
                    blocks = self._last_parts(into, means, distinct, below, rows)
                else:
                    blocks = self._parts(into, means, distinct, below, ACCOUNT, rows, level)
                for block in blocks:
                    x[:, column:column + block.shape[1]] = block
                    column += block.shape[1]
                del blocks
            scores[rows] = self.model.probabilities(x)
        self._scores, self._scored = scores, np.zeros(n, dtype=np.int64)
        return scores.copy()

    def restore(self, graph: LocalGraph, scores: np.ndarray) -> None:
        """Take ``scores`` (what :meth:`fit` returned on this graph) as every account's
        current score; the hubs' sums are built again."""
        if len(scores) != graph.num_nodes[ACCOUNT]:
            raise ValueError(f"{len(scores)} saved XGB-Graph scores for "
                             f"{graph.num_nodes[ACCOUNT]} accounts")
        self._set_up(graph)
        self._scores = np.array(scores, dtype=np.float64)
        self._scored = np.zeros(len(scores), dtype=np.int64)

    def kept(self, graph: LocalGraph) -> np.ndarray:
        """The kept score of every account of ``graph`` (a copy; NaN where never computed),
        as :meth:`fit` or :meth:`restore` left them or :meth:`current` last computed them."""
        self._grow(graph)
        return self._scores[:graph.num_nodes[ACCOUNT]].copy()

    # ------------------------------------------------------------------------------ live
    def _grow(self, graph: LocalGraph) -> None:
        for t, ticks in self._changed.items():
            self._changed[t] = grown_rows(ticks, graph.num_nodes.get(t, 0), 0)
        n = graph.num_nodes[ACCOUNT]
        self._scores = grown_rows(self._scores, n, np.nan)
        self._scored = grown_rows(self._scored, n, -1)

    def mark(self, graph: LocalGraph, changed: dict[str, np.ndarray]) -> None:
        """Take in that the ``changed`` nodes' features or in-edges changed (the graph already
        holds them): the hubs' sums get their differences and new in-neighbours, and the
        nodes their change's tick. Nothing is rescored here."""
        self._grow(graph)
        into = self._into(graph)
        self._tick += 1
        now = self._tick
        rows_of = {t: np.unique(np.asarray(r, dtype=np.int64)) for t, r in changed.items()
                   if len(r) and t in self._changed}
        for t, rows in rows_of.items():
            self._changed[t][rows] = now
        # hubs among the changed nodes with in-edges not summed yet: (hub, source) pairs
        behind: dict[EdgeType, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for et, table in self._hubs.items():
            rows = rows_of.get(et[2])
            if rows is None or not table.size:
                continue
            slots = table.slots(rows)
            slots = slots[slots >= 0]
            adjacency = graph.adjacency[et]
            slots = slots[adjacency.degree(table.nodes[slots]) > table.counts[slots]]
            if len(slots):
                position, late_src = _in_edges_from(adjacency, table.nodes[slots],
                                                    table.counts[slots])
                behind[et] = (slots, slots[position], late_src)
        # the pinned changed rows' differences into the hubs that sum them already
        for t, rows in rows_of.items():
            pinned = self._pinned[t]
            slots = pinned.slots(rows)
            rows, slots = rows[slots >= 0], slots[slots >= 0]
            if not len(rows):
                continue
            new = self._level0(graph, t, rows, into)
            delta = new - pinned.values[slots]
            pinned.values[slots] = new
            for et, table in self._hubs.items():
                if et[0] != t or not table.size:
                    continue
                position, hub = graph.adjacency[graph.opposite(et)].gather(rows)
                hubs = table.slots(hub)
                keep = hubs >= 0
                if et in behind:  # an edge not summed yet is summed below, with new values
                    _, late_slots, late_src = behind[et]
                    size = graph.num_nodes[t] + 1
                    keep &= ~_members(hubs * size + rows[position], late_slots * size + late_src)
                if keep.any():
                    np.add.at(table.sums, hubs[keep], delta[position[keep]])
                    np.add.at(table.diffs, hubs[keep], 1)
                    table.ticks[hubs[keep]] = now
        for et, (slots, late_slots, late_src) in behind.items():
            table = self._hubs[et]
            values = self._pinned_values(graph, et[0], late_src, into)
            np.add.at(table.sums, late_slots, values)
            np.add.at(table.diffs, late_slots, 1)
            table.counts[slots] = graph.adjacency[et].degree(table.nodes[slots])
            table.ticks[slots] = now
        for et, table in self._hubs.items():
            rows = rows_of.get(et[2])
            if rows is not None:  # nodes that became hubs
                rows = rows[table.slots(rows) < 0]
                rows = rows[graph.adjacency[et].degree(rows) >= self.hub_degree]
                if len(rows):
                    self._build(graph, into, et, table.allocate(rows))
            drifted = np.flatnonzero(table.diffs[:table.size] >= self.resync)
            if len(drifted):
                self._build(graph, into, et, drifted)

    def _latest(self, graph: LocalGraph, into: dict[str, list[EdgeType]], node_type: str,
                rows: np.ndarray, level: int) -> np.ndarray:
        """Per row, the last tick at which something its level ``level`` reads changed."""
        ticks = self._changed[node_type][rows]
        if level == 0:
            return ticks
        for et in into[node_type]:
            table, hub, picked = self._hub_slots(et, rows, level)
            if table is not None:
                ticks[hub] = np.maximum(ticks[hub], table.ticks[picked])
            small = np.flatnonzero(~hub)
            position, src = graph.adjacency[et].gather(rows[small])
            if len(src):
                sources, inverse = np.unique(src, return_inverse=True)
                below = self._latest(graph, into, et[0], sources, level - 1)[inverse]
                np.maximum.at(ticks, small[position], below)
        return ticks

    def current(self, graph: LocalGraph, rows: np.ndarray) -> np.ndarray:
        """Current scores of account ``rows``: kept ones, recomputed where something they
        read changed since they were computed (after :meth:`fit` or :meth:`restore`)."""
        rows = np.asarray(rows, dtype=np.int64)
        self._grow(graph)
        if not len(rows):
            return np.empty(0)
        # A score computed at the current tick is current (every change of a tick is marked
        # before anything is computed at it), one of an account changed since is stale: only
        # the others' neighbourhoods are visited.
        check = np.unique(rows[self._scored[rows] < self._tick])
        changed = self._changed[ACCOUNT][check] > self._scored[check]
        rest = check[~changed]
        latest = self._latest(graph, self._into(graph), ACCOUNT, rest, self.hops)
        stale = np.union1d(check[changed], rest[latest > self._scored[rest]])
        if len(stale):
            self._scores[stale] = self.scores(graph, stale, held=True)
            self._scored[stale] = self._tick
        return self._scores[rows]
