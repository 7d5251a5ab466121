"""The plan's candidate stage lists the pairs chance explains only for a run with a model and
``ring_scoring.pair_fdr`` set."""

from __future__ import annotations

from pathlib import Path

from abusenet.pipeline.cache import StageCache
from abusenet.pipeline.config import load_run_config
from abusenet.pipeline.plan import PlannedRun, candidates_stage
from abusenet.pipeline.request import RunRequest
from ingest.mapping import load_mapping

MAPPING = Path(__file__).resolve().parents[3] / "configs" / "mappings" / "synth.yaml"


def _chance_pairs(tmp_path: Path, labels: Path | None, *overrides: str) -> bool:
    request = RunRequest(inputs=[str(tmp_path)], mapping=MAPPING, out_dir=tmp_path / "out",
                         labels=labels, config=load_run_config(None, list(overrides)))
    run = PlannedRun(request, load_mapping(MAPPING), StageCache(tmp_path / "w"), None)
    return candidates_stage(run).key["chance_pairs"]


def test_chance_pairs_are_listed_when_a_model_scores_the_accounts(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("account_id,label\na,1\n")
    assert _chance_pairs(tmp_path, labels, "ring_scoring.pair_fdr=0.05") is True
    # no labels: structure scores, no judge
    assert _chance_pairs(tmp_path, None, "ring_scoring.pair_fdr=0.05") is False
    assert _chance_pairs(tmp_path, labels) is False  # off by default
