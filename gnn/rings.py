"""Ring scoring: each candidate's members' account scores pooled with its structure.

A ring's ``structure_score`` (no labels needed) is a weighted mean of its structure features
(:data:`STRUCTURE_WEIGHTS`). With account scores, ``member_score`` pools the members' scores
(half their mean, half the mean of the top ``top_k``), and the ring score is
``account_weight * member_score + (1 - account_weight) * structure_score``; members without an
account score count as 0. Without account scores (no labels) the ring score is a *structure
score*, not a probability: the ring's significance, its null-model surprise ``s``
(:mod:`graph.rings.null_model`) as ``s / (s + SURPRISE_HALF)``, 0 for ``s <= 0``
(:func:`unlabelled_scores`).

Then, best first, two passes make the ranking list each group of accounts once and whole:

* a *fragment*, a ring with at least ``fragment_share`` of its members inside one better ring
  that is not itself a fragment, has its score multiplied by ``fragment_factor`` (so a dense
  core of six cards-testing accounts ranks below the 15-account ring it belongs to, and a
  repeated sub-cycle below its cycle); it is demoted, not dropped, so it stays in the table;
* a ring overlapping a better one at Jaccard >= ``nms_jaccard`` is dropped (non-maximum
  suppression).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from graph.rings.candidates import STRUCTURE_FEATURES, RingCandidate

#: Weights of the structure features in ``structure_score`` (they sum to 1). ``size_prior`` is
#: ``log(size) / log(SIZE_REFERENCE)`` clipped to [0, 1]. Chosen among 0/1 weights of every
#: feature by the top-ring precision on training rings only (the labelled rings of a generated
#: 10k world and the training half of AMLSim, seed 0); density, sharing, exclusivity and
#: synchrony did not help there and are reported, not scored.
STRUCTURE_WEIGHTS: dict[str, float] = {
    "internal_flow": 1 / 3,
    "depth": 1 / 3,
    "size_prior": 1 / 3,
}
#: Ring size at which ``size_prior`` reaches 1 (the default ``RingConfig.max_size``).
SIZE_REFERENCE = 50
#: Surprise at which a ring's significance is 0.5. Ranking by significance alone was chosen over
#: the weighted structure features, density, and their means on training rings only (a generated
#: 20k world, seed 7: top-65 precision 0.80 against 0.45 for the structure features and 0.31
#: with density; the AMLSim training rings, seed 0, where nothing ranked flow rings without
#: labels: 0.00-0.06). See benchmarks/README.md, "Rings on real data".
SURPRISE_HALF = 10.0

#: Columns of the ring table, in order (the first five are the ``rings.parquet`` contract).
RING_COLUMNS = (
    "ring_id",
    "score",
    "size",
    "members",
    "evidence",
    "kind",
    "structure_score",
    "member_score",
    *(f for f in STRUCTURE_FEATURES if f != "size"),
)


def size_prior(size: np.ndarray | float) -> np.ndarray:
    """``log(size) / log(SIZE_REFERENCE)`` clipped to [0, 1]: larger groups are less likely to
    be a household or a few colleagues."""
    return np.clip(np.log(np.maximum(size, 1.0)) / np.log(SIZE_REFERENCE), 0.0, 1.0)


def structure_scores(candidates: Sequence[RingCandidate]) -> np.ndarray:
    """Label-free score in [0, 1] of each candidate from its structure features."""
    features = {
        "size_prior": size_prior(np.array([len(c.members) for c in candidates], np.float64)),
        **{
            f: np.array([c.features.get(f, 0.0) for c in candidates], np.float64)
            for f in STRUCTURE_WEIGHTS
            if f != "size_prior"
        },
    }
    return sum(w * features[f] for f, w in STRUCTURE_WEIGHTS.items())


def significance(surprise: np.ndarray) -> np.ndarray:
    """Significance in [0, 1) of a null-model surprise ``s``: ``s / (s + SURPRISE_HALF)``."""
    s = np.maximum(np.asarray(surprise, np.float64), 0.0)
    return s / (s + SURPRISE_HALF)


def unlabelled_scores(candidates: Sequence[RingCandidate]) -> np.ndarray:
    """Structure score of each candidate without labels: its :func:`significance`."""
    return significance(np.array([c.features.get("surprise", 0.0) for c in candidates]))


def member_scores(
    candidates: Sequence[RingCandidate], account_scores: pd.DataFrame, top_k: int = 3
) -> np.ndarray:
    """Pooled account score of each candidate: mean of (members' mean, mean of their top k)."""
    lookup = account_scores.drop_duplicates("account_id").set_index("account_id")["score"]
    sizes = np.array([len(c.members) for c in candidates], dtype=np.int64)
    members = pd.Index([m for c in candidates for m in c.members])
    table = pd.DataFrame(
        {
            "cand": np.repeat(np.arange(len(candidates)), sizes),
            "score": lookup.reindex(members).fillna(0.0).to_numpy(np.float64),
        }
    ).sort_values(["cand", "score"], ascending=[True, False], kind="stable")
    top = table[table.groupby("cand").cumcount().to_numpy() < top_k]
    mean = table.groupby("cand")["score"].mean().reindex(range(len(candidates)), fill_value=0.0)
    top_mean = top.groupby("cand")["score"].mean().reindex(range(len(candidates)), fill_value=0.0)
    return 0.5 * mean.to_numpy() + 0.5 * top_mean.to_numpy()


def score_rings(
    candidates: Sequence[RingCandidate],
    snapshot: object | None = None,
    account_scores: pd.DataFrame | None = None,
    account_weight: float = 0.7,
    top_k: int = 3,
    nms_jaccard: float = 0.5,
    fragment_share: float = 0.8,
    fragment_factor: float = 0.5,
) -> pd.DataFrame:
    """Score and rank candidate rings.

    Parameters
    ----------
    candidates
        From :func:`graph.rings.candidates.find_ring_candidates`.
    snapshot
        The snapshot the candidates come from; the structure is already in the candidates'
        features, so it is accepted for interface stability and not read.
    account_scores
        ``account_id, score`` (higher = riskier, in [0, 1]); None ranks by structure alone
        (:func:`unlabelled_scores`: significance).
    account_weight
        Share of the pooled member score in the ring score.
    top_k
        How many of the highest member scores the pooling averages.
    nms_jaccard
        A ring overlapping a higher-scored one at least this much (member Jaccard) is dropped;
        1.0 keeps every candidate.
    fragment_share
        A ring with at least this share of its members inside one better, non-fragment ring is
        a fragment of it; above 1.0 nothing is.
    fragment_factor
        A fragment's score is multiplied by this (in [0, 1]).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`RING_COLUMNS`, best ring first: ``ring_id``, ``score`` in [0, 1],
        ``size``, ``members`` and ``evidence`` (lists of str), ``kind``, ``structure_score``,
        ``member_score`` (NaN without account scores) and the structure features.

    Examples
    --------
    >>> rings = score_rings(find_ring_candidates(snap), snap, scores)   # doctest: +SKIP
    >>> rings.head(10)[["ring_id", "score", "size", "evidence"]]        # doctest: +SKIP
    """
    if not candidates:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in RING_COLUMNS})
    structure = structure_scores(candidates)
    if account_scores is None:
        pooled = np.full(len(candidates), np.nan)
        score = unlabelled_scores(candidates)
    else:
        pooled = member_scores(candidates, account_scores, top_k)
        score = account_weight * pooled + (1.0 - account_weight) * structure
    table = pd.DataFrame(
        {
            "ring_id": [c.ring_id for c in candidates],
            "score": np.clip(score, 0.0, 1.0),
            "size": [len(c.members) for c in candidates],
            "members": [list(c.members) for c in candidates],
            "evidence": [list(c.evidence) for c in candidates],
            "kind": [c.kind for c in candidates],
            "structure_score": structure,
            "member_score": pooled,
            **{
                f: [c.features.get(f, 0.0) for c in candidates]
                for f in STRUCTURE_FEATURES
                if f != "size"
            },
        }
    )
    if not 0.0 <= fragment_factor <= 1.0:
        raise ValueError(f"score_rings: fragment_factor must be in [0, 1], got {fragment_factor}")
    table = _ranked(table).reset_index(drop=True)
    if fragment_share > 1.0 and nms_jaccard >= 1.0:
        return table[list(RING_COLUMNS)]
    overlap, sizes = _overlaps(table["members"].tolist())
    if fragment_share <= 1.0:
        fragment = _fragments(overlap, sizes, fragment_share)
        table.loc[fragment, "score"] *= fragment_factor
        order = _ranked(table).index.to_numpy()  # new ranking as positions in the old one
        table = table.iloc[order].reset_index(drop=True)
        overlap, sizes = overlap[order][:, order].tocsr(), sizes[order]
    if nms_jaccard < 1.0:
        table = table[_suppress_overlaps(overlap, sizes, nms_jaccard)]
    return table.reset_index(drop=True)[list(RING_COLUMNS)]


