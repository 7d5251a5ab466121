import torch
from torch_geometric.explain import HeteroExplanation

from gnn.explain import account_explainer
from gnn.models import SepHeteroGNN

EDGES = [("Device", "rev_USED", "Account"), ("Account", "USED", "Device")]


def _graph():
    # account 0 uses devices 0 and 1, account 1 device 0; accounts 2, 3 share device 2: the
    # two islands never meet
    x = {"Account": torch.randn(4, 3), "Device": torch.randn(3, 1)}
    used = torch.tensor([[0, 0, 1, 2, 3], [0, 1, 0, 2, 2]])
    return x, {EDGES[1]: used, EDGES[0]: used.flip(0)}


def test_pyg_explainer_returns_hetero_masks_local_to_the_account():
    torch.manual_seed(0)
    x, edges = _graph()
    model = SepHeteroGNN({"Account": 3, "Device": 1}, EDGES, hidden_channels=8).eval()
    explanation = account_explainer(model)(x, edges, index=0)
    assert isinstance(explanation, HeteroExplanation)
    assert explanation["Account"].node_mask.shape == (4, 3)
    assert explanation[EDGES[0]].edge_mask.shape == (5,)
    # account 0's logit depends on its own island only
    assert explanation["Account"].node_mask[0].abs().sum() > 0
    assert explanation["Account"].node_mask[1].abs().sum() > 0
    assert explanation["Account"].node_mask[2:].abs().sum() == 0
    device_links = explanation[EDGES[0]].edge_mask  # device -> account, in `used` order
    assert (device_links[:2] > 0).all() and device_links[3:].sum() == 0
    # the explained prediction is the model's own logit
    assert torch.allclose(explanation.prediction[0], model(x, edges)[0])
