"""A vectorised, time-aware neighbour sampler for heterogeneous graphs.

PyG's own ``NeighborLoader`` needs ``pyg-lib`` or ``torch-sparse``, which are not installable here
(see ENVIRONMENT.md). :class:`TemporalNeighborSampler` plugs into PyG instead through
:class:`~torch_geometric.sampler.BaseSampler`, so :class:`~torch_geometric.loader.NodeLoader`
turns its output into ``HeteroData`` mini-batches.

Per edge type it keeps a CSR over destination nodes whose neighbour lists are sorted by edge
time. The edges of node ``v`` not newer than time ``t`` are then a prefix of ``v``'s list, found
for a whole frontier at once with one ``searchsorted`` on the composite key
``v * span + (time - t_min)``. Choosing ``k`` of ``n`` neighbours uniformly without replacement is
Floyd's algorithm run column by column for all nodes together, so there is no Python loop over
nodes anywhere.

With seed times, sampling is *disjoint*: every seed grows its own tree (nodes are keyed by
``(seed, node)``), each bounded by its own seed's time, as PyG does for temporal sampling.
Without seed times all seeds of a batch share one deduplicated subgraph.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch_geometric.data import HeteroData
from torch_geometric.sampler import BaseSampler, HeteroSamplerOutput, NodeSamplerInput
from torch_geometric.typing import EdgeType


class _EdgeCSR:
    """Incoming edges of one edge type, grouped by destination, sorted by time within a group."""

    def __init__(self, edge_index: np.ndarray, edge_time: np.ndarray | None, num_dst: int) -> None:
        src, dst = edge_index
        if edge_time is None:
            # by (dst, src): the same neighbour order, hence the same float sums, whatever
            # order the edges arrive in
            order = np.argsort(dst * (int(src.max(initial=-1)) + 1) + src)
        else:
            order = np.lexsort((edge_time, dst))
        self.col = src[order]
        self.eid = order
        self.rowptr = np.zeros(num_dst + 1, dtype=np.int64)
        np.cumsum(np.bincount(dst, minlength=num_dst), out=self.rowptr[1:])
        self.timed = edge_time is not None and len(edge_time) > 0
        if self.timed:
            times = edge_time[order]
            self.t_min = int(times.min())
            self.span = int(times.max()) - self.t_min + 1
            if num_dst * self.span >= np.iinfo(np.int64).max:
                raise ValueError("edge times span too long a range for the composite time key")
            self.key = dst[order] * self.span + (times - self.t_min)

    def bounds(self, nodes: np.ndarray, times: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """CSR start and end (exclusive) of the neighbours of ``nodes`` up to ``times``."""
        start = self.rowptr[nodes]
        if times is None or not self.timed:
            return start, self.rowptr[nodes + 1]
        rel = np.clip(times - self.t_min, -1, self.span - 1)
        end = np.searchsorted(self.key, nodes * self.span + rel, side="right")
        return start, np.maximum(end, start)


class _NodeSet:
    """The nodes of one type in a sampled subgraph, deduplicated by ``(seed, node)`` key.

    Shared (non-disjoint) sampling looks nodes up in ``scratch``, a per-type array of local
    indices (``-1`` = absent) that the caller resets afterwards; disjoint sampling keeps the
    ``(seed, node)`` keys sorted instead.
    """

    def __init__(self, num_nodes: int, scratch: np.ndarray | None = None) -> None:
        self.num_nodes = max(num_nodes, 1)
        self.scratch = scratch
        self.ids = np.empty(0, dtype=np.int64)
        self.batch = np.empty(0, dtype=np.int64)
        self._sorted = np.empty(0, dtype=np.int64)
        self._order = np.empty(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def _index(self) -> None:
        keys = self.batch * self.num_nodes + self.ids
        self._order = np.argsort(keys, kind="stable")
        self._sorted = keys[self._order]

    def add_seeds(self, ids: np.ndarray, batch: np.ndarray) -> None:
        self.ids, self.batch = ids, batch
        if self.scratch is None:
            self._index()
        else:
            self.scratch[ids[::-1]] = np.arange(len(ids))[::-1]

    def add(self, ids: np.ndarray, batch: np.ndarray) -> np.ndarray:
        """Insert nodes not seen yet; return the local index of every given node."""
        if self.scratch is not None:
            local = self.scratch[ids]
            missing = local < 0
            if missing.any():
                candidates = ids[missing]
                ticket = np.arange(len(candidates))
                self.scratch[candidates] = ticket  # one write survives per distinct node
                fresh = candidates[self.scratch[candidates] == ticket]
                self.scratch[fresh] = len(self.ids) + np.arange(len(fresh))
                self.ids = np.concatenate([self.ids, fresh])
                self.batch = np.concatenate([self.batch, np.zeros(len(fresh), dtype=np.int64)])
                local = self.scratch[ids]
            return local
        keys = batch * self.num_nodes + ids
        local = np.empty(len(keys), dtype=np.int64)
        if len(self._sorted):
            pos = np.minimum(np.searchsorted(self._sorted, keys), len(self._sorted) - 1)
            found = self._sorted[pos] == keys
            local[found] = self._order[pos[found]]
        else:
            found = np.zeros(len(keys), dtype=bool)
        if not found.all():
            fresh, inverse = np.unique(keys[~found], return_inverse=True)
            local[~found] = len(self.ids) + inverse
            self.ids = np.concatenate([self.ids, fresh % self.num_nodes])
            self.batch = np.concatenate([self.batch, fresh // self.num_nodes])
            self._index()
        return local

    def release(self) -> None:
        """Reset the scratch entries this set used."""
        if self.scratch is not None:
            self.scratch[self.ids] = -1


def _choose(start: np.ndarray, count: np.ndarray, k: int, rng: np.random.Generator) -> tuple:
    """Positions of up to ``k`` uniformly chosen neighbours per node, and the owner of each."""
    owner = np.arange(len(start))
    take_all = count <= k if k >= 0 else np.ones(len(count), dtype=bool)
    lengths = count[take_all]
    all_owner = np.repeat(owner[take_all], lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    all_pos = np.repeat(start[take_all], lengths) + offsets
    some = ~take_all
    if not some.any():
        return all_pos, all_owner
    n = count[some]
    chosen = np.empty((len(n), k), dtype=np.int64)
    for j in range(k):  # Floyd's algorithm, one column for all nodes at once
        upper = n - k + j
        draw = (rng.random(len(n)) * (upper + 1)).astype(np.int64)
        seen = (chosen[:, :j] == draw[:, None]).any(axis=1)
        chosen[:, j] = np.where(seen, upper, draw)
    some_pos = (start[some][:, None] + chosen).ravel()
    some_owner = np.repeat(owner[some], k)
    return np.concatenate([all_pos, some_pos]), np.concatenate([all_owner, some_owner])


class TemporalNeighborSampler(BaseSampler):
    """Uniform neighbour sampling over a ``HeteroData`` graph, bounded by each seed's time.

    Parameters
    ----------
    data
        The graph; ``edge_index`` per edge type and, for time bounds, ``edge_time`` (int64).
    num_neighbors
        Fan-out per hop (``-1`` = all neighbours): one list for every edge type or a mapping
        edge type -> list.
    time_attr
        Edge attribute holding edge times, or ``None`` to ignore times.
    seed
        Seed of the sampler's random generator.

    Examples
    --------
    >>> sampler = TemporalNeighborSampler(data, num_neighbors=[15, 10])
    >>> loader = NodeLoader(data, sampler, input_nodes=("Account", train_idx),
    ...                     input_time=train_time, batch_size=512, shuffle=True)
    """

    def __init__(
        self,
        data: HeteroData,
        num_neighbors: Sequence[int] | Mapping[EdgeType, Sequence[int]],
        time_attr: str | None = "edge_time",
        seed: int | None = None,
    ) -> None:
        self.num_nodes = {t: int(data[t].num_nodes) for t in data.node_types}
        if isinstance(num_neighbors, Mapping):
            self.num_neighbors = {et: list(num_neighbors.get(et, [])) for et in data.edge_types}
        else:
            self.num_neighbors = {et: list(num_neighbors) for et in data.edge_types}
        self.num_hops = max((len(v) for v in self.num_neighbors.values()), default=0)
        self.csr: dict[EdgeType, _EdgeCSR] = {}
        for edge_type in data.edge_types:
            store = data[edge_type]
            times = None
            if time_attr is not None and time_attr in store:
                times = store[time_attr].numpy().astype(np.int64)
            self.csr[edge_type] = _EdgeCSR(
                store.edge_index.numpy().astype(np.int64), times, self.num_nodes[edge_type[2]]
            )
        self.rng = np.random.default_rng(seed)
        self._scratch: dict[str, np.ndarray] = {}

    @property
    def edge_permutation(self) -> None:
        """Edge ids returned are the original ones, so no permutation applies."""
        return None

    def sample_from_nodes(self, index: NodeSamplerInput, **kwargs) -> HeteroSamplerOutput:
        """Sample the subgraph around ``index.node`` (seed nodes of ``index.input_type``).

        The seeds are the first ``len(index.node)`` nodes of their type, in the given order.
        """
        seeds = index.node.numpy().astype(np.int64)
        times = None if index.time is None else index.time.numpy().astype(np.int64)
        disjoint = times is not None
        if not disjoint and not self._scratch:
            self._scratch = {t: np.full(n, -1, dtype=np.int64) for t, n in self.num_nodes.items()}
        nodes = {
            t: _NodeSet(n, None if disjoint else self._scratch[t])
            for t, n in self.num_nodes.items()
        }
        batch = np.arange(len(seeds)) if disjoint else np.zeros(len(seeds), dtype=np.int64)
        nodes[index.input_type].add_seeds(seeds, batch)
        frontier = {index.input_type: (0, len(seeds))}
        rows: dict[EdgeType, list[np.ndarray]] = {et: [] for et in self.csr}
        cols: dict[EdgeType, list[np.ndarray]] = {et: [] for et in self.csr}
        eids: dict[EdgeType, list[np.ndarray]] = {et: [] for et in self.csr}
        sampled_nodes = {t: [len(s)] for t, s in nodes.items()}
        sampled_edges: dict[EdgeType, list[int]] = {et: [] for et in self.csr}
        for hop in range(self.num_hops):
            sizes = {t: len(s) for t, s in nodes.items()}
            for edge_type, csr in self.csr.items():
                src_type, _, dst_type = edge_type
                fanout = self.num_neighbors[edge_type]
                if hop >= len(fanout) or fanout[hop] == 0 or dst_type not in frontier:
                    sampled_edges[edge_type].append(0)
                    continue
                lo, hi = frontier[dst_type]
                dst_set = nodes[dst_type]
                dst_global = dst_set.ids[lo:hi]
                dst_batch = dst_set.batch[lo:hi]
                start, end = csr.bounds(dst_global, times[dst_batch] if disjoint else None)
                pos, owner = _choose(start, end - start, fanout[hop], self.rng)
                src_local = nodes[src_type].add(csr.col[pos], dst_batch[owner])
                rows[edge_type].append(src_local)
                cols[edge_type].append(lo + owner)
                eids[edge_type].append(csr.eid[pos])
                sampled_edges[edge_type].append(len(pos))
            frontier = {t: (sizes[t], len(s)) for t, s in nodes.items() if len(s) > sizes[t]}
            for t, s in nodes.items():
                sampled_nodes[t].append(len(s) - sizes[t])
            if not frontier:
                break

        for node_set in nodes.values():
            node_set.release()

        def cat(parts: list[np.ndarray]) -> torch.Tensor:
            return (
                torch.from_numpy(np.concatenate(parts))
                if parts
                else torch.empty(0, dtype=torch.long)
            )

        return HeteroSamplerOutput(
            node={t: torch.from_numpy(s.ids) for t, s in nodes.items()},
            row={et: cat(v) for et, v in rows.items()},
            col={et: cat(v) for et, v in cols.items()},
            edge={et: cat(v) for et, v in eids.items()},
            batch={t: torch.from_numpy(s.batch) for t, s in nodes.items()} if disjoint else None,
            num_sampled_nodes=sampled_nodes,
            num_sampled_edges=sampled_edges,
            metadata=(index.input_id, index.time),
        )

    def sample_from_edges(self, index, neg_sampling=None):
        """Link-level sampling is not supported: this sampler serves node-level tasks."""
        raise NotImplementedError(f"{type(self).__name__} samples around nodes only")

    def degree(
        self, edge_type: EdgeType, nodes: torch.Tensor, times: torch.Tensor | None = None
    ) -> torch.Tensor:
        """In-degree of ``nodes`` in ``edge_type``, counting only edges not newer than ``times``."""
        start, end = self.csr[edge_type].bounds(
            nodes.numpy().astype(np.int64), None if times is None else times.numpy()
        )
        return torch.from_numpy(end - start)

    def degree_features(
        self, node_ids: Mapping[str, torch.Tensor], node_times: Mapping[str, torch.Tensor] | None
    ) -> dict[str, torch.Tensor]:
        """``log1p`` of the time-bounded in-degree of every node, one column per incoming edge type.

        Parameters
        ----------
        node_ids
            Node type -> global node ids (for a mini-batch: its ``n_id``).
        node_times
            Node type -> time bound per node (the seed time of the node's tree), or ``None`` for
            the whole graph.
        """
        features = {}
        for node_type, ids in node_ids.items():
            columns = [
                torch.log1p(
                    self.degree(
                        et, ids, None if node_times is None else node_times[node_type]
                    ).float()
                )
                for et in self.incoming(node_type)
            ]
            features[node_type] = (
                torch.stack(columns, dim=1) if columns else torch.zeros((len(ids), 0))
            )
        return features

    def incoming(self, node_type: str) -> list[EdgeType]:
        """Edge types ending at ``node_type``, in a stable order."""
        return [et for et in self.csr if et[2] == node_type]
