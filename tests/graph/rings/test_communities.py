import numpy as np
import scipy.sparse as sp

from graph.rings.communities import components, group_rows, split_communities


def _cliques(sizes: list[int], bridge_weight: float) -> sp.csr_matrix:
    """Disjoint unit-weight cliques joined in a chain by one light bridge each."""
    n = sum(sizes)
    dense = np.zeros((n, n))
    start = 0
    for size in sizes:
        dense[start:start + size, start:start + size] = 1.0
        if start:
            dense[start - 1, start] = dense[start, start - 1] = bridge_weight
        start += size
    np.fill_diagonal(dense, 0.0)
    return sp.csr_matrix(dense)


def test_group_rows_groups_by_label():
    groups = group_rows(np.array([2, 0, 2, 1]))
    assert [g.tolist() for g in groups] == [[1], [3], [0, 2]]


def test_light_links_are_dropped_before_components():
    matrix = _cliques([4, 4], bridge_weight=0.1)
    assert len(components(matrix)) == 1
    assert sorted(len(c) for c in components(matrix, min_weight=0.5)) == [4, 4]


def test_giant_component_is_split_by_leiden_into_bounded_groups():
    matrix = _cliques([8] * 10, bridge_weight=1.0)
    groups = split_communities(matrix, min_size=3, max_size=20, seed=0)
    assert groups, "the 80-node component must be split, not dropped"
    assert all(3 <= len(g) <= 20 for g in groups)
    cliques = {tuple(range(i, i + 8)) for i in range(0, 80, 8)}
    assert sum(tuple(g.tolist()) in cliques for g in groups) >= 8


def test_small_groups_are_dropped():
    assert split_communities(_cliques([2, 2], 0.0), min_size=3, max_size=10) == []


def test_leiden_on_the_graph_of_communities_keeps_the_modularity_of_the_whole_graph():
    import igraph

    from graph.rings.communities import leiden_communities

    rng = np.random.default_rng(0)
    n = 60
    upper = sp.triu(sp.random(n, n, density=0.1, random_state=rng, format="csr"), k=1)
    graph = (upper + upper.T).tocsr()
    fine = np.arange(n) // 5  # 12 blocks of 5 nodes
    member = sp.csr_matrix((np.ones(n), (np.arange(n), fine)), shape=(n, 12))
    coarse = (member.T @ graph @ member).tocsr()
    merged = np.arange(12) // 3  # a coarser partition of the blocks: 4 groups

    def modularity(matrix: sp.csr_matrix, membership: np.ndarray) -> float:
        kept = sp.triu(matrix, k=0).tocoo()
        g = igraph.Graph(n=matrix.shape[0], edges=np.column_stack([kept.row, kept.col]))
        weights = np.where(kept.row == kept.col, kept.data / 2.0, kept.data)
        return g.modularity(membership.tolist(), weights=weights.tolist(), resolution=2.0)

    assert np.isclose(modularity(coarse, merged), modularity(graph, merged[fine]))
    parts = leiden_communities(coarse, resolution=2.0, seed=1, loops=True)
    assert sorted(np.concatenate(parts).tolist()) == list(range(12))


def test_leiden_leaves_isolated_rows_alone_and_partitions_the_rest_as_without_them():
    from graph.rings.communities import leiden_labels

    linked = _cliques([6, 5, 7], 0.2)  # three cliques, weakly chained
    n_linked, n_alone = linked.shape[0], 40
    order = np.random.default_rng(2).permutation(n_linked + n_alone)
    padded = sp.block_diag([linked, sp.csr_matrix((n_alone, n_alone))]).tocsr()
    padded = padded[order][:, order]  # isolated rows scattered among the linked ones
    labels = leiden_labels(padded, resolution=1.0, seed=3)
    alone = np.argsort(order)[n_linked:]  # where the isolated rows went
    assert sorted(set(labels.tolist())) == list(range(int(labels.max()) + 1))
    assert len(set(labels[alone].tolist())) == n_alone
    assert labels[alone].min() > np.delete(labels, alone).max()  # labelled after the others
    inside = np.sort(np.argsort(order)[:n_linked])  # the linked rows, in padded order
    by_itself = leiden_labels(padded[inside][:, inside], resolution=1.0, seed=3)
    assert labels[inside].tolist() == by_itself.tolist()  # as if the others were not there
    assert len(set(by_itself.tolist())) == 3
