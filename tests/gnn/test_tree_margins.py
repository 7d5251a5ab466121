"""gnn.tree_margins: numpy margins equal XGBoost's own, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from gnn.tree_margins import MergedMargins, TreeMargins


def boosters(seed: int = 0, folds: int = 3) -> tuple[list[xgb.Booster], np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(400, 6)).astype(np.float32)
    x[rng.random(x.shape) < 0.1] = np.nan  # missing values go each split's default way
    y = ((np.nan_to_num(x[:, 0]) + np.nan_to_num(x[:, 1]) * x[:, 2] ** 2 > 0.3)
         | (rng.random(400) < 0.1)).astype(int)
    models = []
    for fold in range(folds):
        model = xgb.XGBClassifier(n_estimators=30, max_depth=3 + fold % 2, learning_rate=0.3,
                                  random_state=fold, n_jobs=1)
        model.fit(x[fold::folds], y[fold::folds])
        models.append(model.get_booster())
    return models, x


@pytest.mark.parametrize("reader", [TreeMargins, MergedMargins])
@pytest.mark.parametrize("rows", [1, 7, 400])
def test_margins_equal_each_boosters_xgboost_margins(reader, rows):
    models, x = boosters()  # fold models of different depths, missing values
    x = x[:rows]
    expected = np.stack([m.inplace_predict(x, predict_type="margin") for m in models])
    got = reader(models).margins(x)
    assert got.dtype == np.float32 and got.shape == (len(models), rows)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("rows", [1, 50])
def test_rows_without_missing_values(rows):
    models, x = boosters(1)
    x = np.nan_to_num(x[:rows])  # one row: no offsets either
    expected = np.stack([m.inplace_predict(x, predict_type="margin") for m in models])
    np.testing.assert_array_equal(TreeMargins(models).margins(x), expected)


def test_another_objective_is_refused():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(60, 3)).astype(np.float32)
    model = xgb.XGBRegressor(n_estimators=3, max_depth=2, n_jobs=1).fit(x, x[:, 0])
    with pytest.raises(ValueError, match="objective"):
        TreeMargins([model.get_booster()])


def test_merged_margins_refuse_one_booster_different_sizes_and_other_objectives():
    models, x = boosters(folds=2)
    short = xgb.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(
        np.nan_to_num(x[:100]), (np.nan_to_num(x[:100, 0]) > 0).astype(int))
    with pytest.raises(ValueError, match="numbers of trees"):
        MergedMargins([*models, short.get_booster()])
    with pytest.raises(ValueError, match="fewer than two"):
        MergedMargins(models[:1])
    model = xgb.XGBRegressor(n_estimators=3, max_depth=2, n_jobs=1).fit(
        x[:60], np.nan_to_num(x[:60, 0]))
    with pytest.raises(ValueError, match="objective"):
        MergedMargins([model.get_booster()])
