"""Benchmark: training seeds/s of 2-process DDP against one process with 1 and with 2 threads.

On the synthetic snapshot-shaped graph of ``benchmarks.detect`` (``--accounts`` accounts, about
3.5 edges each before reversal), each configuration trains ``--epochs`` epochs of the default
detector over the same ``--labelled`` share of the accounts as time-bounded seeds, validating on
2,000 more, in a fresh child process (so memory figures are its own):

- ``single-1``: one process, one torch thread (``gnn.training.train_model``);
- ``single-2``: one process, two torch threads;
- ``ddp-2``: two processes of one thread each (``gnn.distributed.DistributedTrainer``), each
  drawing ``batch_size // 2`` seeds a step (the optimisation of one process);
- ``ddp-2-full``: the same with ``rank_batch="full"`` (the default): each process draws
  ``batch_size`` seeds a step (half the steps, each rank's fixed per-step costs paid once per
  ``batch_size`` seeds).

``--ceiling`` measures instead what two processes can get out of this machine: the wall seconds
of a fixed single-threaded CPU-bound workload (``--ceiling-seconds`` of float matrix products and
interpreted Python) run alone, then as two processes at once; the ratio ``2 x alone / together``
is the speed-up two perfectly parallel processes could reach (2.0 on two full cores).

``--quality DATASET`` measures instead whether the DDP batch per process costs quality, on tuning
data only (:func:`quality_data`: the generated world of seed 3, or the training half of AMLSim): for
each ``--seeds`` seed, the detector (default settings, ``boost=None`` so the GNN's own training is
compared) trains on a random 70 % of the labels under each of :data:`QUALITY_CONFIGS` (``single``:
one process; ``split`` / ``full``: 2-process DDP with ``rank_batch`` split / full, at the detector's
learning rate; ``full-lr``: full with the rate doubled, ``scale_lr``: the linear scaling rule for
the doubled global batch, the default) and is scored against the truth on the other 30 % of the
labelled accounts (``held``) and on every account it did not train on (``rest``). One JSON line per
run.

Usage::

    nice -n 10 python -m benchmarks.ddp --accounts 100000 [--labelled 0.3] [--epochs 2]
    nice -n 10 python -m benchmarks.ddp --ceiling
    nice -n 10 python -m benchmarks.ddp --quality synth [--seeds 0 1 2]

Prints a Markdown table: seeds/s per epoch (training seeds / epoch wall seconds, validation
included, as ``history`` records it), the best epoch's rate, the child's wall and CPU seconds
(processes started, graph written and read included) and resident memory (for DDP: the parent,
which holds the graph, and each training process's total / private / mapped-graph MiB), plus the
load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

CONFIGS = ("single-1", "single-2", "ddp-2", "ddp-2-full")
QUALITY_CONFIGS = ("single", "split", "full", "full-lr")  # see the module docstring


def quality_data(name: str, work: Path) -> tuple:
    """Snapshot, training labels and the truth to score against of a tuning dataset.

    ``synth``: the generated world of seed 3 (20,000 accounts), its partial noisy labels
    (``labels.csv``) to train on, its ``truth_accounts.parquet`` to score; ``amlsim``: the
    training half of :func:`benchmarks.realdata.amlsim` (its ``_halves``, seed 0) as both.
    Built once under ``work`` (reused when there).
    """
    import pandas as pd

    from graph.snapshot import read_snapshot

    root = work / name
    if name == "synth":
        from benchmarks.rings import ROOT, _pipeline_snapshot
        from ingest.synth import generate

        if not (root / "snapshot").exists():
            generate(root / "synth", n_accounts=20_000, seed=3, progress=False)
            _pipeline_snapshot(str(root / "synth" / "events"),
                               ROOT / "configs" / "mappings" / "synth.yaml", root)
        labels = pd.read_csv(root / "synth" / "labels.csv", dtype={"account_id": str})
        truth = pd.read_parquet(root / "synth" / "truth_accounts.parquet")
        truth = pd.DataFrame({"account_id": truth["account_id"].astype(str),
                              "label": truth["is_abusive"].astype(int)})
        return read_snapshot(root / "snapshot"), labels[["account_id", "label"]], truth
    from benchmarks.realdata import _halves, amlsim

    snapshot, labels, _ = amlsim()
    train, _ = _halves(labels, seed=0)
    return snapshot, train, train


def quality_one(config: str, snapshot, labels, truth, seed: int, epochs: int) -> dict:
    """Train ``config`` (one of :data:`QUALITY_CONFIGS`) on a random 70 % of ``labels``
    (``seed``, also the detector's ``random_state``); AUROC / AUPRC against ``truth`` on the
    other 30 %'s accounts (``held_*``) and on every account not trained on (``rest_*``), the
    epochs trained and the fit's wall seconds."""
    import numpy as np
    from sklearn.metrics import average_precision_score, roc_auc_score

    from gnn.detector import AccountDetector
    from gnn.distributed import DistributedTrainer

    order = np.random.default_rng(seed).permutation(len(labels))
    cut = int(0.7 * len(labels))
    train, held = labels.iloc[order[:cut]], labels.iloc[order[cut:]]
    trainer = None
    if config != "single":
        trainer = DistributedTrainer(2, 1, rank_batch="split" if config == "split" else "full",
                                     scale_lr=config == "full-lr")
    detector = AccountDetector(random_state=seed, num_threads=1, boost=None, max_epochs=epochs)
    started = time.perf_counter()
    detector.fit(snapshot, train, trainer=trainer)
    wall = time.perf_counter() - started
    scored = detector.score_accounts(snapshot).set_index("account_id")["score"]
    scored.index = scored.index.astype(str)
    out = {"config": config, "seed": seed, "epochs": detector.metrics_["epochs"], "wall": wall}
    trained = set(train["account_id"])
    for part, test in (("held", truth[truth["account_id"].isin(set(held["account_id"]))]),
                       ("rest", truth[~truth["account_id"].isin(trained)])):
        y, s = test["label"].to_numpy(), scored.reindex(test["account_id"]).to_numpy()
        out.update({f"{part}_auroc": roc_auc_score(y, s),
                    f"{part}_auprc": average_precision_score(y, s),
                    f"{part}_n": len(y), f"{part}_pos": int(y.sum())})
    return out



def run_one(config: str, accounts: int, labelled: float, epochs: int) -> dict:
    """Train once in this process under ``config``; the figures as a dict."""
    import numpy as np

    from benchmarks.detect import synthetic_graph
    from gnn.detector import AccountDetector
    from gnn.distributed import DistributedTrainer

    data = synthetic_graph(accounts, seed=0)
    rng = np.random.default_rng(0)
    order = rng.permutation(accounts)
    n_train = int(labelled * accounts)
    train, val = order[:n_train], order[n_train : n_train + 2_000]
    y = (rng.random(accounts) < 0.05).astype(np.float32)
    label_time = rng.integers(10 * 86_400, 30 * 86_400, accounts)
    threads = 2 if config == "single-2" else 1
    trainer = None
    if config.startswith("ddp-2"):
        rank_batch = "full" if config == "ddp-2-full" else "split"
        trainer = DistributedTrainer(nproc=2, threads=1, rank_batch=rank_batch)
    detector = AccountDetector(max_epochs=epochs, patience=epochs, num_threads=threads)
    started = time.perf_counter()
    detector.fit_graph(data, train, y[train], val, y[val], label_time[train], label_time[val],
                       trainer=trainer)
    wall = time.perf_counter() - started
    rates = [n_train / h["seconds"] for h in detector.history_]
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "config": config,
        "seeds": n_train,
        "rates": rates,
        "fit_wall": wall,
        "peak_rss": own,
        "processes": getattr(trainer, "processes_", None),
    }


