"""The service's Prometheus metrics, written as the text exposition format by hand.

Request latency per route (a histogram), events applied, graph size and the model version.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

#: Upper bounds (seconds) of the latency histogram's buckets.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Counters and a latency histogram, safe to update from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self._sums: dict[str, float] = defaultdict(float)
        self.rejected = 0

    def observe(self, route: str, seconds: float) -> None:
        """Record one request of ``route`` that took ``seconds``."""
        with self._lock:
            self._counts[route][bisect.bisect_left(BUCKETS, seconds)] += 1
            self._sums[route] += seconds

    def render(self, events_applied: int, graph: dict[str, int], model_version: str) -> str:
        """The exposition text of every metric."""
        lines = ["# HELP abusenet_request_seconds Request latency.",
                 "# TYPE abusenet_request_seconds histogram"]
        with self._lock:
            for route, counts in sorted(self._counts.items()):
                total = 0
                for bound, n in zip((*BUCKETS, float("inf")), counts, strict=True):
                    total += n
                    le = "+Inf" if bound == float("inf") else repr(bound)
                    lines.append(f'abusenet_request_seconds_bucket{{route="{route}",le="{le}"}} '
                                 f"{total}")
                lines.append(f'abusenet_request_seconds_sum{{route="{route}"}} '
                             f"{self._sums[route]:.6f}")
                lines.append(f'abusenet_request_seconds_count{{route="{route}"}} {total}')
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
        lines += ["# HELP abusenet_model_info The model version being served.",
                  "# TYPE abusenet_model_info gauge",
                  f'abusenet_model_info{{version="{model_version}"}} 1']
        return "\n".join(lines) + "\n"
