import numpy as np
import pandas as pd
import pytest

from gnn.boosted import BoostedLogits, _margin, boost_features
from gnn.data import snapshot_to_heterodata
from gnn.detector import AccountDetector
from gnn.sampler import TemporalNeighborSampler
from gnn.training import Seeds
from tests.gnn.planted import planted_rings

TINY = {"max_epochs": 2, "patience": 2, "batch_size": 64, "hidden_channels": 8, "boost": "input"}


def _tabular(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * rng.normal(size=n) > 0.8).astype(int)
    return x, y


def test_training_rows_get_out_of_fold_logits_and_the_others_the_fold_mean():
    x, y = _tabular()
    train = np.arange(200)
    boosted = BoostedLogits(folds=4, n_estimators=30)
    logits = boosted.fit_transform(x, train, y[train])
    assert len(boosted.models_) == 4
    mean = boosted.transform(x)
    np.testing.assert_array_equal(logits[200:], mean[200:])
    # in-fold logits are overfitted; out-of-fold ones are not the fold mean on training rows
    assert not np.allclose(logits[train], mean[train])
    assert np.corrcoef(logits[train], y[train])[0, 1] < np.corrcoef(mean[train], y[train])[0, 1]
    assert np.corrcoef(mean[200:], y[200:])[0, 1] > 0.5


def test_raw_models_round_trip():
    x, y = _tabular()
    boosted = BoostedLogits(folds=3, n_estimators=20)
    boosted.fit_transform(x, np.arange(150), y[:150])
    again = BoostedLogits.from_raw(boosted.get_params(), boosted.raw_models())
    np.testing.assert_array_equal(again.transform(x), boosted.transform(x))


def test_a_few_rows_get_the_same_logits_as_many():
    """Up to FEW_ROWS rows the trees are walked in numpy: the same float32 logits."""
    x, y = _tabular()
    boosted = BoostedLogits(folds=3, n_estimators=20)
    boosted.fit_transform(x, np.arange(150), y[:150])
    every = boosted.transform(x)  # many rows: XGBoost's own prediction
    for start in range(0, 40, 7):
        np.testing.assert_array_equal(boosted.transform(x[start:start + 7]),
                                      every[start:start + 7])
    again = BoostedLogits.from_raw(boosted.get_params(), boosted.raw_models())
    np.testing.assert_array_equal(again.transform(x[:1]), every[:1])


def test_warm_reads_the_trees_once_before_the_first_few_rows():
    x, y = _tabular()
    fitted = BoostedLogits(folds=3, n_estimators=20)
    fitted.fit_transform(x, np.arange(150), y[:150])
    boosted = BoostedLogits.from_raw(fitted.get_params(), fitted.raw_models())
    assert getattr(boosted, "_trees", None) is None
    boosted.warm()
    trees = boosted._trees
    assert trees is not None and all(reader is not None for reader in trees[2])
    np.testing.assert_array_equal(boosted.transform(x[:3]), boosted.transform(x)[:3])
    assert boosted._trees is trees  # read once, not again by the transform


def test_many_rows_get_the_fold_models_own_mean_logit():
    """More than FEW_ROWS rows go through one merged XGBoost model: the same float32 logits
    as one prediction a fold model."""
    x, y = _tabular()
    x[::5, 1] = np.nan
    boosted = BoostedLogits(folds=3, n_estimators=20)
    boosted.fit_transform(x, np.arange(150), y[:150])
    for rows in (slice(0, 17), slice(None)):
        own = np.mean([_margin(b, x[rows]) for b in boosted.models_], axis=0)
        np.testing.assert_array_equal(boosted.transform(x[rows]), own.astype(np.float32))


def test_too_few_labels_of_a_class_is_a_clear_error():
    x, _ = _tabular(20)
    y = np.zeros(20, dtype=int)
    y[0] = 1
    with pytest.raises(ValueError, match="1 positive"):
        BoostedLogits().fit_transform(x, np.arange(20), y)


def test_time_bounded_features_count_only_earlier_edges():
    snapshot, _ = planted_rings(num_accounts=60, num_rings=1)
    data, _ = snapshot_to_heterodata(snapshot)
    sampler = TemporalNeighborSampler(data, [2, 2])
    n = int(data["Account"].num_nodes)
    whole = boost_features(data, "Account", 0)
    np.testing.assert_array_equal(whole, boost_features(data, "Account", 2)[:, : whole.shape[1]])
    early = boost_features(data, "Account", 1, sampler, np.full(n, -(10**12)))
    assert early.shape == whole.shape
    width = data["Account"].x.size(1)
    assert (early[:, width:] == 0).all() and (whole[:, width:] > 0).any()