def burn(seconds: float) -> None:
    """A fixed single-threaded CPU-bound workload of about ``seconds`` on an idle core."""
    import torch

    torch.set_num_threads(1)
    a = torch.randn(192, 192)
    for _ in range(int(seconds * 1_200)):
        a = torch.tanh(a @ a * 0.01)
        sum(i * i for i in range(600))


def ceiling(seconds: float) -> dict[str, float]:
    """Wall and CPU seconds of :func:`burn` alone and as two processes at once."""
    command = [sys.executable, "-c",
               f"from benchmarks.ddp import burn; burn({seconds})"]
    out: dict[str, float] = {}
    for label, count in (("alone", 1), ("together", 2)):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        for process in [subprocess.Popen(command) for _ in range(count)]:
            if process.wait():
                raise RuntimeError(f"the {label} workload failed ({process.returncode})")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out[f"{label}_wall"] = time.perf_counter() - started
        out[f"{label}_cpu"] = (after.ru_utime + after.ru_stime) - (
            before.ru_utime + before.ru_stime)
    out["ceiling"] = 2 * out["alone_wall"] / out["together_wall"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--labelled", type=float, default=0.3,
                        help="share of the accounts trained on as seeds per epoch")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    parser.add_argument("--one", choices=CONFIGS, help=argparse.SUPPRESS)
    parser.add_argument("--ceiling", action="store_true",
                        help="measure two processes against one on a fixed workload instead")
    parser.add_argument("--ceiling-seconds", type=float, default=10.0)
    parser.add_argument("--quality", choices=("synth", "amlsim"),
                        help="held-out quality of one process against 2-process DDP instead")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--quality-configs", nargs="+", choices=QUALITY_CONFIGS,
                        default=list(QUALITY_CONFIGS))
    parser.add_argument("--work", type=Path, default=Path("/tmp/abusenet-ddp-quality"),
                        help="where --quality builds its datasets (reused)")
    args = parser.parse_args()
    if args.quality:
        snapshot, labels, truth = quality_data(args.quality, args.work)
        for seed in args.seeds:
            for config in args.quality_configs:
                row = quality_one(config, snapshot, labels, truth, seed, epochs=50)
                print(json.dumps({"dataset": args.quality, **row}), flush=True)
        return
    if args.ceiling:
        before = os.getloadavg()
        figures = ceiling(args.ceiling_seconds)
        print("| run | wall s | CPU s |\n|---|---:|---:|")
        for label in ("alone", "together"):
            print(f"| {label} | {figures[label + '_wall']:.1f} | {figures[label + '_cpu']:.1f} |")
        print(f"\nceiling (2 x alone / together): {figures['ceiling']:.2f}x; load average "
              f"before {before}, after {os.getloadavg()}")
        return
    if args.one:
        print(json.dumps(run_one(args.one, args.accounts, args.labelled, args.epochs)))
        return
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    rows = []
    for config in args.configs:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.ddp", "--one", config, "--accounts",
             str(args.accounts), "--labelled", str(args.labelled), "--epochs", str(args.epochs)],
            check=True, capture_output=True, text=True,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["wall"] = time.perf_counter() - started
        result["cpu"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        result["load"] = os.getloadavg()[0]
        rows.append(result)
        print(json.dumps(result), file=sys.stderr)
    print(f"\n{args.accounts:,} accounts, {rows[0]['seeds']:,} time-bounded training seeds per "
          f"epoch, {args.epochs} epoch(s)\n")
    print("| config | seeds/s per epoch | best seeds/s | fit wall s | child wall s | CPU s | "
          "memory MiB | load (1 min, after) |")
    print("|---|---|---:|---:|---:|---:|---|---:|")
    for r in rows:
        memory = f"peak {r['peak_rss']:,.0f}"
        if r["processes"]:
            memory = f"parent peak {r['peak_rss']:,.0f}; " + "; ".join(
                f"rank {p['rank']} {p['rss']:,.0f} (private {p['anon']:,.0f}, "
                f"mapped graph {p['graph']:,.0f})" for p in r["processes"]
            )
        print(f"| {r['config']} | {', '.join(f'{x:,.0f}' for x in r['rates'])} | "
              f"{max(r['rates']):,.0f} | {r['fit_wall']:.1f} | {r['wall']:.1f} | {r['cpu']:.1f} | "
              f"{memory} | {r['load']:.1f} |")
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
