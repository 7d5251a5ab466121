import numpy as np
import pandas as pd
import pytest

from gnn.data import snapshot_to_heterodata
from gnn.entity_scores import combine_entity_scores, entity_scores_from_accounts
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


def _table(node_types, ids, scores):
    return pd.DataFrame({"node_type": node_types, "entity_id": ids, "score": scores})


def test_supervised_types_replace_their_pooled_scores_and_others_stay_pooled():
    pooled = _table(["Device", "Terminal", "Terminal"], ["d1", "t1", "t2"], [0.2, 0.3, 0.4])
    supervised = _table(["Terminal", "Terminal"], ["t1", "t2"], [0.9, 0.1])
    table = combine_entity_scores(pooled, supervised)
    assert list(table.columns) == ["node_type", "entity_id", "score", "method"]
    assert table.values.tolist() == [
        ["Device", "d1", 0.2, "pooled"],
        ["Terminal", "t1", 0.9, "supervised"],
        ["Terminal", "t2", 0.1, "supervised"],
    ]


def test_without_a_supervised_model_every_score_is_pooled():
    pooled = _table(["Device", "IP"], ["d1", "ip1"], [0.2, 0.3])
    table = combine_entity_scores(pooled)
    assert table["method"].tolist() == ["pooled", "pooled"]
    pd.testing.assert_frame_equal(table.drop(columns="method"), pooled)
    with pytest.raises(ValueError, match=r"supervised entity scores lack column\(s\) \['score'\]"):
        combine_entity_scores(pooled, pooled.drop(columns="score"))
