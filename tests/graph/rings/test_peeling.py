import numpy as np
import scipy.sparse as sp

from graph.rings.peeling import (
    fraudar_column_weights,
    peel_dense_blocks,
    peel_densest,
    peel_groups,
    pendant_free_cores,
)


def _camouflaged_block(seed: int = 0) -> tuple[sp.csr_matrix, set[int]]:
    """200 accounts x 300 entities: sparse background, a 10 x 8 full block (rows 0-9), and the
    block's rows also linking to popular background columns (camouflage)."""
    rng = np.random.default_rng(seed)
    dense = (rng.random((200, 300)) < 0.01).astype(float)
    dense[:, :8] = 0.0
    dense[:10, :8] = 1.0
    dense[:10, 8:] = 0.0
    popular = rng.choice(np.arange(8, 300), size=20, replace=False)
    dense[np.ix_(np.arange(10, 200), popular)] = rng.random((190, 20)) < 0.15
    dense[np.ix_(np.arange(10), popular[:5])] = 1.0
    return sp.csr_matrix(dense), set(range(10))


def test_column_weights_fall_with_degree():
    matrix = sp.csr_matrix(np.array([[1, 1], [0, 1], [0, 1]], dtype=float))
    weights = fraudar_column_weights(matrix)
    assert weights[0] > weights[1]
    assert np.isclose(weights[0], 1 / np.log(6))


def test_peeling_finds_the_camouflaged_block():
    matrix, block = _camouflaged_block()
    weighted = (matrix @ sp.diags(fraudar_column_weights(matrix))).tocsr()
    found = peel_densest(weighted)
    rows = set(found.rows.tolist())
    assert len(rows & block) / len(rows | block) >= 0.8
    assert set(range(8)) <= set(found.cols.tolist())


def test_dense_blocks_respect_size_bounds():
    matrix, block = _camouflaged_block(1)
    blocks = peel_dense_blocks(matrix, min_rows=3, max_rows=30, blocks_per_component=3,
                               hub_degree_cap=100)
    assert blocks and all(3 <= len(b.rows) <= 30 for b in blocks)
    best = max(len(set(b.rows) & block) / len(set(b.rows) | block) for b in blocks)
    assert best >= 0.8


def test_peel_groups_trims_camouflage_from_a_community():
    matrix, block = _camouflaged_block(2)
    community = np.arange(14)
    cores = peel_groups(matrix, [community], min_rows=3)
    assert len(cores) == 1
    assert set(cores[0].rows.tolist()) == block


def test_shared_columns_equals_slicing_the_columns_two_rows_use() -> None:
    from graph.rings.peeling import _shared_columns

    rng = np.random.default_rng(3)
    for _ in range(20):
        local = sp.random(12, 300, density=0.03, format="csr", random_state=rng)
        expected_cols = np.flatnonzero(np.asarray(local.getnnz(axis=0)) >= 2)
        sub, cols = _shared_columns(local)
        np.testing.assert_array_equal(cols, expected_cols)
        np.testing.assert_array_equal(sub.toarray(), local[:, expected_cols].toarray())


def _peel_each_group(matrix: sp.csr_matrix, groups: list[np.ndarray], min_rows: int,
                     hub_degree_cap: int | None) -> list:
    """The reference: each group's shared columns peeled alone by the heap loop."""
    from graph.rings.peeling import DenseBlock, _shared_columns

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


def test_peel_groups_batched_equals_the_heap_loop_per_group() -> None:
    rng = np.random.default_rng(5)
    compared = 0
    for trial in range(12):
        matrix = sp.random(300, 600, density=[0.005, 0.02, 0.05][trial % 3], format="csr",
                           random_state=trial)
        matrix.data[:] = 1.0
        matrix = sp.vstack([matrix, matrix[:30]]).tocsr()  # copied rows: ties of degree
        order = rng.permutation(matrix.shape[0])
        groups = [np.sort(order[start:start + size]) for start, size in
                  zip(range(0, 300, 15), rng.integers(1, 40, 20), strict=True)]
        cap = 25 if trial % 2 else None
        expected = _peel_each_group(matrix, groups, 3, cap)
        for max_cells in (1, 3000, 1 << 22):  # one group per batch .. all in one
            found = peel_groups(matrix, groups, 3, cap, max_cells=max_cells)
            assert [(b.rows.tolist(), b.cols.tolist(), b.density) for b in found] == [
                (b.rows.tolist(), b.cols.tolist(), b.density) for b in expected]
        compared += len(expected)
    assert compared > 50


def _edges(uses: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """(member entry, rare-entity node) edge arrays."""
    return np.array([m for m, _ in uses]), np.array([n for _, n in uses])


def test_pendant_free_core_cuts_a_household_beside_a_ring_not_the_ring() -> None:
    # group 0: a ring of six (entries 0-5) whose cards 0-5 are each used by four members in a
    # cycle, and a household (entries 6, 7) sharing its home IP (node 6) with ring member 0 and
    # a device (node 7) among itself; group 1: the same ring without the household
    ring = [(i, card) for card in range(6) for i in (card, (card + 1) % 6, (card + 2) % 6,
                                                        (card + 3) % 6)]
    household = [(0, 6), (6, 6), (7, 6), (6, 7), (7, 7)]
    alone = [(8 + i, 8 + card) for i, card in ring]
    member, node = _edges(ring + household + alone)
    group = np.array([0] * 8 + [1] * 6)
    core = pendant_free_cores(member, node, group, rarest=np.array([7, 8]))
    assert core.tolist() == [True] * 6 + [False, False] + [True] * 6


def test_pendant_free_core_starts_from_the_largest_component() -> None:
    # a pair on a very rare device (node 0, the rarest) beside four members tied in a cycle
    cycle = [(2, 1), (3, 1), (3, 2), (4, 2), (4, 3), (5, 3), (5, 4), (2, 4)]
    member, node = _edges([(0, 0), (1, 0), *cycle])
    core = pendant_free_cores(member, node, np.zeros(6, dtype=np.int64), rarest=np.array([0]))
    assert core.tolist() == [False, False, True, True, True, True]


def test_pendant_free_core_keeps_parts_of_equal_size_and_half_a_chain() -> None:
    # group 0: two pairs joined through member 0 (equal parts: both kept); group 1: a chain of
    # five (entries 5-9) through four entities: only its two ends hang off one member each
    pairs = [(0, 0), (1, 0), (2, 0), (0, 1), (3, 1), (4, 1)]
    chain = [(5 + i, 2 + j) for j in range(4) for i in (j, j + 1)]
    member, node = _edges(pairs + chain)
    group = np.array([0] * 5 + [1] * 5)
    core = pendant_free_cores(member, node, group, rarest=np.array([0, 2]))
    assert core.tolist() == [True] * 5 + [False, True, True, True, False]
    assert not pendant_free_cores(np.zeros(0), np.zeros(0), group, np.array([-1, -1])).any()
