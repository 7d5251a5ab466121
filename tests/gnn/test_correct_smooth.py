import numpy as np
import pytest

from gnn.correct_smooth import (
    CorrectSmooth,
    normalized_adjacency,
    propagate,
    select_correct_smooth,
)
from gnn.evaluate import auroc


def _edges(pairs: list[tuple[int, int]]) -> np.ndarray:
    """Both directions of each undirected pair, as a 2 x E array."""
    src, dst = zip(*pairs, strict=True)
    return np.array([src + dst, dst + src])


# Two triangles joined by the edge 2-3; node 6 is isolated.
TWO_TRIANGLES = _edges([(0, 1), (1, 2), (0, 2), (2, 3), (3, 4), (4, 5), (3, 5)])


def test_normalized_adjacency_is_symmetric_degree_normalised_without_self_loops():
    edges = np.concatenate([TWO_TRIANGLES, [[0, 0, 1], [0, 1, 0]]], axis=1)  # self-loop + dupes
    adjacency = normalized_adjacency(edges, 7).toarray()
    assert np.allclose(adjacency, adjacency.T)
    assert np.allclose(np.diag(adjacency), 0)
    # degree(0) = 2, degree(2) = 3  ->  1 / sqrt(2 * 3)
    assert adjacency[0, 2] == pytest.approx(1 / np.sqrt(6))
    assert adjacency[0, 1] == pytest.approx(1 / 2)
    assert not adjacency[6].any()


def test_propagate_with_alpha_zero_is_the_identity_and_clamps_hold():
    adjacency = normalized_adjacency(TWO_TRIANGLES, 7)
    signal = np.arange(7, dtype=float)
    assert np.allclose(propagate(adjacency, signal, 0.0, 10), signal)
    out = propagate(adjacency, signal, 0.9, 10, clamp=(np.array([3]), np.array([-5.0])))
    assert out[3] == -5.0
    assert out[6] == pytest.approx(0.1 * 6)  # isolated: only the restart term remains


def test_smooth_spreads_training_labels_within_their_triangle():
    adjacency = normalized_adjacency(TWO_TRIANGLES, 7)
    prob = np.full(7, 0.5)
    train, y_train = np.array([0, 5]), np.array([1.0, 0.0])
    scores = CorrectSmooth(correct_alpha=0.0, smooth_alpha=0.9).smooth(
        adjacency, prob, train, y_train
    )
    assert scores[0] == 1.0 and scores[5] == 0.0
    # Nodes of equal degree compare by distance to the labels (S = D^-1/2 A D^-1/2 favours
    # high degree, so only same-degree pairs are ordered): 1 and 4 have degree 2, 2 and 3 three.
    assert scores[1] > scores[4] and scores[2] > scores[3]
    assert scores[6] == pytest.approx(0.05)  # isolated node decays towards 0: (1 - a) * 0.5


def test_correct_moves_neighbours_of_underpredicted_training_nodes_up():
    adjacency = normalized_adjacency(TWO_TRIANGLES, 7)
    prob = np.full(7, 0.2)
    train, y_train = np.array([0]), np.array([1.0])  # residual +0.8 at node 0
    corrected = CorrectSmooth(correct_alpha=0.8, scale=1.0).correct(adjacency, prob, train, y_train)
    assert corrected[0] == pytest.approx(1.0)  # training residual held fixed, scale 1
    assert corrected[1] > corrected[3] > corrected[5] > 0.2
    assert corrected[6] == pytest.approx(0.2)
    doubled = CorrectSmooth(correct_alpha=0.8, scale=2.0).correct(adjacency, prob, train, y_train)
    assert np.allclose(doubled - prob, 2 * (corrected - prob))


def test_select_picks_propagation_when_labels_follow_the_graph_and_beats_the_base_scores():
    rng = np.random.default_rng(0)
    # 20 cliques of 5; half of them abusive. Base scores are pure noise.
    pairs = [(c * 5 + i, c * 5 + j) for c in range(20) for i in range(5) for j in range(i + 1, 5)]
    adjacency = normalized_adjacency(_edges(pairs), 100)
    y = np.repeat(np.arange(20) % 2, 5).astype(float)
    prob = rng.random(100)
    order = rng.permutation(100)
    train, val = order[:40], order[40:70]
    settings, val_auc, scores = select_correct_smooth(
        adjacency, prob, train, y[train], val, y[val], auroc
    )
    assert val_auc > auroc(y[val], prob[val]) + 0.3
    assert settings.smooth_alpha > 0 or settings.correct_alpha > 0
    test = order[70:]
    assert auroc(y[test], scores[test]) > 0.9


def test_select_keeps_the_base_scores_when_the_graph_carries_no_signal():
    # Labels alternate along a path: neighbours always disagree, base scores are perfect.
    n = 60
    adjacency = normalized_adjacency(_edges([(i, i + 1) for i in range(n - 1)]), n)
    y = (np.arange(n) % 2).astype(float)
    prob = 0.3 + 0.4 * y
    train, val = np.arange(0, n, 3), np.arange(1, n, 3)
    settings, val_auc, scores = select_correct_smooth(
        adjacency, prob, train, y[train], val, y[val], auroc
    )
    assert val_auc == pytest.approx(1.0)
    assert auroc(y[val], scores[val]) == pytest.approx(1.0)


def test_select_rejects_an_empty_grid():
    adjacency = normalized_adjacency(TWO_TRIANGLES, 7)
    with pytest.raises(ValueError, match="grid"):
        select_correct_smooth(
            adjacency,
            np.full(7, 0.5),
            np.array([0]),
            np.array([1.0]),
            np.array([1, 2]),
            np.array([1.0, 0.0]),
            auroc,
            scales=(),
        )
