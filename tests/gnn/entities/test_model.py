import numpy as np
import pandas as pd
import pytest

from gnn.entities.model import EntityRiskModel
from gnn.estimator import NotFittedError
from gnn.evaluate import auroc
from graph.snapshot import Snapshot, relation_specs

BASE = pd.Timestamp("2024-01-01", tz="UTC")
FAST = {"max_epochs": 20, "patience": 20, "batch_size": 32, "hidden_channels": 32, "lr": 0.01,
        "boost_choice_folds": 0}


def _nodes(ids, features=None) -> pd.DataFrame:
    table = pd.DataFrame({"id": pd.Series(ids, dtype=str)})
    table["first_ts"] = pd.Series([BASE] * len(ids), dtype="datetime64[us, UTC]")
    table["last_ts"] = table["first_ts"]
    for name, values in (features or {}).items():
        table[name] = values
    return table


def _edges(src, dst, days) -> pd.DataFrame:
    first = (BASE + pd.to_timedelta(np.asarray(days, dtype=float), unit="D")).as_unit("us")
    return pd.DataFrame(
        {
            "src": pd.Series(src, dtype=str),
            "dst": pd.Series(dst, dtype=str),
            "count": np.ones(len(src), dtype=np.int64),
            "first_ts": first,
            "last_ts": first,
            "amount_sum": np.zeros(len(src)),
        }
    )


def skimmed_terminals(seed: int = 0) -> tuple[Snapshot, pd.DataFrame]:
    """Terminals whose customers include accounts with many chargebacks are compromised.

    Every terminal has six customers: a compromised one three flagged accounts (many
    chargebacks) and three ordinary ones, a genuine one six ordinary ones, so degree tells
    nothing and terminals have no features: only their customers' features tell them apart.
    Accounts also use their own device and an IP of a shared pool.
    """
    rng = np.random.default_rng(seed)
    n_accounts, n_terminals, n_bad = 300, 120, 30
    accounts = np.array([f"a{i}" for i in range(n_accounts)])
    flagged = rng.random(n_accounts) < 0.2
    chargebacks = np.where(flagged, rng.poisson(6, n_accounts) + 2, rng.poisson(0.2, n_accounts))
    terminals = [f"t{i}" for i in range(n_terminals)]
    bad = np.zeros(n_terminals, dtype=bool)
    bad[rng.choice(n_terminals, n_bad, replace=False)] = True
    src, dst = [], []
    for i, terminal in enumerate(terminals):
        if bad[i]:
            users = np.concatenate([
                rng.choice(np.flatnonzero(flagged), 3, replace=False),
                rng.choice(np.flatnonzero(~flagged), 3, replace=False),
            ])
        else:
            users = rng.choice(np.flatnonzero(~flagged), 6, replace=False)
        src += accounts[users].tolist()
        dst += [terminal] * 6
    features = {
        "chargebacks": chargebacks.astype(np.float64),
        "events": rng.poisson(20, n_accounts).astype(np.float64),
    }
    ips = [f"ip{k}" for k in rng.integers(0, 25, n_accounts)]
    links = {
        "USED_TERMINAL": (src, dst, rng.uniform(0, 30, len(src))),
        "USED_DEVICE": (accounts, [f"d{i}" for i in range(n_accounts)], np.zeros(n_accounts)),
        "USED_IP": (accounts, ips, rng.uniform(0, 30, n_accounts)),
    }
    specs = relation_specs({"USED_TERMINAL": ("Account", "Terminal")})
    nodes = {
        "Account": _nodes(accounts, features),
        "Terminal": _nodes(terminals),
        "Device": _nodes([f"d{i}" for i in range(n_accounts)]),
        "IP": _nodes(sorted(set(ips))),
    }
    snapshot = Snapshot(
        nodes=nodes,
        edges={name: _edges(*triple) for name, triple in links.items()},
        relations={name: specs[name] for name in links},
    )
    truth = pd.DataFrame(
        {"node_type": "Terminal", "entity_id": terminals, "label": bad.astype(np.int8)}
    )
    return snapshot, truth


@pytest.fixture(scope="module")
def skimmers():
    snapshot, truth = skimmed_terminals()
    known = np.random.default_rng(1).random(len(truth)) < 0.5
    model = EntityRiskModel(FAST).fit(snapshot, truth[known])
    return snapshot, truth, known, model


def test_compromised_terminals_are_ranked_from_their_customers(skimmers):
    snapshot, truth, known, model = skimmers
    scores = model.score_entities(snapshot)
    assert list(scores.columns) == ["node_type", "entity_id", "score"]
    assert set(scores["node_type"]) == {"Terminal"}
    assert len(scores) == len(truth)
    assert scores["score"].between(0, 1).all()
    held = truth[~known].merge(scores, on=["node_type", "entity_id"])
    assert auroc(held["label"], held["score"]) >= 0.9
    assert model.node_types_ == ["Terminal"]
    assert model.metrics_["Terminal"]["train_labels"] + model.metrics_["Terminal"][
        "val_labels"
    ] == int(known.sum())


