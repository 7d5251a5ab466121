"""The challenger stage on a finished small run: the GNN stays published when the validation
labels hold too few positives to choose by."""

from __future__ import annotations

import pandas as pd

from abusenet.pipeline.plan import _describe_selection
from abusenet.pipeline.stages.validation import challenger_stage
from abusenet.validation.config import ValidationConfig


def test_too_few_validation_positives_keep_the_gnn_published(small_run, tmp_path):
    work = small_run[0] / ".work"
    inputs = (work / "snapshot" / "snapshot", work / "train",
              work / "score" / "account_scores.parquet")
    positives = int(pd.read_parquet(work / "train" / "validation_labels.parquet")["label"].sum())
    assert positives > 0
    (tmp_path / "few").mkdir()
    (tmp_path / "enough").mkdir()
    few = challenger_stage(*inputs, ValidationConfig(min_challenger_positives=positives + 1),
                           tmp_path / "few")
    assert few["winner"] == "gnn" and few["kept"]["positives"] == positives
    assert _describe_selection(few).startswith(f"published: gnn (kept: {positives} validation")
    assert f"{positives} positives in the validation labels" in few["warning"]
    enough = challenger_stage(*inputs, ValidationConfig(min_challenger_positives=positives),
                              tmp_path / "enough")
    assert "min_challenger_positives" not in enough.get("warning", "") and "kept" not in enough
    assert _describe_selection(enough).startswith(f"published: {enough['winner']} (by ")
