"""Several trained networks scored as one: the mean of their logits."""

from __future__ import annotations

import torch
from torch import nn

from gnn.models.sep_hetero_gnn import SepHeteroGNN


class MeanEnsemble(nn.Module):
    """Networks of the same inputs and target type whose output is the mean of their logits.

    Any caller that runs a :class:`SepHeteroGNN` as ``model(x_dict, edge_index_dict, ...)`` and
    reads ``target_type`` (the occlusion explainer, sampled scoring) runs the ensemble alike, so
    an explanation attributes the ensemble's logit, not one member's.

    Parameters
    ----------
    members
        The trained networks (at least one), all scoring the same ``target_type``.
    """

    def __init__(self, members: list[SepHeteroGNN]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one network")
        targets = {m.target_type for m in members}
        if len(targets) != 1:
            raise ValueError(f"the networks score different node types: {sorted(targets)}")
        self.members = nn.ModuleList(members)
        self.target_type = members[0].target_type

    def forward(self, *args: object, **kwargs: object) -> torch.Tensor:
        """The members' mean logit per target node (their ``forward``'s arguments)."""
        return torch.stack([m(*args, **kwargs) for m in self.members]).mean(dim=0)
