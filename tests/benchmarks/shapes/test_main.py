"""The runner's label split and table (the runs themselves are the benchmark's, not tests')."""

from __future__ import annotations

import pandas as pd

from benchmarks.shapes.__main__ import chosen_worlds, markdown, split_labels
from benchmarks.shapes.worlds import WORLDS


def test_split_labels_halves_each_class_and_is_seeded() -> None:
    labels = pd.DataFrame({"user_id": [f"u{i}" for i in range(21)],
                           "is_abuser": [1] * 7 + [0] * 14})
    given, hidden = split_labels(labels, seed=0)
    assert given["is_abuser"].sum() == 4 and hidden["is_abuser"].sum() == 3
    assert len(given) == 11 and len(hidden) == 10
    assert not set(given["user_id"]) & set(hidden["user_id"])
    again, _ = split_labels(labels, seed=0)
    other, _ = split_labels(labels, seed=1)
    assert again.equals(given) and not other.equals(given)


def test_markdown_has_a_row_per_world_mode_and_group() -> None:
    run = {"rings": 2, "pairs": 1, "member_precision": 0.5, "found": 1, "groups": 2,
           "whole": 0, "honest_in_rings": 3, "lookalikes_in_rings": {"kiosk": 1, "family": 0},
           "accounts": {"auroc": 0.75, "auprc": float("nan")}, "cpu_s": 12.34,
           "per_group": {"farm": {"kind": "promo_farm", "cover": 0.75, "touched": 0.75,
                                  "pieces": 2, "union": 1.0}}}
    table = markdown({"worlds": {"farms": {"planted": {"farm": 4},
                                           "runs": {"none": run, "half": run}}}})
    assert "| farms | none | 2 (1) | 0.500 | 1 / 2 | 0 | 3 | kiosk 1 | 0.750 | - | 12.3 |" \
        in table
    assert ("| farms | farm | promo_farm | 4 | 0.75 / 0.75 | 0.75 / 0.75 | 2 / 2 | 1.00 / 1.00 |"
            in table)


def test_markdown_says_a_skipped_run() -> None:
    table = markdown({"worlds": {"lookalikes": {"planted": {},
                                                "runs": {"half": {"skipped": "no labels"}}}}})
    assert "| lookalikes | half | skipped: no labels |" in table


def test_quick_runs_mixed_alone_unless_worlds_are_named() -> None:
    assert chosen_worlds(None, quick=True) == ["mixed"]
    assert chosen_worlds(None, quick=False) == list(WORLDS)
    assert chosen_worlds(["farms", "reviews"], quick=True) == ["farms", "reviews"]
