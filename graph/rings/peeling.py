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
    max_cells: int = 1 << 22,
) -> list[DenseBlock]:
    """The dense core of each group of rows (e.g. a community), camouflage peeled off.

    Column weights are FRAUDAR's, from the columns' degrees in the whole ``matrix``, so a column
    the group shares with many outsiders weighs little. A core is returned when it keeps at least
    ``min_rows`` rows and drops at least one row of its group. Each group is peeled on the
    columns two or more of its rows use, exactly as :func:`peel_densest` peels it (same order of
    removal, same sums, same ties: lowest degree first, then rows before columns, lowest index
    first), but many groups at once: groups of similar size are padded into dense
    ``groups x rows x columns`` arrays of at most ``max_cells`` cells and peeled together, one
    NumPy step per removed node (a Python heap loop per group dominated the candidate search
    with 100,000s of communities).

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
    max_cells
        Most cells of one batch's dense array (8 bytes each).

    Returns
    -------
    list of DenseBlock
        One block per group whose core is smaller than the group, global indices, in the order
        of ``groups``.
    """
    matrix = matrix.tocsr()
    weights = fraudar_column_weights(matrix)
    if hub_degree_cap is not None:
        weights[np.asarray(matrix.getnnz(axis=0)) > hub_degree_cap] = 0.0
    weighted = (matrix @ sp.diags(weights)).tocsr()
    if not groups:
        return []
    local = _stacked_shared_columns(weighted, groups)
    found: dict[int, DenseBlock] = {}
    order = np.argsort(local.n_rows + local.n_cols, kind="stable")[::-1]
    start = 0
    while start < len(order):
        width = max(int(local.n_cols[order[start]]), 1) * max(int(local.n_rows[order[start]]), 1)
        stop = min(len(order), start + max(1, max_cells // width))
        for index, kept_rows, kept_cols, density in _peel_batch(local, order[start:stop]):
            rows = groups[index]
            if min_rows <= len(kept_rows) < len(rows):
                found[index] = DenseBlock(rows[kept_rows], local.cols_of(index)[kept_cols],
                                          density)
        start = stop
    return [found[index] for index in sorted(found)]


@dataclass
class _StackedGroups:
    """Every group's rows restricted to the columns two or more of its rows use, as entries
    sorted by group, local row and local column (the CSR order of each group's own matrix)."""

    group: np.ndarray
    row: np.ndarray
    col: np.ndarray
    weight: np.ndarray
    n_rows: np.ndarray
    n_cols: np.ndarray
    col_start: np.ndarray
    columns: np.ndarray
    entry_start: np.ndarray

    def cols_of(self, index: int) -> np.ndarray:
        """Global column of each local column of group ``index``."""
        return self.columns[self.col_start[index]:self.col_start[index] + self.n_cols[index]]


def _stacked_shared_columns(weighted: sp.csr_matrix, groups: list[np.ndarray]) -> _StackedGroups:
    """:func:`_shared_columns` of every group's rows of ``weighted`` at once."""
    n_groups, n_cols = len(groups), weighted.shape[1]
    sizes = np.fromiter((len(g) for g in groups), dtype=np.int64, count=n_groups)
    sub = weighted[np.concatenate(groups)]
    stacked_row = np.repeat(np.arange(sub.shape[0], dtype=np.int64), np.diff(sub.indptr))
    group_of_row = np.repeat(np.arange(n_groups, dtype=np.int64), sizes)
    group = group_of_row[stacked_row]
    key = group * n_cols + sub.indices.astype(np.int64)
    unique, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    keep = counts[inverse] >= 2
    shared = unique[counts >= 2]
    shared_group = shared // n_cols
    col_start = np.searchsorted(shared_group, np.arange(n_groups))
    group, key = group[keep], key[keep]
    row = stacked_row[keep] - (np.cumsum(sizes) - sizes)[group]
    col = np.searchsorted(shared, key) - col_start[group]
    order = np.lexsort((col, row, group))
    group = group[order]
    return _StackedGroups(
        group=group, row=row[order], col=col[order], weight=sub.data[keep][order],
        n_rows=sizes, n_cols=np.bincount(shared_group, minlength=n_groups),
        col_start=col_start, columns=shared % n_cols,
        entry_start=np.searchsorted(group, np.arange(n_groups + 1)),
    )


def _peel_batch(
    local: _StackedGroups, batch: np.ndarray
) -> list[tuple[int, np.ndarray, np.ndarray, float]]:
    """:func:`peel_densest` of each group in ``batch`` (sorted by nodes, most first), together.

    Returns ``(group, kept local rows, kept local columns, density)`` per group. The degrees are
    summed as SciPy sums a CSR matrix's rows and a CSC matrix's columns (``np.add.reduceat`` in
    index order) and the total as ``np.sum`` of the group's entries, and each removal subtracts
    the same weights in the same order as the heap loop, so the floats, and the ties, are the
    same.
    """
    count = len(batch)
    n_rows, n_cols = local.n_rows[batch], local.n_cols[batch]
    n_nodes = n_rows + n_cols
    row_width, col_width = max(int(n_rows.max()), 1), max(int(n_cols.max()), 1)
    steps = int(n_nodes.max())
    dense = np.zeros((count, row_width, col_width))
    degree = np.full((count, row_width + col_width), np.inf)
    total = np.zeros(count)
    position = np.zeros(len(local.group) + 1, dtype=np.int64)
    for slot, index in enumerate(batch.tolist()):
        lo, hi = local.entry_start[index], local.entry_start[index + 1]
        degree[slot, :n_rows[slot]] = 0.0
        degree[slot, row_width:row_width + n_cols[slot]] = 0.0
        if hi > lo:
            total[slot] = np.sum(local.weight[lo:hi])
            position[lo:hi] = slot
    picked = np.concatenate([np.arange(local.entry_start[i], local.entry_start[i + 1])
                             for i in batch.tolist()])
    slot_of, row, col = position[picked], local.row[picked], local.col[picked]
    weight = local.weight[picked]
    dense[slot_of, row, col] = weight
    if len(picked):
        _add_segment_sums(degree, slot_of, row, weight)
        by_col = np.lexsort((row, col, slot_of))
        _add_segment_sums(degree, slot_of[by_col], row_width + col[by_col], weight[by_col])
    size = n_nodes.astype(np.float64)
    best = total / np.maximum(size, 1.0)
    best_step = np.zeros(count, dtype=np.int64)
    removed = np.zeros((count, steps), dtype=np.int64)
    for step in range(steps):
        alive = int(np.searchsorted(-n_nodes, -step, side="left"))
        live = np.arange(alive)
        node = np.argmin(degree[:alive], axis=1)
        value = degree[live, node]
        degree[live, node] = np.inf
        total[:alive] -= value
        size[:alive] -= 1.0
        removed[:alive, step] = node
        is_row = node < row_width
        at_row, at_col = live[is_row], live[~is_row]
        degree[at_row, row_width:] -= dense[at_row, node[is_row], :]
        degree[at_col, :row_width] -= dense[at_col, :, node[~is_row] - row_width]
        ratio = np.divide(total[:alive], size[:alive], out=np.zeros(alive),
                          where=size[:alive] > 0)
        denser = (size[:alive] > 0) & (ratio > best[:alive])
        best[:alive] = np.where(denser, ratio, best[:alive])
        best_step[:alive] = np.where(denser, step + 1, best_step[:alive])
    out = []
    for slot, index in enumerate(batch.tolist()):
        kept = np.ones(row_width + col_width, dtype=bool)
        kept[removed[slot, :best_step[slot]]] = False
        out.append((index, np.flatnonzero(kept[:n_rows[slot]]),
                    np.flatnonzero(kept[row_width:row_width + n_cols[slot]]), float(best[slot])))
    return out


def _add_segment_sums(degree: np.ndarray, slot: np.ndarray, node: np.ndarray,
                      weight: np.ndarray) -> None:
    """Add to ``degree[slot, node]`` the sum of ``weight`` over each run of equal
    ``(slot, node)``, summed by ``np.add.reduceat`` as SciPy sums a compressed matrix's rows."""
    starts = np.flatnonzero(np.r_[True, (np.diff(slot) != 0) | (np.diff(node) != 0)])
    degree[slot[starts], node[starts]] += np.add.reduceat(weight, starts)


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


def pendant_free_cores(
    member: np.ndarray,
    node: np.ndarray,
    group: np.ndarray,
    rarest: np.ndarray,
    min_size: int = 3,
) -> np.ndarray:
    """Per member entry: whether it is in its group's core, the members tied by rare entities
    less the parts that hang off the rest through one member.

    Each group is a graph of its member entries and the rare entities they use (an edge per
    use). Its core starts as its largest component (most members; among equals the one holding
    the group's ``rarest`` entity); then a *pendant* part is cut: the members that a single
    member's removal separates from the largest remaining part, when none of them is such a
    joint itself (a leaf of the block-cut tree: a household sharing its home IP and device with
    one ring member, not half of a chain). A ring's own sharing (cards each used by four members
    in a chain, devices in a cycle) survives the removal of any one member; a household beside
    it is joined through one link, which the search's count of the groups it could grow pays for
    (the same reason :func:`graph.rings.null_model.links_beyond_tree` leaves a tree's links out), so
    it is padding, not part of the ring. Parts of equal size are both kept.

    All groups at once: one ``connected_components`` over a copy of each core (of at least
    ``min_size`` members) without each of its members in turn, no Python loop per group.

    Parameters
    ----------
    member, node
        Edges: the member entry (``0 .. len(group) - 1``) and the rare-entity node (numbered
        per group: an entity rare in two groups is two nodes) of each use.
    group
        Group of each member entry.
    rarest
        Per group: its rarest entity's node, or -1 when it has none.
    min_size
        Cores of fewer members are not cut.

    Returns
    -------
    numpy.ndarray
        Boolean per member entry; members without a rare entity are never in the core.
    """
    member, node = np.asarray(member, np.int64), np.asarray(node, np.int64)
    group, rarest = np.asarray(group, np.int64), np.asarray(rarest, np.int64)
    n_entries = len(group)
    core = np.zeros(n_entries, dtype=bool)
    if len(member) == 0:
        return core
    n_nodes = int(node.max()) + 1
    label = _components(member, n_entries + node, n_entries + n_nodes)
    entry_label = label[:n_entries]
    linked = np.zeros(n_entries, dtype=bool)
    linked[member] = True
    members_of = np.bincount(entry_label[linked], minlength=int(label.max()) + 1)
    holds_rarest = np.zeros(len(members_of), dtype=bool)
    has = rarest >= 0
    holds_rarest[label[n_entries + rarest[has]]] = True
    # per group the best start component: most members, then the rarest entity's
    rank = np.where(linked, 2 * members_of[entry_label] + holds_rarest[entry_label], -1)
    order = np.lexsort((-rank, group))
    first = order[np.r_[0, np.flatnonzero(np.diff(group[order])) + 1]]
    start = np.full(int(group.max()) + 1, -1, dtype=np.int64)
    start[group[first]] = np.where(rank[first] >= 0, entry_label[first], -1)
    core = linked & (entry_label == start[group])
    return _cut_pendants(member, node, group, core, min_size)


def _components(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Connected component label of each of ``n`` nodes joined by the edges ``a - b``."""
    graph = sp.csr_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _cut_pendants(member: np.ndarray, node: np.ndarray, group: np.ndarray, core: np.ndarray,
                  min_size: int) -> np.ndarray:
    """``core`` less its pendant parts (:func:`pendant_free_cores`)."""
    n_entries = len(group)
    inside = core[member]
    member, node = member[inside], node[inside]
    sizes = np.bincount(group[core], minlength=int(group.max()) + 1)
    removed = np.flatnonzero(core & (sizes[group] >= min_size))
    if len(removed) == 0 or len(member) == 0:
        return core
    # one copy of its group's core per removed member, without that member
    order = np.argsort(group[member], kind="stable")
    member, node = member[order], node[order]
    bounds = np.searchsorted(group[member], np.arange(len(sizes) + 1))
    per_copy = np.diff(bounds)[group[removed]]
    copy = np.repeat(np.arange(len(removed)), per_copy)
    at = np.repeat(bounds[group[removed]], per_copy) + (
        np.arange(int(per_copy.sum())) - np.repeat(np.cumsum(per_copy) - per_copy, per_copy))
    kept = member[at] != removed[copy]
    copy, edge_member, edge_node = copy[kept], member[at][kept], node[at][kept]
    width = n_entries + int(node.max()) + 1
    ends, index = np.unique(np.concatenate([copy * width + edge_member,
                                            copy * width + n_entries + edge_node]),
                            return_inverse=True)
    label = _components(index[:len(copy)], index[len(copy):], len(ends))
    # per copy: the member nodes, their component and its member count
    nodes, first = np.unique(index[:len(copy)], return_index=True)
    node_copy, node_member, node_label = copy[first], edge_member[first], label[nodes]
    count = np.bincount(node_label, minlength=int(label.max()) + 1)
    largest = np.zeros(len(removed), dtype=np.int64)
    np.maximum.at(largest, node_copy, count[node_label])
    smaller = count[node_label] < largest[node_copy]
    # a member whose removal leaves a smaller part is a joint; a part holding a joint is not
    # a leaf (half of a chain), so it stays
    joint = np.zeros(n_entries, dtype=bool)
    joint[removed[np.unique(node_copy[smaller])]] = True
    holds_joint = np.zeros(len(count), dtype=bool)
    holds_joint[node_label[joint[node_member]]] = True
    out = core.copy()
    out[node_member[smaller & ~holds_joint[node_label]]] = False
    return out
