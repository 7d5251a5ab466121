import numpy as np
import pandas as pd

from abusenet.validation.challenger import BLEND, CHALLENGER, GNN, blend_weight, candidates, select


def _table(scores):
    return pd.DataFrame({"account_id": [f"a{i}" for i in range(len(scores))], "score": scores})


def test_the_candidate_best_on_validation_labels_wins_by_its_margin():
    y = np.array([0, 0, 1, 1, 0, 1])
    gnn = _table([0.1, 0.6, 0.5, 0.9, 0.2, 0.4])
    xgb = _table([0.1, 0.2, 0.8, 0.9, 0.3, 0.7])
    weight = blend_weight(gnn["score"].to_numpy(), xgb["score"].to_numpy(), y)
    scored = candidates(gnn, xgb, weight)
    assert set(scored) == {GNN, CHALLENGER, BLEND}
    labels = pd.DataFrame({"account_id": gnn["account_id"], "label": y})
    choice = select(scored, labels, "auprc", weight)
    assert choice.validation[CHALLENGER]["auprc"] == 1.0
    assert choice.winner in (CHALLENGER, BLEND) and choice.winner != GNN
    assert choice.margin >= 0.0


def test_a_tie_keeps_the_gnn():
    y = np.array([0, 1])
    same = _table([0.2, 0.8])
    choice = select(candidates(same, same, 1.0), pd.DataFrame({"account_id": ["a0", "a1"],
                                                               "label": y}))
    assert choice.winner == GNN and choice.margin == 0.0


def test_blend_stays_a_probability():
    gnn, xgb = _table([0.0, 1.0]), _table([1.0, 0.0])
    blend = candidates(gnn, xgb, 0.3)[BLEND]["score"]
    assert blend.between(0.0, 1.0).all() and blend.tolist() == [0.7, 0.3]
