import numpy as np
import scipy.sparse as sp

from graph.rings.communities import (
    bridge_parts,
    components,
    group_rows,
    split_at_bridges,
    split_communities,
)


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


def test_groups_up_to_whole_up_to_are_kept_whole_beside_their_parts():
    matrix = _cliques([8] * 10, bridge_weight=1.0)
    split = split_communities(matrix, min_size=3, max_size=20, seed=0)
    both = split_communities(matrix, min_size=3, max_size=20, seed=0, whole_up_to=100)
    assert [g.tolist() for g in both if len(g) <= 20] == [g.tolist() for g in split]
    assert [g.tolist() for g in both if len(g) > 20] == [list(range(80))]
    capped = split_communities(matrix, min_size=3, max_size=20, seed=0, whole_up_to=79)
    assert max(len(g) for g in capped) <= 79


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


def _graph(links: list[tuple[int, int, float]], n: int) -> sp.csr_matrix:
    a, b, w = (np.array(x) for x in zip(*links, strict=True))
    upper = sp.csr_matrix((w, (a, b)), shape=(n, n))
    return (upper + upper.T).tocsr()


def _clique(rows: range, weight: float = 1.0) -> list[tuple[int, int, float]]:
    return [(a, b, weight) for a in rows for b in rows if a < b]


def test_two_rings_tied_by_one_link_are_split_there_a_ring_and_a_pendant_are_not():
    # rows 0-4 a clique, 5-9 a cycle, tied by the link 4-5; 10-13 a clique with a pendant
    # pair 14-15 hanging off 13; 16-21 two triangles sharing row 18 (a joint, no bridge)
    cycle = [(5 + i, 5 + (i + 1) % 5, 1.0) for i in range(5)]
    links = (_clique(range(5)) + cycle + [(4, 5, 1.0)] + _clique(range(10, 14))
             + [(13, 14, 1.0), (14, 15, 1.0)] + _clique(range(16, 19)) + _clique(range(18, 21)))
    matrix = _graph(links, 21)
    groups = components(matrix, 0.5)
    groups = [g for g in groups if len(g) >= 3]
    parts = split_at_bridges(matrix, groups, min_size=3, min_weight=0.5)
    assert [p.tolist() for p in parts] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9],
                                          list(range(10, 16)), list(range(16, 21))]


def test_bridges_are_those_of_the_lighter_links_a_heavier_component_was_found_at():
    # a cycle of six whose one light link (0-5) a component weight above it opens: at that
    # weight every link is a bridge, at the communities' weight none is
    links = [(i, i + 1, 1.0) for i in range(5)] + [(0, 5, 0.4)] + _clique(range(6, 10))
    links += [(5, 6, 1.0)]  # and a clique of four tied to it by one link
    matrix = _graph(links, 10)
    (group,) = components(matrix, 0.5)
    parts = split_at_bridges(matrix, [group], min_size=3, min_weight=0.3)
    assert [p.tolist() for p in parts] == [list(range(6)), list(range(6, 10))]
    # at the component's own weight the path's rows are parts of one: a single part, whole
    opened = split_at_bridges(matrix, [group], min_size=3, min_weight=0.5)
    assert [p.tolist() for p in opened] == [list(range(10))]


def test_bridge_parts_keeps_a_pair_tied_to_a_ring_by_one_link_a_part_of_its_own():
    # a pair 0-1 tied to the clique 2-5 by the link 0-2 (its own link 0-1 is a bridge too);
    # 6-9 a chain of two pairs; 10-14 a clique with one pendant row 15 (no part of two)
    links = ([(0, 1, 1.0), (0, 2, 1.0)] + _clique(range(2, 6)) + [(6, 7, 1.0), (7, 8, 1.0),
             (8, 9, 1.0)] + _clique(range(10, 15)) + [(14, 15, 1.0), (0, 6, 0.2)])
    matrix = _graph(links, 16)
    groups = [np.arange(6), np.arange(6, 10), np.arange(10, 16), np.arange(1, 6),
              np.arange(10)]
    found = bridge_parts(matrix, groups, min_part=2, min_weight=0.3)
    as_lists = {g: [p.tolist() for p in parts] for g, parts in found.items()}
    # groups may overlap: each is read on its own links (the light link 0-6 is none)
    assert as_lists == {0: [[0, 1], [2, 3, 4, 5]], 1: [[6, 7], [8, 9]],
                        4: [[0, 1], [2, 3, 4, 5], [6, 7], [8, 9]]}
    # the old rule cuts every bridge: the pair falls apart into single rows, nothing splits
    assert [g.tolist() for g in split_at_bridges(matrix, groups[:1], 3, 0.3)] == [list(range(6))]
