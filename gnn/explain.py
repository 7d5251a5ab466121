"""Gradient-saliency explanations: which neighbours and which features drove an account's score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import HeteroData
from torch_geometric.loader import NodeLoader

from gnn.inference import batch_inputs
from gnn.models.sep_hetero_gnn import SepHeteroGNN
from gnn.sampler import TemporalNeighborSampler

EXPLANATION_COLUMNS = ["account_id", "kind", "node_type", "item", "relation", "attribution"]


def explain_accounts(
    model: SepHeteroGNN,
    data: HeteroData,
    sampler: TemporalNeighborSampler,
    rows: np.ndarray,
    feature_names: list[str],
    node_ids: dict[str, np.ndarray],
    top_k: int = 5,
) -> pd.DataFrame:
    """Explain the logits of the target nodes ``rows``.

    For each account, its sampled computation subgraph is run with a weight of 1 on every edge;
    the gradient of the logit with respect to each edge weight says how much that link moved the
    score. A neighbour's attribution is the summed absolute gradient of its edges (``kind =
    "neighbor"``, ``item`` = the neighbour's id). The account's own features get gradient x
    input (``kind = "feature"``, ``item`` = feature name, signed: positive raises the risk).

    ``node_ids`` maps node type -> store ids by row, to name the neighbours.

    Returns
    -------
    pd.DataFrame
        Columns ``account_id, kind, node_type, item, relation, attribution``; at most ``top_k``
        neighbours and ``top_k`` features per account, strongest first.
    """
    target = model.target_type
    model.eval()
    loader = NodeLoader(
        data, sampler, input_nodes=(target, torch.as_tensor(rows, dtype=torch.long)), batch_size=1
    )
    records = []
    for batch in loader:
        x_dict = {
            t: x.detach().requires_grad_(True)
            for t, x in batch_inputs(batch, sampler, target).items()
        }
        weights = {
            et: torch.ones(batch[et].edge_index.size(1), requires_grad=True)
            for et in batch.edge_types
        }
        logit = model(x_dict, batch.edge_index_dict, weights)[0]
        logit.backward()
        account = str(node_ids[target][int(batch[target].n_id[0])])
        records.extend(_neighbour_records(batch, weights, node_ids, target, account, top_k))
        own = (x_dict[target].grad[0] * x_dict[target][0]).detach()
        for j in torch.argsort(own.abs(), descending=True)[:top_k].tolist():
            records.append((account, "feature", target, feature_names[j], "", float(own[j])))
    return pd.DataFrame.from_records(records, columns=EXPLANATION_COLUMNS)


def _neighbour_records(
    batch: HeteroData,
    weights: dict[tuple[str, str, str], torch.Tensor],
    node_ids: dict[str, np.ndarray],
    target: str,
    account: str,
    top_k: int,
) -> list[tuple]:
    """The ``top_k`` neighbours with the largest summed absolute edge-weight gradient."""
    frames = []
    for et, weight in weights.items():
        if weight.grad is None or weight.numel() == 0:
            continue
        src_type, rel, dst_type = et
        edge_index = batch[et].edge_index
        for node_type, local in ((src_type, edge_index[0]), (dst_type, edge_index[1])):
            frames.append(
                pd.DataFrame(
                    {
                        "node_type": node_type,
                        "node": batch[node_type].n_id[local].numpy(),
                        "relation": rel.removeprefix("rev_"),
                        "credit": weight.grad.abs().numpy(),
                    }
                )
            )
    if not frames:
        return []
    edges = pd.concat(frames, ignore_index=True)
    edges = edges[edges["credit"] > 0]
    edges["item"] = ""
    for node_type, group in edges.groupby("node_type").groups.items():
        ids = np.asarray(node_ids[node_type], dtype=object)
        edges.loc[group, "item"] = ids[edges.loc[group, "node"].to_numpy()].astype(str)
    edges = edges[~((edges["node_type"] == target) & (edges["item"] == account))]
    strongest = edges.sort_values("credit", ascending=False).drop_duplicates(["node_type", "item"])
    totals = edges.groupby(["node_type", "item"], sort=False)["credit"].sum()
    strongest = strongest.set_index(["node_type", "item"])
    strongest["credit"] = totals.reindex(strongest.index)
    top = strongest.sort_values("credit", ascending=False).head(top_k).reset_index()
    return [
        (account, "neighbor", r.node_type, r.item, r.relation, float(r.credit))
        for r in top.itertuples(index=False)
    ]
