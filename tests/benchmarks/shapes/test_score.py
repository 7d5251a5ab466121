"""The shapes scorer's arithmetic on hand-made rings."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from benchmarks.shapes.score import account_quality, group_coverage, score_run


def test_group_coverage_needs_half_the_group_in_one_precise_ring() -> None:
    abusive = {f"a{i}" for i in range(10)}
    group = [f"a{i}" for i in range(10)]
    # 6 of the group with 6 honest: precision 0.5, cover 0.6 -> found, not whole
    ring = group[:6] + [f"h{i}" for i in range(6)]
    got = group_coverage([ring], group, abusive)
    assert got == {"cover": 0.6, "touched": 0.6, "ring": 0, "pieces": 1, "union": 0.6,
                   "found": True, "whole": False}
    # 7 honest: precision 6/13 < 0.5 -> not counted, though touched
    got = group_coverage([ring + ["h6"]], group, abusive)
    assert got["cover"] == 0.0 and got["touched"] == 0.6 and not got["found"]
    # two rings of 4 each: neither covers half
    got = group_coverage([group[:4], group[4:8], ["h1", "h2"]], group, abusive)
    assert got["cover"] == 0.4 and not got["found"]
    assert got["pieces"] == 2 and got["union"] == 0.8
    got = group_coverage([group[:8], group[8:]], group, abusive)
    assert got["whole"] and got["ring"] == 0


def test_account_quality_on_hidden_accounts_missing_scores_zero() -> None:
    labels = pd.Series([1, 0, 0, 1], index=["a", "b", "c", "d"])
    scores = pd.Series({"a": 0.9, "b": 0.1, "c": 0.2, "x": 0.99})
    got = account_quality(scores, labels)
    # d is missing -> 0, below both negatives: pairs (a>b, a>c, d<b, d<c) -> 0.5
    assert got["auroc"] == pytest.approx(0.5) and got["missing"] == 1
    assert math.isnan(account_quality(scores, labels.iloc[1:3])["auroc"])


def test_score_run_counts_rings_precision_recall_and_lookalikes() -> None:
    truth = pd.Series({"f1": 1, "f2": 1, "f3": 1, "f4": 1, "s1": 1, "s2": 1,
                       "n1": 0, "n2": 0, "k1": 0, "h1": 0})
    groups = [{"id": "farm", "kind": "promo_farm", "members": ["f1", "f2", "f3", "f4"]},
              {"id": "stuff", "kind": "credential_stuffing", "members": ["s1", "s2"]}]
    lookalikes = [{"id": "uni", "kind": "university_nat", "members": ["n1", "n2"]},
                  {"id": "kiosk", "kind": "kiosk", "members": ["k1"]}]
    rings = pd.DataFrame({"members": [["f1", "f2", "f3", "n1"], ["n2", "k1"]],
                          "kind": ["shared", "shared"], "score": [0.9, 0.6],
                          "surprise": [30.0, 26.0]})
    scores = pd.Series({"f1": 0.9, "f2": 0.8, "s1": 0.7, "n1": 0.75, "h1": 0.1})
    got = score_run(rings, scores, truth, pd.Index(["f2", "s1", "n1", "h1"]), groups,
                    lookalikes)
    assert got["rings"] == 2 and got["pairs"] == 1 and got["ring_accounts"] == 6
    assert got["member_precision"] == pytest.approx(3 / 6)
    assert got["found"] == 1 and got["whole"] == 0
    assert got["per_group"]["farm"]["cover"] == 0.75
    assert got["per_group"]["stuff"]["touched"] == 0.0
    assert got["honest_in_rings"] == 3
    assert got["lookalikes_in_rings"] == {"university_nat": 2, "kiosk": 1}
    # hidden f2 0.8, s1 0.7 (abusive) against n1 0.75, h1 0.1: 3 of 4 pairs in order
    assert got["accounts"]["auroc"] == pytest.approx(0.75)
    assert got["reported"][1]["lookalikes"] == ["kiosk", "university_nat"]


def test_score_run_without_rings() -> None:
    truth = pd.Series({"a": 1, "b": 0})
    got = score_run(pd.DataFrame({"members": [], "score": []}), pd.Series(dtype=float), truth,
                    truth.index, [{"id": "g", "kind": "k", "members": ["a"]}], [])
    assert got["rings"] == 0 and got["found"] == 0 and math.isnan(got["member_precision"])
