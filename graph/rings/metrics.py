"""Ring-level quality figures.

Definitions (``J(A, B) = |A & B| / |A | B|``, the Jaccard index of two member sets):

* a predicted ring *matches* a true ring when ``J >= threshold`` (0.5 by default);
* ``recovered`` = the fraction of true rings whose best-matching predicted ring (the one with the
  highest ``J``, among all predicted rings, ranked or not) matches it;
* ``top_precision`` = among the ``k`` highest-scored predicted rings (``k`` = the number of true
  rings unless given; fewer when fewer rings were predicted), the fraction that match some true
  ring. Two predicted rings may match the same true ring; both then count, so callers should
  suppress near-duplicate predictions first (``gnn.rings.score_rings`` does);
* against account labels (no true rings), a ring is *abusive* when at least half of its
  labelled members are labelled abusive, and *unknown* when none of its members is labelled
  (:func:`ring_label_outcomes`);
* for true pairs (rings of two, :func:`pair_metrics`): ``recovered`` as above (a reported ring
  of three or four holding the pair matches it), ``exact`` = the fraction of true pairs reported
  as a pair of their own, and, over the reported pairs, the share whose two accounts are both
  abusive (``precision``) and the count of which neither is (``honest``).
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


def pair_metrics(
    reported: Sequence[Sequence[str]], pairs: Sequence[Sequence[str]], abusive: set[str],
    threshold: float = 0.5,
) -> dict[str, float]:
    """Recall of the true ``pairs`` among the ``reported`` rings, and the reported pairs' quality.

    Parameters
    ----------
    reported
        Member ids of every reported ring (of any size).
    pairs
        Member ids of each true pair.
    abusive
        Ids of the abusive accounts (the truth, not the labels).
    threshold
        Jaccard a reported ring needs to match a pair (as :func:`rings_recovered`).

    Returns
    -------
    dict
        ``recovered``, ``exact`` (reported as a pair of their own), ``n_true``, ``reported_pairs``
        (reported rings of two), ``precision`` (of those, both accounts abusive; NaN when none)
        and ``honest`` (neither abusive).
    """
    two = [frozenset(map(str, m)) for m in reported if len(set(m)) == 2]
    both = sum(m <= abusive for m in two)
    honest = sum(not m & abusive for m in two)
    true = [frozenset(map(str, m)) for m in pairs]
    reported_two = set(two)
    return {
        "recovered": rings_recovered(reported, pairs, threshold),
        "exact": float(np.mean([m in reported_two for m in true])) if true else float("nan"),
        "n_true": float(len(true)),
        "reported_pairs": float(len(two)),
        "precision": both / len(two) if two else float("nan"),
        "honest": float(honest),
    }


def ring_label_outcomes(
    rings: pd.DataFrame, labels: pd.DataFrame, abusive_share: float = 0.5
) -> pd.DataFrame:
    """Whether each ring is abusive by its labelled members.

    Parameters
    ----------
    rings
        ``ring_id``, ``score`` and ``members`` (a list of account ids per ring).
    labels
        ``account_id, label`` (1 = abusive, 0 = benign); accounts not in it are unlabelled.
    abusive_share
        A ring is abusive when at least this share of its labelled members is abusive.

    Returns
    -------
    pandas.DataFrame
        One row per ring, in the order given: ``ring_id``, ``score``, ``labelled`` (members with
        a label), ``abusive_members`` and ``abusive`` (1.0 / 0.0; NaN when no member is
        labelled: unknown).

    Raises
    ------
    ValueError
        If a column is missing, or an account is labelled twice with different labels.
    """
    for name, table, needed in (("rings", rings, ("ring_id", "score", "members")),
                                ("labels", labels, ("account_id", "label"))):
        missing = [c for c in needed if c not in table]
        if missing:
            raise ValueError(f"ring_label_outcomes: {name} lacks column(s) {missing}")
    known = labels[["account_id", "label"]].drop_duplicates()
    clash = known["account_id"][known["account_id"].duplicated()]
    if len(clash):
        raise ValueError(f"ring_label_outcomes: account {clash.iloc[0]!r} has two labels")
    label = known.set_index(known["account_id"].astype(str))["label"]
    exploded = rings[["ring_id", "members"]].explode("members")
    member_label = exploded["members"].astype(str).map(label)
    per_ring = pd.DataFrame({"ring_id": exploded["ring_id"], "label": member_label}).groupby(
        "ring_id", sort=False)["label"].agg(["count", "sum"])
    per_ring = per_ring.reindex(rings["ring_id"]).fillna(0.0)
    labelled = per_ring["count"].to_numpy(np.int64)
    abusive_members = per_ring["sum"].to_numpy(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        abusive = np.where(labelled > 0,
                           (abusive_members >= abusive_share * labelled).astype(float), np.nan)
    return pd.DataFrame({
        "ring_id": rings["ring_id"].to_numpy(),
        "score": rings["score"].to_numpy(np.float64),
        "labelled": labelled,
        "abusive_members": abusive_members,
        "abusive": abusive,
    })


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
