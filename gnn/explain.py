"""Occlusion explanations: which neighbours and which own features drove an account's score.

An attribution is what the account's risk logit loses when a piece of evidence is taken away:
a neighbour is cut off (every edge it has in the account's computation subgraph gets weight 0,
so aggregations run as if it were absent), an own feature is set to its baseline (0: the
training mean of a scaled attribute, no edges for a degree feature). Positive attributions
raise the risk. All perturbed copies of a subgraph run as one disjoint batch, in chunks.

Gradients with respect to edge weights do not work here: a weighted mean does not change when
all of a node's incoming weights are scaled together, so the gradient of an account's only
device edge is exactly 0, and a shared device that made a ring got ``+0.0000``.

The algorithm is a PyG :class:`~torch_geometric.explain.algorithm.ExplainerAlgorithm`
(:class:`Occlusion`), driven by :class:`~torch_geometric.explain.Explainer` on each account's
sampled heterogeneous subgraph; it returns a :class:`~torch_geometric.explain.HeteroExplanation`
(``node_mask`` per node type, one value per node; ``feature_mask`` on the target type, one value
per feature of the explained node), which :func:`explain_accounts` turns into a table.
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

#: Nodes per forward pass of the perturbed copies (copies x subgraph nodes), bounding memory.
NODES_PER_PASS = 200_000


class Occlusion(ExplainerAlgorithm):
    """Occlusion for heterogeneous models that take per-edge-type weights.

    The model is run as ``model(x_dict, edge_index_dict, edge_weight_dict)``. For the node at
    ``index`` of ``target_type`` (one node), ``node_mask[t][i]`` = its raw output minus the
    output with node ``i`` of type ``t`` cut off (all its edges weighted 0; the explained node
    itself gets 0), and ``feature_mask`` of the target type = the output minus the output with
    that one feature of the explained node set to 0.

    Use with ``Explainer(..., explanation_type="model", node_mask_type="object",
    model_config=dict(mode="regression", task_level="node", return_type="raw"))``.

    Parameters
    ----------
    target_type
        The node type the model scores.
    nodes_per_pass
        Most nodes (copies x subgraph nodes) run through the model at once.
    """

    def __init__(self, target_type: str, nodes_per_pass: int = NODES_PER_PASS) -> None:
        super().__init__()
        self.target_type = target_type
        self.nodes_per_pass = nodes_per_pass

    @torch.no_grad()
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
        """The explanation of ``model``'s output at ``index`` (one node of the target type)."""
        t0 = self.target_type
        if index is None or torch.as_tensor(index).numel() != 1:
            raise ValueError("Occlusion explains one node at a time: pass a single index")
        row = int(torch.as_tensor(index).reshape(-1)[0])
        sizes = {t: v.size(0) for t, v in x.items()}
        # every perturbation: (node type cut, node cut, feature zeroed); -1 = none
        cuts = [(t, i, -1) for t in x for i in range(sizes[t]) if not (t == t0 and i == row)]
        cuts += [(t0, -1, j) for j in range(x[t0].size(1))]
        base = _perturbed_outputs(model, x, edge_index, t0, row, [(t0, -1, -1)], 1)[0]
        per_pass = max(1, self.nodes_per_pass // max(sum(sizes.values()), 1))
        drops = base - _perturbed_outputs(model, x, edge_index, t0, row, cuts, per_pass)
        explanation = HeteroExplanation()
        for t in x:
            explanation[t].node_mask = torch.zeros((sizes[t], 1))
        feature_mask = torch.zeros(x[t0].size(1))
        for (t, i, j), drop in zip(cuts, drops.tolist(), strict=True):
            if j < 0:
                explanation[t].node_mask[i, 0] = drop
            else:
                feature_mask[j] = drop
        explanation[t0].feature_mask = feature_mask
        return explanation

    def supports(self) -> bool:
        """Object-level node masks, no edge masks, raw node-level outputs."""
        config = self.explainer_config
        return (
            config.node_mask_type in (None, MaskType.object)
            and config.edge_mask_type is None
            and self.model_config.return_type.value == "raw"
        )


def _perturbed_outputs(
    model: torch.nn.Module,
    x: dict[str, Tensor],
    edge_index: dict[EdgeType, Tensor],
    target_type: str,
    row: int,
    cuts: list[tuple[str, int, int]],
    per_pass: int,
) -> Tensor:
    """The output at ``row`` for each perturbation ``(node type, node cut, feature zeroed)``.

    ``per_pass`` perturbed copies of the subgraph run at once as one disjoint graph.
    """
    sizes = {t: v.size(0) for t, v in x.items()}
    out = []
    for lo in range(0, len(cuts), per_pass):
        chunk = cuts[lo : lo + per_pass]
        k = len(chunk)
        copies = torch.arange(k)
        xs = {t: v.repeat(k, 1) for t, v in x.items()}
        cut = {t: torch.zeros((k, n), dtype=torch.bool) for t, n in sizes.items()}
        for c, (t, i, j) in enumerate(chunk):
            if i >= 0:
                cut[t][c, i] = True
            if j >= 0:
                xs[target_type][c * sizes[target_type] + row, j] = 0.0
        edges, weights = {}, {}
        for et, ei in edge_index.items():
            src_t, _, dst_t = et
            num = ei.size(1)
            copy_of = copies.repeat_interleave(num)
            src, dst = ei[0].repeat(k), ei[1].repeat(k)
            edges[et] = torch.stack(
                [src + copy_of * sizes[src_t], dst + copy_of * sizes[dst_t]]
            )
            removed = cut[src_t][copy_of, src] | cut[dst_t][copy_of, dst]
            weights[et] = (~removed).to(torch.float32)
        logits = model(xs, edges, weights)
        out.append(logits[copies * sizes[target_type] + row])
    return torch.cat(out) if out else torch.empty(0)


def account_explainer(model: SepHeteroGNN, nodes_per_pass: int = NODES_PER_PASS) -> Explainer:
    """A PyG :class:`~torch_geometric.explain.Explainer` of ``model``'s risk logits (occlusion)."""
    return Explainer(
        model,
        algorithm=Occlusion(model.target_type, nodes_per_pass),
        explanation_type="model",
        node_mask_type="object",
        edge_mask_type=None,
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

    For each account, :func:`account_explainer` (PyG's ``Explainer`` with :class:`Occlusion`)
    explains its logit on its sampled computation subgraph. A neighbour's attribution is the
    logit the account loses when that neighbour is cut off (``kind = "neighbor"``, ``node_type``
    and ``item`` = the neighbour's type and id, ``relation`` = the link that ties it to the
    account: ``USED_DEVICE`` for a direct one, ``USED_DEVICE via Device:d1`` for a neighbour
    of a neighbour). An own feature's attribution is the logit lost when it is set to its
    baseline (``kind = "feature"``, ``item`` = feature name). Positive raises the risk.

    ``node_ids`` maps node type -> store ids by row, to name the neighbours. ``progress``
    shows a bar over the accounts.

    Returns
    -------
    pd.DataFrame
        Columns ``account_id, kind, node_type, item, relation, attribution``; at most ``top_k``
        neighbours and ``top_k`` features per account, largest absolute attribution first.
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
            masks = {t: explanation[t].node_mask[:, 0] for t in batch.node_types}
            records.extend(_neighbour_records(batch, masks, node_ids, target, account, top_k))
            own = explanation[target].feature_mask
            for j in torch.argsort(own.abs(), descending=True, stable=True)[:top_k].tolist():
                records.append((account, "feature", target, feature_names[j], "", float(own[j])))
            bars.advance(task)
    return pd.DataFrame.from_records(records, columns=EXPLANATION_COLUMNS)


def _neighbour_records(
    batch: HeteroData,
    masks: dict[str, Tensor],
    node_ids: dict[str, np.ndarray],
    target: str,
    account: str,
    top_k: int,
) -> list[tuple]:
    """The ``top_k`` neighbours with the largest absolute occlusion attribution, named."""
    def name(t: str, local: int) -> str:
        return str(node_ids[t][int(batch[t].n_id[local])])

    # the relation tying each node to the explained account (local node 0): direct links first,
    # then the strongest direct neighbour a node of the second hop reaches the account through
    links: dict[tuple[str, int], str] = {}
    second: list[tuple[str, int, str, int, str]] = []
    for et in batch.edge_types:
        src_t, rel, dst_t = et
        ei = batch[et].edge_index
        relation = rel.removeprefix("rev_")
        for s, d in ei.t().tolist():
            if dst_t == target and d == 0:
                links[(src_t, s)] = relation
            elif src_t == target and s == 0:
                links[(dst_t, d)] = relation
            else:
                second.append((src_t, s, dst_t, d, relation))
    via: dict[tuple[str, int], tuple[float, str]] = {}
    for src_t, s, dst_t, d, relation in second:
        for (near_t, near), (far_t, far) in (((src_t, s), (dst_t, d)), ((dst_t, d), (src_t, s))):
            if (near_t, near) in links and (far_t, far) not in links:
                strength = abs(float(masks[near_t][near]))
                if (far_t, far) not in via or strength > via[(far_t, far)][0]:
                    text = f"{relation} via {near_t}:{name(near_t, near)}"
                    via[(far_t, far)] = (strength, text)
    rows = []
    for t, mask in masks.items():
        for local, value in enumerate(mask.tolist()):
            if value == 0.0 or (t == target and local == 0):
                continue
            relation = links.get((t, local)) or via.get((t, local), (0.0, ""))[1]
            rows.append((t, name(t, local), relation, value))
    if not rows:
        return []
    table = pd.DataFrame(rows, columns=["node_type", "item", "relation", "attribution"])
    table = table[~((table["node_type"] == target) & (table["item"] == account))]
    table["strength"] = table["attribution"].abs()
    table = table.sort_values(
        ["strength", "node_type", "item"], ascending=[False, True, True], kind="stable"
    ).drop_duplicates(["node_type", "item"])
    return [
        (account, "neighbor", r.node_type, r.item, r.relation, float(r.attribution))
        for r in table.head(top_k).itertuples(index=False)
    ]
