"""benchmarks.serve --in-process: the apply path's CPU by phase on a small run, and its digest."""

from __future__ import annotations

import json

from benchmarks.serve import APPLY_PHASES, in_process, remove_service_segments


def test_the_in_process_harness_times_each_phase_and_dumps_the_responses(run_dir, tmp_path):
    dump = tmp_path / "responses.jsonl"
    out = in_process(run_dir, None, [1, 3], groups=2, warm=1, seed=0, count_calls=1, dump=dump)
    assert set(out["sizes"]) == {"1", "3"}
    assert len(out["warm_apply_cpu_ms"]) == 1 and out["warm_apply_cpu_ms"][0] > 0
    for figures in out["sizes"].values():
        assert figures["groups"] == 2
        assert all(figures[f"{phase}_cpu_ms"]["mean"] > 0 for phase in APPLY_PHASES)
        assert all(python > 0 and c > 0 and hooked > 0 for python, c, hooked
                   in figures["calls_python_c_hooked_cpu_ms"].values())
        assert figures["log_cpu_ms"]["mean"] > 0
        assert figures["all_cpu_ms_per_event"] > figures["apply_cpu_ms_per_event"]
    lines = [json.loads(line) for line in dump.read_text().splitlines()]
    assert [len(views) for views in lines] == [1, 3, 1, 3]  # one line a timed group, in turn
    assert all(0 <= view["score"] <= 1 for views in lines for view in views)
    # the same traffic on the same state (the first run's logged segments removed, as --cold
    # does): the same answers, to the bit
    remove_service_segments(run_dir)
    again = in_process(run_dir, None, [1, 3], groups=2, warm=1, seed=0)
    assert again["responses_sha256"] == out["responses_sha256"]