def test_held_out_labels_never_reach_the_boosted_channel():
    """Flipping the validation labels (early stopping, calibration) and dropping every other
    label leaves the boosted inputs of all accounts identical."""
    snapshot, truth = planted_rings(num_accounts=120, num_rings=3)
    rng = np.random.default_rng(1)
    order = rng.permutation(len(truth))
    train, val = truth.iloc[order[:60]], truth.iloc[order[60:90]]
    flipped = val.assign(label=1 - val["label"])
    first = AccountDetector(**TINY).fit(snapshot, train, val_labels=val)
    second = AccountDetector(**TINY).fit(snapshot, train, val_labels=flipped)
    np.testing.assert_array_equal(first.boost_inputs_, second.boost_inputs_)
    data, _ = snapshot_to_heterodata(snapshot, first.scaler_)
    np.testing.assert_array_equal(
        first._model_inputs(data)["Account"].x[:, -1].numpy(),
        second._model_inputs(data)["Account"].x[:, -1].numpy(),
    )
    # and the training labels do reach it
    relabelled = train.assign(label=1 - train["label"])
    third = AccountDetector(**TINY).fit(snapshot, relabelled, val_labels=val)
    assert not np.array_equal(first.boost_inputs_, third.boost_inputs_)


def test_saved_detector_keeps_the_boosted_channel(tmp_path):
    snapshot, truth = planted_rings(num_accounts=120, num_rings=3)
    detector = AccountDetector(**TINY).fit(snapshot, truth)
    width = len(detector.scaler_.columns["Account"])
    assert detector.feature_names_[width] == "boost:xgboost_logit"
    detector.save(tmp_path / "model")
    assert {p.name for p in (tmp_path / "model").iterdir()} == {"model.pt", "metadata.json"}
    loaded = AccountDetector.load(tmp_path / "model")
    assert loaded.boost_.hops == detector.boost_.hops
    pd.testing.assert_frame_equal(
        detector.score_accounts(snapshot), loaded.score_accounts(snapshot)
    )
    plain = AccountDetector(**{**TINY, "boost": None}).fit(snapshot, truth)
    assert plain.boost_ is None
    assert "boost:xgboost_logit" not in plain.feature_names_
    plain.save(tmp_path / "plain")
    assert AccountDetector.load(tmp_path / "plain").boost_ is None


def test_unknown_boost_mode_is_refused():
    snapshot, truth = planted_rings(num_accounts=60, num_rings=1)
    with pytest.raises(ValueError, match="boost must be .auto., .input."):
        AccountDetector(boost="stacked").fit(snapshot, truth)


def test_residual_head_adds_the_boosted_logit_to_the_network_logit(tmp_path):
    snapshot, truth = planted_rings(num_accounts=120, num_rings=3)
    detector = AccountDetector(**{**TINY, "boost": "residual"}).fit(snapshot, truth)
    data, _ = snapshot_to_heterodata(snapshot, detector.scaler_)
    column = detector.boosted_column(data)
    residual = detector.graph_logits(data)
    detector.boost = "input"  # the same network, without the boosted term added
    network = detector.graph_logits(data)
    np.testing.assert_allclose(residual - network, column, rtol=1e-5, atol=1e-5)
    detector.boost = "residual"
    detector.save(tmp_path / "model")
    loaded = AccountDetector.load(tmp_path / "model")
    np.testing.assert_array_equal(loaded.graph_logits(data), residual)


def test_time_aware_training_keeps_later_links_out_of_the_trees():
    """Links made after a label are invisible to the boosted channel of a time-aware fit (the
    trees' degrees are bounded by each seed's time), though whole-graph trees find them."""
    from tests.gnn.test_detector import _post_label_artefact

    snapshot, labels = _post_label_artefact()
    settings = {**TINY, "boost": "residual", "max_epochs": 3}
    honest = AccountDetector(**settings).fit(snapshot, labels)
    assert honest.boost_.hops == 0
    assert honest.metrics_["validation"]["auroc"] < 0.75
    leaky = AccountDetector(**settings).fit(snapshot, labels.drop(columns="ts"))
    assert leaky.metrics_["validation"]["auroc"] > 0.95


