"""Risk of linked entities (devices, IPs, payment methods) from the risk of their accounts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import HeteroData


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
