"""Neo4j load and query benchmark: driver path, bulk import, investigator query latency.

Builds a synthetic snapshot with numpy (accounts with devices, IPs, payment methods and
transfers, hub IPs, and planted rings sharing a device and a card), then, each on a fresh local
server of its own (heap 4g, page cache 2g):

1. the driver path: a first load into an empty database (``CREATE`` batches, ``--writers``
   transactions in flight), then the same snapshot again (nothing changed: only the hash
   comparison runs);
2. the bulk path: ``load_snapshot(mode="bulk")`` into an empty database, then write-back of
   scores and rings, then p50 / p95 latency of every investigator query (``run_query``, the
   same call ``abusenet query`` makes, parameters drawn at random from the graph), after
   ``--warmup`` untimed runs per query with other parameters (the server has just restarted).

Timed spans. Both paths start from the snapshot in memory (reading its Parquet files is not
timed) and end when the graph is ready for queries: for the bulk path that is Parquet import
files written (while the server stops) -> ``neo4j-admin database import --input-type=parquet``
-> server started and answering -> constraints and indexes created and populated.
``phases_s`` splits each span; ``CPU s`` counts this process, its children (the import tool)
and the server, since wall time on a shared machine says little.

Usage::

    python -m benchmarks.neo4j_load --accounts 1000000 [--skip-driver | --skip-bulk] [--repeats 100]
        [--warmup 20] [--writers 2] [--batch-size 10000] [--worst-case] [--backup] [--json out.json]

Targets on the 2-core development machine: driver >= 30k relationships/s, bulk >= 300k
relationships/s, ring lookup p95 <= 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graph.query_pack import query_metadata, run_query  # noqa: E402
from graph.snapshot import Snapshot, relation_specs  # noqa: E402
from graph.store import LoadSummary, connect, load_snapshot  # noqa: E402
from graph.store.connection import Neo4jSettings, default_neo4j_home  # noqa: E402
from graph.store.driver_load import BATCH_SIZE, WRITERS  # noqa: E402
from graph.store.server import LocalNeo4j, Neo4jServerError, free_port  # noqa: E402
from graph.store.writeback import write_scores  # noqa: E402

#: The name of the benchmark's graph in the store.
GRAPH = "bench"

START = np.datetime64("2024-01-01T00:00:00", "us")
DAY_US = 86_400 * 1_000_000


def synthetic_snapshot(n_accounts: int, seed: int) -> tuple[Snapshot, list[np.ndarray]]:
    """A snapshot of ``n_accounts`` accounts and the planted rings (arrays of account rows)."""
    rng = np.random.default_rng(seed)
    n_dev, n_ip, n_card = int(n_accounts * 0.3), int(n_accounts * 0.4), int(n_accounts * 0.5)
    account_ids = _ids("acc", n_accounts)
    first = START + rng.integers(0, 90 * DAY_US, n_accounts).astype("timedelta64[us]")

    def pick(n_per_account: np.ndarray, n_entities: int, hub_share: float = 0.0) -> np.ndarray:
        src = np.repeat(np.arange(n_accounts), n_per_account)
        dst = rng.integers(0, n_entities, len(src))
        hubs = rng.random(len(src)) < hub_share
        dst[hubs] = rng.integers(0, max(1, n_entities // 1000), hubs.sum())
        return np.stack([src, dst], axis=1)

    pairs = {
        "USED_DEVICE": pick(1 + rng.binomial(1, 0.5, n_accounts), n_dev),
        "USED_IP": pick(1 + rng.binomial(2, 0.5, n_accounts), n_ip, hub_share=0.05),
        "PAID_WITH": pick(np.ones(n_accounts, dtype=int), n_card),
        "TRANSACTED_WITH": pick(rng.binomial(1, 0.5, n_accounts), n_accounts),
    }
    rings = []
    ring_rows = rng.permutation(n_accounts)[: n_accounts // 100 * 3]
    offset = 0
    extra_dev, extra_card = [], []
    while offset + 10 <= len(ring_rows):
        size = int(rng.integers(5, 11))
        members = ring_rows[offset:offset + size]
        offset += size
        rings.append(members)
        extra_dev.append(np.stack([members, np.full(size, rng.integers(0, n_dev))], axis=1))
        extra_card.append(np.stack([members, np.full(size, rng.integers(0, n_card))], axis=1))
    pairs["USED_DEVICE"] = np.concatenate([pairs["USED_DEVICE"], *extra_dev])
    pairs["PAID_WITH"] = np.concatenate([pairs["PAID_WITH"], *extra_card])
    specs = relation_specs()
    names = {"Account": account_ids, "Device": _ids("dev", n_dev), "IP": _ids("ip", n_ip),
             "PaymentMethod": _ids("card", n_card)}
    edges = {}
    for name, pair in pairs.items():
        pair = np.unique(pair[pair[:, 0] != pair[:, 1]] if name == "TRANSACTED_WITH" else pair,
                         axis=0)
        n = len(pair)
        t0 = first[pair[:, 0]] + rng.integers(0, DAY_US, n).astype("timedelta64[us]")
        edges[name] = pd.DataFrame({
            "src": names["Account"][pair[:, 0]],
            "dst": names[specs[name].dst_type][pair[:, 1]],
            "count": rng.integers(1, 50, n),
            "first_ts": pd.to_datetime(t0, utc=True),
            "last_ts": pd.to_datetime(t0 + rng.integers(0, 30 * DAY_US, n)
                                      .astype("timedelta64[us]"), utc=True),
            "amount_sum": np.where(rng.random(n) < 0.5, rng.gamma(2.0, 40.0, n), np.nan),
        })
    nodes = {}
    for node_type, ids in names.items():
        n = len(ids)
        t0 = first if node_type == "Account" else START + rng.integers(
            0, 90 * DAY_US, n).astype("timedelta64[us]")
        table = pd.DataFrame({"id": ids, "first_ts": pd.to_datetime(t0, utc=True),
                              "last_ts": pd.to_datetime(t0 + np.timedelta64(30, "D"), utc=True)})
        if node_type == "Account":
            table["n_events"] = rng.integers(1, 500, n)
            table["amount_mean"] = rng.gamma(2.0, 30.0, n)
        nodes[node_type] = table
    bad = np.concatenate([r[:2] for r in rings])
    labels = pd.DataFrame({"account_id": account_ids[bad], "label": np.ones(len(bad), np.int8)})
    return Snapshot(nodes=nodes, edges=edges, relations=specs, labels=labels), rings


def _ids(prefix: str, n: int) -> np.ndarray:
    return (prefix + "-" + pd.Series(np.arange(n)).astype(str).str.zfill(8)).to_numpy(object)


def fresh_server(workdir: Path, name: str) -> LocalNeo4j:
    """A started server of the benchmark's own with a 4g heap and a 2g page cache."""
    for _ in range(3):
        server = LocalNeo4j(workdir / name)
        try:
            server.install(bolt_port=free_port(), http_port=free_port(), heap="4g",
                           pagecache="2g", jars_from=default_neo4j_home())
            break
        except Neo4jServerError as err:
            # A generated password starting with "-" is taken for an option by neo4j-admin
            # (reported); a fresh home draws a new one.
            print(f"install failed, retrying in a fresh home: {err}", flush=True)
            shutil.rmtree(workdir / name, ignore_errors=True)
    server.start()
    return server