def test_auto_boost_turns_the_residual_head_on_only_with_enough_labels_of_each_class(tmp_path):
    snapshot, truth = planted_rings(num_accounts=120, num_rings=3)
    rng = np.random.default_rng(2)
    order = rng.permutation(len(truth))
    train, val = truth.iloc[order[:80]], truth.iloc[order[80:]]
    fewest = int(min(train["label"].sum(), len(train) - train["label"].sum()))
    settings = {**TINY, "boost": "auto"}
    enough = AccountDetector(**settings, boost_min_labels=fewest).fit(
        snapshot, train, val_labels=val)
    assert enough.boost_mode_ == "residual" and enough.boost_ is not None
    assert enough.metrics_["boost"] == "residual"
    assert enough.boost_choice_ is None and "boost_choice" not in enough.metrics_
    data, _ = snapshot_to_heterodata(snapshot, enough.scaler_)
    residual = enough.graph_logits(data)
    enough.boost = "input"
    np.testing.assert_allclose(residual - enough.graph_logits(data),
                               enough.boosted_column(data), rtol=1e-5, atol=1e-5)
    enough.boost = "auto"
    enough.save(tmp_path / "model")
    loaded = AccountDetector.load(tmp_path / "model")
    assert loaded.boost == "residual"  # the mode the fit chose, for the serve state
    np.testing.assert_array_equal(loaded.graph_logits(data), residual)
    too_few = AccountDetector(**settings, boost_min_labels=fewest + 1, boost_choice_folds=0).fit(
        snapshot, train, val_labels=val)
    assert too_few.boost_mode_ is None and too_few.boost_ is None
    assert too_few.boost_choice_ is None and "boost_choice" not in too_few.metrics_
    assert "boost:xgboost_logit" not in too_few.feature_names_
    too_few.save(tmp_path / "plain")
    assert AccountDetector.load(tmp_path / "plain").boost is None


def _seeds(positives: int, negatives: int) -> tuple[Seeds, Seeds]:
    y = np.r_[np.ones(positives), np.zeros(negatives)].astype(np.float32)
    return Seeds(np.arange(len(y)), y), Seeds(np.arange(0), np.arange(0, dtype=np.float32))


def test_auto_is_the_default_and_needs_fifty_labels_of_each_class_to_skip_the_choice():
    detector = AccountDetector()
    assert detector.boost == "auto" and detector.boost_min_labels == 50
    assert detector.boost_choice_folds == 3
    assert detector._boost_mode(None, *_seeds(50, 400), None) == "residual"
    assert detector.boost_choice_ is None  # enough labels: no choice made
    off = AccountDetector(boost_choice_folds=0)
    assert off._boost_mode(None, *_seeds(49, 400), None) is None
    assert off._boost_mode(None, *_seeds(400, 49), None) is None
    # the choice's folds need twice their count of each class: fewer -> the network alone
    assert detector._boost_mode(None, *_seeds(5, 400), None) is None
    assert detector.boost_choice_ is None


@pytest.mark.parametrize(("settings", "error"), [
    ({"boost_choice_folds": 1}, "boost_choice_folds must be 0 .no choice. or at least 2"),
    ({"boost_choice_folds": -1}, "boost_choice_folds must be 0 .no choice. or at least 2"),
    ({"boost_choice_max_labels": 5}, "boost_choice_max_labels must hold two labels per fold"),
    ({"boost_choice_max_nodes": -1}, "boost_choice_max_nodes must be 0 or more"),
])
def test_a_choice_of_one_fold_or_too_few_labels_is_refused(settings, error):
    snapshot, truth = planted_rings(num_accounts=60, num_rings=1)
    with pytest.raises(ValueError, match=error):
        AccountDetector(**settings).fit(snapshot, truth)


def test_the_choice_draws_the_larger_class_down_to_its_label_cap():
    from gnn.detector import _at_most

    labels = Seeds(np.arange(100, 1100), np.r_[np.ones(30), np.zeros(970)].astype(np.float32),
                   np.arange(1000))
    kept = _at_most(labels, 200, seed=0)
    assert len(kept.index) == 200 and kept.y.sum() == 30  # every positive kept
    np.testing.assert_array_equal(kept.time, kept.index - 100)  # rows stay together
    assert _at_most(labels, 200, seed=0).index.tolist() == kept.index.tolist()
    assert _at_most(labels, 1000, seed=0) is labels


