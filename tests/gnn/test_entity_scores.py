import numpy as np
import pytest

from gnn.data import snapshot_to_heterodata
from gnn.entity_scores import entity_scores_from_accounts
from tests.gnn.planted import make_snapshot


def test_shrunk_mean_of_linked_accounts():
    snapshot = make_snapshot(
        ["a", "b", "c", "d"],
        {"events": np.zeros(4)},
        {"USED_DEVICE": (["a", "b", "c", "a"], ["d1", "d1", "d2", "d1"], [0.0] * 4)},
    )
    data, _ = snapshot_to_heterodata(snapshot)
    scores = np.array([0.9, 0.7, 0.1, 0.1])
    table = entity_scores_from_accounts(data, scores).set_index("entity_id")["score"]
    prior = scores.mean()
    assert table["d1"] == pytest.approx((0.9 + 0.7 + prior) / 3)  # "a" counted once
    assert table["d2"] == pytest.approx((0.1 + prior) / 2)
