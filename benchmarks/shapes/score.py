"""Scoring one ``abusenet run`` of a shapes world against its planted groups and look-alikes.

* member precision: the share of the accounts in reported rings (each counted once) that are
  abusive;
* a planted group is **found** when one reported ring holds at least :data:`FOUND_COVER` of its
  members at a member precision of at least :data:`RING_PRECISION`, and **found whole** when
  that ring holds at least :data:`WHOLE_COVER` of them;
* look-alike accounts in rings: per look-alike kind, its honest accounts inside reported rings
  (the accounts an analyst would chase for nothing);
* account AUROC / AUPRC on the hidden accounts only (those whose labels the run never saw).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

FOUND_COVER = 0.5
WHOLE_COVER = 0.8
RING_PRECISION = 0.5


def ring_precision(members: Iterable[str], abusive: set[str]) -> float:
    """Share of ``members`` that are abusive (nan for none)."""
    members = list(members)
    return float(np.mean([m in abusive for m in members])) if members else float("nan")


def group_coverage(rings: Sequence[Sequence[str]], group: Iterable[str],
                   abusive: set[str]) -> dict[str, float | bool | int]:
    """How well the best precise ring covers ``group``.

    Returns ``cover`` (the largest share of the group inside one reported ring whose member
    precision is at least :data:`RING_PRECISION`; 0 when none), ``touched`` (the largest share
    inside any ring, precise or not), ``ring`` (the index of the covering ring, -1 when none),
    ``pieces`` (how many reported rings hold any of its members), ``union`` (the share inside
    precise rings together: what the pieces hold), ``found`` and ``whole``.
    """
    group = set(group)
    cover, touched, best, pieces = 0.0, 0.0, -1, 0
    held: set[str] = set()
    for i, ring in enumerate(rings):
        inside = group.intersection(ring)
        share = len(inside) / len(group)
        touched = max(touched, share)
        pieces += bool(inside)
        if ring_precision(ring, abusive) >= RING_PRECISION:
            held |= inside
            if share > cover:
                cover, best = share, i
    return {"cover": cover, "touched": touched, "ring": best, "pieces": pieces,
            "union": len(held) / len(group), "found": cover >= FOUND_COVER,
            "whole": cover >= WHOLE_COVER}


def account_quality(scores: pd.Series, labels: pd.Series) -> dict[str, float | int]:
    """AUROC / AUPRC of ``scores`` (by account, missing = 0) on the accounts of ``labels``."""
    score = scores.reindex(labels.index).fillna(0.0).to_numpy(dtype=float)
    y = labels.to_numpy(dtype=int)
    missing = int(scores.reindex(labels.index).isna().sum())
    if y.min() == y.max():
        return {"auroc": float("nan"), "auprc": float("nan"), "n": len(y),
                "positives": int(y.sum()), "missing": missing}
    return {"auroc": float(roc_auc_score(y, score)),
            "auprc": float(average_precision_score(y, score)),
            "n": len(y), "positives": int(y.sum()), "missing": missing}


def score_run(rings: pd.DataFrame, scores: pd.Series, truth: pd.Series, hidden: pd.Index,
              groups: Sequence[Mapping], lookalikes: Sequence[Mapping]) -> dict:
    """The figures of one run.

    Parameters
    ----------
    rings:
        ``rings.parquet`` of the run (``members``, ``kind``, ``size``, ``surprise``...).
    scores:
        Account score by account id (``account_scores.parquet``).
    truth:
        1 / 0 by account id, every account of the world.
    hidden:
        The accounts whose labels the run did not get (AUROC / AUPRC are computed on them).
    groups, lookalikes:
        ``groups.json``'s entries: ``id``, ``kind``, ``members``.
    """
    abusive = set(truth.index[truth == 1])
    members = [list(m) for m in rings["members"]] if len(rings) else []
    inside = set().union(*members) if members else set()
    per_group = {}
    for group in groups:
        per_group[group["id"]] = {"kind": group["kind"], "size": len(group["members"]),
                                  **group_coverage(members, group["members"], abusive)}
    honest_inside = inside - abusive
    per_kind: dict[str, int] = {}
    for lookalike in lookalikes:
        count = len(honest_inside.intersection(lookalike["members"]))
        per_kind[lookalike["kind"]] = per_kind.get(lookalike["kind"], 0) + count
    found = [g for g in per_group.values() if g["found"]]
    described = []
    for i, ring in enumerate(members):
        row = rings.iloc[i]
        described.append({
            "size": len(ring), "kind": str(row.get("kind", "")),
            "surprise": float(row["surprise"]) if "surprise" in row else float("nan"),
            "score": float(row["score"]), "precision": ring_precision(ring, abusive),
            "groups": sorted(g["id"] for g in groups if set(g["members"]).intersection(ring)),
            "lookalikes": sorted({k["kind"] for k in lookalikes
                                  if honest_inside.intersection(ring).intersection(
                                      k["members"])})})
    return {
        "rings": len(members), "pairs": sum(len(m) == 2 for m in members),
        "ring_accounts": len(inside),
        "member_precision": ring_precision(inside, abusive),
        "groups": len(per_group), "found": len(found), "whole": sum(g["whole"] for g in found),
        "honest_in_rings": len(honest_inside), "lookalikes_in_rings": per_kind,
        "accounts": account_quality(scores, truth.reindex(hidden)),
        "per_group": per_group, "reported": described,
    }
