import numpy as np
import pytest

from gnn.baselines import ComponentRate, LabelPropagation, XGBGraph, hop_features, xgb_graph
from gnn.baselines.xgb_graph import hop_feature_blocks
from gnn.data import snapshot_to_heterodata
from gnn.evaluate import auroc
from tests.gnn.planted import make_snapshot, planted_rings


@pytest.fixture(scope="module")
def rings():
    snapshot, truth = planted_rings()
    known = np.random.default_rng(0).random(len(truth)) < 0.5
    return snapshot, truth, known


def _unlabelled_auroc(model, rings):
    snapshot, truth, known = rings
    model.fit(snapshot, truth[known])
    scores = truth.merge(model.score_accounts(snapshot), on="account_id")[~known]
    return auroc(scores["label"], scores["score"])


@pytest.mark.parametrize("model", [XGBGraph(n_estimators=50), LabelPropagation()])
def test_baselines_find_planted_rings(model, rings):
    assert _unlabelled_auroc(model, rings) >= 0.8


def test_xgb_graph_scores_are_probabilities(rings):
    """Early stopping on a proper scoring rule: stopped on AUC, the model kept a few trees whose
    scores had barely left the base rate (0.15-0.19 here), useless against a 0.5 bar."""
    snapshot, truth, known = rings
    model = XGBGraph().fit(snapshot, truth[known])
    held = truth.merge(model.score_accounts(snapshot), on="account_id")[~known]
    y, p = held["label"].to_numpy(), held["score"].to_numpy()
    prior = truth[known]["label"].mean()
    assert np.mean((p - y) ** 2) < 0.5 * np.mean((prior - y) ** 2)
    assert p[y == 1].mean() > 0.5 > p[y == 0].mean()


def test_components_drown_in_a_shared_ip_pool(rings):
    """The shared IP pool joins most accounts into one component: plain components see little."""
    assert 0.5 <= _unlabelled_auroc(ComponentRate(), rings) < 0.75


def test_hop_features_reach_two_hops():
    snapshot = make_snapshot(
        ["a", "b", "c"],
        {"events": np.array([1.0, 2.0, 3.0])},
        {"USED_DEVICE": (["a", "b", "c"], ["d1", "d1", "d2"], [0.0, 0.0, 0.0])},
    )
    data, _ = snapshot_to_heterodata(snapshot)
    features = hop_features(data, hops=2)
    own = data["Account"].x.numpy()
    # own events + 1 degree column; hop 1 = device block; hop 2 = accounts sharing the device
    assert features.shape[0] == 3
    assert features[0, 0] == pytest.approx(own[0, 0])
    assert features[0, -2] == pytest.approx(own[:2, 0].mean(), abs=1e-6)
    assert features[2, -2] == pytest.approx(own[2, 0], abs=1e-6)


def test_hop_features_of_accounts_without_relations_are_their_own_at_every_hop():
    # a graph of accounts alone (no relation reaches them): each hop adds nothing
    snapshot = make_snapshot(["a", "b"], {"events": np.array([1.0, 2.0])}, {})
    data, _ = snapshot_to_heterodata(snapshot)
    for hops in (0, 1, 2, 3):
        assert hop_features(data, hops).tobytes() == data["Account"].x.numpy().tobytes()


def _every_level_hop_features(data, hops, target):
    """The plain formula: every type's level at every hop in float64, stacked, cast once."""
    import scipy.sparse as sp

    means, level = {}, {}
    for t in data.node_types:
        n, degrees = int(data[t].num_nodes), []
        for et in data.edge_types:
            if et[2] == t:
                src, dst = data[et].edge_index.numpy()
                adjacency = sp.csr_matrix((np.ones(len(src)), (dst, src)),
                                          shape=(n, int(data[et[0]].num_nodes)))
                degree = np.asarray(adjacency.sum(axis=1)).ravel()
                means[et] = sp.diags(1.0 / np.maximum(degree, 1.0)) @ adjacency
                degrees.append(np.log1p(degree)[:, None])
        level[t] = np.hstack([data[t].x.numpy().astype(np.float64), *degrees])
    blocks = [level[target]]
    for _ in range(hops):
        level = {t: np.hstack([means[et] @ level[et[0]] for et in data.edge_types if et[2] == t]
                              or [np.zeros((int(data[t].num_nodes), 0))])
                 for t in data.node_types}
        blocks.append(level[target])
    return np.hstack(blocks).astype(np.float32)


@pytest.mark.parametrize("hops", [0, 1, 2, 3])
def test_hop_features_equal_the_every_level_formula_bit_for_bit(rings, hops):
    """Only the levels a later hop reads are built, written straight into float32: same bits."""
    data, _ = snapshot_to_heterodata(rings[0])
    for target in data.node_types:
        expected = _every_level_hop_features(data, hops, target)
        got = hop_features(data, hops, target)
        assert got.dtype == np.float32 and got.shape == expected.shape
        assert got.tobytes() == expected.tobytes()
        rows = np.array([5, 0, 5, int(data[target].num_nodes) - 1])
        assert hop_features(data, hops, target, rows).tobytes() == expected[rows].tobytes()
        blocks = list(hop_feature_blocks(data, hops, target, block_rows=7))
        assert [len(b) for b in blocks[:-1]] == [7] * (len(blocks) - 1)
        assert np.concatenate(blocks).tobytes() == expected.tobytes()


