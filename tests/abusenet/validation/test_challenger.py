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
    cross_fitted_blend,
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


def test_the_blend_is_judged_with_weights_chosen_on_the_other_half():
    from gnn.labels import stratified_split

    rng = np.random.default_rng(0)
    y = (rng.random(40) < 0.3).astype(np.int64)
    gnn, xgb = rng.random(40) * 0.5 + 0.5 * y, rng.random(40)
    judged = cross_fitted_blend(gnn, xgb, y, "auprc", seed=3)
    first, second = stratified_split(y, 0.5, 3)
    for fit, other in ((first, second), (second, first)):
        w = blend_weight(gnn[fit], xgb[fit], y[fit])
        assert np.allclose(judged[other], w * gnn[other] + (1 - w) * xgb[other])
    # one positive: the half without it chooses no weight but the GNN's own
    lone = np.zeros(10, dtype=np.int64)
    lone[4] = 1
    assert np.array_equal(cross_fitted_blend(gnn[:10], xgb[:10], lone), gnn[:10])


def test_a_blend_fitted_to_noise_does_not_beat_the_gnn_out_of_fold():
    # the GNN ranks 5 positives among 30 validation accounts fairly well, XGB-Graph is noise:
    # judged on the labels that chose its weight, the blend (its grid holds the GNN alone) wins
    # whenever some weight fits the noise; judged out of fold, it does not
    in_sample = out_of_fold = 0
    for seed in range(10):
        rng = np.random.default_rng(seed)
        y = np.zeros(30, dtype=np.int64)
        y[:5] = 1
        gnn, xgb = 0.6 * rng.random(30) + 0.4 * y, rng.random(30)
        labels = pd.DataFrame({"account_id": [f"a{i}" for i in range(30)], "label": y})
        scored = candidates(_table(gnn), _table(xgb), blend_weight(gnn, xgb, y))
        in_sample += select(scored, labels).winner == BLEND
        judged = {**scored, BLEND: _table(cross_fitted_blend(gnn, xgb, y))}
        out_of_fold += select(judged, labels).winner == BLEND
    assert in_sample >= 3 and out_of_fold == 0


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
    AccountDetector(max_epochs=2, hidden_channels=8, batch_size=64, random_state=0,
                    boost_choice_folds=0).fit(
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
