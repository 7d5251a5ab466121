"""Load `abusenet serve` on loopback: single events at a steady rate, then batches of 100.

Bounded: a fixed number of requests (and a duration cap) per phase. Prints p50 / p95 / p99
latency, sustained events/s, the service's RSS, its start-up seconds (with ``--start``), and
beside them the batch `abusenet score` cost per event of the same run (the score stage's
seconds over the run's events).

    python benchmarks/serve.py --run OUT --start [--rate 200] [--singles 2000] [--batches 20]

The events are logins and orders by the run's own accounts on their own devices and IPs (one in
ten on a new device), so each one reaches into the existing graph as real traffic would.
``--start`` launches ``abusenet serve --run OUT`` on a free port (token generated, the process
stopped at the end, ``--source DIR`` the code to run: another checkout for a before/after
comparison); otherwise the service must be running, with ``ABUSENET_API_TOKEN`` set here too
or ``--url`` / ``--token`` given, and ``--pid`` naming it for the RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

#: Starts `serve` through its own Typer app (whether or not abusenet.cli lists it).
LAUNCH = ("import typer; from abusenet.commands.serve import register; app = typer.Typer(); "
          "app.callback()(lambda: None); register(app); app()")


def percentiles(seconds: list[float]) -> dict[str, float]:
    """p50 / p95 / p99 of ``seconds``, in milliseconds."""
    values = np.asarray(seconds) * 1000
    return {f"p{q}_ms": round(float(np.percentile(values, q)), 2) for q in (50, 95, 99)}


class Traffic:
    """Events by the run's accounts on the devices and IPs they already use."""

    def __init__(self, run: Path, seed: int = 0) -> None:
        edges = run / ".work" / "snapshot" / "snapshot" / "edges"
        self.devices = pd.read_parquet(edges / "USED_DEVICE.parquet", columns=["src", "dst"])
        self.ips = pd.read_parquet(edges / "USED_IP.parquet", columns=["src", "dst"])
        self.rng = np.random.default_rng(seed)

    def event(self, i: int, tag: str) -> dict[str, object]:
        """Event ``i``: an account's login or order from one of its devices and one IP."""
        src, device = self.devices.iloc[int(self.rng.integers(len(self.devices)))]
        if self.rng.random() < 0.1:
            device = f"bench_dev_{tag}_{i}"
        ips = self.ips["dst"].to_numpy()
        ip = ips[int(self.rng.integers(len(ips)))]
        kind = "order" if self.rng.random() < 0.3 else "login"
        event = {"event_id": f"bench-{tag}-{i}", "account_id": str(src),
                 "ts": "2025-01-15T12:00:00Z", "event_type": kind,
                 "device_id": str(device), "ip": str(ip)}
        if kind == "order":
            event["amount"] = round(float(self.rng.gamma(2.0, 20.0)), 2)
        return event


def rss_mb(pid: int | None) -> float | None:
    """Resident memory of process ``pid`` in MB (Linux), or ``None``."""
    if pid is None:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def start(run: Path, source: Path, token: str) -> tuple[subprocess.Popen, str, float]:
    """Launch `serve` on ``run`` with the code in ``source``; (process, url, start-up seconds)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "ABUSENET_API_TOKEN": token}
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, "serve", "--run", str(run), "--port", str(port)],
        cwd=source, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    while time.perf_counter() - began < 600:
        if process.poll() is not None:
            raise SystemExit(f"serve exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url, time.perf_counter() - began
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("serve was not ready in 600 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--start", action="store_true", help="launch the service here")
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parents[1],
                        help="checkout whose code --start runs")
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", default=os.environ.get("ABUSENET_API_TOKEN"))
    parser.add_argument("--pid", type=int)
    parser.add_argument("--rate", type=float, default=200.0, help="single events per second")
    parser.add_argument("--singles", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args()
    process, startup = None, None
    if args.start:
        args.token = secrets.token_urlsafe(16)
        process, args.url, startup = start(args.run, args.source, args.token)
        args.pid = process.pid
    tag = uuid.uuid4().hex[:8]
    traffic = Traffic(args.run)
    client = httpx.Client(base_url=args.url, timeout=120,
                          headers={"Authorization": f"Bearer {args.token}"})
    try:
        single: list[float] = []
        began = time.perf_counter()
        for i in range(args.singles):
            due = began + i / args.rate
            time.sleep(max(0.0, due - time.perf_counter()))
            sent = time.perf_counter()
            client.post("/v1/events", json=traffic.event(i, tag)).raise_for_status()
            single.append(time.perf_counter() - sent)
            if time.perf_counter() - began > args.max_seconds:
                break
        single_rate = len(single) / (time.perf_counter() - began)
        batch: list[float] = []
        began = time.perf_counter()
        for b in range(args.batches):
            events = [traffic.event(100 * b + k, f"{tag}b") for k in range(100)]
            sent = time.perf_counter()
            client.post("/v1/events", json={"events": events}).raise_for_status()
            batch.append(time.perf_counter() - sent)
            if time.perf_counter() - began > args.max_seconds:
                break
        batch_rate = 100 * len(batch) / (time.perf_counter() - began)
        rss = rss_mb(args.pid)
    finally:
        client.close()
        if process is not None:
            process.terminate()
            process.wait(timeout=60)
    stage = json.loads((args.run / ".work" / "stages" / "score.json").read_text())
    manifest = json.loads((args.run / ".work" / "snapshot" / "snapshot" / "manifest.json")
                          .read_text())
    seconds = stage.get("seconds")
    print(json.dumps({
        "startup_s": None if startup is None else round(startup, 1),
        "single": {"requests": len(single), "events_per_s": round(single_rate, 1),
                   **percentiles(single)},
        "batch_100": {"requests": len(batch), "events_per_s": round(batch_rate, 1),
                      **percentiles(batch)},
        "rss_mb": rss,
        "batch_score_seconds_per_event": (None if seconds is None
                                          else seconds / manifest["events"]["count"]),
    }, indent=2))


if __name__ == "__main__":
    main()
