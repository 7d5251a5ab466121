"""Benchmark: the per-stage throughput the capacity model (docs/SCALING.md) rests on.

One command measures every stage at a given size, each in a fresh child process (so its CPU
seconds and peak memory are its own), and prints one Markdown table:

- ``ingest`` and ``snapshot``: ``benchmarks.ingest``'s generated CSV of ``--events`` events
  (about one account per 20 events) -> canonical events -> graph snapshot;
- ``candidates``: ring candidates (``find_ring_candidates``) on that snapshot;
- ``train``: one epoch of the default detector over 10 % of ``--accounts`` accounts as
  time-bounded seeds, on ``benchmarks.detect``'s synthetic snapshot-shaped graph, one thread;
- ``score``: every account of that graph scored with its full neighbourhood, one thread;
- ``neo4j`` (with ``--neo4j``): ``benchmarks.neo4j_load --skip-driver`` (bulk import) on a
  generated snapshot of ``--accounts`` accounts, its own output passed through.

Usage::

    nice -n 10 python -m benchmarks.capacity --events 1000000 --accounts 100000 [--neo4j]

Rates are per wall second and per CPU second (user + system, all threads of the child): on a
shared machine the CPU figure is the steadier one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES = ("ingest", "candidates", "train", "score")


def _usage() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def stage_ingest(events: int, work: Path) -> list[dict]:
    """Logs -> canonical events -> snapshot: two rows (ingest, snapshot), events per second."""
    from benchmarks.ingest import make_events_csv, run_abusenet

    csv = work / "events.csv"
    if not csv.is_file():
        make_events_csv(csv, events)
    cpu0 = _usage()[0]
    figures = run_abusenet(csv, work / "run")
    cpu, peak = _usage()
    cpu -= cpu0
    share = figures["ingest_s"] / figures["total_s"]
    return [
        {"stage": "ingest", "unit": "events", "count": events, "seconds": figures["ingest_s"],
         "cpu": cpu * share, "peak_mib": figures["ingest_rss_mib"]},
        {"stage": "snapshot", "unit": "events", "count": events,
         "seconds": figures["snapshot_s"], "cpu": cpu * (1 - share), "peak_mib": peak},
    ]


def stage_candidates(work: Path) -> list[dict]:
    """Ring candidates on the ingest stage's snapshot: accounts (and edges) per second."""
    from benchmarks.rings import time_candidates

    cpu0 = _usage()[0]
    figures = time_candidates(snapshot_dir=work / "run" / "snapshot")
    return [{"stage": "candidates", "unit": "accounts", "count": figures["accounts"],
             "seconds": figures["seconds"], "cpu": _usage()[0] - cpu0,
             "peak_mib": figures["peak_rss_gb"] * 1024,
             "note": f"{figures['edges']:,} edges, {figures['candidates']:,} candidates"}]


def _graph(accounts: int):
    from benchmarks.detect import synthetic_graph

    return synthetic_graph(accounts, seed=0)


def stage_train(accounts: int) -> list[dict]:
    """One time-bounded training epoch over 10 % of the accounts: seeds per second."""
    import numpy as np

    from gnn.detector import AccountDetector

    data = _graph(accounts)
    rng = np.random.default_rng(0)
    order = rng.permutation(accounts)
    n_train = max(accounts // 10, 100)
    train, val = order[:n_train], order[n_train : n_train + 2_000]
    y = (rng.random(accounts) < 0.05).astype(np.float32)
    when = rng.integers(10 * 86_400, 30 * 86_400, accounts)
    cpu0 = _usage()[0]
    detector = AccountDetector(max_epochs=1, num_threads=1)
    detector.fit_graph(data, train, y[train], val, y[val], when[train], when[val])
    cpu, peak = _usage()
    return [{"stage": "train (1 process, 1 thread)", "unit": "seeds", "count": n_train,
             "seconds": detector.history_[0]["seconds"], "cpu": cpu - cpu0, "peak_mib": peak,
             "note": "epoch incl. validation on 2,000; CPU s of the whole fit"}]


def stage_score(accounts: int) -> list[dict]:
    """Whole-graph scoring of every account: accounts per second."""
    import numpy as np

    from gnn.detector import AccountDetector

    data = _graph(accounts)
    rng = np.random.default_rng(0)
    idx = rng.permutation(accounts)[:2_000]
    y = (np.arange(2_000) % 20 == 0).astype(np.float32)
    detector = AccountDetector(max_epochs=1, num_threads=1).fit_graph(
        data, idx[:1_000], y[:1_000], idx[1_000:], y[1_000:]
    )
    cpu0, started = _usage()[0], time.perf_counter()
    scores = detector.score_graph(data)
    seconds = time.perf_counter() - started
    cpu, peak = _usage()
    return [{"stage": "score (1 thread)", "unit": "accounts", "count": len(scores),
             "seconds": seconds, "cpu": cpu - cpu0, "peak_mib": peak}]


def run_stage(stage: str, args: argparse.Namespace) -> list[dict]:
    """Run ``stage`` in a fresh child process; its rows."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.capacity", "--child", stage, "--events",
         str(args.events), "--accounts", str(args.accounts), "--workdir", str(args.workdir)],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode:
        raise RuntimeError(f"stage {stage} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="events for ingest, snapshot and candidates")
    parser.add_argument("--accounts", type=int, default=100_000,
                        help="accounts of the graph for training and scoring (and --neo4j)")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--neo4j", action="store_true",
                        help="also bulk-load a generated snapshot into a fresh local Neo4j")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--child", choices=STAGES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        work = args.workdir
        rows = {
            "ingest": lambda: stage_ingest(args.events, work),
            "candidates": lambda: stage_candidates(work),
            "train": lambda: stage_train(args.accounts),
            "score": lambda: stage_score(args.accounts),
        }[args.child]()
        print(json.dumps(rows))
        return
    with tempfile.TemporaryDirectory(prefix="abusenet-capacity-") as tmp:
        args.workdir = args.workdir or Path(tmp)
        stages = list(args.stages)
        if "candidates" in stages and "ingest" not in stages:
            stages.insert(0, "ingest")  # candidates run on the ingest stage's snapshot
        print(f"load average at the start: {os.getloadavg()}", file=sys.stderr)
        rows = []
        for stage in stages:
            rows += run_stage(stage, args)
            print(f"{stage} done, load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
    print(f"\n--events {args.events:,} --accounts {args.accounts:,}; load average at the end "
          f"{os.getloadavg()}\n")
    print("| stage | unit | count | wall s | per wall s | CPU s | per CPU s | peak RSS MiB "
          "| note |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['stage']} | {r['unit']} | {r['count']:,} | {r['seconds']:.1f} | "
              f"{r['count'] / r['seconds']:,.0f} | {r['cpu']:.1f} | "
              f"{r['count'] / max(r['cpu'], 1e-9):,.0f} | {r['peak_mib']:,.0f} | "
              f"{r.get('note', '')} |")
    if args.neo4j:
        subprocess.run([sys.executable, "-m", "benchmarks.neo4j_load", "--accounts",
                        str(args.accounts), "--skip-driver"], check=True)


if __name__ == "__main__":
    main()
