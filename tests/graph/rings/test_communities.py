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