def settings_of(server: LocalNeo4j) -> Neo4jSettings:
    return Neo4jSettings(uri=server.read_settings()["uri"], password=server.read_password())


def query_plan(snapshot: Snapshot, rings: list[np.ndarray], rng: np.random.Generator,
               repeats: int) -> dict[str, list[dict[str, Any]]]:
    """Random parameters for each pack query, drawn from the graph."""
    accounts = snapshot.nodes["Account"]["id"].to_numpy()
    devices = snapshot.edges["USED_DEVICE"]["dst"].to_numpy()
    ring_pick = [rings[i] for i in rng.integers(0, len(rings), repeats)]
    since = (START + np.timedelta64(80, "D")).astype(datetime).replace(tzinfo=UTC)
    return {
        "ring_of_account": [{"account_id": accounts[r[0]]} for r in ring_pick],
        "accounts_near_entity": [
            {"entity_type": "Device", "entity_id": d, "k": 2}
            for d in devices[rng.integers(0, len(devices), repeats)]
        ],
        "top_rings": [{"limit": 20}] * repeats,
        "shared_between": [{"account_a": accounts[r[0]], "account_b": accounts[r[1]]}
                           for r in ring_pick],
        "new_accounts_on_risky_entities": [{"since": since, "min_risk": 0.9}] * repeats,
        "evidence_path": [{"account_id": accounts[r[-1]]} for r in ring_pick],
    }


