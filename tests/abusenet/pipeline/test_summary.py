"""The run summary's line when no ring is reported."""

from __future__ import annotations

from abusenet.pipeline.summary import no_rings_line


def test_candidates_judged_and_none_passing_is_not_called_none_found():
    line = no_rings_line(907)
    assert "907 ring candidates" in line
    assert "No ring candidates were found" not in line


def test_no_candidate_at_all_says_so():
    assert no_rings_line(0) == "No ring candidates were found."


def test_the_counterparty_hint_is_printed(tmp_path):
    from rich.console import Console

    from abusenet.pipeline.run import RunResult
    from abusenet.pipeline.runner import StageOutcome
    from abusenet.pipeline.summary import render_summary

    hint = "4 of the 4 counterparties (counterparty_id) never act ... {Seller: <column>}"
    snapshot = StageOutcome("snapshot", "snapshot", {"nodes": {"Account": 44},
                                                      "counterparty_hint": hint}, 0.1, False,
                            tmp_path)
    console = Console(record=True, width=400)
    render_summary(RunResult(tmp_path, {"snapshot": snapshot}, [], 1.0), console)
    assert f"Hint: {hint}." in console.export_text()


def test_the_text_attributes_made_features_are_named(tmp_path):
    from rich.console import Console

    from abusenet.pipeline.run import RunResult
    from abusenet.pipeline.runner import StageOutcome
    from abusenet.pipeline.summary import render_summary

    info = {"nodes": {"Account": 44},
            "text_features": {"result": ["success", "bad_password"], "status": ["ok", "banned"]}}
    snapshot = StageOutcome("snapshot", "snapshot", info, 0.1, False, tmp_path)
    console = Console(record=True, width=400)
    render_summary(RunResult(tmp_path, {"snapshot": snapshot}, [], 1.0), console)
    text = console.export_text()
    assert "Text attributes as features (each value's share of an account's events): result " \
           "(success, bad_password); status (ok, banned). A text that records the outcome" in text
    assert "featurize: false" in text
    del info["text_features"]
    console = Console(record=True, width=400)
    render_summary(RunResult(tmp_path, {"snapshot": snapshot}, [], 1.0), console)
    assert "Text attributes" not in console.export_text()


def test_groups_judged_whole_and_the_big_rings_reported_are_counted(tmp_path):
    import pandas as pd
    from rich.console import Console

    from abusenet.pipeline.run import RunResult
    from abusenet.pipeline.runner import StageOutcome
    from abusenet.pipeline.summary import render_summary

    pd.DataFrame({"ring_id": ["r1", "r2"], "score": [0.9, 0.8], "size": [200, 12],
                  "kind": ["shared_entities", "pair"], "evidence": [["Device:d"], ["IP:i"]]}
                 ).to_parquet(tmp_path / "rings.parquet")

    def text(info: dict) -> str:
        outcome = StageOutcome("candidates", "candidates", info, 0.1, False, tmp_path)
        console = Console(record=True, width=400)
        render_summary(RunResult(tmp_path, {"candidates": outcome}, [], 1.0), console)
        return console.export_text()

    said = text({"candidates": 9, "over_max_size": 3, "max_size": 50})
    assert ("3 ring candidate(s) of more than 50 accounts judged whole (rings.max_group_size); "
            "1 reported ring(s) of more than 50 accounts.") in said
    assert "judged whole" not in text({"candidates": 9, "over_max_size": 0, "max_size": 50})


def test_the_quality_line_names_its_positives_and_warns_when_they_are_few():
    from abusenet.pipeline.summary import quality_line

    few = quality_line({"labels": 64, "positives": 1, "evaluated_on": "held-back labels",
                        "accounts": {"auroc": 1.0, "auprc": 1.0, "recall_at_k": 1.0}})
    assert "64 held-back labels (1 abusive)" in few
    assert "Too few" in few
    enough = quality_line({"labels": 400, "positives": 40, "evaluated_on": "held-back labels",
                           "accounts": {"auroc": 0.9, "auprc": 0.7, "recall_at_k": 0.6}})
    assert "(40 abusive)" in enough
    assert "Too few" not in enough
