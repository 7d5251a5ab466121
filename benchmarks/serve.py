"""Load `abusenet serve` on loopback: single events at a steady rate, then batches of 100.

Bounded: a fixed number of requests (and a duration cap) per phase. Prints p50 / p95 / p99
latency, sustained events/s, the service's RSS, and beside them the batch `abusenet score`
cost per event of the same run (the score stage's seconds over the run's events).

    python benchmarks/serve.py --run OUT [--rate 200] [--singles 2000] [--batches 20]

The service must be running (``abusenet serve --run OUT``) with ``ABUSENET_API_TOKEN`` set in
this environment too, or ``--url`` / ``--token`` given; ``--pid`` names it for the RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from pathlib import Path

import httpx
import numpy as np


def percentiles(seconds: list[float]) -> dict[str, float]:
    """p50 / p95 / p99 of ``seconds``, in milliseconds."""
    values = np.asarray(seconds) * 1000
    return {f"p{q}_ms": round(float(np.percentile(values, q)), 2) for q in (50, 95, 99)}


def event(i: int, tag: str) -> dict[str, object]:
    """A plain login by one of 1,000 benchmark accounts on one of 300 devices."""
    return {"event_id": f"bench-{tag}-{i}", "account_id": f"bench_{i % 1000}",
            "ts": "2025-01-15T12:00:00Z", "event_type": "login",
            "device_id": f"bench_dev_{i % 300}", "ip": f"10.9.{i % 250}.{i % 200}"}


def rss_mb(pid: int | None) -> float | None:
    """Resident memory of process ``pid`` in MB (Linux), or ``None``."""
    if pid is None:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", default=os.environ.get("ABUSENET_API_TOKEN"))
    parser.add_argument("--pid", type=int)
    parser.add_argument("--rate", type=float, default=200.0, help="single events per second")
    parser.add_argument("--singles", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args()
    tag = uuid.uuid4().hex[:8]
    client = httpx.Client(base_url=args.url, timeout=60,
                          headers={"Authorization": f"Bearer {args.token}"})
    single: list[float] = []
    began = time.perf_counter()
    for i in range(args.singles):
        due = began + i / args.rate
        time.sleep(max(0.0, due - time.perf_counter()))
        start = time.perf_counter()
        client.post("/v1/events", json=event(i, tag)).raise_for_status()
        single.append(time.perf_counter() - start)
        if time.perf_counter() - began > args.max_seconds:
            break
    single_rate = len(single) / (time.perf_counter() - began)
    batch: list[float] = []
    began = time.perf_counter()
    for b in range(args.batches):
        events = [event(100 * b + k, f"{tag}b") for k in range(100)]
        start = time.perf_counter()
        client.post("/v1/events", json={"events": events}).raise_for_status()
        batch.append(time.perf_counter() - start)
        if time.perf_counter() - began > args.max_seconds:
            break
    batch_rate = 100 * len(batch) / (time.perf_counter() - began)
    stage = json.loads((args.run / ".work" / "stages" / "score.json").read_text())
    manifest = json.loads((args.run / ".work" / "snapshot" / "snapshot" / "manifest.json")
                          .read_text())
    seconds = stage.get("seconds")
    print(json.dumps({
        "single": {"requests": len(single), "events_per_s": round(single_rate, 1),
                   **percentiles(single)},
        "batch_100": {"requests": len(batch), "events_per_s": round(batch_rate, 1),
                      **percentiles(batch)},
        "rss_mb": rss_mb(args.pid),
        "batch_score_seconds_per_event": (None if seconds is None
                                          else seconds / manifest["events"]["count"]),
    }, indent=2))


if __name__ == "__main__":
    main()