def worst_case_plan(snapshot: Snapshot, rings: list[np.ndarray], rng: np.random.Generator,
                    repeats: int) -> dict[str, list[dict[str, Any]]]:
    """Each pack query with the worst parameters its header allows, on the graph's hubs.

    ``accounts_near_entity`` starts from the most-used IPs (hubs shared by thousands of
    accounts) and walks 4 hops with every bound at its maximum; the limits are at their
    maximum; ``new_accounts_on_risky_entities`` takes every scored entity (``min_risk`` 0).
    """
    accounts = snapshot.nodes["Account"]["id"].to_numpy()
    ip_use = snapshot.edges["USED_IP"]["dst"].value_counts()
    hubs = ip_use.index[:20].to_numpy()
    ring_pick = [rings[i] for i in rng.integers(0, len(rings), repeats)]
    since = (START + np.timedelta64(1, "D")).astype(datetime).replace(tzinfo=UTC)
    return {
        "ring_of_account": [{"account_id": accounts[r[0]]} for r in ring_pick],
        "accounts_near_entity": [
            {"entity_type": "IP", "entity_id": h, "k": 4, "limit": 1000, "max_degree": 1000,
             "max_nodes": 10000} for h in hubs[rng.integers(0, len(hubs), repeats)]
        ],
        "top_rings": [{"limit": 1000}] * repeats,
        "shared_between": [{"account_a": accounts[r[0]], "account_b": accounts[r[1]]}
                           for r in ring_pick],
        "new_accounts_on_risky_entities": [{"since": since, "min_risk": 0.0, "limit": 1000}]
        * repeats,
        "evidence_path": [{"account_id": accounts[r[-1]], "limit": 100} for r in ring_pick],
    }


def store_digest(store: Any) -> dict[str, Any]:
    """Node and relationship counts per label / type and a sum over their content hashes."""
    nodes = store.read("MATCH (n) RETURN labels(n)[0] AS label, count(*) AS n, "
                       "sum(coalesce(n.content_hash, 0) % 1000003) AS h ORDER BY label")
    rels = store.read("MATCH ()-[r]->() RETURN type(r) AS type, count(*) AS n, "
                      "sum(coalesce(r.content_hash, 0) % 1000003) AS h ORDER BY type")
    return {"nodes": {label: [n, h] for label, n, h in nodes.records},
            "relationships": {kind: [n, h] for kind, n, h in rels.records}}


def time_queries(store: Any, plan: dict[str, list[dict[str, Any]]],
                 warmup: int) -> dict[str, dict[str, float]]:
    """p50 / p95 / max latency in ms of each query over its parameter list.

    The first ``warmup`` parameter sets of each list only warm up (the server has just
    restarted after the import: the query is compiled and the page cache filled on first use);
    their p95 is reported too, as ``warmup_p95_ms``.
    """
    results = {}
    metadata = query_metadata("benchmark", analyst="benchmark", case="neo4j_load")
    for name, params in plan.items():
        times, rows = [], 0
        for p in params:
            start = time.perf_counter()
            rows += len(run_query(store, name, p, metadata=metadata))
            times.append((time.perf_counter() - start) * 1000)
        timed, first = times[warmup:], times[:warmup]
        results[name] = {"p50_ms": float(np.percentile(timed, 50)),
                         "p95_ms": float(np.percentile(timed, 95)),
                         "max_ms": float(np.max(timed)), "mean_rows": rows / len(params),
                         "warmup_p95_ms": float(np.percentile(first, 95)) if first else None}
    return results


def cpu_seconds(server: LocalNeo4j | None) -> float:
    """CPU time used so far by this process, its finished children (the import tool) and the
    server, if given: on a shared machine, wall time alone says little."""
    times = os.times()
    own = times.user + times.system + times.children_user + times.children_system
    pid = None if server is None else server.status().pid
    if pid is None:
        return own
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return own + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rate(summary: LoadSummary, cpu_s: float) -> dict[str, Any]:
    rels = summary.relationships_written
    return {"seconds": round(summary.seconds, 1), "nodes": summary.nodes_written,
            "relationships": rels, "phases_s": {k: round(v, 1) for k, v in summary.phases.items()},
            "relationships_per_s": round(rels / summary.seconds) if summary.seconds else None,
            "cpu_s": round(cpu_s, 1)}


