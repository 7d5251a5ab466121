import pytest
import torch

from gnn.models import MeanEnsemble, SepHeteroGNN

EDGES = [("Device", "rev_USED", "Account"), ("Account", "USED", "Device")]


def _network(seed: int, target: str = "Account") -> SepHeteroGNN:
    torch.manual_seed(seed)
    return SepHeteroGNN({"Account": 3, "Device": 1}, EDGES, hidden_channels=8,
                        target_type=target).eval()


def test_the_output_is_the_mean_of_the_members_logits():
    x = {"Account": torch.randn(4, 3), "Device": torch.randn(2, 1)}
    used = torch.tensor([[0, 1, 2, 3], [0, 0, 1, 1]])
    edges = {EDGES[1]: used, EDGES[0]: used.flip(0)}
    members = [_network(0), _network(1), _network(2)]
    ensemble = MeanEnsemble(members).eval()
    with torch.no_grad():
        alone = torch.stack([m(x, edges) for m in members])
        both = ensemble(x, edges)
    assert not torch.allclose(alone[0], alone[1])
    assert torch.allclose(both, alone.mean(dim=0), atol=1e-6)
    assert ensemble.target_type == "Account"


def test_no_members_or_members_of_other_targets_are_refused():
    with pytest.raises(ValueError, match="at least one network"):
        MeanEnsemble([])
    with pytest.raises(ValueError, match="different node types"):
        MeanEnsemble([_network(0), _network(1, target="Device")])