def test_auto_below_the_label_count_trains_the_form_with_the_higher_pooled_out_of_fold_auprc(
        tmp_path):
    snapshot, truth = planted_rings(num_accounts=120, num_rings=3)
    # two neighbours a hop: the training sampler draws (its generator matters)
    settings = {**TINY, "boost": "auto", "boost_min_labels": 1_000, "num_neighbors": (2, 2)}
    auto = AccountDetector(**settings).fit(snapshot, truth)
    choice = auto.metrics_["boost_choice"]
    assert choice["folds"] == 3 and choice["labels"] == len(truth)
    assert choice["positives"] == int(truth["label"].sum())
    auprc = choice["auprc"]
    assert set(auprc) == {"network", "residual"}
    assert all(0.0 < value <= 1.0 for value in auprc.values())
    assert choice["chosen"] == ("residual" if auprc["residual"] > auprc["network"] else "network")
    mode = "residual" if choice["chosen"] == "residual" else None
    assert auto.boost_mode_ == mode and auto.metrics_["boost"] == mode
    # the six fits share the graph's sampler and trees' features: the AUPRCs of six fits that
    # each build their own, as fit and score_graph do
    assert auprc == _pooled_auprcs(auto, snapshot, truth)
    # the fit after the choice is the chosen form's own fit, seed for seed
    forced = AccountDetector(**{**settings, "boost": mode}).fit(snapshot, truth)
    pd.testing.assert_frame_equal(auto.score_accounts(snapshot), forced.score_accounts(snapshot))
    auto.save(tmp_path / "model")
    loaded = AccountDetector.load(tmp_path / "model")
    assert loaded.boost == mode and loaded.metrics_["boost_choice"] == choice


def test_the_choice_scores_its_fits_as_score_graph_does():
    """A probe of the choice scores from the kept features and scoring sampler, its fitted
    column but on the training rows (there the trees' fold mean, not the out-of-fold logit):
    score_graph's values exactly, on every row (the training rows' too)."""
    from gnn.data.snapshot_graph import account_index, model_view
    from gnn.detector import _Shared
    from gnn.labels import stratified_split

    snapshot, truth = planted_rings(num_accounts=120, num_rings=3)
    data, _ = snapshot_to_heterodata(snapshot)
    rows, y, _ = account_index(data, truth)
    data = model_view(data)
    train, val = stratified_split(y, 0.2, 0)
    detector = AccountDetector(**{**TINY, "boost": "residual"}).fit_graph(
        data, rows[train], y[train], rows[val], y[val])
    shared = _Shared(data, "Account", list(detector.num_neighbors), detector.random_state)
    every = np.arange(data["Account"].num_nodes)
    np.testing.assert_array_equal(
        detector._shared_scores(shared, every, Seeds(rows[train], y[train])),
        detector.score_graph(data, every))


def test_the_shared_features_are_kept_for_the_choice_and_not_through_the_final_fit():
    """The trees' whole-graph features are built once for the choice's fits; the final fit
    takes them and nothing keeps them while it trains (at 1M accounts they are hundreds of
    MB)."""
    from gnn.data.snapshot_graph import model_view
    from gnn.detector import _Shared

    snapshot, _ = planted_rings(num_accounts=60, num_rings=1)
    data = model_view(snapshot_to_heterodata(snapshot)[0])
    shared = _Shared(data, "Account", [2, 2], 0)
    first = shared.features(1)
    assert shared.features(1) is first  # built once for the choice's fits
    np.testing.assert_array_equal(first, boost_features(data, "Account", 1))
    assert shared.scoring_sampler() is shared.scoring_sampler()
    shared.last_fit()
    assert shared.features(1) is first  # the final fit takes them ...
    assert shared.features(1) is not first  # ... and they are no longer kept
    assert not shared._features and shared._scoring is None


def _pooled_auprcs(detector: AccountDetector, snapshot, truth) -> dict[str, float]:
    """The choice's pooled out-of-fold AUPRCs computed by fitting each fold's two networks
    with ``fit_graph`` and scoring them with ``score_graph`` (each building its own sampler
    and features), on the labels ``detector.fit(snapshot, truth)`` split as it does."""
    from sklearn.model_selection import StratifiedKFold

    from gnn.data.snapshot_graph import account_index, model_view
    from gnn.evaluate import node_metrics
    from gnn.labels import stratified_split

    data, _ = snapshot_to_heterodata(snapshot)
    rows, y, _ = account_index(data, truth)
    train, val = stratified_split(y, detector.val_fraction, detector.random_state)
    index, y = np.r_[rows[train], rows[val]], np.r_[y[train], y[val]].astype(np.float32)
    data = model_view(data)
    folds = StratifiedKFold(detector.boost_choice_folds, shuffle=True,
                            random_state=detector.random_state)
    pooled = {"network": np.zeros(len(y)), "residual": np.zeros(len(y))}
    for inside, outside in folds.split(index, y):
        fit, check = stratified_split(y[inside], detector.val_fraction, detector.random_state)
        for name in pooled:
            probe = AccountDetector(**{**detector.get_params(), "ensemble": 1,
                                       "boost": None if name == "network" else "residual"})
            probe.fit_graph(data, index[inside[fit]], y[inside[fit]], index[inside[check]],
                            y[inside[check]])
            pooled[name][outside] = probe.score_graph(data, index[outside])
    return {name: float(node_metrics(y, scores)["auprc"]) for name, scores in pooled.items()}


