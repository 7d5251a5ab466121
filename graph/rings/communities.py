"""Groups of strongly linked accounts: connected components of the thresholded projection, with
oversized components split into communities by Leiden (``leidenalg`` on ``igraph``, modularity
with a resolution parameter, seeded)."""

from __future__ import annotations

import igraph
import leidenalg
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components


def group_rows(labels: np.ndarray) -> list[np.ndarray]:
    """Row indices grouped by label, groups in label order, rows ascending within a group."""
    if len(labels) == 0:
        return []
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    return np.split(order, bounds)


def components(matrix: sp.csr_matrix, min_weight: float = 0.0) -> list[np.ndarray]:
    """Connected components of the symmetric weight matrix after dropping links lighter than
    ``min_weight``; isolated rows form singleton components."""
    kept = matrix.multiply(matrix >= min_weight).tocsr() if min_weight > 0 else matrix
    _, labels = connected_components(kept, directed=False)
    return group_rows(labels)


def leiden_communities(
    matrix: sp.csr_matrix, resolution: float = 1.0, seed: int = 0
) -> list[np.ndarray]:
    """Leiden communities (RB-configuration / modularity quality, weighted) of a symmetric
    weight matrix, as arrays of row indices."""
    upper = sp.triu(matrix, k=1).tocoo()
    graph = igraph.Graph(n=matrix.shape[0], edges=np.column_stack([upper.row, upper.col]))
    partition = leidenalg.find_partition(
        graph,
        leidenalg.RBConfigurationVertexPartition,
        weights=upper.data.tolist(),
        resolution_parameter=resolution,
        seed=seed,
    )
    return group_rows(np.asarray(partition.membership))


def split_communities(
    matrix: sp.csr_matrix,
    min_size: int,
    max_size: int,
    min_weight: float = 0.0,
    resolution: float = 1.0,
    seed: int = 0,
    max_depth: int = 4,
) -> list[np.ndarray]:
    """Bounded-size groups of linked rows.

    Components of the thresholded matrix within ``[min_size, max_size]`` are kept as they are;
    larger ones are split by Leiden, recursively (doubling the resolution each level, at most
    ``max_depth`` levels). Groups smaller than ``min_size`` are dropped.

    Parameters
    ----------
    matrix
        Symmetric weight matrix (e.g. :attr:`graph.rings.projection.Projection.matrix`).
    min_size, max_size
        Size bounds of a returned group.
    min_weight
        Links lighter than this are dropped first.
    resolution
        Leiden resolution of the first split.
    seed
        Leiden seed.
    max_depth
        Recursion limit for groups that stay too large.

    Returns
    -------
    list of numpy.ndarray
        Row indices of each group.
    """
    kept = matrix.multiply(matrix >= min_weight).tocsr() if min_weight > 0 else matrix.tocsr()
    groups: list[np.ndarray] = []
    pending = [(rows, 0) for rows in components(kept) if len(rows) >= min_size]
    while pending:
        rows, depth = pending.pop()
        if len(rows) <= max_size:
            groups.append(rows)
            continue
        if depth >= max_depth:
            continue
        sub = kept[rows][:, rows]
        parts = leiden_communities(sub, resolution * 2**depth, seed)
        if len(parts) == 1:
            continue
        pending.extend((rows[part], depth + 1) for part in parts if len(part) >= min_size)
    return sorted(groups, key=lambda g: (g[0], len(g)))