def _ranked(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` best first (ties by ring id), keeping its index."""
    return table.sort_values(["score", "ring_id"], ascending=[False, True], kind="stable")


def _overlaps(ranked: list[list[str]]) -> tuple[sp.csr_matrix, np.ndarray]:
    """Rings x rings shared-member counts and the ring sizes."""
    ids, codes = np.unique(
        np.concatenate([np.asarray(m, dtype=object) for m in ranked]), return_inverse=True
    )
    sizes = np.array([len(m) for m in ranked])
    rows = np.repeat(np.arange(len(ranked)), sizes)
    member = sp.csr_matrix((np.ones(len(codes)), (rows, codes)), shape=(len(ranked), len(ids)))
    return (member @ member.T).tocsr(), sizes


def _fragments(overlap: sp.csr_matrix, sizes: np.ndarray, share: float) -> np.ndarray:
    """Mask of rings (best first; ``overlap`` and ``sizes`` from :func:`_overlaps`) with at
    least ``share`` of their members inside one better ring that is not a fragment itself."""
    fragment = np.zeros(len(sizes), dtype=bool)
    for i in range(len(sizes)):
        start, stop = overlap.indptr[i], overlap.indptr[i + 1]
        others, common = overlap.indices[start:stop], overlap.data[start:stop]
        inside = (others < i) & ~fragment[others] & (common >= share * sizes[i])
        fragment[i] = inside.any()
    return fragment


def _suppress_overlaps(overlap: sp.csr_matrix, sizes: np.ndarray, nms_jaccard: float
                       ) -> np.ndarray:
    """Keep-mask of rings (best first; ``overlap`` and ``sizes`` from :func:`_overlaps`) not
    overlapping a kept better ring at ``nms_jaccard``."""
    keep = np.zeros(len(sizes), dtype=bool)
    for i in range(len(sizes)):
        start, stop = overlap.indptr[i], overlap.indptr[i + 1]
        others, common = overlap.indices[start:stop], overlap.data[start:stop]
        jaccard = common / (sizes[i] + sizes[others] - common)
        clash = (others < i) & keep[others] & (jaccard >= nms_jaccard)
        keep[i] = not clash.any()
    return keep


def assign_rings(account_scores: pd.DataFrame, rings: pd.DataFrame) -> pd.DataFrame:
    """Add ``ring_id``: each account's highest-scored ring, or null when it is in none.

    Parameters
    ----------
    account_scores
        ``account_id, score`` (any further columns are kept).
    rings
        A :func:`score_rings` table (``ring_id``, ``score``, ``members``).

    Returns
    -------
    pandas.DataFrame
        A copy of ``account_scores`` with a ``ring_id`` column (str or None).
    """
    out = account_scores.drop(columns=["ring_id"], errors="ignore").copy()
    if rings.empty:
        out["ring_id"] = None
        return out
    membership = (
        rings[["ring_id", "score", "members"]]
        .explode("members")
        .rename(columns={"members": "account_id"})
        .sort_values(["score", "ring_id"], ascending=[False, True])
        .drop_duplicates("account_id")
        .set_index("account_id")["ring_id"]
    )
    ring_id = out["account_id"].astype(str).map(membership)
    out["ring_id"] = ring_id.astype(object).where(ring_id.notna(), None)
    return out
