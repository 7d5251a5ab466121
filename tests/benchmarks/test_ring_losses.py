"""benchmarks.ring_losses: each true ring's stage on hand-made candidates."""

import pandas as pd

from benchmarks.ring_losses import STAGES, TrueRing, ring_losses, stage_table
from graph.rings.candidates import RingCandidate, ring_id_for


def _candidate(members, kind="shared_entities", significant=1.0, surprise=5.0):
    members = sorted(members)
    return RingCandidate(ring_id_for(members), members, kind, [],
                         {"size": float(len(members)), "significant": significant,
                          "surprise": surprise}, [], members)


def _names(prefix, n):
    return [f"{prefix}{i}" for i in range(n)]


def test_each_true_ring_gets_the_first_step_it_fails():
    truth = {
        "none": _names("x", 5), "merged": _names("t", 4), "split": _names("u", 6),
        "chance": _names("c", 5), "trimmed": _names("r", 5), "suppressed": _names("s", 6),
        "under_bar": _names("b", 4), "reported": _names("g", 4),
    }
    candidates = [
        _candidate(truth["merged"] + _names("m", 8)),
        _candidate(truth["split"][:2] + ["v0"]),
        _candidate(truth["chance"], significant=0.0, surprise=-1.0),
        _candidate(truth["trimmed"]),
        # a piece of the ring with an outsider, inside a better group that does not match it
        _candidate(truth["suppressed"][:4] + ["y0"]),
        _candidate(truth["suppressed"][:3] + ["y0", "y1"]),
        _candidate(truth["under_bar"]),
        _candidate(truth["reported"]),
    ]
    high = {*truth["suppressed"], "y0", "y1", *truth["under_bar"], *truth["reported"],
            *truth["merged"], *_names("m", 8), "r0"}
    accounts = sorted({m for ms in truth.values() for m in ms} | high | {"v0", *_names("h", 40)})
    score = {a: 0.9 if a in high else 0.1 for a in accounts}
    score.update({m: 0.7 for m in truth["suppressed"]})
    scores = pd.DataFrame({"account_id": accounts, "score": [score[a] for a in accounts]})
    labels = pd.DataFrame({"account_id": [*truth["reported"], *_names("h", 20)],
                           "label": [1] * 4 + [0] * 20})
    rings = [TrueRing(k, "fan_in" if i % 2 else "cycle", tuple(sorted(m)))
             for i, (k, m) in enumerate(truth.items())]
    reported = pd.DataFrame({"members": [truth["reported"], truth["merged"] + _names("m", 8)]})
    losses = ring_losses(rings, candidates, scores, labels, reported=reported)
    assert losses["stage"].tolist() == list(truth)
    merged = losses.set_index("ring_id").loc["merged"]
    assert merged["held"] == 1.0 and merged["jaccard"] == round(4 / 12, 3)
    assert losses.set_index("ring_id").loc["chance", "surprise"] == -1.0
    table = stage_table(losses)
    assert table.loc["all", "all"] == len(truth) and list(table.columns)[:-1] == list(STAGES)
    # the rings as the run would report them: calibrated on the labels, at min_score
    calibrated = ring_losses(rings, candidates, scores, labels)
    assert calibrated.set_index("ring_id").loc["reported", "stage"] == "reported"
    # a ring reported through a group that is no candidate (review R68) is reported
    through = ring_losses(rings, candidates, scores, labels, reported=pd.DataFrame(
        {"members": [truth["none"], truth["chance"]]}))
    assert through.set_index("ring_id").loc[["none", "chance"], "stage"].tolist() == [
        "reported", "reported"]


def test_a_run_directory_is_read_with_a_generator_truth(tmp_path):
    from abusenet.pipeline.stages.data import write_candidates
    from benchmarks.ring_losses import main

    ring, other = _names("g", 4), _names("c", 5)
    for stage in ("candidates", "score", "labels"):
        (tmp_path / ".work" / stage).mkdir(parents=True)
    write_candidates([_candidate(ring), _candidate(other, significant=0.0, surprise=-1.0)],
                     tmp_path / ".work" / "candidates" / "candidates.parquet")
    accounts = [*ring, *other, *_names("h", 20)]
    pd.DataFrame({"account_id": accounts, "score": [0.9] * 4 + [0.1] * 25}).to_parquet(
        tmp_path / ".work" / "score" / "account_scores.parquet")
    pd.DataFrame({"account_id": _names("h", 10), "label": 0}).to_parquet(
        tmp_path / ".work" / "labels" / "train_labels.parquet")
    pd.DataFrame({"ring_id": ["r"], "members": [ring]}).to_parquet(tmp_path / "rings.parquet")
    pd.DataFrame({"ring_id": ["a", "b"], "kind": ["mule", "farm"], "members": [ring, other]}
                 ).to_parquet(tmp_path / "truth.parquet")
    main(["--run", str(tmp_path), "--truth", str(tmp_path / "truth.parquet"),
          "--csv", str(tmp_path / "losses.csv")])
    losses = pd.read_csv(tmp_path / "losses.csv")
    assert losses["stage"].tolist() == ["reported", "chance"]
    assert losses["typology"].tolist() == ["mule", "farm"]
