"""Correct & Smooth (Huang et al., 2020): label propagation on top of a model's predictions.

Post-processing for binary node scores on a static graph, using training labels only:

* **correct**: the training residuals ``y - p`` are spread over the graph
  (``E <- (1 - a) E0 + a S E``, training residuals held fixed at every step) and added to the
  predictions with a fixed ``scale`` (the paper's autoscale is degenerate with one score column:
  it would keep only the sign of each node's error);
* **smooth**: the corrected predictions, with training nodes clamped to their labels, are
  propagated the same way (``G <- (1 - a) G0 + a S G``).

``S = D^-1/2 A D^-1/2`` is the symmetrically normalised adjacency. Both steps are linear, so
one score column is enough for two classes. Written with ``scipy.sparse`` (PyG's
``CorrectAndSmooth`` needs ``torch-sparse``, which this project does not install).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import product

import numpy as np
import scipy.sparse as sp


def normalized_adjacency(edge_index: np.ndarray, num_nodes: int) -> sp.csr_matrix:
    """``D^-1/2 A D^-1/2`` of the graph ``edge_index`` (2 x E, both directions listed).

    Duplicate edges are merged and self-loops dropped; isolated nodes get an all-zero row.
    """
    src, dst = np.asarray(edge_index)
    keep = src != dst
    adjacency = sp.coo_matrix(
        (np.ones(keep.sum()), (src[keep], dst[keep])), shape=(num_nodes, num_nodes)
    ).tocsr()
    adjacency.data[:] = 1.0
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    inv_sqrt = np.zeros(num_nodes)
    inv_sqrt[degree > 0] = degree[degree > 0] ** -0.5
    scaling = sp.diags(inv_sqrt)
    return (scaling @ adjacency @ scaling).tocsr()


def propagate(
    adjacency: sp.csr_matrix,
    signal: np.ndarray,
    alpha: float,
    num_layers: int,
    clamp: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """``num_layers`` steps of ``x <- (1 - alpha) x0 + alpha S x`` from ``x0 = signal``.

    ``clamp = (nodes, values)`` resets those nodes to those values after every step.
    """
    start = np.asarray(signal, dtype=np.float64)
    x = start.copy()
    for _ in range(num_layers):
        x = (1 - alpha) * start + alpha * (adjacency @ x)
        if clamp is not None:
            x[clamp[0]] = clamp[1]
    return x


@dataclass(frozen=True)
class CorrectSmooth:
    """Correct & Smooth settings for binary scores.

    ``correct_alpha = 0`` or ``scale = 0`` skips the correct step (training residuals stay on
    the training nodes); ``smooth_alpha = 0`` skips the smooth step.
    """

    correct_alpha: float = 0.8
    smooth_alpha: float = 0.8
    scale: float = 1.0
    num_layers: int = 50

    def correct(
        self, adjacency: sp.csr_matrix, prob: np.ndarray, train: np.ndarray, y_train: np.ndarray
    ) -> np.ndarray:
        """Predictions plus ``scale`` x the propagated training residuals."""
        residual = np.zeros(len(prob))
        residual[train] = np.asarray(y_train, dtype=np.float64) - prob[train]
        spread = propagate(
            adjacency, residual, self.correct_alpha, self.num_layers, (train, residual[train])
        )
        return prob + self.scale * spread

    def smooth(
        self, adjacency: sp.csr_matrix, prob: np.ndarray, train: np.ndarray, y_train: np.ndarray
    ) -> np.ndarray:
        """Predictions with training nodes set to their labels, propagated over the graph."""
        start = np.asarray(prob, dtype=np.float64).copy()
        labels = np.asarray(y_train, dtype=np.float64)
        start[train] = labels
        return propagate(adjacency, start, self.smooth_alpha, self.num_layers, (train, labels))

    def __call__(
        self, adjacency: sp.csr_matrix, prob: np.ndarray, train: np.ndarray, y_train: np.ndarray
    ) -> np.ndarray:
        """Correct, then smooth: scores for every node (training nodes end at their labels)."""
        return self.smooth(adjacency, self.correct(adjacency, prob, train, y_train), train, y_train)


def select_correct_smooth(
    adjacency: sp.csr_matrix,
    prob: np.ndarray,
    train: np.ndarray,
    y_train: np.ndarray,
    val: np.ndarray,
    y_val: np.ndarray,
    metric: Callable[[np.ndarray, np.ndarray], float],
    correct_alphas: tuple[float, ...] = (0.0, 0.5, 0.8, 0.95),
    smooth_alphas: tuple[float, ...] = (0.0, 0.5, 0.8, 0.95),
    scales: tuple[float, ...] = (0.5, 1.0, 2.0),
    num_layers: int = 50,
) -> tuple[CorrectSmooth, float, np.ndarray]:
    """The grid point with the best ``metric(y_val, scores[val])`` (validation labels only).

    The grid includes the identity (both alphas 0), so the result is never worse on validation
    than ``prob`` itself. Returns the settings, their validation metric and their scores.
    """
    best: tuple[CorrectSmooth, float, np.ndarray] | None = None
    for correct_alpha, scale in product(correct_alphas, scales):
        settings = CorrectSmooth(correct_alpha, 0.0, scale, num_layers)
        corrected = settings.correct(adjacency, prob, train, y_train)
        for smooth_alpha in smooth_alphas:
            settings = CorrectSmooth(correct_alpha, smooth_alpha, scale, num_layers)
            scores = settings.smooth(adjacency, corrected, train, y_train)
            value = float(metric(y_val, scores[val]))
            if best is None or value > best[1]:
                best = (settings, value, scores)
    if best is None:
        raise ValueError("the grid is empty")
    return best
