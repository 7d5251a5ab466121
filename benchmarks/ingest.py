"""Benchmark: logs -> canonical events -> graph snapshot, against a plain pandas baseline.

For each size it writes one CSV event log (a simple seeded maker below: heavy-tailed accounts,
households sharing devices and cards, carrier-NAT IPs, transfers), then runs, each in a fresh
child process so that peak RSS is that run's alone:

* ``abusenet``: ``ingest_logs`` + ``write_snapshot_files`` end to end (read, validate,
  deduplicate, partition by day, aggregate nodes and edges, write the snapshot; what
  ``build_snapshot`` does before it reads the written snapshot back into pandas);
* ``pandas``: ``pandas.read_csv`` of the same file + ``groupby`` for the same edge tables and a
  few account aggregates (no validation, no dedup, nothing written): the naive floor.

Usage::

    python -m benchmarks.ingest --events 1000000 10000000 30000000 [--workdir /tmp/abusenet-bench]

Prints a Markdown table: events, method, wall seconds, events/s, CPU seconds (user + system,
all threads), peak RSS (the child's own ``resource.getrusage(RUSAGE_SELF).ru_maxrss``; for
abusenet also the peak reached by the end of ingest), and the wall seconds of each stage. The
pandas baseline holds the whole file in memory, so it is skipped above ``--baseline-max-events``
(default 10M; 30M events would take about 8 GB). Generated CSV files are kept in the work
directory and reused (10M events: 0.9 GB, 30M: 2.7 GB).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

ROOT = Path(__file__).resolve().parents[1]
MAPPING = {
    "columns": {
        "event_id": "event_id", "ts": "ts", "account_id": "account_id",
        "event_type": "event_type", "device_id": "device_id", "ip": "ip",
        "payment_id": "payment_id", "counterparty_id": "counterparty_id", "amount": "amount",
    }
}
EVENT_TYPES = np.array(["login", "order", "payment", "transfer", "review", "signup"])
TYPE_WEIGHTS = np.array([0.40, 0.20, 0.15, 0.15, 0.08, 0.02])
DAYS = 30
START = 1_704_067_200  # 2024-01-01T00:00:00Z
CHUNK = 1_000_000


def make_events_csv(path: Path, n_events: int, seed: int = 0) -> None:
    """Write ``n_events`` synthetic interaction events to the CSV file ``path``."""
    rng = np.random.default_rng(seed)
    n_accounts = max(n_events // 20, 10)
    n_devices, n_ips, n_cards = n_accounts // 2 + 1, n_accounts // 3 + 1, n_accounts // 2 + 1
    nat_ips = 200
    options = pcsv.WriteOptions(quoting_style="needed")
    with pcsv.CSVWriter(path, _schema(), write_options=options) as writer:
        for start in range(0, n_events, CHUNK):
            n = min(CHUNK, n_events - start)
            # Heavy-tailed activity: a Pareto-like draw over account indices.
            account = (rng.pareto(1.2, n) * n_accounts / 50).astype(np.int64) % n_accounts
            kind = rng.choice(len(EVENT_TYPES), n, p=TYPE_WEIGHTS)
            device = (account * 7 + rng.integers(0, 3, n)) // 2 % n_devices  # households
            ip = np.where(rng.random(n) < 0.15, n_ips + rng.integers(0, nat_ips, n),
                          (account * 13 + rng.integers(0, 4, n)) % n_ips)
            card = (account * 3 + rng.integers(0, 2, n)) // 2 % n_cards
            peer = (rng.pareto(1.2, n) * n_accounts / 50).astype(np.int64) % n_accounts
            pays = np.isin(kind, [1, 2])
            moves = kind == 3
            amount = np.round(rng.lognormal(3.5, 1.2, n), 2)
            seconds = START + rng.integers(0, DAYS * 86400, n)
            table = pa.table({
                "event_id": _ids("e", np.arange(start, start + n)),
                "ts": pc.strftime(pa.array(seconds, pa.timestamp("s", "UTC")),
                                  format="%Y-%m-%dT%H:%M:%SZ"),
                "account_id": _ids("acct", account),
                "event_type": pa.array(EVENT_TYPES[kind]),
                "device_id": _ids("dev", device, rng.random(n) < 0.05),
                "ip": _ip(ip),
                "payment_id": _ids("card", card, ~pays),
                "counterparty_id": _ids("acct", peer, ~moves),
                "amount": pa.array(amount, mask=~(pays | moves)),
            })
            writer.write_table(table.cast(_schema()))


def _schema() -> pa.Schema:
    names = ["event_id", "ts", "account_id", "event_type", "device_id", "ip", "payment_id",
             "counterparty_id"]
    return pa.schema([(n, pa.string()) for n in names] + [("amount", pa.float64())])


def _ids(prefix: str, values: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    text = pc.binary_join_element_wise(prefix, pc.cast(pa.array(values), pa.string()), "")
    return text if null is None else pc.if_else(pa.array(null), pa.nulls(len(values),
                                                                           pa.string()), text)


def _ip(values: np.ndarray) -> pa.Array:
    """Dotted IPv4 text, the index scattered over the address space (first octet 11..138)."""
    scattered = values * 2_654_435_761 % (1 << 32)
    octets = [pc.cast(pa.array((scattered >> s) & 255), pa.string()) for s in (16, 8, 0)]
    first = pc.cast(pa.array(((scattered >> 24) & 127) + 11), pa.string())
    return pc.binary_join_element_wise(first, *octets, ".")


# --------------------------------------------------------------------------------------------
# The two contenders, each run in a child process (``--child``).
# --------------------------------------------------------------------------------------------


def run_abusenet(csv: Path, work: Path) -> dict[str, float]:
    """Ingest ``csv`` and build its snapshot; return the seconds of each stage."""
    sys.path.insert(0, str(ROOT))
    from graph.build import write_snapshot_files
    from ingest.mapping import mapping_from_dict
    from ingest.run import ingest_logs

    started = time.perf_counter()
    summary = ingest_logs(csv, mapping_from_dict(MAPPING), work / "events", progress=False)
    ingested = time.perf_counter()
    ingest_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    write_snapshot_files(work / "events", work / "snapshot", progress=False)
    done = time.perf_counter()
    assert summary.balanced and summary.quarantined == 0, str(summary)
    return {"ingest_s": ingested - started, "snapshot_s": done - ingested,
            "total_s": done - started, "accepted": summary.accepted,
            "ingest_rss_mib": ingest_rss}


def run_pandas(csv: Path, work: Path) -> dict[str, float]:
    """The naive baseline: one ``pandas.read_csv`` and a handful of ``groupby``."""
    import pandas as pd

    started = time.perf_counter()
    df = pd.read_csv(csv)
    df["ts"] = pd.to_datetime(df["ts"], utc=True)
    read = time.perf_counter()
    for column in ("device_id", "ip", "payment_id", "counterparty_id"):
        df.groupby(["account_id", column]).agg(
            count=("ts", "size"), first_ts=("ts", "min"), last_ts=("ts", "max"),
            amount_sum=("amount", "sum"),
        )
    df.groupby("account_id").agg(
        n_events=("ts", "size"), amount_sum=("amount", "sum"), amount_mean=("amount", "mean"),
        first_ts=("ts", "min"), last_ts=("ts", "max"), n_devices=("device_id", "nunique"),
    )
    done = time.perf_counter()
    return {"read_s": read - started, "groupby_s": done - read, "total_s": done - started}


def _child(method: str, csv: Path, work: Path) -> None:
    result = (run_abusenet if method == "abusenet" else run_pandas)(csv, work)
    # The child's own high-water mark (Linux: KiB), DuckDB's native memory included, and its
    # CPU time over all threads (wall time alone misleads on a shared, busy machine).
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["peak_rss_mib"] = usage.ru_maxrss / 1024
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    print(json.dumps(result))


def measure(method: str, csv: Path, work: Path) -> dict[str, float]:
    """Run ``method`` in a fresh child process; its result includes its peak RSS in MiB."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    proc = subprocess.run(
        [sys.executable, __file__, "--child", method, str(csv), str(work)],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode:
        raise RuntimeError(f"{method} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/abusenet-bench"))
    parser.add_argument("--methods", nargs="+", default=["abusenet", "pandas"])
    parser.add_argument("--baseline-max-events", type=int, default=10_000_000,
                        help="skip the pandas baseline above this many events (memory)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return

    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in sorted(args.events):
        csv = args.workdir / f"events-{n}.csv"
        if not csv.exists():
            t = time.perf_counter()
            partial = csv.with_suffix(".partial")
            make_events_csv(partial, n)
            partial.replace(csv)
            print(f"made {csv} ({csv.stat().st_size / 2**20:,.0f} MiB) in "
                  f"{time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
        for method in args.methods:
            if method == "pandas" and n > args.baseline_max_events:
                print(f"{n:,} pandas: skipped (--baseline-max-events)", file=sys.stderr)
                continue
            result = measure(method, csv, args.workdir / f"run-{method}-{n}")
            rows.append((n, method, result))
            print(f"{n:,} {method}: {json.dumps(result)}", file=sys.stderr, flush=True)
        shutil.rmtree(args.workdir / f"run-abusenet-{n}", ignore_errors=True)

    print("| events | method | wall s | events/s | CPU s | peak RSS (MiB) | "
          "peak RSS by end of ingest (MiB) | stages (wall s) |")
    print("|---:|---|---:|---:|---:|---:|---:|---|")
    for n, method, r in sorted(rows, key=lambda x: (x[0], x[1])):
        stages = ", ".join(f"{k[:-2]} {v:.1f}" for k, v in r.items()
                           if k.endswith("_s") and k not in ("total_s", "cpu_s"))
        ingest_rss = f"{r['ingest_rss_mib']:,.0f}" if "ingest_rss_mib" in r else "-"
        print(f"| {n:,} | {method} | {r['total_s']:.1f} | {n / r['total_s']:,.0f} | "
              f"{r['cpu_s']:.1f} | {r['peak_rss_mib']:,.0f} | {ingest_rss} | {stages} |")


if __name__ == "__main__":
    main()