def test_scores_are_calibrated_probabilities(skimmers):
    snapshot, truth, known, model = skimmers
    scores = model.score_entities(snapshot).merge(truth, on=["node_type", "entity_id"])
    # a quarter of the terminals are compromised: the mean score is near that rate
    assert scores["score"].mean() == pytest.approx(truth["label"].mean(), abs=0.1)


def test_save_load_round_trip_gives_identical_scores(skimmers, tmp_path):
    snapshot, _, _, model = skimmers
    model.save(tmp_path / "entities")
    assert {p.name for p in (tmp_path / "entities").iterdir()} == {"metadata.json", "type-0"}
    assert {p.name for p in (tmp_path / "entities" / "type-0").iterdir()} == {
        "model.pt", "metadata.json",
    }
    loaded = EntityRiskModel.load(tmp_path / "entities")
    assert loaded.get_params() == model.get_params()
    pd.testing.assert_frame_equal(model.score_entities(snapshot), loaded.score_entities(snapshot))


def test_load_refuses_an_account_detector(skimmers, tmp_path):
    _, _, _, model = skimmers
    model.detectors_["Terminal"].save(tmp_path / "detector")
    with pytest.raises(ValueError, match="AccountDetector"):
        EntityRiskModel.load(tmp_path / "detector")


def test_load_names_a_broken_metadata_file(tmp_path):
    (tmp_path / "metadata.json").write_text('{"kind":\n  "EntityRiskModel",,}')
    with pytest.raises(ValueError, match=r"metadata.json: not valid JSON \(line 2, column 21"):
        EntityRiskModel.load(tmp_path)


def test_unknown_entities_are_counted_and_thin_types_skipped():
    snapshot, truth = skimmed_terminals()
    extra = pd.DataFrame(
        {
            "node_type": ["Terminal", "Device", "Merchant"],
            "entity_id": ["no-such-terminal", "d0", "m1"],
            "label": [1, 1, 0],
        }
    )
    model = EntityRiskModel({**FAST, "max_epochs": 2}).fit(
        snapshot, pd.concat([truth, extra], ignore_index=True)
    )
    assert model.node_types_ == ["Terminal"]
    assert model.metrics_["Terminal"]["unknown_labels"] == 1
    assert "each class needs at least 2" in model.skipped_["Device"]
    assert "no 'Merchant' nodes" in model.skipped_["Merchant"]


def test_clear_errors():
    snapshot, truth = skimmed_terminals()
    with pytest.raises(NotFittedError, match="not fitted"):
        EntityRiskModel().score_entities(snapshot)
    with pytest.raises(ValueError, match="no entity type has enough labels"):
        EntityRiskModel(FAST).fit(snapshot, truth[truth["label"] == 0])
    with pytest.raises(ValueError, match="'Account'"):
        EntityRiskModel(FAST).fit(snapshot, truth.assign(node_type="Account"))
    with pytest.raises(ValueError, match=r"unknown detector parameter\(s\) \['epochs'\]"):
        EntityRiskModel({"epochs": 3}).fit(snapshot, truth)


def test_label_times_bound_what_each_labelled_entity_sees():
    snapshot, truth = skimmed_terminals()
    truth["known_at"] = BASE + pd.Timedelta(days=15)
    model = EntityRiskModel({**FAST, "max_epochs": 2}).fit(snapshot, truth)
    assert model.metrics_["Terminal"]["time_aware"]
    assert model.score_entities(snapshot)["score"].between(0, 1).all()


def test_a_type_with_too_few_labels_for_the_boosted_channel_trains_without_it() -> None:
    from gnn.detector import AccountDetector
    from gnn.entities.model import _without_boost_if_too_few

    detector = AccountDetector(boost="residual")
    note = _without_boost_if_too_few(detector, np.array([1, 0, 0, 0]), "Terminal")
    assert detector.boost is None and "1 positive and 3 negative" in note
    kept = AccountDetector(boost="residual")
    assert _without_boost_if_too_few(kept, np.array([1, 1, 0, 0]), "Terminal") is None
    assert kept.boost == "residual"


def test_entity_detectors_make_no_boost_choice_unless_asked():
    """The pooled boost choice (six extra fits) was measured on account labels only: entity
    models keep the network alone below boost_min_labels unless their parameters ask for it."""
    assert EntityRiskModel()._detector().boost_choice_folds == 0
    assert EntityRiskModel({"boost_choice_folds": 3})._detector().boost_choice_folds == 3
