"""The service's Prometheus metrics, written as the text exposition format by hand.

Request latency per route (a histogram), the time of each phase of posting events (a histogram
per phase, with the longest seen: queue wait, validation, duplicate check, durable log, graph
update, rescoring, views, response), the pauses of Python's cyclic garbage collector per
generation, events applied, graph size and the model version.
"""

from __future__ import annotations

import bisect
import gc
import threading
import time
from collections import defaultdict
from typing import Any

#: Upper bounds (seconds) of the latency histogram's buckets.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Upper bounds (seconds) of the phase and collector-pause histograms' buckets.
FINE_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class _Histogram:
    """Counts per bucket, sum and maximum of one labelled family of durations."""

    def __init__(self, name: str, label: str, buckets: tuple[float, ...], help_: str) -> None:
        self.name, self.label, self.buckets, self.help = name, label, buckets, help_
        self.counts: dict[str, list[int]] = defaultdict(lambda: [0] * (len(buckets) + 1))
        self.sums: dict[str, float] = defaultdict(float)
        self.maxima: dict[str, float] = defaultdict(float)

    def observe(self, key: str, seconds: float) -> None:
        self.counts[key][bisect.bisect_left(self.buckets, seconds)] += 1
        self.sums[key] += seconds
        self.maxima[key] = max(self.maxima[key], seconds)

    def lines(self, with_max: bool) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for key, counts in sorted(self.counts.items()):
            total = 0
            for bound, n in zip((*self.buckets, float("inf")), counts, strict=True):
                total += n
                le = "+Inf" if bound == float("inf") else repr(bound)
                out.append(f'{self.name}_bucket{{{self.label}="{key}",le="{le}"}} {total}')
            out.append(f'{self.name}_sum{{{self.label}="{key}"}} {self.sums[key]:.6f}')
            out.append(f'{self.name}_count{{{self.label}="{key}"}} {total}')
        if with_max and self.maxima:
            out += [f"# HELP {self.name}_max The longest seen.", f"# TYPE {self.name}_max gauge"]
            out += [f'{self.name}_max{{{self.label}="{key}"}} {value:.6f}'
                    for key, value in sorted(self.maxima.items())]
        return out


class Metrics:
    """Counters and histograms, safe to update from several threads.

    Parameters
    ----------
    watch_gc
        Time every collection of Python's cyclic garbage collector (``gc.callbacks``) until
        :meth:`close`.
    """

    def __init__(self, watch_gc: bool = False) -> None:
        self._lock = threading.Lock()
        self._requests = _Histogram("abusenet_request_seconds", "route", BUCKETS,
                                    "Request latency.")
        self._phases = _Histogram("abusenet_phase_seconds", "phase", FINE_BUCKETS,
                                  "Time of each phase of POST /v1/events.")
        self._gc = _Histogram("abusenet_gc_pause_seconds", "generation", FINE_BUCKETS,
                              "Pauses of the cyclic garbage collector.")
        for generation in range(3):  # keys made now: the callback never adds one
            self._gc.counts[str(generation)]
        self._gc_began = 0.0
        self.rejected = 0
        self._watching = watch_gc
        if watch_gc:
            gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        # Runs inside the collection, in whichever thread triggered it: no lock may be taken
        # here (the thread may hold it already); a lost update of a count is harmless.
        if phase == "start":
            self._gc_began = time.perf_counter()
        else:
            self._gc.observe(str(info["generation"]), time.perf_counter() - self._gc_began)

    def close(self) -> None:
        """Stop timing the collector."""
        if self._watching and self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        self._watching = False

    def observe(self, route: str, seconds: float) -> None:
        """Record one request of ``route`` that took ``seconds``."""
        with self._lock:
            self._requests.observe(route, seconds)

    def phase(self, name: str, seconds: float) -> None:
        """Record that one request (or one group of them) spent ``seconds`` in phase ``name``."""
        with self._lock:
            self._phases.observe(name, seconds)

    def render(self, events_applied: int, graph: dict[str, int], model_version: str,
               apply_busy: float | None = None) -> str:
        """The exposition text of every metric (``apply_busy``: the event writer's apply
        thread's share of time applying, :attr:`~abusenet.serve.writer.EventWriter.busy`)."""
        with self._lock:
            lines = self._requests.lines(with_max=False) + self._phases.lines(with_max=True)
        lines += self._gc.lines(with_max=True)
        lines += ["# HELP abusenet_events_applied_total Accepted events applied to the graph.",
                  "# TYPE abusenet_events_applied_total counter",
                  f"abusenet_events_applied_total {events_applied}",
                  "# HELP abusenet_events_rejected_total Posted events rejected by validation.",
                  "# TYPE abusenet_events_rejected_total counter",
                  f"abusenet_events_rejected_total {self.rejected}",
                  "# HELP abusenet_graph_size Nodes per type and edges per relation.",
                  "# TYPE abusenet_graph_size gauge"]
        for key, n in sorted(graph.items()):
            kind, name = key.split(":", 1)
            lines.append(f'abusenet_graph_size{{kind="{kind}",name="{name}"}} {n}')
        if apply_busy is not None:
            lines += ["# HELP abusenet_apply_busy_share Share of the last second or so the "
                      "event writer spent applying events.",
                      "# TYPE abusenet_apply_busy_share gauge",
                      f"abusenet_apply_busy_share {apply_busy:.4f}"]
        lines += ["# HELP abusenet_model_info The model version being served.",
                  "# TYPE abusenet_model_info gauge",
                  f'abusenet_model_info{{version="{model_version}"}} 1']
        return "\n".join(lines) + "\n"
