"""benchmarks.serve: the service's CPU split between its event loop and its other threads."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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


class _Events:
    """Traffic's interface: event ``i``."""

    def event(self, i: int, tag: str) -> dict[str, object]:
        return {"event_id": f"{tag}-{i}", "account_id": "a1"}


@contextlib.contextmanager
def _serving(post: Callable[[BaseHTTPRequestHandler, Any], int]) -> Iterator[str]:
    """A keep-alive HTTP server on a free port, answering each POST with the status
    ``post(handler, body)`` gives (``body``: the request's JSON) and ``{}``; its URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive

        def do_POST(self):
            status = post(self, json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_single_events_are_posted_on_kept_alive_connections_with_the_token():
    from benchmarks.serve import Sender, single_phase

    received, peers = [], set()

    def post(handler, event):
        received.append((handler.path, handler.headers["Authorization"], event))
        peers.add(handler.client_address)
        return 200 if handler.headers["Authorization"] == "Bearer t0k" else 401

    with _serving(post) as url:
        out = single_phase(Sender(url, "t0k"), _Events(), "x", rate=200, seconds=0.2,
                           limit=100, clients=4)
        refused = single_phase(Sender(url, "wrong"), _Events(), "y", rate=200, seconds=0.05,
                               limit=100, clients=1)
    assert out["requests"] == 40 and out["failed"] == 0
    assert refused["requests"] == 10 and refused["failed"] == 10
    ids = sorted(event["event_id"] for path, _, event in received if path == "/v1/events")
    assert ids[:40] == sorted(f"x-{i}" for i in range(40))
    assert len(peers) <= 4 + 1  # one connection per sending thread, kept alive
    assert out["sent_late_p50_ms"] is not None


def test_the_p99_of_each_window_shows_a_slow_start(monkeypatch):
    import benchmarks.serve as bench

    def post(handler, event):
        if int(event["event_id"].split("-")[1]) < 3:  # the first answers are slow
            time.sleep(0.5)  # far above what a loaded machine adds to the others
        return 200

    monkeypatch.setattr(bench, "WINDOW", 0.1)
    with _serving(post) as url:
        out = bench.single_phase(bench.Sender(url, "t0k"), _Events(), "x", rate=200,
                                 seconds=0.3, limit=100, clients=32)
    first, *rest = out["p99_by_window_ms"]
    assert len(rest) == 2  # 60 events at 200/s in windows of 0.1 s
    assert first >= 450 and max(rest) < first


def test_batches_are_sent_encoded_each_once_the_one_before_is_answered():
    from benchmarks.serve import BATCH, Sender, batch_phase

    received, open_now, most = [], [0], [0]
    lock = threading.Lock()

    def post(handler, body):
        with lock:
            open_now[0] += 1
            most[0] = max(most[0], open_now[0])
        received.append([e["event_id"] for e in body["events"]])
        time.sleep(0.01)
        with lock:
            open_now[0] -= 1
        return 200

    with _serving(post) as url:
        one = batch_phase(Sender(url, "t0k"), _Events(), "b", count=4, max_seconds=30)
        alone = most[0]
        two = batch_phase(Sender(url, "t0k"), _Events(), "c", count=6, max_seconds=30,
                          clients=2)
    assert alone == 1 and most[0] <= 2  # one batch at a time per sending thread
    assert (one["requests"], one["events"], two["requests"]) == (4, 4 * BATCH, 6)
    assert sorted(i for ids in received for i in ids) == sorted(
        [f"b-{i}" for i in range(4 * BATCH)] + [f"c-{i}" for i in range(6 * BATCH)])
    assert one["events_per_s"] > 0 and two["clients"] == 2


def test_phase_means_count_only_what_was_recorded_in_between():
    from abusenet.serve.metrics import Metrics
    from benchmarks.serve import phase_means

    metrics = Metrics()
    metrics.phase("update", 0.010)
    before = metrics.render(1, {}, "v1")
    metrics.phase("update", 0.002)
    metrics.phase("update", 0.004)
    metrics.phase("views", 0.001)
    out = phase_means(before, metrics.render(3, {}, "v1"))
    assert out == {"update": 3.0, "views": 1.0}