def test_a_graph_over_the_node_cap_keeps_the_network_alone_without_a_choice(monkeypatch):
    """The choice's six fits grow with the graph: past ``boost_choice_max_nodes`` target nodes
    ``auto`` trains the network alone below ``boost_min_labels`` and fits nothing more."""
    import gnn.detector

    snapshot, truth = planted_rings(num_accounts=120, num_rings=3)
    monkeypatch.setattr(gnn.detector.AccountDetector, "_choose_boost",
                        lambda *args: pytest.fail("the choice ran over the node cap"))
    capped = AccountDetector(**{**TINY, "boost": "auto", "boost_min_labels": 1_000,
                                "boost_choice_max_nodes": 119}).fit(snapshot, truth)
    assert capped.boost_choice_ is None and "boost_choice" not in capped.metrics_
    assert capped.boost_mode_ is None


def test_a_tie_of_the_pooled_auprcs_keeps_the_network_alone(monkeypatch):
    import gnn.detector

    snapshot, truth = planted_rings(num_accounts=120, num_rings=3)
    monkeypatch.setattr(gnn.detector, "node_metrics",
                        lambda y, scores: {"auroc": 0.5, "auprc": 0.5, "recall_at_k": 0.5})
    auto = AccountDetector(**{**TINY, "boost": "auto", "boost_min_labels": 1_000}).fit(
        snapshot, truth)
    assert auto.metrics_["boost_choice"]["chosen"] == "network"
    assert auto.boost_mode_ is None and auto.boost_ is None


def test_a_model_saved_before_the_choice_existed_loads_and_scores_the_same(tmp_path):
    """A model saved before ``boost_choice_folds`` (session 27) has neither the setting nor the
    choice's metrics; it loads with the default and scores as saved."""
    import json

    snapshot, truth = planted_rings(num_accounts=120, num_rings=3)
    detector = AccountDetector(**{**TINY, "boost": "residual"}).fit(snapshot, truth)
    detector.save(tmp_path / "model")
    path = tmp_path / "model" / "metadata.json"
    metadata = json.loads(path.read_text())
    del metadata["config"]["boost_choice_folds"]
    path.write_text(json.dumps(metadata))
    loaded = AccountDetector.load(tmp_path / "model")
    assert loaded.boost == "residual" and loaded.boost_choice_folds == 3
    pd.testing.assert_frame_equal(
        detector.score_accounts(snapshot), loaded.score_accounts(snapshot)
    )


def test_bin_hash_of_one_row_at_once_equals_the_column_by_column_hash(monkeypatch):
    """One row is compared with every threshold at once, more rows a column at a time: both
    give the weighted sum of each column's searchsorted(..., "right") (NaN: past them all)."""
    from types import SimpleNamespace

    import gnn.boosted
    from gnn.boosted import LiveBoostedColumn

    x, y = _tabular()
    boosted = BoostedLogits(folds=3, n_estimators=20)
    boosted.fit_transform(x, np.arange(150), y[:150])
    model = SimpleNamespace(target_type="Account", edge_types=[], in_channels={"Account": 5})
    column = LiveBoostedColumn(boosted, model)
    assert len(column._cuts) > 4
    rows = np.vstack([x[:40], [[np.nan, -np.inf, np.inf, 0.0]]]).astype(np.float32)
    rows[0] = [cuts[len(cuts) // 2] if len(cuts) else 0.0 for cuts in column.thresholds]
    want = np.zeros(len(rows), dtype=np.uint64)
    for j, cuts in enumerate(column.thresholds):
        bins = np.searchsorted(cuts, rows[:, j], side="right").astype(np.uint64)
        want += bins * column._weights[j]
    monkeypatch.setattr(gnn.boosted, "_BROADCAST_CUTS", len(column._cuts))
    one = np.concatenate([column._bin_hash(rows[k:k + 1]) for k in range(len(rows))])
    np.testing.assert_array_equal(one, want)  # each row at once
    np.testing.assert_array_equal(column._bin_hash(rows), want)  # the column loop
    assert len(np.unique(want)) > 10
