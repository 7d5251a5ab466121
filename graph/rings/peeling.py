"""FRAUDAR-style dense-block peeling on the account x entity bipartite graph.

Hooi et al., "FRAUDAR: Bounding Graph Fraud in the Face of Camouflage" (KDD 2016): every edge to
column ``j`` weighs ``1 / log(d_j + 5)`` (``d_j`` = the column's degree), so popular columns that
fraudsters link to for camouflage weigh little, and nodes are removed greedily, lowest weighted
degree first, keeping the prefix with the highest density ``f(S) / |S|`` (``f`` = total edge
weight inside ``S``, ``|S|`` = rows + columns). Adding camouflage edges from the block to
elsewhere cannot lower the block's density, which bounds what camouflage can hide.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from graph.rings.communities import group_rows


@dataclass
class DenseBlock:
    """A dense block: its rows (accounts), columns (entities) and density ``f(S) / |S|``."""

    rows: np.ndarray
    cols: np.ndarray
    density: float


def fraudar_column_weights(matrix: sp.spmatrix) -> np.ndarray:
    """Camouflage-resistant column weights ``1 / log(d + 5)``, ``d`` = column degree."""
    return 1.0 / np.log(np.asarray(matrix.getnnz(axis=0), dtype=np.float64) + 5.0)


def peel_densest(weighted: sp.csr_matrix) -> DenseBlock:
    """Greedy peeling of a weighted bipartite matrix: the densest prefix found.

    Parameters
    ----------
    weighted
        Rows x columns CSR matrix of edge weights (already column-weighted).

    Returns
    -------
    DenseBlock
        Local row and column indices of the densest block and its density.
    """
    n_rows, n_cols = weighted.shape
    by_row = weighted.tocsr()
    by_col = weighted.tocsc()
    degree = np.concatenate(
        [np.asarray(by_row.sum(axis=1)).ravel(), np.asarray(by_col.sum(axis=0)).ravel()]
    )
    heap = list(zip(degree.tolist(), range(n_rows + n_cols), strict=True))
    heapq.heapify(heap)
    removed = np.zeros(n_rows + n_cols, dtype=bool)
    total, size = float(by_row.sum()), n_rows + n_cols
    best_density, best_step = total / max(size, 1), 0
    order = []
    while heap:
        deg, node = heapq.heappop(heap)
        if removed[node] or deg != degree[node]:
            continue
        removed[node] = True
        order.append(node)
        total -= deg
        size -= 1
        if node < n_rows:
            start, stop = by_row.indptr[node], by_row.indptr[node + 1]
            others = by_row.indices[start:stop] + n_rows
            weights = by_row.data[start:stop]
        else:
            col = node - n_rows
            start, stop = by_col.indptr[col], by_col.indptr[col + 1]
            others = by_col.indices[start:stop]
            weights = by_col.data[start:stop]
        alive = ~removed[others]
        for other, weight in zip(others[alive].tolist(), weights[alive].tolist(), strict=True):
            degree[other] -= weight
            heapq.heappush(heap, (degree[other], other))
        if size > 0 and total / size > best_density:
            best_density, best_step = total / size, len(order)
    kept = np.ones(n_rows + n_cols, dtype=bool)
    kept[np.asarray(order[:best_step], dtype=np.int64)] = False
    nodes = np.flatnonzero(kept)
    return DenseBlock(nodes[nodes < n_rows], nodes[nodes >= n_rows] - n_rows, best_density)


def peel_dense_blocks(
    matrix: sp.csr_matrix,
    min_rows: int,
    max_rows: int,
    blocks_per_component: int = 3,
    hub_degree_cap: int | None = None,
    max_component_nodes: int = 20_000,
) -> list[DenseBlock]:
    """Dense blocks of a binary account x entity matrix, peeled per connected component.

    Hub columns (degree above ``hub_degree_cap``) are left out first; the rest is split into
    connected components of the bipartite graph, and each component with at least ``min_rows``
    rows and at most ``max_component_nodes`` rows + columns is peeled up to
    ``blocks_per_component`` times (the rows of each block found are removed before the next
    peel). Blocks with ``min_rows..max_rows`` rows are returned. Larger components are left to
    :func:`peel_groups` on their communities: the greedy peel is a Python heap loop, and on a
    giant component it would cost minutes per block.

    Parameters
    ----------
    matrix
        Binary CSR incidence, rows = accounts.
    min_rows, max_rows
        Size bounds of a returned block.
    blocks_per_component
        Peels per component.
    hub_degree_cap
        Columns used by more rows are ignored; None keeps all.
    max_component_nodes
        Components with more rows + columns are not peeled.

    Returns
    -------
    list of DenseBlock
        Blocks with global row and column indices, densest first.
    """
    matrix = matrix.tocsr()
    degree = np.asarray(matrix.getnnz(axis=0))
    keep_cols = degree >= 2
    if hub_degree_cap is not None:
        keep_cols &= degree <= hub_degree_cap
    cols = np.flatnonzero(keep_cols)
    sub = matrix[:, cols]
    weighted = (sub @ sp.diags(fraudar_column_weights(sub))).tocsr()
    n_rows = weighted.shape[0]
    bipartite = sp.bmat([[None, weighted], [weighted.T, None]]).tocsr()
    _, labels = connected_components(bipartite, directed=False)
    blocks: list[DenseBlock] = []
    for nodes in group_rows(labels):
        rows = nodes[nodes < n_rows]
        if len(rows) < min_rows or len(nodes) > max_component_nodes:
            continue
        comp_cols = nodes[nodes >= n_rows] - n_rows
        local = weighted[rows][:, comp_cols]
        for _ in range(blocks_per_component):
            if local.shape[0] < min_rows or local.nnz == 0:
                break
            block = peel_densest(local)
            if len(block.rows) < 2:
                break
            if min_rows <= len(block.rows) <= max_rows:
                blocks.append(
                    DenseBlock(rows[block.rows], cols[comp_cols[block.cols]], block.density)
                )
            remaining = np.setdiff1d(np.arange(local.shape[0]), block.rows)
            rows, local = rows[remaining], local[remaining]
    return sorted(blocks, key=lambda b: -b.density)


def peel_groups(
    matrix: sp.csr_matrix,
    groups: list[np.ndarray],
    min_rows: int,
    hub_degree_cap: int | None = None,
) -> list[DenseBlock]:
    """The dense core of each group of rows (e.g. a community), camouflage peeled off.

    Column weights are FRAUDAR's, from the columns' degrees in the whole ``matrix``, so a column
    the group shares with many outsiders weighs little. A core is returned when it keeps at least
    ``min_rows`` rows and drops at least one row of its group.

    Parameters
    ----------
    matrix
        Binary CSR incidence, rows = accounts.
    groups
        Row indices of each group.
    min_rows
        Smallest core returned.
    hub_degree_cap
        Columns used by more rows are ignored; None keeps all.

    Returns
    -------
    list of DenseBlock
        One block per group whose core is smaller than the group, global indices.
    """
    matrix = matrix.tocsr()
    weights = fraudar_column_weights(matrix)
    if hub_degree_cap is not None:
        weights[np.asarray(matrix.getnnz(axis=0)) > hub_degree_cap] = 0.0
    weighted = (matrix @ sp.diags(weights)).tocsr()
    blocks = []
    for rows in groups:
        local, cols = _shared_columns(weighted[rows])
        block = peel_densest(local)
        if min_rows <= len(block.rows) < len(rows):
            blocks.append(DenseBlock(rows[block.rows], cols[block.cols], block.density))
    return blocks


def _shared_columns(local: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """``local`` restricted to the columns at least two of its rows use, and those columns.

    Works on the stored entries only: slicing columns of a CSR matrix (or counting per column)
    costs time in the number of columns of the whole graph, once per group, which dominated the
    search at a million accounts.
    """
    counted, counts = np.unique(local.indices, return_counts=True)
    cols = counted[counts >= 2]
    keep = np.isin(local.indices, cols)
    row_of = np.repeat(np.arange(local.shape[0]), np.diff(local.indptr))[keep]
    sub = sp.csr_matrix(
        (local.data[keep], (row_of, np.searchsorted(cols, local.indices[keep]))),
        shape=(local.shape[0], len(cols)),
    )
    return sub, cols
