"""benchmarks.serve: the service's CPU split between its event loop and its other threads."""

from __future__ import annotations

import os
import threading
import time

from benchmarks.serve import cpu_seconds, main_thread_cpu_seconds


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_the_main_thread_cpu_leaves_out_the_other_threads():
    pid = os.getpid()
    process, main = cpu_seconds(pid), main_thread_cpu_seconds(pid)
    worker = threading.Thread(target=_spin, args=(0.15,))
    worker.start()
    worker.join()
    grown_process = cpu_seconds(pid) - process
    grown_main = main_thread_cpu_seconds(pid) - main
    assert grown_process >= 0.12  # the worker's CPU counts for the process
    assert grown_main < 0.05  # not for the main thread
    assert main_thread_cpu_seconds(None) is None


def test_the_writer_busy_share_is_read_from_the_metrics_text():
    from abusenet.serve.metrics import Metrics
    from benchmarks.serve import gauge

    text = Metrics().render(3, {"nodes:Account": 2}, "v1", apply_busy=0.625)
    assert gauge(text, "abusenet_apply_busy_share") == 0.625
    assert gauge(Metrics().render(3, {}, "v1"), "abusenet_apply_busy_share") is None
