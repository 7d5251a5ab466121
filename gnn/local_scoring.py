"""Exact scores of a few accounts from their L-hop neighbourhood, on a graph that grows in place.

A trained :class:`~gnn.models.SepHeteroGNN` with ``L`` layers computes an account's logit from
the nodes within ``L`` hops of it: their scaled features, their in-degrees (the ``log1p`` degree
features of :func:`gnn.inference.full_graph_inputs`, counted over the whole history) and the
edges between them. Nothing else is global: the feature scaler and the calibrator are fixed
when the model is saved. So when events change a few nodes, only the accounts within ``L`` hops
of them change score; each is recomputed exactly (up to float32 summation order) when it is
read, from the kept embeddings of its L-hop subgraph, every neighbour included.

:class:`LocalGraph` holds the graph (scaled features per node type, in-neighbour lists per edge
type, each relation also reversed as :func:`gnn.data.snapshot_graph.snapshot_to_heterodata`
stores it) and grows in place; :class:`LocalScorer` scores accounts on it.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn
from torch_geometric.data import HeteroData
from torch_geometric.typing import EdgeType

from gnn.calibration import ScoreCalibrator
from gnn.data.snapshot_graph import reverse_edge_type
from gnn.inference import (
    MIN_BLOCK_ROWS,
    EncodedBlocks,
    LayerwisePass,
    OneTypeAtATime,
    RowBlocks,
    RowFile,
)
from gnn.models.sep_hetero_gnn import SepHeteroGNN
from gnn.threads import torch_threads

#: Up to this many nodes, :meth:`GrowingAdjacency.gather` goes node by node.
_FEW = 8
#: Up to this many (blocks x edges), :meth:`_NumpyModel.layer` sums a layer's neighbours by one
#: product with a 0/1 matrix; beyond, by an index_add per relation.
_DENSE_SUMS = 1 << 16
#: Up to this many hubs behind, :meth:`_NeighbourSums._catch_up` takes in their new edges hub
#: by hub (a batch's dozens at once: some 20 numpy calls in all, not 8 a hub).
_FEW_HUBS = 4
#: Rows of a kept embedding array written to its file at a time (:func:`_write_kept`).
_WRITE_ROWS = 1 << 16
#: The last layer's output in a spilling :meth:`LocalScorer.fit`'s directory (removed after).
_LAST = ".last_layer.npy"


class GrowingAdjacency:
    """In-neighbours of every destination node of one edge type: a CSR (each node's
    neighbours in the order of their rows, as the whole-graph pass sums them) plus the edges
    added since, in the order they were added.

    The added edges of a node sit in a run of their own in one pool array (room for twice
    as many when it moves: a node's run moves to the pool's end when full), so that reading
    the added edges of many nodes is a few array steps, not a Python step per node. A running
    service adds edges to more and more nodes: at 20k accounts, 100-event groups, the
    gathers took 0.95-1.16 -> 1.70-2.09 CPU ms a group over the first 20,000 events read
    node by node (dicts of lists, before session 31), 0.71-0.76 -> 0.78-0.82 from the pool.
    A run left behind by a move is never reused: the pool holds up to about twice the added
    edges (8 bytes each), plus at least 4 slots per node with any.

    Parameters
    ----------
    src, dst
        The edges the CSR is built from (row indices of the source and destination types).
    num_dst
        Destination nodes when built; rows beyond it (nodes added later) start empty.
    """

    def __init__(self, src: np.ndarray, dst: np.ndarray, num_dst: int) -> None:
        src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
        order = np.argsort(dst * (int(src.max()) + 1 if len(src) else 1) + src)
        self.col = src[order]
        self.rowptr = np.zeros(num_dst + 1, dtype=np.int64)
        np.cumsum(np.bincount(dst, minlength=num_dst), out=self.rowptr[1:])
        # per node (and a last 0 for every node past them): its added edges, where its run
        # starts in the pool and the room there; room for an eighth more nodes (zeros: no
        # page is resident until written), so the first new nodes copy none of them
        size = _kept_rows(num_dst) + 1
        self.added_count = np.zeros(size, dtype=np.int64)
        self._run_start = np.zeros(size, dtype=np.int64)
        self._run_room = np.zeros(size, dtype=np.int64)
        self._pool = np.zeros(0, dtype=np.int64)
        self._pool_used = 0
        # the nodes with added edges, in the order of their first one (edge_index's order)
        self._first = np.zeros(0, dtype=np.int64)
        self._firsts = 0
        self.num_added = 0

    @property
    def num_edges(self) -> int:
        """Edges held (built and added)."""
        return len(self.col) + self.num_added

    def _base_bounds(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # A node past the built ones reads the last bound twice: no edges.
        rowptr = self.rowptr
        return rowptr.take(nodes, mode="clip"), rowptr.take(nodes + 1, mode="clip")

    def added_run(self, node: int) -> np.ndarray:
        """The source rows of the edges added into ``node``, in the order added (a view of
        the pool: edges added later do not change it)."""
        if node >= len(self.added_count) - 1:
            return self._pool[:0]
        begin = int(self._run_start[node])
        return self._pool[begin:begin + int(self.added_count[node])]

    def neighbours(self, node: int) -> np.ndarray:
        """Source rows of the edges into ``node``."""
        base = (self.col[self.rowptr[node]:self.rowptr[node + 1]] if node < len(self.rowptr) - 1
                else self.col[:0])
        extra = self.added_run(node)
        return base if not len(extra) else np.concatenate([base, extra])

    def degree_of(self, node: int) -> int:
        """In-degree of one node."""
        base = (int(self.rowptr[node + 1] - self.rowptr[node]) if node < len(self.rowptr) - 1
                else 0)
        return base + (int(self.added_count[node]) if node < len(self.added_count) else 0)

    def degree(self, nodes: np.ndarray) -> np.ndarray:
        """In-degree of each of ``nodes``."""
        start, end = self._base_bounds(nodes)
        return end - start + self.added_of(nodes)

    def added_of(self, nodes: np.ndarray) -> np.ndarray:
        """Edges added since the build into each of ``nodes``."""
        # The last count is never a node's (add_many keeps it): clipped rows read 0.
        return self.added_count.take(nodes, mode="clip")

    def added_edges(self, nodes: np.ndarray, skip: np.ndarray | None = None,
                    ) -> tuple[np.ndarray, np.ndarray]:
        """The edges added into each of ``nodes`` (from its ``skip``-th added one on, when
        given), node by node in the order they were added: (position in ``nodes`` of the
        destination, source row)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        counts = self.added_of(nodes)
        begin = self._run_start.take(nodes, mode="clip")
        if skip is not None:
            skip = np.minimum(np.asarray(skip, dtype=np.int64), counts)
            counts, begin = counts - skip, begin + skip
        has = counts.nonzero()[0]
        counts, begin = counts[has], begin[has]
        total = int(counts.sum())
        ends = counts.cumsum()
        at = np.arange(total) + (begin - (ends - counts)).repeat(counts)
        return has.repeat(counts), self._pool[at]

    def gather(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every edge into ``nodes``: (position in ``nodes`` of its destination, source row)."""
        if len(nodes) <= _FEW:
            return self._gather_few(nodes)
        start, end = self._base_bounds(nodes)
        counts = end - start
        total = int(counts.sum())
        position = np.arange(len(nodes)).repeat(counts)
        # edge k of node i sits at start[i] + (k - the edges of the nodes before i)
        src = self.col[np.arange(total) + (start - (counts.cumsum() - counts)).repeat(counts)]
        if self.num_added:
            extra_position, extra = self.added_edges(nodes)
            if len(extra):
                position = np.concatenate([position, extra_position])
                src = np.concatenate([src, extra])
        return position, src

    def _gather_few(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`gather` node by node (fewer numpy calls for a handful of nodes)."""
        built = len(self.rowptr) - 1
        nodes = nodes.tolist()
        bounds = self.rowptr[[min(n, built) for n in nodes]
                             + [min(n + 1, built) for n in nodes]].tolist()
        col, count = self.col, len(nodes)
        added = self.added_of(np.asarray(nodes, dtype=np.int64)).tolist() if (
            self.num_added) else [0] * count
        counts, sources = [], []
        for i, node in enumerate(nodes):
            start, end = bounds[i], bounds[count + i]
            if end > start:
                sources.append(col[start:end])
            if added[i]:
                sources.append(self.added_run(node))
            counts.append(end - start + added[i])
        if not sources:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        src = sources[0] if len(sources) == 1 else np.concatenate(sources)
        return (np.zeros(counts[0], dtype=np.int64) if count == 1
                else np.repeat(np.arange(count), counts), np.asarray(src, dtype=np.int64))

    def add(self, src: int, dst: int) -> None:
        """Add the edge ``src -> dst`` (the caller checks it is new)."""
        self.add_many(np.array([src], dtype=np.int64), np.array([dst], dtype=np.int64))

    def add_many(self, src: np.ndarray, dst: np.ndarray) -> None:
        """Add the edges ``src[i] -> dst[i]``, in order (the caller checks they are new and
        distinct)."""
        if not len(dst):
            return
        src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
        top = int(dst.max()) + 1
        if top >= len(self.added_count):  # room for the nodes and the last 0
            size = top + len(self.added_count) // 8 + 1024
            for name in ("added_count", "_run_start", "_run_room"):
                setattr(self, name, _grown(getattr(self, name), size))
        order = np.argsort(dst, kind="stable")  # each node's edges in the order given
        nodes, first, k = np.unique(dst[order], return_index=True, return_counts=True)
        have = self.added_count[nodes]
        moving = have + k > self._run_room[nodes]
        if moving.any():
            self._move(nodes[moving], have[moving], have[moving] + k[moving])
        fresh = nodes[have == 0]
        if len(fresh):  # first added edges, in the order of their first one given
            fresh = fresh[np.argsort(order[first[have == 0]], kind="stable")]
            self._first = _grown(self._first, self._firsts + len(fresh))
            self._first[self._firsts:self._firsts + len(fresh)] = fresh
            self._firsts += len(fresh)
        within = np.arange(len(dst)) - first.repeat(k)
        self._pool[(self._run_start[nodes] + have).repeat(k) + within] = src[order]
        self.added_count[nodes] = have + k
        self.num_added += len(dst)

    def _move(self, nodes: np.ndarray, have: np.ndarray, need: np.ndarray) -> None:
        """Give each of ``nodes`` (holding ``have`` added edges, to hold ``need``) a run of
        twice the room at the pool's end, its edges copied there."""
        room = np.maximum(np.maximum(2 * self._run_room[nodes], need), 4)
        begin = self._pool_used + room.cumsum() - room
        used = self._pool_used + int(room.sum())
        if used > len(self._pool):
            pool = np.zeros(max(used, 2 * len(self._pool)), dtype=np.int64)
            pool[:self._pool_used] = self._pool[:self._pool_used]
            self._pool = pool
        total = int(have.sum())
        if total:
            ends = have.cumsum()
            within = np.arange(total) - (ends - have).repeat(have)
            self._pool[begin.repeat(have) + within] = self._pool[
                self._run_start[nodes].repeat(have) + within]
        self._run_start[nodes], self._run_room[nodes] = begin, room
        self._pool_used = used

    def edge_index(self) -> np.ndarray:
        """``(2, E)`` array of every edge (source row, destination row): the built ones by
        destination, then the added ones node by node in the order of each node's first."""
        dst = np.repeat(np.arange(len(self.rowptr) - 1), np.diff(self.rowptr))
        nodes = self._first[:self._firsts]
        position, extra = self.added_edges(nodes)
        return np.stack([np.concatenate([self.col, extra]),
                         np.concatenate([dst, nodes[position]])])


def _grown(values: np.ndarray, size: int) -> np.ndarray:
    """``values`` with room for ``size`` entries (zeros after it), itself when it has."""
    if size <= len(values):
        return values
    grown = np.zeros(max(size, len(values) + len(values) // 8 + 1024), dtype=values.dtype)
    grown[:len(values)] = values
    return grown


class LocalGraph:
    """A heterogeneous graph whose nodes, features and edges grow in place.

    Parameters
    ----------
    x
        Node type -> scaled features ``(num_nodes, F)`` float32 (as the model reads them).
    edges
        Relation edge type ``(src, REL, dst)`` -> ``(2, E)`` rows; the reversed type
        ``(dst, rev_REL, src)`` is added, as in the snapshot's ``HeteroData``.
    """

    def __init__(self, x: dict[str, np.ndarray], edges: dict[EdgeType, np.ndarray]) -> None:
        self.num_nodes = {t: len(v) for t, v in x.items()}
        self._x = {t: np.array(v, dtype=np.float32) for t, v in x.items()}
        self.relations = [tuple(et) for et in edges]
        self.adjacency: dict[EdgeType, GrowingAdjacency] = {}
        self._opposite: dict[EdgeType, EdgeType] = {}
        for et, index in edges.items():
            self._opposite[tuple(et)] = reverse_edge_type(tuple(et))
            self._opposite[reverse_edge_type(tuple(et))] = tuple(et)
            src, dst = np.asarray(index[0], dtype=np.int64), np.asarray(index[1], dtype=np.int64)
            self.adjacency[tuple(et)] = GrowingAdjacency(src, dst, self.num_nodes[et[2]])
            self.adjacency[reverse_edge_type(tuple(et))] = GrowingAdjacency(
                dst, src, self.num_nodes[et[0]])

    # ---------------------------------------------------------------------------- updates
    def features(self, node_type: str, rows: np.ndarray) -> np.ndarray:
        """Scaled features of ``rows`` of ``node_type``."""
        return self._x[node_type][rows]

    def add_nodes(self, node_type: str, count: int) -> np.ndarray:
        """Append ``count`` nodes (zero features until set) and return their rows."""
        first = self.num_nodes[node_type]
        store = self._x[node_type]
        if first + count > len(store):
            grown = np.zeros((first + count + len(store) // 8 + 1024, store.shape[1]),
                             dtype=np.float32)
            grown[:first] = store[:first]
            self._x[node_type] = grown
        self.num_nodes[node_type] = first + count
        return np.arange(first, first + count)

    def reserve(self) -> None:
        """Room now for an eighth more nodes of every type (as :meth:`add_nodes` grows the
        features when full), so that the first new node after a start does not copy its type's
        whole feature array on the request path."""
        for node_type, store in self._x.items():
            n = self.num_nodes[node_type]
            if len(store) < n + n // 8:
                grown = np.zeros((n + n // 8 + 1024, store.shape[1]), dtype=np.float32)
                grown[:n] = store[:n]
                self._x[node_type] = grown

    def set_features(self, node_type: str, rows: np.ndarray, values: np.ndarray) -> None:
        """Replace the scaled features of ``rows``."""
        self._x[node_type][rows] = values

    def reset_features(self, node_type: str, values: np.ndarray) -> None:
        """Replace the scaled features of every node of ``node_type`` (say, for a new scaler)."""
        if len(values) != self.num_nodes[node_type]:
            raise ValueError(f"{node_type}: {len(values)} feature rows for "
                             f"{self.num_nodes[node_type]} nodes")
        self._x[node_type] = np.array(values, dtype=np.float32)

    def rescaled(self, x: dict[str, np.ndarray]) -> LocalGraph:
        """A graph with this one's nodes and edges and the scaled features ``x`` (node type ->
        one row per node; a type left out keeps a copy of this graph's): the edges are shared,
        not copied (an edge added to either graph is the other's), the features its own. A
        model's whole pass can run on it while this graph's readers go on reading the features
        they were scaled for."""
        graph = copy.copy(self)
        graph.num_nodes = dict(self.num_nodes)
        graph._x = {}
        for t, n in self.num_nodes.items():
            if t not in x:
                graph._x[t] = self._x[t].copy()
            elif len(x[t]) != n:
                raise ValueError(f"{t}: {len(x[t])} feature rows for {n} nodes")
            else:
                graph._x[t] = np.ascontiguousarray(x[t], dtype=np.float32)  # float32: no copy
        return graph

    def opposite(self, edge_type: EdgeType) -> EdgeType:
        """The edge type holding ``edge_type``'s edges reversed (a relation's ``rev_`` type,
        or the relation of a ``rev_`` type)."""
        return self._opposite[edge_type]

    def has_edge(self, relation: EdgeType, src: int, dst: int) -> bool:
        """Whether ``src -> dst`` is an edge of ``relation``; looks at the smaller list."""
        forward, backward = self.adjacency[relation], self.adjacency[reverse_edge_type(relation)]
        if forward.degree_of(dst) <= backward.degree_of(src):
            return bool((forward.neighbours(dst) == src).any())
        return bool((backward.neighbours(src) == dst).any())

    def add_edge(self, relation: EdgeType, src: int, dst: int) -> bool:
        """Add ``src -> dst`` to ``relation`` (and its reverse) unless there; True if added."""
        if self.has_edge(relation, src, dst):
            return False
        self.adjacency[relation].add(src, dst)
        self.adjacency[reverse_edge_type(relation)].add(dst, src)
        return True

    def add_edges(self, relation: EdgeType, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Add the edges ``src[i] -> dst[i]`` to ``relation`` (and its reverse), each unless
        there or earlier in the arrays, in order: the same as :meth:`add_edge` on each pair in
        turn. Returns which pairs were added (bool per pair)."""
        src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
        if len(src) == 1:  # one event's pair: a few scalar steps, not the array set-up
            return np.array([self.add_edge(relation, int(src[0]), int(dst[0]))])
        added = np.zeros(len(src), dtype=bool)
        if not len(src):
            return added
        key = src * (int(dst.max()) + 1) + dst
        first = np.sort(np.unique(key, return_index=True)[1])  # each distinct pair once
        s, d = src[first], dst[first]
        forward, backward = self.adjacency[relation], self.adjacency[reverse_edge_type(relation)]
        exists = np.zeros(len(first), dtype=bool)
        by_forward = forward.degree(d) <= backward.degree(s)  # look at the smaller list
        for adjacency, pick, near, far in ((forward, by_forward.nonzero()[0], d, s),
                                           (backward, (~by_forward).nonzero()[0], s, d)):
            if len(pick):
                position, found = adjacency.gather(near[pick])
                exists[pick[position[found == far[pick][position]]]] = True
        new = first[~exists]
        forward.add_many(src[new], dst[new])
        backward.add_many(dst[new], src[new])
        added[new] = True
        return added

    # ---------------------------------------------------------------------------- queries
    def within_hops(self, seeds: dict[str, np.ndarray], hops: int) -> dict[str, np.ndarray]:
        """Rows per node type within ``hops`` hops of ``seeds`` (in either direction)."""
        reached = {t: np.unique(np.asarray(v, dtype=np.int64)) for t, v in seeds.items()}
        frontier = dict(reached)
        for _ in range(hops):
            found: dict[str, list[np.ndarray]] = {}
            for et, adjacency in self.adjacency.items():
                nodes = frontier.get(et[2])
                if nodes is not None and len(nodes):
                    found.setdefault(et[0], []).append(adjacency.gather(nodes)[1])
            frontier = {}
            for t, parts in found.items():
                known = reached.get(t, np.empty(0, dtype=np.int64))
                new = np.setdiff1d(np.concatenate(parts), known)
                if len(new):
                    frontier[t] = new
                    reached[t] = np.union1d(known, new)
            if not frontier:
                break
        return reached

    def to_heterodata(self) -> HeteroData:
        """The whole graph as :func:`~gnn.data.snapshot_graph.snapshot_to_heterodata` lays it
        out (``x``, ``edge_index``; ``edge_time`` all zero: whole-graph scoring ignores it)."""
        data = HeteroData()
        for t, n in self.num_nodes.items():
            data[t].x = torch.from_numpy(self._x[t][:n].copy())
            data[t].num_nodes = n
        for relation in self.relations:
            index = torch.from_numpy(self.adjacency[relation].edge_index())
            for et, edges in ((relation, index), (reverse_edge_type(relation), index.flip(0))):
                data[et].edge_index = edges
                data[et].edge_time = torch.zeros(edges.size(1), dtype=torch.long)
        return data


class _Pooled(NamedTuple):
    """The running sums of some hubs along one edge type, as a read uses them."""

    positions: np.ndarray  #: positions of the hubs in the rows read
    sums: np.ndarray  #: (hubs, hidden) float64 sums of their neighbours' input embeddings
    squares: np.ndarray  #: (hubs, hidden) float64 sums of their squares
    counts: np.ndarray  #: neighbours summed per hub
    ticks: np.ndarray  #: last tick at which one of a hub's neighbours changed

    def pick(self, index: np.ndarray, positions: np.ndarray) -> _Pooled:
        """The hubs at ``index``, at new ``positions``."""
        return _Pooled(positions, self.sums[index], self.squares[index], self.counts[index],
                       self.ticks[index])


class _SumTable:
    """The running sums of one edge type's hubs, one slot per hub (slots of dropped hubs
    reused)."""

    def __init__(self, width: int) -> None:
        self.slot_of = np.full(0, -1, dtype=np.int64)  # node -> slot, -1: none
        self.node = np.zeros(0, dtype=np.int64)
        self.sums = np.zeros((0, width))
        self.squares = np.zeros((0, width))
        self.count = np.zeros(0, dtype=np.int64)  # neighbours summed
        self.taken = np.zeros(0, dtype=np.int64)  # added edges taken in
        self.tick = np.zeros(0, dtype=np.int64)
        self.differences = np.zeros(0, dtype=np.int64)
        self.free: list[int] = []

    def slots(self, nodes: np.ndarray) -> np.ndarray:
        """The slot of each of ``nodes`` (-1: none)."""
        inside = nodes < len(self.slot_of)
        return np.where(inside, self.slot_of[np.where(inside, nodes, 0)], -1) if len(
            self.slot_of) else np.full(len(nodes), -1, dtype=np.int64)

    def allocate(self, nodes: np.ndarray) -> np.ndarray:
        """New slots for ``nodes`` (which have none); their numbers are set by the caller."""
        reused = [self.free.pop() for _ in range(min(len(self.free), len(nodes)))]
        fresh = len(nodes) - len(reused)
        if fresh:
            start = len(self.node)
            for name in ("node", "sums", "squares", "count", "taken", "tick", "differences"):
                old = getattr(self, name)
                setattr(self, name, np.concatenate([old, np.zeros((fresh, *old.shape[1:]),
                                                                  dtype=old.dtype)]))
            reused.extend(range(start, start + fresh))
        slots = np.asarray(reused, dtype=np.int64)
        self.slot_of = _slot_map(self.slot_of, int(nodes.max()) + 1)
        self.slot_of[nodes] = slots
        self.node[slots] = nodes
        return slots

    def drop(self, slots: np.ndarray) -> None:
        """Forget the hubs of ``slots`` (built again when next taken)."""
        self.slot_of[self.node[slots]] = -1
        self.free.extend(slots.tolist())


class _Pinned:
    """The input embeddings (layer 0) of one node type's rows summed into some hub's running
    sums, each as summed (its embedding at its last :meth:`LocalScorer.mark`): a change then
    adds its exact difference. Only these rows' embeddings are held; every other row's is
    encoded from its inputs when read.

    ``capacity``: slots reserved at once (:attr:`values` grows by an eighth when they run
    out). A zeroed array is not resident until written, and slots are taken in order, so
    reserved slots cost no memory until used; a table that grows instead copies itself each
    time (900 writes of 1,300 random rows of a million, as a 1M-account service's batches of
    100 recompute them: 2.5-3.8 CPU ms a write into a growing table, 0.3-0.4 into a reserved
    one).
    """

    def __init__(self, width: int, capacity: int = 0) -> None:
        self.slot_of = np.full(0, -1, dtype=np.int32)  # row -> slot, -1: not pinned
        self.values = np.zeros((capacity, width), dtype=np.float32)
        self.size = 0  # slots used

    def slots(self, rows: np.ndarray) -> np.ndarray:
        """The slot of each of ``rows`` (-1: not pinned)."""
        inside = rows < len(self.slot_of)
        return np.where(inside, self.slot_of[np.where(inside, rows, 0)], -1) if len(
            self.slot_of) else np.full(len(rows), -1, dtype=np.int32)

    def pin(self, rows: np.ndarray, values: np.ndarray) -> None:
        """Pin distinct ``rows`` (none pinned yet) with their embeddings ``values``."""
        if not len(rows):
            return
        self.slot_of = _slot_map(self.slot_of, int(rows.max()) + 1)
        end = self.size + len(rows)
        if end > len(self.values):
            grown = np.zeros((end + len(self.values) // 8 + 1024, self.values.shape[1]),
                             dtype=np.float32)
            grown[:self.size] = self.values[:self.size]
            self.values = grown
        self.slot_of[rows] = np.arange(self.size, end, dtype=np.int32)
        self.values[self.size:end] = values
        self.size = end


class _NeighbourSums:
    """Running float64 sums (and sums of squares) of the input embeddings (layer 0) of the
    in-neighbours of high-degree nodes, one per (edge type, node): a hub's layer-1 mean and
    deviation from them cost O(1), not O(degree).

    Every hub's sums are built from its neighbours at :meth:`build` (during a whole-graph
    pass) or, for a node that becomes a hub later, when first asked for; after that each
    change of a neighbour's embedding adds its difference (:meth:`push`) and edges added to
    the node since are taken in from the adjacency's append-only list (:meth:`_catch_up`).
    The embeddings summed are kept for the summed rows only (:class:`_Pinned`, the old value
    a difference needs); other rows' are encoded from their inputs when first summed
    (``encode``). Each hub also keeps the last tick at which one of its neighbours'
    embeddings changed. After ``resync`` differences a hub's sums are dropped and built again
    from its neighbours (float64 running sums drift, slowly). The sums of an edge type's hubs
    are rows of one array (:class:`_SumTable`), so that a batch's changes are added and read
    with a few numpy calls.

    Parameters
    ----------
    min_degree
        Nodes with at least this many in-neighbours along an edge type get sums for it.
    resync
        Differences added to one hub's sums before they are rebuilt from scratch.
    width
        Width of the input embeddings.
    encode
        ``(graph, node_type, rows) -> input embeddings`` (float32) from the current inputs.
    """

    #: Edges gathered at a time when building many hubs' sums.
    CHUNK = 1 << 18

    def __init__(self, min_degree: int, resync: int, width: int,
                 encode: Callable[[LocalGraph, str, np.ndarray], np.ndarray]) -> None:
        self.min_degree = min_degree
        self.resync = resync
        self.width = width
        self.encode = encode
        self.tables: dict[EdgeType, _SumTable] = {}
        self.pinned: dict[str, _Pinned] = {}

    def embeddings(self, graph: LocalGraph, node_type: str, rows: np.ndarray,
                   whole: np.ndarray | None = None) -> np.ndarray:
        """The summed embeddings of ``rows`` of ``node_type`` (any order, repeats allowed):
        pinned ones as pinned, the others pinned now (taken from ``whole``, every row's
        embeddings, when given; else encoded)."""
        unique, inverse = np.unique(rows, return_inverse=True)
        pinned = self.pinned.get(node_type)
        slots = (pinned.slots(unique) if pinned is not None
                 else np.full(len(unique), -1, dtype=np.int32))
        missing = unique[slots < 0]
        if len(missing):
            values = (whole[missing] if whole is not None
                      else self.encode(graph, node_type, missing))
            if pinned is None:
                pinned = self.pinned[node_type] = _Pinned(self.width)
            pinned.pin(missing, values)
            slots = pinned.slots(unique)
        return pinned.values[slots][inverse]

    def build(self, graph: LocalGraph, edge_types: list[EdgeType], ticks: dict[str, np.ndarray],
              whole: Callable[[str], np.ndarray] | None = None) -> None:
        """Build the sums of every hub along ``edge_types`` now (so that no read pays for a
        first touch); ``ticks``: the layer-0 change ticks per node type, ``whole``: a node
        type's input embeddings, every row (asked for one source type after another; without
        it only the rows summed are encoded)."""
        for et in sorted(edge_types, key=lambda et: et[0]):
            adjacency = graph.adjacency[et]
            nodes = np.flatnonzero(adjacency.degree(np.arange(graph.num_nodes[et[2]]))
                                   >= self.min_degree)
            table = self.tables.setdefault(et, _SumTable(self.width))
            nodes = nodes[table.slots(nodes) < 0]
            if len(nodes):
                self._build(graph, et, table, ticks[et[0]], nodes,
                            None if whole is None else whole(et[0]))

    def _build(self, graph: LocalGraph, et: EdgeType, table: _SumTable, ticks: np.ndarray,
               nodes: np.ndarray, whole: np.ndarray | None = None) -> None:
        """Sums of ``nodes`` (without any) from their neighbours, a chunk of edges at a time."""
        adjacency = graph.adjacency[et]
        slots = table.allocate(nodes)
        degree = adjacency.degree(nodes)
        table.count[slots] = degree
        table.taken[slots] = adjacency.added_of(nodes)
        table.differences[slots] = 0
        ends = np.cumsum(degree)
        start = 0
        while start < len(nodes):
            stop = max(int(np.searchsorted(ends, ends[start] - degree[start] + self.CHUNK,
                                           side="right")), start + 1)
            position, src = adjacency.gather(nodes[start:stop])
            part = slots[start:stop]
            values = torch.from_numpy(
                self.embeddings(graph, et[0], src, whole).astype(np.float64))
            index = torch.from_numpy(position)
            size = stop - start
            table.sums[part] = torch.zeros((size, values.shape[1]), dtype=values.dtype
                                           ).index_add_(0, index, values).numpy()
            table.squares[part] = torch.zeros((size, values.shape[1]), dtype=values.dtype
                                              ).index_add_(0, index, values.square()).numpy()
            latest = np.zeros(size, dtype=np.int64)
            np.maximum.at(latest, position, ticks[src])
            table.tick[part] = latest
            start = stop

    def _catch_up(self, graph: LocalGraph, et: EdgeType, table: _SumTable, ticks: np.ndarray,
                  slots: np.ndarray) -> None:
        """Take into ``slots`` the edges added to their hubs since they were last caught up."""
        adjacency = graph.adjacency[et]
        nodes = table.node[slots]
        behind = (adjacency.added_of(nodes) > table.taken[slots]).nonzero()[0]
        if len(behind) <= _FEW_HUBS:  # one by one: fewer numpy calls for a handful
            for slot, node in zip(slots[behind].tolist(), nodes[behind].tolist(), strict=True):
                added = adjacency.added_run(node)
                new = added[table.taken[slot]:]
                values = self.embeddings(graph, et[0], new).astype(np.float64)
                table.sums[slot] += values.sum(axis=0)
                table.squares[slot] += np.square(values).sum(axis=0)
                table.count[slot] += len(new)
                table.taken[slot] = len(added)
                table.tick[slot] = max(table.tick[slot], int(ticks[new].max()))
            return
        # Every hub behind at once: their new edges' rows in one array, summed per hub.
        slots, nodes = slots[behind], nodes[behind]
        held = adjacency.added_of(nodes)
        counts = held - table.taken[slots]
        new = adjacency.added_edges(nodes, table.taken[slots])[1]
        values = torch.from_numpy(self.embeddings(graph, et[0], new).astype(np.float64))
        hub = torch.from_numpy(np.repeat(np.arange(len(slots)), counts))
        size = (len(slots), values.shape[1])
        table.sums[slots] += torch.zeros(size, dtype=values.dtype).index_add_(
            0, hub, values).numpy()
        table.squares[slots] += torch.zeros(size, dtype=values.dtype).index_add_(
            0, hub, values.square()).numpy()
        table.count[slots] += counts
        table.taken[slots] = held
        table.tick[slots] = np.maximum(table.tick[slots], np.maximum.reduceat(
            ticks[new], np.cumsum(counts) - counts))

    def take(self, graph: LocalGraph, et: EdgeType, rows: np.ndarray,
             ticks: np.ndarray) -> _Pooled:
        """The sums of the nodes of ``rows`` with at least ``min_degree`` in-neighbours along
        ``et`` (built or caught up now), with their positions in ``rows``; ``ticks``: the
        layer-0 change ticks of ``et``'s source type."""
        adjacency = graph.adjacency[et]
        positions = (adjacency.degree(rows) >= self.min_degree).nonzero()[0]
        table = self.tables.get(et)
        if table is None:
            table = self.tables[et] = _SumTable(self.width)
        if not len(positions):
            return _Pooled(positions, table.sums[:0], table.squares[:0], table.count[:0],
                           table.tick[:0])
        nodes = rows[positions]
        slots = table.slots(nodes)
        missing = slots < 0
        if missing.any():
            self._build(graph, et, table, ticks, np.unique(nodes[missing]))
            slots = table.slots(nodes)
        self._catch_up(graph, et, table, ticks, slots)
        return _Pooled(positions, table.sums[slots], table.squares[slots], table.count[slots],
                       table.tick[slots])

    def push(self, graph: LocalGraph, node_type: str, rows: np.ndarray, new: np.ndarray,
             tick: int, ticks: np.ndarray) -> None:
        """Take in that the input embeddings of distinct ``rows`` of ``node_type`` changed to
        ``new`` (their inputs are current in ``graph``; ``ticks``: the type's layer-0 change
        ticks): the sums of the hubs they are summed into get the differences, and the pinned
        embeddings the new values."""
        hits = []
        for et, table in self.tables.items():
            if et[0] != node_type or len(table.free) == len(table.node):
                continue
            position, dst = graph.adjacency[graph.opposite(et)].gather(rows)
            slots = table.slots(dst)
            hit = (slots >= 0).nonzero()[0]
            if not len(hit):
                continue
            position, slots = position[hit], slots[hit]
            distinct = np.unique(slots)
            # Edges added since: their rows summed as pinned (rows new to the sums: now).
            self._catch_up(graph, et, table, ticks, distinct)
            hits.append((table, position, slots, distinct))
        pinned = self.pinned.get(node_type)
        if pinned is None:
            return
        at = pinned.slots(rows)
        held = (at >= 0).nonzero()[0]
        if not len(held):
            return
        old = pinned.values[at[held]]
        new = new[held]
        pinned.values[at[held]] = new
        if not hits:
            return
        old64, new64 = old.astype(np.float64), new.astype(np.float64)
        delta, squares = new64 - old64, np.square(new64) - np.square(old64)
        # position in rows -> position in held (every row summed into a hub is pinned)
        where = np.full(len(rows), -1, dtype=np.int64)
        where[held] = np.arange(len(held))
        for table, position, slots, distinct in hits:
            np.add.at(table.sums, slots, delta[where[position]])
            np.add.at(table.squares, slots, squares[where[position]])
            table.tick[distinct] = tick
            np.add.at(table.differences, slots, 1)
            due = distinct[table.differences[distinct] >= self.resync]
            if len(due):  # rebuilt from scratch when next taken
                table.drop(due)


#: Rows an input cache's fill encodes at a time (:meth:`_InputCache.fill`): its transient
#: memory at 64 channels is ~35 MB (tracemalloc, 100k accounts: 2**16 rows ~70 MB, 2**14 ~18 MB
#: but more CPU), against all of a type's rows at once before (~100 MB there, ~1 GB at 1M).
FILL_ROWS = 1 << 15


class _InputCache:
    """Input embeddings (layer 0) of up to ``capacity`` rows of one node type, each current:
    :meth:`LocalScorer.mark` writes the new embeddings of the rows it is told changed
    (:meth:`write`). A row stored without a slot takes the oldest one (first in, first out).
    The rows :meth:`fill` stored sit at slot = row while no slot below is taken again, so a
    read among them is one array index.

    Parameters
    ----------
    capacity
        Rows held at most.
    width
        Width of the embeddings.
    """

    def __init__(self, capacity: int, width: int) -> None:
        self.slot_of = np.full(0, -1, dtype=np.int32)  # row -> slot, -1: none
        self.node = np.full(capacity, -1, dtype=np.int64)  # slot -> row, -1: free
        self.values = np.zeros((capacity, width), dtype=np.float32)
        self.next = 0  # the slot taken next: the oldest
        self.identity = 0  # rows below it sit at slot = row

    def fill(self, count: int, encode: Callable[[slice], np.ndarray],
             block: int = FILL_ROWS) -> None:
        """Hold rows ``0..count-1`` (as many as fit), their embeddings ``encode``d
        ``block`` consecutive rows at a time straight into :attr:`values` (the last block
        lengthened rather than shorter than :data:`~gnn.inference.MIN_BLOCK_ROWS`: the same
        bits as one product of many rows): the fill's transient memory is one block's, not a
        whole type's."""
        count = min(count, len(self.node))
        self._slot_of(count)
        starts = list(range(0, count, block))
        if len(starts) > 1 and count - starts[-1] < MIN_BLOCK_ROWS:
            starts.pop()
        for start, stop in zip(starts, [*starts[1:], count], strict=True):
            self.values[start:stop] = encode(slice(start, stop))
        self.node[:count] = np.arange(count)
        self.slot_of[:count] = np.arange(count, dtype=np.int32)
        self.next = count % len(self.node) if len(self.node) else 0
        self.identity = count

    def _slot_of(self, size: int) -> None:
        self.slot_of = _slot_map(self.slot_of, size)

    def read(self, rows: np.ndarray, encode: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Embeddings of ``rows`` (repeats allowed): held ones as held, the others encoded now
        (``encode`` of the distinct ones) and stored."""
        if not len(rows):
            return self.values[:0]
        top = int(rows.max())
        if top < self.identity:
            return self.values[rows]
        self._slot_of(top + 1)
        slots = self.slot_of[rows]
        held = slots >= 0
        if held.all():
            return self.values[slots]
        out = np.empty((len(rows), self.values.shape[1]), dtype=np.float32)
        out[held] = self.values[slots[held]]
        missing, inverse = np.unique(rows[~held], return_inverse=True)
        fresh = encode(missing)
        out[~held] = fresh[inverse]
        self.write(missing, fresh)
        return out

    def write(self, rows: np.ndarray, values: np.ndarray) -> None:
        """Store the current embeddings ``values`` of distinct ``rows``."""
        if not len(rows) or not len(self.node):
            return
        self._slot_of(int(rows.max()) + 1)
        slots = self.slot_of[rows]
        held = slots >= 0
        self.values[slots[held]] = values[held]
        new = (~held).nonzero()[0][-len(self.node):]
        if not len(new):
            return
        taken = (self.next + np.arange(len(new))) % len(self.node)
        evicted = self.node[taken]
        self.slot_of[evicted[evicted >= 0]] = -1
        self.node[taken] = rows[new]
        self.slot_of[rows[new]] = taken
        self.values[taken] = values[new]
        self.next = int(taken[-1] + 1) % len(self.node)
        self.identity = min(self.identity, int(taken.min()))


class _Written(_Pinned):
    """The rows of one kept embedding array mapped from a file (copy-on-write,
    :meth:`LocalScorer.map_kept`) recomputed since it was mapped, held in a compact table of
    their own (slots as :class:`_Pinned` keeps them) instead of written into the mapping: there,
    the first write into each 4 KB page faults and copies the whole page into the process (at
    1M accounts a batch of 100 events recomputes some 1,300 rows of the first layer, nearly all
    in pages not written before: some 2-5 us of system time and 4 KB of memory each, against a
    256-byte row here). :meth:`LocalScorer._keep` reserves a slot for every row of the
    mapping (``capacity``: only the slots written become resident)."""

    def write(self, rows: np.ndarray, values: np.ndarray) -> None:
        """Hold ``values`` as the rows ``rows`` (distinct)."""
        if not len(rows):
            return
        slots = self.slots(rows)
        held = slots >= 0
        self.values[slots[held]] = values[held]
        self.pin(rows[~held], values[~held])

    def read(self, kept: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows`` of the array: as written here, else as ``kept`` (the mapping) holds
        them."""
        rows = np.asarray(rows, dtype=np.int64)
        if not self.size or not len(rows):
            return kept[rows]
        return pinned_or_computed(self, rows, kept.__getitem__)

    def into(self, kept: np.ndarray) -> None:
        """Write the rows held here into ``kept`` (an array of the process's own)."""
        rows = np.flatnonzero(self.slot_of[:len(kept)] >= 0)
        kept[rows] = self.values[self.slot_of[rows]]


class _Rows:
    """An array read by rows (``[rows]``) through ``read(rows)``."""

    def __init__(self, read: Callable[[np.ndarray], np.ndarray]) -> None:
        self.read = read

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        return self.read(rows)


class _Encoded:
    """One node type's input embeddings as an array read by rows (``[rows]``), from
    ``encode(graph, node_type, rows)``."""

    def __init__(self, graph: LocalGraph, node_type: str,
                 encode: Callable[[LocalGraph, str, np.ndarray], np.ndarray]) -> None:
        self.graph, self.node_type, self.encode = graph, node_type, encode

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        return self.encode(self.graph, self.node_type, np.asarray(rows, dtype=np.int64))


class _NumpyModel:
    """A :class:`SepHeteroGNN`'s weights as float32 numpy arrays, extracted once, and the
    model's encoder, layer and head as numpy functions for the few rows a read recomputes
    (torch's per-operation overhead, some 10 us a call, is most of the cost on a handful of
    rows). The same arithmetic as the modules in evaluation mode (dropout off): each row's
    numbers equal the model's up to float32 summation order.
    """

    def __init__(self, model: SepHeteroGNN) -> None:
        def array(tensor: torch.Tensor) -> np.ndarray:
            return np.ascontiguousarray(tensor.detach().cpu().numpy(), dtype=np.float32)

        def linear(module: nn.Linear) -> tuple[np.ndarray, np.ndarray]:
            return array(module.weight.t()), array(module.bias)

        def norm(module: nn.LayerNorm) -> tuple[np.ndarray, np.ndarray, float]:
            return array(module.weight), array(module.bias), float(module.eps)

        self.hidden = model.hidden_channels
        self.aggregators = model.aggregators
        unknown = set(self.aggregators) - {"mean", "std"}
        if unknown:
            raise ValueError(f"LocalScorer: unknown aggregator(s) {sorted(unknown)}")
        self.encoders = {t: (*linear(model.encoders[t]), *norm(model.encoder_norms[t]))
                         for t in model.in_channels}
        self.convs = [{t: (*linear(conv.lin[t]), *norm(conv.norm[t]), conv.incoming[t])
                       for t in conv.node_types} for conv in model.convs]
        self.head: list[tuple[np.ndarray, np.ndarray] | None] = []
        for module in model.head:
            if isinstance(module, nn.Linear):
                self.head.append(linear(module))
            elif isinstance(module, nn.ReLU):
                self.head.append(None)
            elif not isinstance(module, nn.Dropout):
                raise TypeError(f"LocalScorer: no numpy form of the head's {module!r}")

    def encode(self, node_type: str, x: np.ndarray) -> np.ndarray:
        """Input embeddings of rows with model inputs ``x`` (``SepHeteroGNN.encode``)."""
        weight, bias, gamma, beta, eps = self.encoders[node_type]
        if x.shape[1] == 0:
            x = np.ones((len(x), 1), dtype=np.float32)
        return np.maximum(_layer_norm(x @ weight + bias, gamma, beta, eps), 0)

    def layer(self, index: int, node_type: str, below: dict[str, np.ndarray], rows: np.ndarray,
              edges: dict[EdgeType, tuple[np.ndarray, np.ndarray]],
              pooled: dict[EdgeType, _Pooled] | None = None,
              ) -> np.ndarray:
        """Layer ``index`` embeddings of ``rows`` of ``node_type`` (``SepHeteroConv``) from the
        layer-below embeddings ``below`` (global rows) and every edge into ``rows``
        (``edges``: edge type -> (position in ``rows`` of the destination, source row));
        ``pooled``: edge type -> the running sums (:class:`_Pooled`) of rows whose neighbours
        along it are summed already (their edges are not in ``edges``)."""
        weight, bias, gamma, beta, eps, incoming = self.convs[index][node_type]
        width, count, blocks = self.hidden, len(rows), len(incoming)
        aggregators = len(self.aggregators)
        ego = below[node_type][rows]
        # The conv's input per row: its embedding, then per relation and aggregator a block
        # (a relation without neighbours: zeros), written in place through ``stats``.
        wide = np.empty((count, 1 + blocks * aggregators, width), dtype=np.float32)
        wide[:, 0] = ego
        stats = wide[:, 1:].reshape(count, blocks, aggregators, width)
        # Per (row, relation) block: the sum of the neighbours' embeddings and (for "std")
        # of their squares (neighbours summed in gather order: float32 sums may differ from
        # the batch pass's in the last bits).
        with_squares = "std" in self.aggregators
        size = count * blocks
        segments, gathered = [], []
        for j, et in enumerate(incoming):
            found = edges.get(et)
            if found is not None:  # no neighbours: a zero block
                segments.append(found[0] * blocks + j)
                gathered.append(np.asarray(below[et[0]][found[1]]))
        total = sum(len(s) for s in segments)
        segment = np.concatenate(segments) if segments else np.empty(0, dtype=np.int64)
        degree = np.bincount(segment, minlength=size).reshape(count, blocks)
        if total * size <= _DENSE_SUMS:
            # A few edges: one product with a 0/1 (block, edge) matrix (a handful of numpy
            # calls; torch's per-call overhead is most of the cost at this size).
            both = np.empty((total, 2 * width if with_squares else width), dtype=np.float32)
            if gathered:
                np.concatenate(gathered, out=both[:, :width])
            if with_squares:
                np.square(both[:, :width], out=both[:, width:])
            member = np.zeros((size, total), dtype=np.float32)
            member[segment, np.arange(total)] = 1
            summed = member @ both
            sums, sums_of_squares = summed[:, :width], summed[:, width:]
        else:
            # Many: each relation's edges added by one index_add into the (block, width)
            # table, with no concatenated copy of the gathered rows (numpy's reduceat along
            # rows is ~10x slower at a batch's thousands of edges).
            sums_t = torch.zeros((size, width))
            squares_t = torch.zeros((size, width)) if with_squares else None
            start = 0
            for values in gathered:
                index_ = torch.from_numpy(segment[start:start + len(values)])
                start += len(values)
                values = torch.from_numpy(values)
                sums_t.index_add_(0, index_, values)
                if with_squares:
                    squares_t.index_add_(0, index_, values.square())
            sums = sums_t.numpy()
            sums_of_squares = squares_t.numpy() if with_squares else None
        # Per block (row, relation) the aggregates; a relation without neighbours: zeros.
        # Formed in contiguous temporaries, each step in place (the same float32 operations
        # as the formulas: the same bits), then copied into their blocks once.
        safe = np.maximum(degree, 1).astype(np.float32)[:, :, None]
        mean = sums.reshape(count, blocks, width) / safe
        deviation = None
        if with_squares:  # sqrt(max(E[x^2] - E[x]^2, 0) + 1e-8), zero without neighbours
            deviation = sums_of_squares.reshape(count, blocks, width) / safe
            deviation -= np.square(mean)
            np.maximum(deviation, 0, out=deviation)
            deviation += np.float32(1e-8)
            np.sqrt(deviation, out=deviation)
            deviation *= (degree > 0)[:, :, None]
        for a, name in enumerate(self.aggregators):
            stats[:, :, a] = mean if name == "mean" else deviation
        for j, et in enumerate(incoming):
            found = pooled.get(et) if pooled else None
            if found is None or not len(found.positions):
                continue
            # Averages from the float64 sums, then the deviation in float32 as the batch
            # pass forms it (a small variance is mostly its float32 cancellation).
            counts = found.counts.astype(np.float64)[:, None]
            mean = (found.sums / counts).astype(np.float32)
            for a, name in enumerate(self.aggregators):
                if name == "mean":
                    stats[found.positions, j, a] = mean
                else:
                    squares = (found.squares / counts).astype(np.float32)
                    variance = np.maximum(squares - mean * mean, 0)
                    stats[found.positions, j, a] = np.sqrt(variance + np.float32(1e-8))
        wide = wide.reshape(count, -1)
        update = wide @ weight
        update += bias
        update = _layer_norm(update, gamma, beta, eps)
        np.maximum(update, 0, out=update)
        update += ego
        return update

    def head_logits(self, layers: list[np.ndarray]) -> np.ndarray:
        """The head on the per-layer target embeddings (``SepHeteroGNN.forward``'s head)."""
        hidden = np.concatenate(layers, axis=1)
        for step in self.head:
            hidden = np.maximum(hidden, 0) if step is None else hidden @ step[0] + step[1]
        return hidden[:, 0]


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    """``torch.nn.functional.layer_norm`` over the last axis (biased variance), float32."""
    # np.add.reduce / n is what ndarray.mean computes (without its Python wrappers)
    width = np.float32(x.shape[1])
    centred = x - np.add.reduce(x, axis=1, keepdims=True) / width
    variance = np.add.reduce(centred * centred, axis=1, keepdims=True) / width
    return centred / np.sqrt(variance + np.float32(eps)) * gamma + beta


class ScoreJournal:
    """The rows whose kept scores (``scores_``) a scorer wrote since its one reader last took
    them (:meth:`take`), so that the reader can keep what it derives from the scores (the
    service's per-entity score totals) current without reading every score again. After a
    whole new set of scores (:meth:`reset`), and once more rows were written than a share of
    the scores since the last take (a reader that stopped taking them), :meth:`take` answers
    ``None``: any score may have changed."""

    def __init__(self) -> None:
        self._rows: list[np.ndarray] | None = None
        self._count = 0

    def wrote(self, rows: np.ndarray, size: int) -> None:
        """Note that the scores of ``rows`` were written, of ``size`` scores kept (forgotten,
        as :meth:`reset`, past an eighth of them plus 1,024 rows since the last take)."""
        if self._rows is None:
            return
        self._rows.append(np.asarray(rows, dtype=np.int64))
        self._count += len(rows)
        if self._count > size // 8 + 1024:
            self.reset()

    def reset(self) -> None:
        """Note that every score may have changed."""
        self._rows, self._count = None, 0

    def take(self) -> np.ndarray | None:
        """The distinct rows written since the last take (``None``: any may have been), and
        start noting afresh."""
        rows, self._rows, self._count = self._rows, [], 0
        if rows is None:
            return None
        return np.unique(np.concatenate(rows)) if rows else np.empty(0, dtype=np.int64)


#: Input embeddings a :class:`LocalScorer` holds for reads by default, all node types together.
INPUT_CACHE_ROWS = 1 << 19


class LocalScorer:
    """Exact scores of the accounts of a :class:`LocalGraph`, kept current as it changes.

    :meth:`fit` computes every node's embedding after each layer but the last (kept, ``L - 1``
    arrays of ``num_nodes x hidden`` per node type, the input embeddings only in a bounded
    cache, encoded again when read otherwise) and every account's score. After nodes
    change, :meth:`mark` recomputes only their input embeddings and stamps them with a new
    tick; nothing else is computed then, however many nodes a hub's change reaches. Every kept
    embedding and score carries the tick it was computed at, and is stale when the node or one
    of its in-neighbours changed, one layer below, after that tick. :meth:`current` makes the
    scores asked for exact on read: it walks down the layers over the accounts' in-neighbours,
    recomputes only stale embeddings (each from its in-neighbours' kept ones, every neighbour
    included, in the batch pass's neighbour order) and then the stale scores: the same numbers
    as a whole-graph pass (:func:`gnn.inference.full_graph_logits`) up to float32 summation
    order, whenever they are read.
    :meth:`logits` scores chosen accounts from scratch on their L-hop subgraphs.

    Parameters
    ----------
    model
        The trained network (its ``target_type`` rows are scored).
    calibrator
        Maps logits to calibrated scores in [0, 1].
    num_threads
        Torch threads while scoring (``None``: leave the process setting).
    residual
        Add the last column of the target type's features (the boosted logit a
        :class:`gnn.boosted.LiveBoostedColumn` keeps there) to the network's logit before
        calibration, as a ``boost="residual"`` detector does. The column is an input like any
        other: a row whose column changed is named in :meth:`mark`.
    hub_degree
        Nodes with at least this many in-neighbours along an edge type keep running sums of
        those neighbours' input embeddings (:class:`_NeighbourSums`), so that a change of one
        of them costs O(1) at the hub's first layer, not O(degree).
    resync
        Changes added to one running sum before it is rebuilt from its neighbours.
    input_cache_rows
        Input embeddings held for reads, all node types together (:class:`_InputCache`, a
        share of the budget per type as of its rows): a graph that fits (with room for an
        eighth more nodes) holds every row, filled by :meth:`fit`; a larger one the rows
        read last.
    """

    def __init__(self, model: SepHeteroGNN, calibrator: ScoreCalibrator,
                 num_threads: int | None = None, residual: bool = False,
                 hub_degree: int = 64, resync: int = 4096,
                 input_cache_rows: int = INPUT_CACHE_ROWS) -> None:
        self.model = model
        self.calibrator = calibrator
        self.num_threads = num_threads
        self.residual = residual
        self.hub_degree = hub_degree
        self.resync = resync
        self.input_cache_rows = input_cache_rows
        self._spilled: Path | None = None  # where fit wrote the kept arrays, if anywhere
        # (level, node type) -> the rows of a mapped kept array recomputed since (_Written)
        self._written: dict[tuple[int, str], _Written] = {}
        self._numpy = _NumpyModel(model)
        self._sums = _NeighbourSums(hub_degree, resync, model.hidden_channels,
                                    self.input_embeddings)
        #: The target rows whose :attr:`scores_` :meth:`current` wrote (:class:`ScoreJournal`).
        self.journal = ScoreJournal()

    def _offset(self, graph: LocalGraph, rows: np.ndarray, logits: np.ndarray) -> np.ndarray:
        """``logits`` of target ``rows``, plus the boosted column when residual."""
        out = logits
        if self.residual:
            out = out + graph.features(self.model.target_type, rows)[:, -1]
        return out

    @property
    def hops(self) -> int:
        """How far a change reaches: the model's number of layers."""
        return self.model.num_layers

    # ------------------------------------------------------------------------ inputs
    def _inputs(self, graph: LocalGraph, node_type: str, rows: np.ndarray) -> np.ndarray:
        """Model inputs of ``rows``: scaled features and ``log1p`` in-degree per incoming type."""
        model = self.model
        incoming = [et for et in model.edge_types if et[2] == node_type]
        width = model.in_channels[node_type] - len(incoming)
        x = (graph.features(node_type, rows) if node_type in graph.num_nodes
             else np.zeros((len(rows), width), dtype=np.float32))
        degrees = [np.log1p(graph.adjacency[et].degree(rows).astype(np.float32))
                   if et in graph.adjacency else np.zeros(len(rows), dtype=np.float32)
                   for et in incoming]
        return (np.column_stack([x, *degrees]).astype(np.float32)
                .reshape(len(rows), model.in_channels[node_type]))

    def input_embeddings(self, graph: LocalGraph, node_type: str,
                         rows: np.ndarray) -> np.ndarray:
        """Input embeddings (layer 0) of ``rows`` of ``node_type`` from their current model
        inputs (not kept: one linear layer and a normalisation a row)."""
        return self._numpy.encode(node_type,
                                  self._inputs(graph, node_type, np.asarray(rows, np.int64)))

    def _cached_inputs(self, graph: LocalGraph, node_type: str, rows: np.ndarray) -> np.ndarray:
        """:meth:`input_embeddings` of ``rows`` (repeats allowed), through the type's cache;
        those not in it read from the hubs' pinned rows (:meth:`_held_inputs`)."""
        return self._cache[node_type].read(
            rows, lambda missing: self._held_inputs(graph, node_type, missing))

    def _held_inputs(self, graph: LocalGraph, node_type: str, rows: np.ndarray) -> np.ndarray:
        """:meth:`input_embeddings` of distinct ``rows``: those summed into a hub's running sums
        as pinned there (:meth:`mark` keeps them current), the others encoded now."""
        pinned = self._sums.pinned.get(node_type)
        if pinned is None:
            return self.input_embeddings(graph, node_type, rows)
        return pinned_or_computed(pinned, rows,
                                  lambda missing: self.input_embeddings(graph, node_type, missing))

    def _head(self, layers: list[torch.Tensor]) -> torch.Tensor:
        """The model's head on the per-layer target embeddings (as its ``forward`` applies it)."""
        head = self.model.head
        hidden = head[0].bias
        for layer, weight in zip(layers, head[0].weight.split(self.model.hidden_channels, dim=1),
                                 strict=True):
            hidden = torch.addmm(hidden, layer, weight.t())
        for module in head[1:]:
            hidden = module(hidden)
        return hidden.squeeze(-1)

    def _in_edges(self, graph: LocalGraph, rows: dict[str, np.ndarray],
                  pooled: dict[EdgeType, _Pooled] | None = None,
                  ) -> dict[EdgeType, tuple[np.ndarray, np.ndarray]]:
        """Every model edge into ``rows`` but those of the ``pooled`` rows (edge type ->
        (positions in ``rows``, sums)): edge type -> (position in ``rows`` of its
        destination, source row); edge types without such edges are left out (the conv skips
        a missing relation, adding exactly what an empty one adds: nothing)."""
        edges = {}
        for et in self.model.edge_types:
            if et[2] not in rows or et not in graph.adjacency or not len(rows[et[2]]):
                continue
            nodes = rows[et[2]]
            skip = pooled.get(et) if pooled else None
            if skip is None or not len(skip[0]):
                edges[et] = graph.adjacency[et].gather(nodes)
                continue
            rest = np.setdiff1d(np.arange(len(nodes)), skip[0], assume_unique=True)
            position, src = graph.adjacency[et].gather(nodes[rest])
            edges[et] = (rest[position], src)
        return {et: e for et, e in edges.items() if len(e[1])}

    def _pool(self, graph: LocalGraph,
              rows: dict[str, np.ndarray]) -> dict[EdgeType, _Pooled]:
        """The running sums of the hubs among ``rows`` (layer 1): edge type ->
        :class:`_Pooled`."""
        pooled = {}
        for et in self.model.edge_types:
            nodes = rows.get(et[2])
            if nodes is None or not len(nodes) or et not in graph.adjacency:
                continue
            found = self._sums.take(graph, et, nodes, self.changed_[0][et[0]])
            if len(found.positions):
                pooled[et] = found
        return pooled

    def _layer(self, graph: LocalGraph, index: int, rows: dict[str, np.ndarray],
               edges: dict[EdgeType, tuple[np.ndarray, np.ndarray]],
               pooled: dict[EdgeType, _Pooled]) -> dict[str, np.ndarray]:
        """Layer ``index`` embeddings of ``rows`` per type, from the layer-below embeddings
        of them and of all their in-neighbours (kept, or for the input layer encoded now;
        ``edges``: :meth:`_in_edges` of ``rows``; ``pooled``: the hubs' running sums,
        :meth:`_pool`), in numpy (:class:`_NumpyModel`)."""
        below = {t: self._kept_read(index, t) for t in self.kept_[index]} if index else {
            t: _Encoded(graph, t, self._cached_inputs) for t in self.model.in_channels}
        return {t: self._numpy.layer(index, t, below, r,
                                     {et: e for et, e in edges.items() if et[2] == t},
                                     {et: p for et, p in pooled.items() if et[2] == t})
                for t, r in rows.items() if len(r)}

    def _kept_read(self, level: int, node_type: str) -> np.ndarray | _Rows:
        """The kept layer-``level`` embeddings of ``node_type``, read by rows (with the rows
        recomputed since the array was mapped, :class:`_Written`)."""
        kept = self.kept_[level][node_type]
        written = self._written.get((level, node_type))
        return kept if written is None else _Rows(partial(written.read, kept))

    def _keep(self, level: int, node_type: str, rows: np.ndarray, values: np.ndarray) -> None:
        """Store the recomputed layer-``level`` embeddings ``values`` of the distinct ``rows``
        of ``node_type``: into the kept array, or when it is mapped from a file beside it
        (:class:`_Written`)."""
        kept = self.kept_[level][node_type]
        written = self._written.get((level, node_type))
        if written is None and isinstance(kept, np.memmap):
            written = self._written[(level, node_type)] = _Written(kept.shape[1], len(kept))
        if written is None:
            kept[rows] = values
        else:
            written.write(rows, values)

    # ------------------------------------------------------------------------ scoring
    def _start(self, graph: LocalGraph) -> dict[str, int]:
        """Fresh bookkeeping for every node of ``graph`` (nothing changed or computed since
        tick 0, no hub sums); its rows per node type. The ticks have room for an eighth more
        nodes (zeros: not resident until written), so that the first new node of a type does
        not copy them on the request path."""
        model = self.model
        num = {t: graph.num_nodes.get(t, 0) for t in model.in_channels}
        self._tick = 0
        self._held = dict(num)
        self._written = {}
        self.journal.reset()  # the scores are computed or read anew
        self.changed_ = [{t: np.zeros(_kept_rows(n), dtype=np.int64) for t, n in num.items()}
                         for _ in range(model.num_layers)]
        self.computed_ = [{}] + [{t: np.zeros(_kept_rows(n), dtype=np.int64)
                                  for t, n in num.items()} for _ in range(model.num_layers - 1)]
        self.scored_ = np.zeros(_kept_rows(num[model.target_type]), dtype=np.int64)
        self._sums = _NeighbourSums(self.hub_degree, self.resync, model.hidden_channels,
                                    self.input_embeddings)
        return num

    def _finish(self, graph: LocalGraph, num: dict[str, int],
                encode: Callable[[str, slice], np.ndarray]) -> None:
        """Every hub's running sums (only the rows summed encoded) and the input caches
        (``encode``: the input embeddings of consecutive rows of a type; asked only when the
        graph fits)."""
        self._sums.build(graph, [et for et in self.model.edge_types if et in graph.adjacency],
                         self.changed_[0])
        self._cache = self._input_caches(num, encode)

    @torch.no_grad()
    def fit(self, graph: LocalGraph, spill: Path | None = None) -> np.ndarray:
        """Compute every node's embeddings, keep those of the layers between the input and the
        last (``kept_[0]`` is empty: input embeddings are encoded again when read, those of
        the rows summed into hubs held with their sums); return every target row's score.

        The whole-graph pass runs layer by layer in blocks of rows (:class:`_GraphPass`), the
        input embeddings one node type at a time: beyond the kept embeddings it holds one
        block's temporaries and a few types' input embeddings, not the whole network's. The
        head runs block by block (the target's input embeddings encoded again a block at a
        time).

        ``spill`` (an existing directory): each layer's output is written there block by block
        as computed (:class:`gnn.inference.RowFile`; the kept arrays as :meth:`save` writes
        them) and read back memory-mapped (:meth:`map_kept`), so no layer is held whole: the
        last layer maps one source type's kept embeddings at a time and reads the target's
        rows (and writes its output, a file removed after) through the files. A later
        :meth:`save` into the same directory writes only the scores."""
        model = self.model
        target = model.target_type
        last = model.num_layers - 1
        num = self._start(graph)
        self._spilled = spill
        run = _GraphPass(model, graph, lambda t, rows: self._inputs(graph, t, rows))
        with torch_threads(self.num_threads), contextlib.ExitStack() as files:
            # one type's input embeddings held at a time, a type's own read block by block
            inputs = OneTypeAtATime(run.encode, None)
            kept: list = [inputs]
            for layer in range(last):
                level = {}
                for t in num:
                    ego = EncodedBlocks(run, t) if layer == 0 else None
                    if spill is None:
                        level[t] = run.conv(layer, t, kept[-1], ego=ego)
                        continue
                    path = spill / f"kept_{layer + 1}_{t}.npy"
                    with RowFile.create(path, num[t], model.hidden_channels,
                                        _kept_rows(num[t])) as out:
                        run.conv(layer, t, kept[-1], out=out, ego=ego)
                    level[t] = _mapped(path, num[t])
                kept.append(level)
            kept = kept[1:]
            below = kept[-1] if kept else inputs
            ego = None if kept else EncodedBlocks(run, target)
            del inputs  # a deep network's last layer reads the kept embeddings
            if spill is None:
                middle = [k[target] for k in kept]
                top = run.conv(last, target, below, ego=ego)
            else:  # the target's rows read through the files, one source type mapped at a time
                middle = [files.enter_context(RowFile.open(spill / f"kept_{level}_{target}.npy",
                                                           num[target]))
                          for level in range(1, last + 1)]
                if kept:
                    below = OneTypeAtATime(
                        lambda t: _mapped(spill / f"kept_{last}_{t}.npy", num[t]), None)
                top = run.conv(last, target, below, ego=middle[-1] if kept else ego,
                               out=files.enter_context(RowFile.create(
                                   spill / _LAST, num[target], model.hidden_channels)))
            logits = np.empty(num[target], dtype=np.float32)
            for rows in run.blocks(num[target]):
                logits[rows] = self._head([run.encode_block(target, rows)]
                                          + [m[rows] for m in middle] + [top[rows]]).numpy()
            del below, top, middle
            # the hubs' sums and input caches once the pass's arrays are gone
            self._finish(graph, num, lambda t, rows: run.encode_block(t, rows).numpy())
        if spill is not None:
            (spill / _LAST).unlink()
        # Kept as numpy (sharing the tensors' memory): reads recompute rows in numpy.
        self.kept_ = [{}] + [{t: v.numpy() for t, v in k.items()} for k in kept]
        logits = self._offset(graph, np.arange(num[target]), logits)
        self.scores_ = self.calibrator.transform(logits).astype(np.float64)
        return self.scores_.copy()

    def save(self, directory: Path) -> None:
        """Write what :meth:`fit` computed into the existing ``directory``: each kept
        embedding array (``kept_{layer}_{type}.npy``, with room for an eighth more rows, zero,
        so that nodes added later seldom copy it; unless fit spilled them there) and the
        scores (``scores.npy``)."""
        if self._spilled != directory:
            for level, kept in enumerate(self.kept_[1:], start=1):
                for t, h in kept.items():
                    written = self._written.get((level, t))
                    if written is not None:  # the rows recomputed since it was mapped
                        h = np.array(h)
                        written.into(h)
                    _write_kept(directory / f"kept_{level}_{t}.npy", h, self._held[t])
        np.save(directory / "scores.npy", self.scores_[:self._held[self.model.target_type]])

    def map_kept(self, directory: Path) -> None:
        """Read the kept embeddings from :meth:`save`'s files in ``directory``, memory-mapped
        copy-on-write: a row is read from the file when first needed, and a row recomputed
        later is copied into the process, never written back to the file."""
        kept = [{}]
        for level in range(1, self.model.num_layers):
            kept.append({})
            for t, n in self._held.items():
                h = np.load(directory / f"kept_{level}_{t}.npy", mmap_mode="c")
                if len(h) < n or h.shape[1] != self.model.hidden_channels:
                    raise ValueError(f"{directory}: kept_{level}_{t}.npy holds {h.shape} "
                                     f"embeddings for {n} nodes of width "
                                     f"{self.model.hidden_channels}")
                kept[level][t] = h
        self.kept_ = kept
        self._written = {}

    @torch.no_grad()
    def restore(self, graph: LocalGraph, directory: Path) -> np.ndarray:
        """What :meth:`fit` computes on ``graph``, read back from :meth:`save`'s files in
        ``directory`` (written for this model and this very graph) instead of computed: the
        kept embeddings memory-mapped (:meth:`map_kept`), the scores read, the hub sums and
        input caches built as :meth:`fit` builds them. Returns every target row's score.

        Raises
        ------
        ValueError
            When the files do not hold one row per node of ``graph``.
        """
        num = self._start(graph)
        self.map_kept(directory)
        scores = np.load(directory / "scores.npy")
        target = self.model.target_type
        if len(scores) != num[target]:
            raise ValueError(f"{directory}: {len(scores)} scores for {num[target]} "
                             f"{target} nodes")
        self._finish(graph, num, lambda t, rows: self.input_embeddings(
            graph, t, np.arange(rows.start, rows.stop)))
        self.scores_ = scores.astype(np.float64)
        return self.scores_.copy()

    def drop_input_caches(self) -> None:
        """Hold no input embeddings from now on (the caches' memory freed: a reload's old
        scorer, while the new one fills its own): reads encode them again, and a change's
        new ones are not stored."""
        self._cache = {t: _InputCache(0, self.model.hidden_channels) for t in self._cache}

    def refill_input_caches(self, graph: LocalGraph) -> None:
        """Input caches again after :meth:`drop_input_caches`, as :meth:`restore` builds them
        (every row encoded from ``graph``'s current inputs where the graph fits the budget)."""
        num = {t: graph.num_nodes.get(t, 0) for t in self.model.in_channels}
        self._cache = self._input_caches(num, lambda t, rows: self.input_embeddings(
            graph, t, np.arange(rows.start, rows.stop)))

    def _input_caches(self, num: dict[str, int],
                      encode: Callable[[str, slice], np.ndarray]) -> dict[str, _InputCache]:
        """An input cache per node type (``num``: its rows), holding every row (``encode``:
        the input embeddings of consecutive rows of a type, asked a block at a time,
        :meth:`_InputCache.fill`) where the graph fits the budget."""
        total = sum(num.values())
        fits = total + total // 8 <= self.input_cache_rows
        caches = {}
        for t, n in num.items():
            share = n + n // 8 if fits else self.input_cache_rows * n // max(total, 1)
            caches[t] = _InputCache(share, self.model.hidden_channels)
            if fits and n:
                caches[t].fill(n, lambda rows, t=t: encode(t, rows))
        return caches

    def _grow(self, graph: LocalGraph) -> dict[str, np.ndarray]:
        """Room in the kept arrays for nodes added to ``graph`` since; their rows per type
        (embeddings zero and never computed until :meth:`mark` encodes them)."""
        added = {}
        target = self.model.target_type
        for t in self.model.in_channels:
            n = graph.num_nodes.get(t, 0)
            held = self._held.get(t, 0)
            if n <= held:
                continue
            added[t] = np.arange(held, n)
            self._held[t] = n
            for level, kept in enumerate(self.kept_[1:], start=1):
                h = kept[t]
                if n > len(h):
                    grown = np.zeros((n + len(h) // 8 + 1024, h.shape[1]), dtype=h.dtype)
                    grown[:len(h)] = h
                    written = self._written.pop((level, t), None)
                    if written is not None:  # the process's own array from now on
                        written.into(grown)
                    kept[t] = grown
            for ticks in self.changed_:
                ticks[t] = _grow_ticks(ticks[t], held, n, 0)
            for ticks in self.computed_[1:]:
                ticks[t] = _grow_ticks(ticks[t], held, n, -1)
            if t == target:
                self.scored_ = _grow_ticks(self.scored_, held, n, -1)
                if n > len(self.scores_):
                    scores = np.full(n + len(self.scores_) // 8 + 1024, np.nan)
                    scores[:held] = self.scores_[:held]
                    self.scores_ = scores
        return added

    def mark(self, graph: LocalGraph, changed: dict[str, np.ndarray]) -> None:
        """Take in that the ``changed`` nodes (features, degree or edges; new nodes included
        whether named or not) changed: their input embeddings are recomputed now (the hubs'
        sums take the differences, the input cache the new values), and every embedding and
        score that depends on them is stale until :meth:`current` reads it."""
        frontier = self._grow(graph)
        for t, r in changed.items():
            if t in self.model.in_channels and len(r):
                frontier[t] = np.union1d(frontier.get(t, np.empty(0, dtype=np.int64)),
                                         np.asarray(r, dtype=np.int64))
        self._tick += 1
        for t, r in frontier.items():
            h = self.input_embeddings(graph, t, r)
            self._sums.push(graph, t, r, h, self._tick, self.changed_[0][t])
            self._cache[t].write(r, h)
            self.changed_[0][t][r] = self._tick

    def _latest(self, level: int, rows: dict[str, np.ndarray],
                edges: dict[EdgeType, tuple[np.ndarray, np.ndarray]],
                pooled: dict[EdgeType, _Pooled]) -> dict[str, np.ndarray]:
        """Per type, for each of ``rows``: the last tick at which the layer-``level`` embedding
        of the node or of one of its in-neighbours (``edges``; the ``pooled`` hubs' sums keep
        their neighbours' last tick) changed."""
        latest = {t: self.changed_[level][t][r] for t, r in rows.items()}
        for et, (position, src) in edges.items():
            _maximum_at(latest[et[2]], position, self.changed_[level][et[0]][src])
        for et, found in pooled.items():
            _maximum_at(latest[et[2]], found.positions, found.ticks)
        return latest

    @staticmethod
    def _with_neighbours(rows: dict[str, np.ndarray],
                         edges: dict[EdgeType, tuple[np.ndarray, np.ndarray]],
                         ) -> dict[str, np.ndarray]:
        """``rows`` and all their in-neighbours (``edges``), per type."""
        parts = {t: [r] for t, r in rows.items()}
        for et, (_, src) in edges.items():
            parts.setdefault(et[0], []).append(src)
        return {t: np.unique(np.concatenate(p)) for t, p in parts.items()}

    def _stale_layer(self, graph: LocalGraph, level: int, rows: dict[str, np.ndarray],
                     ticks: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Layer ``level`` embeddings of those ``rows`` computed (``ticks``) before their
        inputs last changed, made current after the layers below: type -> (rows, embeddings).

        A row computed at the current tick is current (every change of a tick is marked
        before anything is computed at it): it is left out at once, its inputs not visited.
        """
        rows = {t: r[ticks[t][r] < self._tick] for t, r in rows.items()}
        rows = {t: r for t, r in rows.items() if len(r)}
        if not rows:
            return {}
        # A hub's first layer reads the running sums of its neighbours' inputs (always
        # current), not its edges.
        pooled = self._pool(graph, rows) if level == 1 else {}
        edges = self._in_edges(graph, rows, pooled)
        if level > 1:  # the inputs (level 0) are always current
            self._refresh(graph, level - 1, self._with_neighbours(rows, edges))
        latest = self._latest(level - 1, rows, edges, pooled)
        mask = {t: ticks[t][r] < latest[t] for t, r in rows.items()}
        stale = {t: r[mask[t]] for t, r in rows.items()}
        if not any(len(r) for r in stale.values()):
            return {}
        if not all(m.all() for m in mask.values()):  # keep the edges into the stale rows
            kept = {}
            for et, (position, src) in edges.items():
                inside = mask[et[2]][position]
                renumber = np.cumsum(mask[et[2]]) - 1
                kept[et] = (renumber[position[inside]], src[inside])
            edges = kept
            for et, found in pooled.items():
                inside = mask[et[2]][found.positions].nonzero()[0]
                renumber = np.cumsum(mask[et[2]]) - 1
                pooled[et] = found.pick(inside, renumber[found.positions[inside]])
        edges = {et: e for et, e in edges.items() if len(stale[et[2]])}
        new = self._layer(graph, level - 1, stale, edges, pooled)
        return {t: (stale[t], h) for t, h in new.items()}

    def _refresh(self, graph: LocalGraph, level: int, rows: dict[str, np.ndarray]) -> None:
        """Make the kept layer-``level`` embeddings of ``rows`` current (recursively, the
        layers below of the nodes they read), recomputing only the stale ones."""
        if level == 0:
            return
        for t, (stale, h) in self._stale_layer(graph, level, rows,
                                               self.computed_[level]).items():
            self._keep(level, t, stale, h)
            self.computed_[level][t][stale] = self._tick
            self.changed_[level][t][stale] = self._tick

    def current(self, graph: LocalGraph, rows: np.ndarray) -> np.ndarray:
        """Current calibrated scores of target ``rows``: kept ones where nothing they depend
        on changed since they were computed, the others (and the stale embeddings they read)
        recomputed now: the same numbers as a whole-graph pass of the current graph."""
        model = self.model
        target = model.target_type
        if any(graph.num_nodes.get(t, 0) > self._held.get(t, 0) for t in model.in_channels):
            self.mark(graph, {})
        rows = np.asarray(rows, dtype=np.int64)
        wanted = {target: np.unique(rows)}
        new = self._stale_layer(graph, model.num_layers, wanted, {target: self.scored_})
        if target in new:
            stale, h = new[target]
            layers = [self._cached_inputs(graph, target, stale)]
            logits = self._numpy.head_logits(
                layers + [self._kept_read(level, target)[stale]
                          for level in range(1, model.num_layers)] + [h])
            self.scores_[stale] = self.calibrator.transform(self._offset(graph, stale, logits))
            self.scored_[stale] = self._tick
            self.journal.wrote(stale, len(self.scores_))
        return self.scores_[rows]

    @torch.no_grad()
    def logits(self, graph: LocalGraph, rows: np.ndarray) -> np.ndarray:
        """Uncalibrated logits of target ``rows`` from scratch, each on its L-hop subgraph
        (plus the boosted column when ``residual``)."""
        model = self.model
        target = model.target_type
        node_types = list(model.in_channels)
        edge_types = [et for et in model.edge_types if et in graph.adjacency]
        # need[l]: the nodes whose layer-l embedding is computed; each level a prefix of the next.
        empty = np.empty(0, dtype=np.int64)
        need = [{t: empty for t in node_types} for _ in range(model.num_layers + 1)]
        need[model.num_layers][target] = np.asarray(rows, dtype=np.int64)
        gathered: dict[EdgeType, tuple[np.ndarray, np.ndarray]] = {}
        for level in range(model.num_layers, 0, -1):
            below = dict(need[level])
            for et in edge_types:
                position, src = graph.adjacency[et].gather(need[level][et[2]])
                if level == 1:
                    gathered[et] = (position, src)
                new = np.setdiff1d(src, below[et[0]])
                if len(new):
                    below[et[0]] = np.concatenate([below[et[0]], new])
            need[level - 1] = below
        nodes = need[0]
        x_dict = {t: torch.from_numpy(self._inputs(graph, t, nodes[t])) for t in node_types}
        edge_index_dict = {}
        for et in model.edge_types:
            if et not in gathered:
                edge_index_dict[et] = torch.empty((2, 0), dtype=torch.long)
                continue
            position, src = gathered[et]
            source = nodes[et[0]]
            sorter = np.argsort(source)
            local_src = sorter[np.searchsorted(source, src, sorter=sorter)]
            edge_index_dict[et] = torch.from_numpy(np.stack([local_src, position]))
        counts = {t: [len(need[model.num_layers][t])]
                  + [len(need[level - 1][t]) - len(need[level][t])
                     for level in range(model.num_layers, 0, -1)] for t in node_types}
        with torch_threads(self.num_threads):
            logits = model(x_dict, edge_index_dict, num_sampled_nodes_dict=counts)
        return self._offset(graph, np.asarray(rows, dtype=np.int64),
                            logits[: len(rows)].numpy())

    def scores(self, graph: LocalGraph, rows: np.ndarray) -> np.ndarray:
        """Calibrated scores in [0, 1] of target ``rows`` (higher = riskier), from scratch."""
        if len(rows) == 0:
            return np.empty(0)
        return self.calibrator.transform(self.logits(graph, rows))


class _GraphPass(LayerwisePass):
    """:class:`gnn.inference.LayerwisePass` over a :class:`LocalGraph`: each node type's input
    embeddings and each layer's output computed ``BLOCK_ROWS`` rows at a time (the forward
    pass's arithmetic per row), each row's neighbours in the order of their rows (the order
    :func:`gnn.inference.full_graph_logits` sums them in).

    Parameters
    ----------
    model
        The network (evaluation mode).
    graph
        The graph; its in-neighbour lists are laid out as row-block CSR arrays once (its
        built CSR itself where no edge was added since).
    inputs
        ``(node_type, rows) -> model inputs`` of ``graph``'s nodes (:meth:`LocalScorer._inputs`).
    """

    def __init__(self, model: SepHeteroGNN, graph: LocalGraph,
                 inputs: Callable[[str, np.ndarray], np.ndarray]) -> None:
        self.model = model
        self.inputs = inputs
        self.num_nodes = {t: graph.num_nodes.get(t, 0) for t in model.in_channels}
        self.adjacency = {}
        for et in model.edge_types:
            if et not in graph.adjacency or et[0] not in self.num_nodes:
                continue
            held = graph.adjacency[et]
            if not held.num_added and len(held.rowptr) == self.num_nodes[et[2]] + 1:
                # the built CSR as it is (rows in order): no copy
                self.adjacency[et] = RowBlocks(held.rowptr, held.col, self.num_nodes[et[0]])
            else:
                src, dst = held.edge_index()
                order = np.lexsort((src, dst))
                rowptr = np.zeros(self.num_nodes[et[2]] + 1, dtype=np.int64)
                np.cumsum(np.bincount(dst, minlength=self.num_nodes[et[2]]), out=rowptr[1:])
                self.adjacency[et] = RowBlocks(rowptr, np.ascontiguousarray(src[order]),
                                                self.num_nodes[et[0]])

    def block_inputs(self, node_type: str, rows: slice) -> torch.Tensor:
        """Model inputs of the consecutive ``rows`` of ``node_type`` (from ``inputs``)."""
        return torch.from_numpy(self.inputs(node_type, np.arange(rows.start, rows.stop)))

    def conv_block(self, layer: int, node_type: str,
                   h: dict[str, torch.Tensor] | OneTypeAtATime, rows: slice) -> torch.Tensor:
        """Layer ``layer``'s output for one block of ``rows`` of ``node_type`` (:meth:`conv`'s
        arithmetic for that block, relation after relation: the same bits)."""
        conv = self.model.convs[layer]
        ego = h[node_type][rows]
        weight_blocks = conv.lin[node_type].weight.split(conv._block_widths(node_type), dim=1)
        out = torch.addmm(conv.lin[node_type].bias, ego, weight_blocks[0].t())
        for et, block in zip(conv.incoming[node_type], weight_blocks[1:], strict=True):
            if et not in self.adjacency or et[0] not in self.num_nodes:
                continue  # no neighbours: a zero block adds nothing
            parts = self.adjacency[et].aggregate(h[et[0]], rows, conv.aggregators)
            for part, part_weight in zip(parts, block.split(conv.channels, dim=1), strict=True):
                out = out.addmm(part, part_weight.t())
        return ego + torch.relu(conv.norm[node_type](out))


def pinned_or_computed(pinned: Any, rows: np.ndarray,
                       compute: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Values of distinct ``rows``: those ``pinned`` holds (``slots``: -1 where not held;
    ``values``: by slot) as held, the others ``compute``d now."""
    slots = pinned.slots(rows)
    held = slots >= 0
    if held.all():
        return pinned.values[slots]
    out = np.empty((len(rows), pinned.values.shape[1]), dtype=pinned.values.dtype)
    out[held] = pinned.values[slots[held]]
    out[~held] = compute(rows[~held])
    return out


def _kept_rows(rows: int) -> int:
    """Rows of a kept embedding array's file for ``rows`` nodes: an eighth more (zero), so
    that nodes added later seldom copy it."""
    return rows + rows // 8 + 1024


def _mapped(path: Path, rows: int) -> torch.Tensor:
    """The first ``rows`` rows of the kept embedding file ``path``, memory-mapped
    copy-on-write (no page read until touched)."""
    return torch.from_numpy(np.load(path, mmap_mode="c")[:rows])


def _write_kept(path: Path, values: np.ndarray, rows: int) -> None:
    """Write the first ``rows`` of the float32 ``values`` as an ``.npy`` file of
    :func:`_kept_rows` rows (the rest zero, left unwritten), :data:`_WRITE_ROWS` rows at a time
    through the file (:class:`gnn.inference.RowFile`, not mapped: the pages written are the
    page cache's, not the process's; not flushed to disk here)."""
    with RowFile.create(path, rows, values.shape[1], _kept_rows(rows)) as out:
        for lo in range(0, rows, _WRITE_ROWS):
            block = slice(lo, min(lo + _WRITE_ROWS, rows))
            out[block] = torch.from_numpy(np.ascontiguousarray(values[block]))


def _maximum_at(out: np.ndarray, index: np.ndarray, values: np.ndarray) -> None:
    """``np.maximum.at(out, index, values)``; for one entry (a single event's row) its
    maximum, without ``ufunc.at``'s set-up."""
    if len(out) == 1:
        if len(values):
            out[0] = max(out[0], values.max())
        return
    np.maximum.at(out, index, values)


def _slot_map(slot_of: np.ndarray, size: int) -> np.ndarray:
    """``slot_of`` (row -> slot, -1: none) with room for ``size`` rows (the new ones -1),
    grown by an eighth more than asked so that rows added one by one seldom copy it."""
    if size <= len(slot_of):
        return slot_of
    grown = np.full(size + len(slot_of) // 8 + 1024, -1, dtype=slot_of.dtype)
    grown[:len(slot_of)] = slot_of
    return grown


def _grow_ticks(ticks: np.ndarray, used: int, size: int, fill: int) -> np.ndarray:
    """``ticks`` with room for ``size`` rows, rows from ``used`` on set to ``fill``."""
    if size > len(ticks):
        grown = np.empty(size + len(ticks) // 8 + 1024, dtype=np.int64)
        grown[:used] = ticks[:used]
        ticks = grown
    ticks[used:size] = fill
    return ticks
