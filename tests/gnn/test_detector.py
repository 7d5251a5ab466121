import numpy as np
import pandas as pd
import pytest

from gnn.data import snapshot_to_heterodata
from gnn.detector import AccountDetector, NotFittedError
from gnn.evaluate import auroc
from gnn.labels import stratified_split
from tests.gnn.planted import make_snapshot, planted_rings

FAST = {"max_epochs": 15, "patience": 15, "batch_size": 64, "hidden_channels": 32, "lr": 0.01}


@pytest.fixture(scope="module")
def rings():
    snapshot, truth = planted_rings()
    rng = np.random.default_rng(0)
    known = rng.random(len(truth)) < 0.5
    detector = AccountDetector(**FAST).fit(snapshot, truth[known])
    return snapshot, truth, known, detector


def test_planted_rings_are_found_on_unlabelled_accounts(rings):
    snapshot, truth, known, detector = rings
    scores = detector.score_accounts(snapshot)
    assert list(scores.columns) == ["account_id", "score"]
    assert scores["score"].between(0, 1).all()
    merged = truth.merge(scores, on="account_id")[~known]
    assert auroc(merged["label"], merged["score"]) >= 0.9


def test_ring_entities_score_above_benign_entities(rings):
    snapshot, _, _, detector = rings
    entities = detector.score_entities(snapshot)
    assert set(entities["node_type"]) == {"Device", "IP", "PaymentMethod"}
    assert entities["score"].between(0, 1).all()
    devices = entities[entities["node_type"] == "Device"].set_index("entity_id")["score"]
    ring_devices = devices[devices.index.str.startswith("ring-device")]
    assert ring_devices.min() > devices.drop(ring_devices.index).median()


def test_save_load_round_trip_gives_identical_scores(rings, tmp_path):
    snapshot, _, _, detector = rings
    detector.save(tmp_path / "model")
    assert {p.name for p in (tmp_path / "model").iterdir()} == {"model.pt", "metadata.json"}
    loaded = AccountDetector.load(tmp_path / "model")
    before = detector.score_accounts(snapshot)
    after = loaded.score_accounts(snapshot)
    pd.testing.assert_frame_equal(before, after)
    assert loaded.metrics_["validation"] == pytest.approx(detector.metrics_["validation"])


def test_explain_names_the_shared_ring_entities(rings):
    snapshot, truth, _, detector = rings
    member = truth.loc[truth["label"] == 1, "account_id"].iloc[0]
    table = detector.explain(snapshot, [member], top_k=3)
    neighbours = table[table["kind"] == "neighbor"]
    features = table[table["kind"] == "feature"]
    assert len(neighbours) == 3 and len(features) == 3
    assert neighbours["item"].str.startswith("ring-").any()
    assert (table["account_id"] == member).all()
    assert table["score"].between(0, 1).all()


def test_explain_rejects_unknown_accounts(rings):
    snapshot, _, _, detector = rings
    with pytest.raises(KeyError, match="nobody"):
        detector.explain(snapshot, ["nobody"])


def test_scoring_before_fit_is_a_clear_error():
    snapshot, _ = planted_rings(num_accounts=40, num_rings=1)
    with pytest.raises(NotFittedError, match="not fitted"):
        AccountDetector().score_accounts(snapshot)


def test_single_class_labels_are_rejected():
    snapshot, truth = planted_rings(num_accounts=60, num_rings=1)
    with pytest.raises(ValueError, match="both classes"):
        AccountDetector().fit(snapshot, truth[truth["label"] == 0])


def _post_label_artefact(seed: int = 0):
    """Abusive accounts get linked to a review device only *after* their label is known."""
    rng = np.random.default_rng(seed)
    n = 200
    accounts = [f"a{i}" for i in range(n)]
    label = (rng.random(n) < 0.3).astype(np.int8)
    label_day = rng.uniform(10, 20, n)
    positives = np.flatnonzero(label == 1)
    links = {
        "USED_DEVICE": (
            accounts + [accounts[i] for i in positives],
            [f"d{i}" for i in range(n)] + ["review-device"] * len(positives),
            list(rng.uniform(0, 5, n)) + list(label_day[positives] + 1.0),
        ),
        "USED_IP": (accounts, [f"ip{rng.integers(0, 30)}" for _ in range(n)], rng.uniform(0, 5, n)),
    }
    features = {"events": rng.poisson(10, n).astype(float)}
    snapshot = make_snapshot(accounts, features, links)
    ts = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(label_day, unit="D")
    labels = pd.DataFrame({"account_id": accounts, "label": label, "ts": ts})
    return snapshot, labels


def test_no_label_leakage_across_time():
    """With label times, links made after a label must be invisible to training and validation.

    The only signal here is a post-label artefact; without times the model finds it (so the test
    can fail), with times the validation AUROC must stay near chance.
    """
    snapshot, labels = _post_label_artefact()
    leaky = AccountDetector(**FAST).fit(snapshot, labels.drop(columns="ts"))
    assert leaky.metrics_["validation"]["auroc"] > 0.95
    honest = AccountDetector(**FAST).fit(snapshot, labels)
    assert honest.metrics_["time_aware"]
    assert honest.metrics_["validation"]["auroc"] < 0.75


def test_target_type_account_is_the_default_and_other_types_are_checked():
    """Naming the target type changes nothing for accounts; an unknown type is refused."""
    snapshot, truth = planted_rings(num_accounts=80, num_rings=2)
    data, _ = snapshot_to_heterodata(snapshot)
    y = truth["label"].to_numpy(np.float32)
    train, val = stratified_split(y, 0.3, 0)
    args = (data, train, y[train], val, y[val])
    settings = {**FAST, "max_epochs": 3}
    default = AccountDetector(**settings).fit_graph(*args)
    named = AccountDetector(**settings).fit_graph(*args, target_type="Account")
    np.testing.assert_array_equal(default.score_graph(data), named.score_graph(data))
    with pytest.raises(ValueError, match="'Terminal' is not a node type"):
        AccountDetector(**settings).fit_graph(*args, target_type="Terminal")
