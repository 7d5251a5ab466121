import numpy as np
import pandas as pd

from abusenet.validation.config import DriftConfig
from abusenet.validation.drift import (
    build_reference,
    compare,
    histogram,
    psi,
    read_reference,
    shares,
    write_reference,
)
from graph.rings.planted import planted_ring_snapshot


def test_psi_is_zero_on_the_same_data_and_large_on_shifted_data():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=5000)
    hist = histogram(ref, 10)
    assert psi(hist["shares"], shares(ref, hist["cuts"])) < 1e-9
    assert psi(hist["shares"], shares(rng.normal(size=5000), hist["cuts"])) < 0.02
    assert psi(hist["shares"], shares(rng.normal(2.0, size=5000), hist["cuts"])) > 1.0


def test_missing_values_are_a_bin_of_their_own():
    hist = histogram(np.array([1.0, 2.0, 3.0, np.nan]), 2)
    assert hist["shares"][-1] == 0.25


def test_reference_round_trip_and_drift_of_another_world(tmp_path):
    snapshot, _ = planted_ring_snapshot(n_accounts=300, seed=0)
    ids = snapshot.nodes["Account"]["id"].astype(str)
    scores = pd.DataFrame({"account_id": ids, "score": np.linspace(0, 1, len(ids))})
    reference = build_reference(snapshot, scores, pd.DataFrame({"label": [0, 1, 1, 0]}))
    write_reference(tmp_path, reference, ids)
    loaded, hashes = read_reference(tmp_path)
    same = compare(loaded, hashes, snapshot, scores, None, DriftConfig())
    assert not same["drifted"] and same["unseen_share"] == 0.0 and same["score_psi"] < 1e-9
    assert same["label_rate"] == {"new": None, "reference": 0.5}
    shifted = scores.assign(account_id="new-" + scores["account_id"], score=scores["score"] ** 4)
    moved = compare(loaded, hashes, snapshot, shifted, None, DriftConfig())
    assert moved["drifted"] and moved["unseen_share"] == 1.0
    assert any("score PSI" in a for a in moved["alerts"])
    assert any("unseen accounts" in a for a in moved["alerts"])


def test_a_model_without_reference_reads_none(tmp_path):
    assert read_reference(tmp_path) is None