def bench_driver(snapshot: Snapshot, workdir: Path, args: argparse.Namespace,
                 report: dict[str, Any]) -> None:
    """First load and unchanged reload through the driver, on a fresh server."""
    server = fresh_server(workdir, "driver-home")
    try:
        with connect(settings_of(server)) as store:
            cpu = cpu_seconds(server)
            summary = load_snapshot(store, snapshot, graph=GRAPH, mode="driver",
                                    batch_size=args.batch_size, writers=args.writers)
            report["driver_first_load"] = rate(summary, cpu_seconds(server) - cpu)
            print("driver first load:", report["driver_first_load"], flush=True)
            again = load_snapshot(store, snapshot, graph=GRAPH, mode="driver", progress=False,
                                  batch_size=args.batch_size, writers=args.writers)
            report["driver_reload_unchanged"] = {"seconds": round(again.seconds, 1),
                                                 "written": again.total_written}
            print("driver reload:", report["driver_reload_unchanged"], flush=True)
    finally:
        server.stop()
        shutil.rmtree(workdir / "driver-home", ignore_errors=True)


def bench_bulk_and_queries(
    snapshot: Snapshot, rings: list[np.ndarray], workdir: Path, args: argparse.Namespace,
    report: dict[str, Any],
) -> None:
    """Bulk import on a fresh server, then write-back, then query latency."""
    server = fresh_server(workdir, "bulk-home")
    rng = np.random.default_rng(args.seed + 1)
    try:
        with connect(settings_of(server), server=server) as store:
            # The server restarts during the import: count this process and the import tool.
            cpu = cpu_seconds(None)
            summary = load_snapshot(store, snapshot, graph=GRAPH, mode="bulk", progress=False)
            report["bulk_first_load"] = rate(summary, cpu_seconds(None) - cpu)
            print("bulk first load:", report["bulk_first_load"], flush=True)
            accounts = snapshot.nodes["Account"]["id"].to_numpy()
            scored = np.union1d(rng.choice(len(accounts), min(args.scored_accounts,
                                                                len(accounts)), replace=False),
                                np.concatenate(rings))
            scores = pd.DataFrame({"account_id": accounts[scored],
                                   "score": rng.random(len(scored))})
            cards = snapshot.nodes["PaymentMethod"]["id"].to_numpy()
            cards = cards[rng.random(len(cards)) < 0.1]
            entity_scores = pd.DataFrame({"node_type": "PaymentMethod", "entity_id": cards,
                                          "score": rng.random(len(cards))})
            ring_table = pd.DataFrame({
                "ring_id": [f"ring-{i:06d}" for i in range(len(rings))],
                "score": rng.random(len(rings)), "size": [len(r) for r in rings],
                "members": [list(accounts[r]) for r in rings], "kind": "shared_device",
            })
            written = write_scores(store, scores, entity_scores, ring_table, graph=GRAPH,
                                   model_version="bench-v1")
            report["writeback"] = {"seconds": round(written.seconds, 1),
                                   "accounts": written.accounts_scored,
                                   "entities": written.entities_scored,
                                   "rings": written.rings_written,
                                   "memberships": written.memberships_written}
            print("write-back:", report["writeback"], flush=True)
            plan = query_plan(snapshot, rings, rng, args.warmup + args.repeats)
            report["queries"] = time_queries(store, plan, args.warmup)
            if args.worst_case:
                worst = worst_case_plan(snapshot, rings, rng, args.warmup + args.repeats)
                report["queries_worst"] = time_queries(store, worst, args.warmup)
            if args.backup:
                report["backup"] = backup_round_trip(store, server, workdir)
    finally:
        server.stop()
        shutil.rmtree(workdir / "bulk-home", ignore_errors=True)


