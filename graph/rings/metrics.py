"""Ring-level quality figures.

Definitions (``J(A, B) = |A & B| / |A | B|``, the Jaccard index of two member sets):

* a predicted ring *matches* a true ring when ``J >= threshold`` (0.5 by default);
* ``recovered`` = the fraction of true rings whose best-matching predicted ring (the one with the
  highest ``J``, among all predicted rings, ranked or not) matches it;
* ``top_precision`` = among the ``k`` highest-scored predicted rings (``k`` = the number of true
  rings unless given; fewer when fewer rings were predicted), the fraction that match some true
  ring. Two predicted rings may match the same true ring; both then count, so callers should
  suppress near-duplicate predictions first (``gnn.rings.score_rings`` does).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp


def jaccard_matrix(
    predicted: Sequence[Sequence[str]], truth: Sequence[Sequence[str]]
) -> sp.coo_matrix:
    """Sparse predicted x true matrix of member-set Jaccard indices (only overlapping pairs)."""
    ids = pd.Index(pd.unique(np.concatenate(
        [np.asarray(list(m), dtype=object) for m in [*predicted, *truth]] or [np.array([])]
    )))
    p, t = _membership(predicted, ids), _membership(truth, ids)
    overlap = (p @ t.T).tocoo()
    p_size = np.asarray(p.sum(axis=1)).ravel()
    t_size = np.asarray(t.sum(axis=1)).ravel()
    union = p_size[overlap.row] + t_size[overlap.col] - overlap.data
    return sp.coo_matrix((overlap.data / union, (overlap.row, overlap.col)), shape=overlap.shape)


def rings_recovered(
    predicted: Sequence[Sequence[str]], truth: Sequence[Sequence[str]], threshold: float = 0.5
) -> float:
    """Fraction of true rings matched (``J >= threshold``) by their best predicted ring."""
    if len(truth) == 0:
        return float("nan")
    best = _best(jaccard_matrix(predicted, truth), axis=0, n=len(truth))
    return float((best >= threshold).mean())


def top_precision(
    ranked: Sequence[Sequence[str]],
    truth: Sequence[Sequence[str]],
    k: int | None = None,
    threshold: float = 0.5,
) -> float:
    """Fraction of the first ``k`` ranked predictions that match a true ring (``J >= threshold``).

    ``ranked`` must be ordered best first; ``k`` defaults to ``len(truth)``.
    """
    k = len(truth) if k is None else k
    top = list(ranked[:k])
    if not top:
        return float("nan")
    best = _best(jaccard_matrix(top, truth), axis=1, n=len(top))
    return float((best >= threshold).mean())


def ring_metrics(
    rings: pd.DataFrame, truth: Sequence[Sequence[str]], k: int | None = None,
    threshold: float = 0.5,
) -> dict[str, float]:
    """``recovered`` and ``top_precision`` of a scored ring table (``members``, ``score``)."""
    ranked = rings.sort_values("score", ascending=False, kind="stable")["members"].tolist()
    return {
        "recovered": rings_recovered(ranked, truth, threshold),
        "top_precision": top_precision(ranked, truth, k, threshold),
        "n_predicted": float(len(ranked)),
        "n_true": float(len(truth)),
    }


def _membership(groups: Sequence[Sequence[str]], ids: pd.Index) -> sp.csr_matrix:
    """Binary groups x ids matrix (duplicate members counted once)."""
    rows = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
    cols = ids.get_indexer(np.asarray([m for g in groups for m in g], dtype=object))
    matrix = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(groups), len(ids)))
    matrix.data[:] = 1.0
    return matrix


def _best(jaccard: sp.coo_matrix, axis: int, n: int) -> np.ndarray:
    """Largest Jaccard per column (axis=0) or row (axis=1), 0 where nothing overlaps."""
    best = np.zeros(n)
    index = jaccard.col if axis == 0 else jaccard.row
    np.maximum.at(best, index, jaccard.data)
    return best
