import numpy as np
import pandas as pd
import pytest

from gnn.boosted import BoostedLogits, _margin, boost_features
from gnn.data import snapshot_to_heterodata
from gnn.detector import AccountDetector
from gnn.sampler import TemporalNeighborSampler
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
    too_few = AccountDetector(**settings, boost_min_labels=fewest + 1).fit(
        snapshot, train, val_labels=val)
    assert too_few.boost_mode_ is None and too_few.boost_ is None
    assert "boost:xgboost_logit" not in too_few.feature_names_
    too_few.save(tmp_path / "plain")
    assert AccountDetector.load(tmp_path / "plain").boost is None


def test_auto_is_the_default_and_needs_fifty_labels_of_each_class():
    detector = AccountDetector()
    assert detector.boost == "auto" and detector.boost_min_labels == 50
    assert detector._boost_mode(np.r_[np.ones(50), np.zeros(400)]) == "residual"
    assert detector._boost_mode(np.r_[np.ones(49), np.zeros(400)]) is None
    assert detector._boost_mode(np.r_[np.ones(400), np.zeros(49)]) is None
