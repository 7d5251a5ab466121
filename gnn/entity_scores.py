"""Risk of linked entities (devices, IPs, payment methods): pooled from the risk of their
accounts, and the one ``entity_scores`` table that says which way each score was made."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import HeteroData

#: ``method`` of a score learned by a model trained on that entity type's own labels.
SUPERVISED = "supervised"
#: ``method`` of a score pooled from the scores of the entity's accounts.
POOLED = "pooled"
#: Columns of the combined entity scores table, in order.
ENTITY_SCORE_COLUMNS = ("node_type", "entity_id", "score", "method")


def entity_scores_from_accounts(
    data: HeteroData,
    account_scores: np.ndarray,
    account_type: str = "Account",
    prior_weight: float = 1.0,
) -> pd.DataFrame:
    """Score every non-account node by the calibrated scores of the accounts linked to it.

    An entity's score is the shrunk mean of its distinct linked accounts' scores,
    ``(sum of scores + prior * prior_weight) / (linked accounts + prior_weight)`` with ``prior`` =
    the mean account score. A device used by three accounts that all score 0.9 scores about 0.7
    or more; a carrier-NAT IP shared by thousands of mostly benign accounts stays near their mean,
    however many risky accounts also pass through it; an entity with no linked account scores the
    prior. The scores stay in [0, 1] and inherit the accounts' calibration.

    Parameters
    ----------
    data
        The graph with ``node_ids`` per node type.
    account_scores
        Calibrated score per account row of ``data``.
    account_type
        The account node type.
    prior_weight
        Pseudo-count of the prior (larger = more shrinkage for rarely shared entities).

    Returns
    -------
    pd.DataFrame
        ``node_type`` str, ``entity_id`` str, ``score`` float.
    """
    # a copy: the scores may be read-only (read from Parquet), which torch warns about
    scores = torch.from_numpy(np.array(account_scores, dtype=np.float64))
    prior = float(scores.mean()) if len(scores) else 0.0
    frames = []
    for node_type in data.node_types:
        if node_type == account_type:
            continue
        num = int(data[node_type].num_nodes)
        pairs = []
        for src, _, dst in data.edge_types:
            edge_index = data[(src, _, dst)].edge_index
            if src == account_type and dst == node_type:
                pairs.append(edge_index)
            elif src == node_type and dst == account_type:
                pairs.append(edge_index.flip(0))
        total = torch.zeros(num, dtype=torch.float64)
        count = torch.zeros(num, dtype=torch.float64)
        if pairs:
            links = torch.unique(torch.cat(pairs, dim=1), dim=1)
            total.index_add_(0, links[1], scores[links[0]])
            count.index_add_(0, links[1], torch.ones(links.size(1), dtype=torch.float64))
        score = (total + prior * prior_weight) / (count + prior_weight)
        frames.append(
            pd.DataFrame(
                {
                    "node_type": node_type,
                    "entity_id": np.asarray(data[node_type].node_ids, dtype=object),
                    "score": score.numpy(),
                }
            )
        )
    if not frames:
        return pd.DataFrame({"node_type": [], "entity_id": [], "score": []})
    return pd.concat(frames, ignore_index=True)


def combine_entity_scores(
    pooled: pd.DataFrame, supervised: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The entity scores table: supervised scores where a type has them, pooled ones elsewhere.

    Every entity type scored by ``supervised`` takes all its rows from there (``method`` =
    ``"supervised"``); every other type keeps its pooled rows (``method`` = ``"pooled"``).
    The two never mix within a type, so a type's scores are comparable with each other.

    Parameters
    ----------
    pooled
        ``node_type, entity_id, score`` from :func:`entity_scores_from_accounts`.
    supervised
        ``node_type, entity_id, score`` from :meth:`gnn.entities.EntityRiskModel.score_entities`,
        or ``None``.

    Returns
    -------
    pd.DataFrame
        ``node_type`` str, ``entity_id`` str, ``score`` float in [0, 1], ``method`` str;
        pooled types first in their given order, then the supervised types.

    Raises
    ------
    ValueError
        If a table lacks one of the three columns.
    """
    frames = []
    supervised_types: set[str] = set()
    if supervised is not None:
        _check_columns(supervised, "supervised")
        supervised_types = set(supervised["node_type"].astype(str))
    _check_columns(pooled, "pooled")
    kept = pooled[~pooled["node_type"].astype(str).isin(supervised_types)]
    frames.append(kept[["node_type", "entity_id", "score"]].assign(method=POOLED))
    if supervised is not None:
        frames.append(supervised[["node_type", "entity_id", "score"]].assign(method=SUPERVISED))
    return pd.concat(frames, ignore_index=True)


def _check_columns(table: pd.DataFrame, name: str) -> None:
    missing = [c for c in ENTITY_SCORE_COLUMNS[:3] if c not in table.columns]
    if missing:
        raise ValueError(
            f"{name} entity scores lack column(s) {missing}; they have {list(table.columns)}"
        )
