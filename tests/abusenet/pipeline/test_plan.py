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


def test_the_ingest_key_follows_the_labels_section_when_labels_are_given(tmp_path):
    # an edited labels section (values, constants, ts) resumed with the old labels before
    import dataclasses

    from abusenet.pipeline.plan import ingest_stage
    from ingest.mapping import LabelsSpec

    (tmp_path / "e.csv").write_text("x\n")
    labels = tmp_path / "labels.csv"
    labels.write_text("customer\na\n")
    mapping = load_mapping(MAPPING)

    def key(labels_file: Path | None, spec: LabelsSpec | None) -> dict:
        request = RunRequest(inputs=[str(tmp_path / "e.csv")], mapping=MAPPING,
                             out_dir=tmp_path / "out", labels=labels_file,
                             config=load_run_config(None, []))
        run = PlannedRun(request, dataclasses.replace(mapping, labels=spec),
                         StageCache(tmp_path / "w"), None)
        return ingest_stage(run).key

    abusers = LabelsSpec(columns={"account_id": "customer"}, constants={"label": 1})
    legit = LabelsSpec(columns={"account_id": "customer"}, constants={"label": 0})
    assert key(labels, abusers) != key(labels, legit)
    assert key(None, abusers) == key(None, legit)  # no labels file: the key of old runs
    assert "labels_section" not in key(None, abusers)


def test_the_events_stage_line_says_how_the_burst_fallback_drew_its_slice():
    from abusenet.pipeline.plan import _describe_events

    base = {"events": 10, "metrics": {}}
    by_account = _describe_events({**base, "validation": "stratified: ...; drawn by account "
                                   "(all of an account's events on one side)"})
    assert by_account.endswith("validation slice stratified by account (the fraud is one burst "
                               "in time)")
    by_event = _describe_events({**base, "validation": "stratified: ...; drawn by event (...)"})
    assert "stratified by event; probabilities may be optimistic" in by_event
    assert "stratified" not in _describe_events({**base, "validation": "time-later"})


def test_a_stage_error_ending_in_a_period_reads_with_one(tmp_path):
    from abusenet.pipeline.errors import stage_error

    text = str(stage_error("train", ValueError("Add labels for both classes."), tmp_path))
    assert "Add labels for both classes. No output file was changed." in text
    assert ".." not in text and (tmp_path / "last_error.log").is_file()
