"""Two shapes batteries side by side."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from benchmarks.shapes.compare import compare, load


def _battery() -> dict:
    run = {"rings": 1, "member_precision": 1.0, "found": 1, "groups": 2, "whole": 1,
           "honest_in_rings": 0, "accounts": {"auprc": 0.5},
           "per_group": {"farm_30": {"size": 30, "cover": 1.0},
                         "farm_100": {"size": 100, "cover": 0.0}}}
    return {"seed": 0, "quick": True,
            "worlds": {"farms": {"accounts": 2130, "planted": {"farm_30": 30, "farm_100": 100},
                                 "runs": {"none": run,
                                          "half": {"skipped": "no abusive account"}}}}}


def test_compare_shows_what_changed_and_only_that(tmp_path: Path) -> None:
    before = _battery()
    after = copy.deepcopy(before)
    run = after["worlds"]["farms"]["runs"]["none"]
    run.update(rings=2, found=2, whole=2, accounts={"auprc": 0.75})
    run["per_group"]["farm_100"]["cover"] = 1.0
    (tmp_path / "shapes.json").write_text(json.dumps(after))
    table = compare(before, load(tmp_path))
    assert "| farms | none | 1 -> 2 | 1.000 | 1 -> 2 / 2 | 1 -> 2 | 0 | 0.500 -> 0.750 |" in table
    assert "| farms | none | farm_100 | 100 | 0.000 -> 1.000 |" in table
    assert "farm_30" not in table and "half" not in table


def test_compare_refuses_other_worlds() -> None:
    before, after = _battery(), _battery()
    after["worlds"]["farms"]["accounts"] = 2200
    with pytest.raises(ValueError, match="world farms differs"):
        compare(before, after)
    after = _battery()
    after["seed"] = 1
    with pytest.raises(ValueError, match="seed"):
        compare(before, after)