def backup_round_trip(store: Any, server: LocalNeo4j, workdir: Path) -> dict[str, Any]:
    """``abusenet neo4j dump`` then ``restore`` of the loaded graph, timed, digests compared."""
    from graph.store.server.backup import dump_database, restore_database

    before = store_digest(store)
    dumped = dump_database(server, workdir / "bench.dump")
    restored = restore_database(server, dumped.path)
    store.reconnect()
    after = store_digest(store)
    result = {"dump_s": round(dumped.seconds, 1), "dump_mb": round(dumped.size / 2**20, 1),
              "restore_s": round(restored.seconds, 1), "identical": before == after,
              "nodes": sum(n for n, _ in before["nodes"].values()),
              "relationships": sum(n for n, _ in before["relationships"].values())}
    print("backup round trip:", result, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=100, help="timed runs per query")
    parser.add_argument("--warmup", type=int, default=20,
                        help="untimed runs per query first, with other parameters")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the servers live (default: a temporary directory)")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument("--skip-driver", action="store_true",
                        help="bulk path and queries only (the driver path at 1M takes long)")
    parser.add_argument("--skip-bulk", action="store_true",
                        help="driver path only (no bulk import, write-back or query latency)")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE,
                        help="rows per write transaction (driver path)")
    parser.add_argument("--writers", type=int, default=WRITERS,
                        help="write transactions in flight at once (driver path)")
    parser.add_argument("--worst-case", action="store_true",
                        help="also time every query with the worst parameters it allows")
    parser.add_argument("--backup", action="store_true",
                        help="also time a dump / restore round trip and compare the stores")
    parser.add_argument("--scored-accounts", type=int, default=100_000,
                        help="accounts given a score in the write-back (ring members always)")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="abusenet-neo4j-bench-"))
    report: dict[str, Any] = {"accounts": args.accounts, "seed": args.seed,
                              "batch_size": args.batch_size, "writers": args.writers,
                              "load_average_at_start": list(os.getloadavg())}

    start = time.perf_counter()
    snapshot, rings = synthetic_snapshot(args.accounts, args.seed)
    report["generate_s"] = round(time.perf_counter() - start, 1)
    report["nodes"] = {t: len(df) for t, df in snapshot.nodes.items()}
    report["relationships"] = {r: len(df) for r, df in snapshot.edges.items()}
    print(f"snapshot: {report['nodes']} {report['relationships']} "
          f"({report['generate_s']} s)", flush=True)
    try:
        if not args.skip_driver:
            bench_driver(snapshot, workdir, args, report)
        if not args.skip_bulk:
            bench_bulk_and_queries(snapshot, rings, workdir, args, report)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    report["load_average_at_end"] = list(os.getloadavg())
    print_table(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


def print_table(report: dict[str, Any]) -> None:
    rels = sum(report["relationships"].values())
    nodes = sum(report["nodes"].values())
    print(f"\n## Neo4j load benchmark: {report['accounts']:,} accounts, {nodes:,} nodes, "
          f"{rels:,} relationships\n\nload average (1, 5, 15 min) at start "
          f"{report['load_average_at_start']}, at end {report['load_average_at_end']}\n")
    print("| path | seconds | relationships/s | CPU s | phases (s) |\n|---|---|---|---|---|")
    for key in ("driver_first_load", "bulk_first_load"):
        if key in report:
            r = report[key]
            print(f"| {key} | {r['seconds']} | {r['relationships_per_s']:,} | {r['cpu_s']} | "
                  f"{r['phases_s']} |")
    if "driver_reload_unchanged" in report:
        r = report["driver_reload_unchanged"]
        print(f"| driver_reload_unchanged | {r['seconds']} | (wrote {r['written']}) | | |")
    if "queries" not in report:
        return
    print(f"\nwrite-back: {report['writeback']}\n")
    print("| query | p50 ms | p95 ms | max ms | rows/run | warm-up p95 ms |\n"
          "|---|---|---|---|---|---|")
    for label, key in (("", "queries"), ("worst allowed parameters: ", "queries_worst")):
        for name, q in report.get(key, {}).items():
            cold = "" if q["warmup_p95_ms"] is None else f"{q['warmup_p95_ms']:.1f}"
            print(f"| {label}{name} | {q['p50_ms']:.1f} | {q['p95_ms']:.1f} | {q['max_ms']:.1f} "
                  f"| {q['mean_rows']:.1f} | {cold} |")
    if "backup" in report:
        print(f"\nbackup round trip: {report['backup']}")


if __name__ == "__main__":
    main()
