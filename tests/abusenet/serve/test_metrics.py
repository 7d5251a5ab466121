"""abusenet.serve.metrics: phase histograms with their longest, collector pauses."""

from __future__ import annotations

import gc

from abusenet.serve.metrics import Metrics


def test_phases_and_collector_pauses_are_exposed():
    metrics = Metrics(watch_gc=True)
    try:
        for seconds in (0.0004, 0.003, 0.2):
            metrics.phase("log", seconds)
        gc.collect()
        text = metrics.render(3, {"nodes:Account": 5}, "v1")
    finally:
        metrics.close()
    assert 'abusenet_phase_seconds_bucket{phase="log",le="0.0005"} 1' in text
    assert 'abusenet_phase_seconds_bucket{phase="log",le="0.005"} 2' in text
    assert 'abusenet_phase_seconds_count{phase="log"} 3' in text
    assert 'abusenet_phase_seconds_max{phase="log"} 0.200000' in text
    assert 'abusenet_gc_pause_seconds_count{generation="2"} 1' in text
    assert metrics._on_gc not in gc.callbacks
    gc.collect()  # no longer watched
    assert 'abusenet_gc_pause_seconds_count{generation="2"} 1' in metrics.render(3, {}, "v1")
