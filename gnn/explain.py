"""Gradient-saliency explanations: which neighbours and which features drove an account's score.

The saliency runs through PyG's explainability API: :class:`EdgeGradientSaliency` is a
:class:`~torch_geometric.explain.algorithm.ExplainerAlgorithm`, driven by
:class:`~torch_geometric.explain.Explainer` on each account's sampled heterogeneous subgraph and
returning a :class:`~torch_geometric.explain.HeteroExplanation` (``node_mask`` per node type,
``edge_mask`` per edge type), which :func:`explain_accounts` turns into a table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.explain import Explainer, HeteroExplanation
from torch_geometric.explain.algorithm import ExplainerAlgorithm
from torch_geometric.explain.config import MaskType
from torch_geometric.loader import NodeLoader
from torch_geometric.typing import EdgeType

from gnn.inference import batch_inputs, long_tensor
from gnn.models.sep_hetero_gnn import SepHeteroGNN
from gnn.sampler import TemporalNeighborSampler
from ingest.progress import progress_display

EXPLANATION_COLUMNS = ["account_id", "kind", "node_type", "item", "relation", "attribution"]


class EdgeGradientSaliency(ExplainerAlgorithm):
    """Saliency for heterogeneous models that take per-edge-type weights.

    The model is run as ``model(x_dict, edge_index_dict, edge_weight_dict)`` with a weight of 1 on
    every edge. The explained quantity is the sum of the raw outputs at ``index`` (the risk
    logits). ``edge_mask`` = absolute gradient with respect to each edge's weight (how much that
    link moved the score); ``node_mask`` = gradient x input per node and feature (signed:
    positive raises the score).

    Use with ``Explainer(..., explanation_type="model", node_mask_type="attributes",
    edge_mask_type="object", model_config=dict(mode="regression", task_level="node",
    return_type="raw"))``.
    """

    def forward(
        self,
        model: torch.nn.Module,
        x: dict[str, Tensor],
        edge_index: dict[EdgeType, Tensor],
        *,
        target: Tensor,
        index: Tensor | int | None = None,
        **kwargs,
    ) -> HeteroExplanation:
        """The explanation of ``model``'s outputs at ``index`` (default: all)."""
        inputs = {t: v.detach().clone().requires_grad_(True) for t, v in x.items()}
        weights = {
            et: torch.ones(ei.size(1), requires_grad=True) for et, ei in edge_index.items()
        }
        out = model(inputs, edge_index, weights, **kwargs)
        out = out if index is None else out[index]
        out.sum().backward()
        explanation = HeteroExplanation()
        for t, v in inputs.items():
            grad = torch.zeros_like(v) if v.grad is None else v.grad
            explanation[t].node_mask = (grad * v).detach()
        for et, weight in weights.items():
            grad = torch.zeros_like(weight) if weight.grad is None else weight.grad
            explanation[et].edge_mask = grad.abs()
        return explanation

    def supports(self) -> bool:
        """Attribute-level node masks and object-level edge masks, raw node-level outputs."""
        config = self.explainer_config
        return (
            config.node_mask_type in (None, MaskType.attributes)
            and config.edge_mask_type in (None, MaskType.object)
            and self.model_config.return_type.value == "raw"
        )


def account_explainer(model: torch.nn.Module) -> Explainer:
    """A PyG :class:`~torch_geometric.explain.Explainer` of ``model``'s risk logits."""
    return Explainer(
        model,
        algorithm=EdgeGradientSaliency(),
        explanation_type="model",
        node_mask_type="attributes",
        edge_mask_type="object",
        model_config={"mode": "regression", "task_level": "node", "return_type": "raw"},
    )


def explain_accounts(
    model: SepHeteroGNN,
    data: HeteroData,
    sampler: TemporalNeighborSampler,
    rows: np.ndarray,
    feature_names: list[str],
    node_ids: dict[str, np.ndarray],
    top_k: int = 5,
    *,
    progress: bool = False,
) -> pd.DataFrame:
    """Explain the logits of the target nodes ``rows``.

    For each account, :func:`account_explainer` (PyG's ``Explainer`` with
    :class:`EdgeGradientSaliency`) explains its logit on its sampled computation subgraph. A
    neighbour's attribution is the summed edge mask of its edges (``kind = "neighbor"``,
    ``item`` = the neighbour's id). The account's own features get their node mask, gradient x
    input (``kind = "feature"``, ``item`` = feature name, signed: positive raises the risk).

    ``node_ids`` maps node type -> store ids by row, to name the neighbours. ``progress``
    shows a bar over the accounts.

    Returns
    -------
    pd.DataFrame
        Columns ``account_id, kind, node_type, item, relation, attribution``; at most ``top_k``
        neighbours and ``top_k`` features per account, strongest first.
    """
    target = model.target_type
    model.eval()
    loader = NodeLoader(
        data, sampler, input_nodes=(target, long_tensor(rows)), batch_size=1
    )
    explainer = account_explainer(model)
    records = []
    with progress_display(progress) as bars:
        task = bars.add("explaining accounts", total=len(rows))
        for batch in loader:
            explanation = explainer(
                batch_inputs(batch, sampler, target), batch.edge_index_dict, index=0
            )
            account = str(node_ids[target][int(batch[target].n_id[0])])
            edge_masks = {
                et: explanation[et].edge_mask
                for et in batch.edge_types
                if et in explanation.edge_types
            }
            records.extend(_neighbour_records(batch, edge_masks, node_ids, target, account, top_k))
            own = explanation[target].node_mask[0]
            for j in torch.argsort(own.abs(), descending=True)[:top_k].tolist():
                records.append((account, "feature", target, feature_names[j], "", float(own[j])))
            bars.advance(task)
    return pd.DataFrame.from_records(records, columns=EXPLANATION_COLUMNS)


def _neighbour_records(
    batch: HeteroData,
    edge_masks: dict[EdgeType, torch.Tensor],
    node_ids: dict[str, np.ndarray],
    target: str,
    account: str,
    top_k: int,
) -> list[tuple]:
    """The ``top_k`` neighbours with the largest summed edge mask (absolute gradient)."""
    frames = []
    for et, mask in edge_masks.items():
        if mask.numel() == 0:
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
                        "credit": mask.numpy(),
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
