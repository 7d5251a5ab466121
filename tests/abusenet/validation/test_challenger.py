import json

import numpy as np
import pandas as pd
import pytest

from abusenet.validation.challenger import (
    BLEND,
    CHALLENGER,
    GNN,
    PUBLISHED_FILE,
    blend_weight,
    candidates,
    fit_challenger,
    read_published,
    save_published,
    score_published,
    scores_on,
    select,
)


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


def test_a_forced_candidate_publishes_whatever_the_figures_say():
    y = np.array([0, 0, 1, 1])
    gnn, xgb = _table([0.1, 0.2, 0.8, 0.9]), _table([0.9, 0.8, 0.1, 0.2])
    labels = pd.DataFrame({"account_id": gnn["account_id"], "label": y})
    choice = select(candidates(gnn, xgb, 0.5), labels, "auprc", 0.5, forced=CHALLENGER)
    assert choice.winner == CHALLENGER and choice.margin < 0.0


def test_a_model_without_published_json_publishes_the_gnn(tmp_path):
    assert read_published(tmp_path) == {"candidate": GNN, "blend_weight": None}


@pytest.mark.parametrize("document, problem", [
    ({"candidate": "forest"}, "'forest' is not one of"),
    ({"candidate": CHALLENGER}, "needs the saved XGB-Graph"),
])
def test_a_bad_published_json_names_the_file_and_the_problem(tmp_path, document, problem):
    (tmp_path / PUBLISHED_FILE).write_text(json.dumps(document))
    with pytest.raises(ValueError, match=problem) as err:
        read_published(tmp_path)
    assert str(tmp_path / PUBLISHED_FILE) in str(err.value)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny GNN and XGB-Graph trained on the planted graph, saved as a run saves them."""
    import torch

    from gnn.detector import AccountDetector
    from tests.gnn.planted import planted_rings

    torch.set_num_threads(1)
    snapshot, labels = planted_rings(num_accounts=60, num_rings=2, ring_size=5)
    labels = labels.astype({"account_id": str})
    fit, val = labels.iloc[::2], labels.iloc[1::2]
    model_dir = tmp_path_factory.mktemp("model")
    AccountDetector(max_epochs=2, hidden_channels=8, batch_size=64, random_state=0).fit(
        snapshot, fit, val_labels=val).save(model_dir)
    xgb_model, xgb = fit_challenger(snapshot, fit, val)
    return model_dir, snapshot, labels, xgb_model, xgb


@pytest.mark.parametrize("candidate", [GNN, CHALLENGER, BLEND])
def test_the_saved_candidate_scores_as_it_published(saved, tmp_path, candidate):
    import shutil

    from gnn.detector import AccountDetector

    model_dir, snapshot, _, xgb_model, xgb = saved
    here = shutil.copytree(model_dir, tmp_path / "model")
    save_published(here, xgb_model, candidate, 0.3)
    gnn = AccountDetector.load(here).score_accounts(snapshot).astype({"account_id": str})
    expected = candidates(gnn, xgb, 0.3)[candidate]["score"].to_numpy()
    scores, applied = score_published(here, snapshot)
    assert applied == candidate
    assert list(scores["account_id"].astype(str)) == list(gnn["account_id"])
    np.testing.assert_allclose(scores["score"].to_numpy(), expected, atol=1e-6)
    if candidate != GNN:
        assert not np.allclose(scores["score"].to_numpy(), gnn["score"].to_numpy())
    assert json.loads((here / PUBLISHED_FILE).read_text())["candidate"] == candidate
    assert not list(here.rglob("*.pkl")), "XGB-Graph is saved as JSON, not pickled"


def test_promotion_scores_each_model_with_its_published_candidate(saved, tmp_path):
    import shutil

    from abusenet.validation.promotion import model_figures
    from gnn.evaluate import node_metrics

    model_dir, snapshot, labels, xgb_model, xgb = saved
    here = shutil.copytree(model_dir, tmp_path / "model")
    save_published(here, xgb_model, CHALLENGER, 0.3)
    times = pd.Series(pd.Timestamp("2024-01-01", tz="UTC"), index=labels.index)
    figures = model_figures(here, snapshot, labels, times, 7.0)
    assert figures.auprc == pytest.approx(node_metrics(*scores_on(labels, xgb))["auprc"])
    assert model_figures(model_dir, snapshot, labels, times, 7.0).auprc != pytest.approx(
        figures.auprc)