def test_xgb_graph_saves_json_and_reloads(rings, tmp_path, monkeypatch):
    snapshot, truth, known = rings
    model = XGBGraph(n_estimators=20).fit(snapshot, truth[known])
    model.save(tmp_path / "xgb")
    assert (tmp_path / "xgb" / "model.json").read_text().startswith("{")
    again = XGBGraph.load(tmp_path / "xgb")
    monkeypatch.setattr(xgb_graph, "SCORE_ROWS", 16)
    data, _ = snapshot_to_heterodata(snapshot, model.scaler_)
    whole = model.probabilities(hop_features(data, model.hops))
    assert model.score_graph(data).tobytes() == whole.tobytes()  # scored block by block
    assert model.score_graph(data, [3, 1]).tobytes() == whole[[3, 1]].tobytes()
    assert again.calibrator_.to_dict() == model.calibrator_.to_dict()
    np.testing.assert_allclose(
        model.score_accounts(snapshot)["score"], again.score_accounts(snapshot)["score"]
    )


def test_xgb_graph_is_platt_calibrated_on_its_validation_labels(rings):
    """The calibrator is fitted on the early-stopping rows' margins: a monotone map of the
    trees' scores (same ranking) whose mean on those rows is their positive rate."""
    snapshot, truth, known = rings
    data, scaler = snapshot_to_heterodata(snapshot)
    rng = np.random.default_rng(1)
    rows = rng.permutation(len(truth))
    fit, val = rows[: len(rows) // 2], rows[len(rows) // 2:]
    y = truth.set_index("account_id").loc[data["Account"].node_ids, "label"].to_numpy()
    model = XGBGraph(n_estimators=30)
    model.scaler_ = scaler
    model.fit_graph(data, fit, y[fit], val, y[val])
    features = hop_features(data, model.hops)
    raw = model.model_.predict_proba(features)[:, 1]
    calibrated = model.score_graph(data)
    assert np.array_equal(np.argsort(raw, kind="stable"), np.argsort(calibrated, kind="stable"))
    assert calibrated[val].mean() == pytest.approx(y[val].mean(), abs=1e-3)
    raw_model = XGBGraph(n_estimators=30, calibrate=False)
    raw_model.fit_graph(data, fit, y[fit], val, y[val])
    assert not hasattr(raw_model, "calibrator_")
    assert raw_model.score_graph(data).tobytes() == raw.tobytes()


def test_a_calibrator_that_would_reverse_the_trees_ranking_is_not_kept(rings):
    """Validation labels the trees rank backwards fit a Platt slope <= 0: the trees' own
    probabilities are kept, never a reversed ranking."""
    snapshot, truth, known = rings
    data, scaler = snapshot_to_heterodata(snapshot)
    rows = np.random.default_rng(1).permutation(len(truth))
    fit, val = rows[: len(rows) // 2], rows[len(rows) // 2:]
    y = truth.set_index("account_id").loc[data["Account"].node_ids, "label"].to_numpy()
    model = XGBGraph(n_estimators=30)
    model.scaler_ = scaler
    model.fit_graph(data, fit, y[fit], val, 1 - y[val])
    assert not hasattr(model, "calibrator_")
    raw = model.model_.predict_proba(hop_features(data, model.hops))[:, 1]
    assert model.score_graph(data).tobytes() == raw.tobytes()


def test_an_xgb_graph_saved_without_a_calibrator_scores_as_before(rings, tmp_path):
    """Models saved before calibration (no ``calibrator`` in metadata.json) keep their scores."""
    import json

    snapshot, truth, known = rings
    model = XGBGraph(n_estimators=20).fit(snapshot, truth[known])
    model.save(tmp_path / "xgb")
    metadata = json.loads((tmp_path / "xgb" / "metadata.json").read_text())
    del metadata["calibrator"], metadata["calibrate"]
    (tmp_path / "xgb" / "metadata.json").write_text(json.dumps(metadata))
    old = XGBGraph.load(tmp_path / "xgb")
    assert not hasattr(old, "calibrator_")
    data, _ = snapshot_to_heterodata(snapshot, model.scaler_)
    expected = model.model_.predict_proba(hop_features(data, model.hops))[:, 1]
    assert old.score_graph(data).tobytes() == expected.tobytes()


def test_component_rate_uses_only_component_labels():
    snapshot = make_snapshot(
        ["a", "b", "c", "d"],
        {"events": np.zeros(4)},
        {"USED_DEVICE": (["a", "b", "c", "d"], ["d1", "d1", "d2", "d2"], [0.0] * 4)},
    )
    data, _ = snapshot_to_heterodata(snapshot)
    model = ComponentRate(prior_weight=1.0).fit_graph(data, np.array([0, 2]), np.array([1.0, 0.0]))
    scores = model.score_graph(data)
    assert scores[1] > 0.7 and scores[3] < 0.3
