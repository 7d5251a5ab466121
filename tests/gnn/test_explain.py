import numpy as np
import pandas as pd
import pytest
import torch
from torch_geometric.explain import HeteroExplanation

from gnn.detector import AccountDetector
from gnn.explain import account_explainer
from gnn.models import SepHeteroGNN
from tests.gnn.planted import make_snapshot

EDGES = [("Device", "rev_USED", "Account"), ("Account", "USED", "Device")]
FAST = {"max_epochs": 15, "patience": 15, "batch_size": 64, "hidden_channels": 32, "lr": 0.01,
        "boost_choice_folds": 0}


def _graph():
    # account 0 uses devices 0 and 1, account 1 device 0; accounts 2, 3 share device 2 (their
    # only device): the two islands never meet
    x = {"Account": torch.randn(4, 3), "Device": torch.randn(3, 1)}
    used = torch.tensor([[0, 0, 1, 2, 3], [0, 1, 0, 2, 2]])
    return x, {EDGES[1]: used, EDGES[0]: used.flip(0)}


def _model():
    torch.manual_seed(0)
    return SepHeteroGNN({"Account": 3, "Device": 1}, EDGES, hidden_channels=8, dropout=0.0).eval()


def test_edge_weight_gradients_miss_an_only_device():
    # why saliency on edge weights said +0.0000: a weighted mean ignores a common scale of a
    # node's incoming weights, so an account's only device edge has a zero gradient
    x, edges = _graph()
    model = _model()
    weights = {et: torch.ones(ei.size(1), requires_grad=True) for et, ei in edges.items()}
    model(x, edges, weights)[2].backward()
    device_to_account = weights[EDGES[0]].grad  # in `used` order: edge 3 is device 2 -> account 2
    assert device_to_account[3].abs() < 1e-6
    # while cutting that device off moves the logit
    explanation = account_explainer(model)(x, edges, index=2)
    assert explanation["Device"].node_mask[2, 0].abs() > 1e-3


def test_occlusion_masks_are_local_exact_and_deterministic():
    x, edges = _graph()
    model = _model()
    explanation = account_explainer(model)(x, edges, index=0)
    assert isinstance(explanation, HeteroExplanation)
    assert explanation["Account"].node_mask.shape == (4, 1)
    assert explanation["Device"].node_mask.shape == (3, 1)
    assert explanation["Account"].feature_mask.shape == (3,)
    # account 0's logit depends on its own island only (to float error: cutting a node off
    # elsewhere reorders the batch's sums, -1.5e-8 on some CPUs); it does not attribute to itself
    nodes = explanation["Account"].node_mask[:, 0]
    assert nodes[0] == 0 and nodes[1].abs() > 1e-3 and (nodes[2:].abs() < 1e-6).all()
    devices = explanation["Device"].node_mask[:, 0]
    assert (devices[:2].abs() > 1e-3).all() and devices[2].abs() < 1e-6
    # an attribution is the logit lost when device 1 is cut off, computed by hand here
    kept = edges[EDGES[1]][1] != 1
    cut = {EDGES[1]: edges[EDGES[1]][:, kept], EDGES[0]: edges[EDGES[0]][:, kept]}
    zeroed = {**x, "Account": x["Account"].clone()}
    zeroed["Account"][0, 2] = 0.0
    with torch.no_grad():
        full = model(x, edges)[0]
        without_device = model(x, cut)[0]
        without_feature = model(zeroed, edges)[0]
    assert devices[1] == pytest.approx(float(full - without_device), abs=1e-5)
    # and a feature's: the logit lost when it is set to 0
    assert explanation["Account"].feature_mask[2] == pytest.approx(
        float(full - without_feature), abs=1e-5
    )
    assert torch.allclose(explanation.prediction[0], full)
    # chunked passes give the same numbers as one pass
    again = account_explainer(model, nodes_per_pass=7)(x, edges, index=0)
    assert torch.allclose(again["Device"].node_mask, explanation["Device"].node_mask, atol=1e-6)


def _known_answer_world(seed: int = 0):
    """Rings whose members' only tie is one shared device (their only device), features noise;
    lone abusers with a telling own feature (many chargebacks) and a device of their own."""
    rng = np.random.default_rng(seed)
    n, rings, ring_size, lone = 400, 8, 5, 30
    accounts = [f"a{i}" for i in range(n)]
    order = rng.permutation(n)
    ring_of = np.full(n, -1)
    ring_of[order[: rings * ring_size]] = np.repeat(np.arange(rings), ring_size)
    lone_abuser = np.zeros(n, dtype=bool)
    lone_abuser[order[rings * ring_size : rings * ring_size + lone]] = True
    devices = [f"ring-device-{ring_of[i]}" if ring_of[i] >= 0 else f"d{i}" for i in range(n)]
    ips = [f"ip{rng.integers(0, 60)}" for _ in range(n)]
    features = {
        "events": rng.poisson(20, n).astype(np.float64),
        "chargebacks": np.where(lone_abuser, rng.poisson(8, n), rng.poisson(0.2, n)).astype(float),
    }
    links = {
        "USED_DEVICE": (accounts, devices, rng.uniform(0, 30, n)),
        "USED_IP": (accounts, ips, rng.uniform(0, 30, n)),
    }
    labels = pd.DataFrame(
        {"account_id": accounts, "label": ((ring_of >= 0) | lone_abuser).astype(np.int8)}
    )
    return make_snapshot(accounts, features, links), labels, ring_of, lone_abuser


@pytest.fixture(scope="module")
def known():
    snapshot, labels, ring_of, lone_abuser = _known_answer_world()
    known = np.random.default_rng(1).random(len(labels)) < 0.5
    detector = AccountDetector(**FAST).fit(snapshot, labels[known])
    return snapshot, labels, ring_of, lone_abuser, known, detector


def test_a_ring_member_is_explained_by_its_shared_device(known):
    snapshot, labels, ring_of, _, seen, detector = known
    members = np.flatnonzero((ring_of >= 0) & ~seen)[:4]
    table = detector.explain(snapshot, [f"a{i}" for i in members], top_k=3)
    for i in members:
        mine = table[(table["account_id"] == f"a{i}") & (table["kind"] == "neighbor")]
        top = mine.iloc[0]
        assert (top["node_type"], top["item"]) == ("Device", f"ring-device-{ring_of[i]}")
        assert top["relation"] == "USED_DEVICE"
        assert top["attribution"] > 0.1  # clearly raises the risk, far from +0.0000


def test_a_lone_abuser_is_explained_by_its_telling_feature(known):
    snapshot, _, _, lone_abuser, seen, detector = known
    abusers = np.flatnonzero(lone_abuser & ~seen)[:4]
    table = detector.explain(snapshot, [f"a{i}" for i in abusers], top_k=3)
    for i in abusers:
        mine = table[(table["account_id"] == f"a{i}") & (table["kind"] == "feature")]
        assert mine.iloc[0]["item"] == "chargebacks"
        assert mine.iloc[0]["attribution"] > 0.1


def test_explanations_are_deterministic(known):
    snapshot, _, ring_of, _, _, detector = known
    member = f"a{np.flatnonzero(ring_of >= 0)[0]}"
    first = detector.explain(snapshot, [member])
    pd.testing.assert_frame_equal(first, detector.explain(snapshot, [member]))
