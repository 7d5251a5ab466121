"""Benchmark: `abusenet run` end to end on generated data, with and without Neo4j.

For each size it generates (once, kept in the work directory) ``abusenet synth --accounts N``,
then runs ``abusenet run`` on it in a child process from an empty output directory, so every
stage runs: ingest -> snapshot -> candidates -> labels -> train -> score -> rings -> evaluate
-> report, plus the Neo4j load and write-back when ``--neo4j-uri`` is given. Before a run with
Neo4j every node of that database is deleted (not timed), so the load is a first load: ``auto``
bulk-imports it into a local server, or loads it through the driver into any other server.

Usage::

    python -m benchmarks.run --accounts 100000 1000000 [--neo4j-uri local] [--set KEY=VALUE ...]

Prints a Markdown table: accounts, events, Neo4j or not, wall seconds, CPU seconds (user +
system of the run process, all threads), peak RSS of the run process, AUROC on the held-back
labels, the reported rings against the generator's planted ones (:func:`ring_figures`), and the
wall seconds, CPU seconds and peak RSS (MiB, the larger of the run process's and a child's,
see :class:`abusenet.pipeline.runner.PeakMemory`) of each stage; the outputs are checked against
the contract (:func:`abusenet.pipeline.outputs.check_outputs`) after each run.
``--set SECTION.KEY=VALUE`` options are passed to ``abusenet run`` as config overrides.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPING = ROOT / "configs" / "mappings" / "synth.yaml"
ABUSENET = [str(Path(sys.executable).parent / "abusenet")]


def generate(accounts: int, seed: int, workdir: Path) -> Path:
    """The generated dataset of ``accounts`` accounts, made once and then reused."""
    data = workdir / f"synth-{accounts}-seed{seed}"
    if not (data / "synth.json").is_file():
        started = time.perf_counter()
        subprocess.run([*ABUSENET, "synth", "--accounts", str(accounts), "--seed", str(seed),
                        "--out", str(data), "--force", "--no-progress"], check=True)
        print(f"generated {data} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return data


def empty_database(uri: str) -> None:
    """Delete every node of the database behind ``uri`` (password as for `abusenet run`)."""
    from graph.store import connect
    from graph.store.connection import resolve_neo4j_settings

    settings = resolve_neo4j_settings(uri=None if uri == "local" else uri)
    with connect(settings) as store, store.driver.session(database=store.database) as session:
        # CALL ... IN TRANSACTIONS needs an auto-commit transaction, hence session.run.
        session.run("MATCH (n) CALL { WITH n DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
                    ).consume()


def measure(data: Path, out: Path, neo4j_uri: str | None, overrides: list[str]) -> dict:
    """One `abusenet run` from scratch on ``data``: timings, memory and held-back AUROC."""
    shutil.rmtree(out, ignore_errors=True)
    args = ["run", "--input", str(data / "events"), "--mapping", str(MAPPING),
            "--labels", str(data / "labels.csv"), "--out", str(out), "--quiet", *overrides]
    if neo4j_uri:
        empty_database(neo4j_uri)
        args += ["--neo4j-uri", neo4j_uri]
    script = ("import json, resource, subprocess, sys, time\n"
              "t = time.perf_counter()\n"
              "code = subprocess.call(sys.argv[1:])\n"
              "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
              "print(json.dumps({'code': code, 'wall_s': time.perf_counter() - t,\n"
              "                  'cpu_s': u.ru_utime + u.ru_stime,\n"
              "                  'peak_rss_mib': u.ru_maxrss / 1024}))\n")
    proc = subprocess.run([sys.executable, "-c", script, *ABUSENET, *args],
                          capture_output=True, text=True, check=False)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["code"]:
        raise RuntimeError(f"abusenet run failed (exit {result['code']}):\n{proc.stdout[-4000:]}")
    from abusenet.pipeline.outputs import check_outputs

    check_outputs(out)  # the contract's files, columns and score ranges
    stages, cpu, peaks = {}, {}, {}
    for record in sorted((out / ".work" / "stages").glob("*.json")):
        raw = json.loads(record.read_text())
        stages[raw["stage"]] = raw["seconds"]
        memory = raw.get("memory", {})
        cpu[raw["stage"]] = memory.get("cpu_s", float("nan"))
        peaks[raw["stage"]] = max(memory.get("peak_rss_mib", 0.0),
                                  memory.get("children_peak_mib", 0.0))
    metrics = json.loads((out / "metrics.json").read_text())
    synth = json.loads((data / "synth.json").read_text())
    return {**result, "stages": stages, "stage_cpu_s": cpu, "stage_peak_mib": peaks,
            "events": synth["n_events"], "auroc": metrics["accounts"]["auroc"],
            "rings": ring_figures(out, data)}


def ring_figures(out: Path, data: Path) -> dict[str, float]:
    """The reported rings against the generator's truth: how many per planted ring, the
    share of their members that are abusive (by the truth, and by the run's held-back
    labels), planted rings recovered and top-ring precision (:mod:`graph.rings.metrics`)."""
    import numpy as np
    import pandas as pd

    from graph.rings.metrics import rings_recovered, top_precision

    rings = pd.read_parquet(out / "rings.parquet")
    truth = pd.read_parquet(data / "truth_accounts.parquet")
    abusive = set(truth.loc[truth["is_abusive"], "account_id"].astype(str))
    planted = [list(m) for m in pd.read_parquet(data / "rings.parquet")["members"]]
    members = pd.unique(pd.Series([m for ms in rings["members"] for m in ms], dtype=object))
    held = pd.read_parquet(out / ".work" / "labels" / "holdout_labels.parquet")
    held = held.set_index("account_id")["label"].reindex(members).dropna()
    ranked = rings["members"].tolist()
    return {
        "reported": len(rings),
        "per_planted": len(rings) / max(len(planted), 1),
        "member_precision": float(np.mean([m in abusive for m in members])) if len(members)
        else float("nan"),
        "held_back_precision": float(held.mean()) if len(held) else float("nan"),
        "recovery": rings_recovered(ranked, planted),
        "top_precision": top_precision(ranked, planted, k=len(planted)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, nargs="+", default=[100_000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--neo4j-uri", default=None,
                        help="Also run with this Neo4j ('local' = `abusenet neo4j install`'s "
                             "server, started); its database is emptied first.")
    parser.add_argument("--skip-plain", action="store_true",
                        help="Only the runs with Neo4j.")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/abusenet-bench-run"))
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE",
                        help="A config override for `abusenet run`; repeat for several.")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    variants = ([] if args.skip_plain else [None]) + ([args.neo4j_uri] if args.neo4j_uri else [])
    rows = []
    for n in sorted(args.accounts):
        data = generate(n, args.seed, args.workdir)
        for uri in variants:
            out = args.workdir / f"run-{n}{'-neo4j' if uri else ''}"
            result = measure(data, out, uri, args.overrides)
            rows.append((n, uri, result))
            print(f"{n:,} accounts, neo4j={uri}: {json.dumps(result)}", file=sys.stderr,
                  flush=True)

    print("| accounts | events | Neo4j | wall s | CPU s | peak RSS (MiB) | AUROC | rings "
          "(x planted) | member precision (held-back) | recovery / top precision | "
          "stages (wall s / CPU s / peak RSS MiB) |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---|")
    for n, uri, r in rows:
        stages = ", ".join(f"{k} {v:.1f} / {r['stage_cpu_s'].get(k, float('nan')):.1f} / "
                           f"{r['stage_peak_mib'].get(k, 0):,.0f}"
                           for k, v in r["stages"].items())
        g = r["rings"]
        print(f"| {n:,} | {r['events']:,} | {uri or '-'} | {r['wall_s']:.1f} | {r['cpu_s']:.1f}"
              f" | {r['peak_rss_mib']:,.0f} | {r['auroc']:.3f} | {g['reported']:,} "
              f"({g['per_planted']:.2f}x) | {g['member_precision']:.3f} "
              f"({g['held_back_precision']:.3f}) | {g['recovery']:.3f} / "
              f"{g['top_precision']:.3f} | {stages} |")


if __name__ == "__main__":
    main()
