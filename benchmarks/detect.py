"""Detection benchmark: every method on every dataset, one table, one run.

Usage::

    .venv/bin/python -m benchmarks.detect --threads 1                 # the full table
    .venv/bin/python -m benchmarks.detect --quick --skip-rings        # 2 splits each, smoke run
    .venv/bin/python -m benchmarks.detect --skip-rings --datasets reddit  # one node dataset
    .venv/bin/python -m benchmarks.detect --scale 1000000 --threads 1 # training/scoring at scale

Node-level datasets (test AUROC / AUPRC, mean ± std over splits):

* Tolokers, the 10 official splits (train 50 % / validation 25 % / test 25 %).
* Reddit, ``--splits`` stratified random splits (default 10, at least 5; train 40 % /
  validation 20 % / test 40 %, seeds 0, 1, ...).

Methods: ``SepHeteroGNN`` (the :class:`gnn.detector.AccountDetector` network trained on subgraphs
drawn by :class:`gnn.sampler.TemporalNeighborSampler` through PyG's ``NodeLoader``; inputs = own
features, normalised per ``configs/detect.yaml`` (quantile or z-score), + 2-hop neighbour
mean/max/std + degree, + on datasets with ``positions`` that many spectral coordinates of the
graph (:func:`gnn.data.spectral_positions`: where a node sits, which a few hops of neighbour
aggregates do not tell); ``benchmark.ensemble`` networks per split with different seeds, logits
averaged; no trees anywhere), ``SepHeteroGNN + C&S`` (the same GNN's scores post-processed by
Correct & Smooth, :mod:`gnn.correct_smooth`, with training labels only; its settings picked per
split on validation AUROC from the grid in ``benchmark.correct_smooth``, which includes "off"),
``XGB-Graph + positions`` (where ``positions`` is set: XGB-Graph with the same spectral
coordinates appended to the raw features, so the table shows what the coordinates give trees
too), ``GNN+XGB`` (rank average of the GNN and the better-informed XGB-Graph row, the weight
picked on validation), ``XGB-Graph`` (GADBench's recipe, the baseline to beat),
``XGB (own features)``, ``LabelPropagation`` and ``ComponentRate``. Every choice (settings,
epochs, blend weight, ``positions``) uses validation labels only.

Ring datasets (``benchmarks/rings.py``, protocol in its docstring): AMLSim 10k with half the
rings' members labelled (rings recovered among the other half, top-ring precision, account
AUROC / AUPRC on unlabelled accounts; mean ± std over ``--ring-seeds``, 10 draws by default)
and the generator's data at ``--synth-accounts``, one world per ``--synth-seeds`` (default 0-2;
``--synth-methods`` picks the methods there, since the GNN is the slow one). ``--skip-rings``
leaves them out.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import yaml
from scipy.stats import rankdata

from benchmarks.rings import AMLSIM_SEEDS, SYNTH_SEEDS
from gnn.baselines import ComponentRate, LabelPropagation, XGBGraph
from gnn.correct_smooth import normalized_adjacency, select_correct_smooth
from gnn.data import (
    load_reddit,
    load_tolokers,
    neighbor_aggregates,
    quantile_normal,
    spectral_positions,
)
from gnn.data.benchmark import LINKED
from gnn.detector import AccountDetector
from gnn.evaluate import auroc, node_metrics, summarize
from graph.snapshot import ACCOUNT

if TYPE_CHECKING:
    from torch_geometric.data import HeteroData

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"

Row = dict
Runner = Callable[[argparse.Namespace], list[Row]]

#: Settings of the GNN on the benchmark graphs (``configs/detect.yaml``, section ``benchmark``).
BENCHMARK_CONFIG = yaml.safe_load(
    (Path(__file__).resolve().parents[1] / "configs" / "detect.yaml").read_text()
)["benchmark"]
GNN_CONFIG = BENCHMARK_CONFIG["gnn"]


def _augment(data, feature_transform: str = "standard", positions: torch.Tensor | None = None):
    """Own features + 2-hop neighbour mean/max/std + degree, standardised (static graphs only).

    With ``feature_transform="quantile"`` the raw features are first mapped onto a normal
    through their quantiles (no labels used), so heavy-tailed columns aggregate sensibly.
    ``positions`` (spectral coordinates, :func:`gnn.data.spectral_positions`) are appended,
    mapped onto a normal through their quantiles.
    """
    x = data[ACCOUNT].x
    if feature_transform == "quantile":
        x = quantile_normal(x)
    elif feature_transform != "standard":
        raise ValueError(
            f"feature_transform must be 'standard' or 'quantile', not {feature_transform!r}"
        )
    x = neighbor_aggregates(x, data[LINKED].edge_index)
    x = (x - x.mean(0)) / x.std(0).clamp(min=1e-6)
    if positions is not None:
        x = torch.cat([x, quantile_normal(positions)], dim=1)
    data[ACCOUNT].x = x
    return data


def _with_positions(data, positions: torch.Tensor):
    """``data`` with raw spectral coordinates appended to the account features (for trees)."""
    data[ACCOUNT].x = torch.cat([data[ACCOUNT].x, positions], dim=1)
    return data


def gnn_ensemble_logits(
    data, train: np.ndarray, y: np.ndarray, val: np.ndarray, settings: dict, members: int, seed: int
) -> np.ndarray:
    """Mean logit over ``members`` AccountDetectors (seeds ``seed * 100 + m``), all nodes."""
    total = np.zeros(data[ACCOUNT].num_nodes)
    for member in range(members):
        gnn = AccountDetector(**settings, random_state=seed * 100 + member)
        gnn.fit_graph(data, train, y[train], val, y[val])
        total += gnn.graph_logits(data)
    return total / members


def correct_and_smooth(
    adjacency, logits: np.ndarray, train: np.ndarray, y: np.ndarray, val: np.ndarray
) -> tuple[np.ndarray, str]:
    """C&S over the GNN's scores, settings picked on validation AUROC (training labels propagate).

    The GNN is trained with balanced class weights, so its logits are shifted by the training
    log-odds ``log(positives / negatives)`` before the sigmoid: probabilities near the class
    rates, as the residuals of the correct step assume. Returns all scores and a short summary.
    """
    positives = y[train].mean()
    prob = 1 / (1 + np.exp(-(logits + np.log(positives / (1 - positives)))))
    grid = BENCHMARK_CONFIG["correct_smooth"]
    settings, val_auc, scores = select_correct_smooth(
        *(adjacency, prob, train, y[train], val, y[val], auroc),
        correct_alphas=tuple(grid["correct_alphas"]),
        smooth_alphas=tuple(grid["smooth_alphas"]),
        scales=tuple(grid["scales"]),
        num_layers=grid["num_layers"],
    )
    summary = (
        f"C&S val {auroc(y[val], prob[val]):.4f} -> {val_auc:.4f} (correct {settings.correct_alpha}"
        f", scale {settings.scale}, smooth {settings.smooth_alpha})"
    )
    return scores, summary


def _rank(score: np.ndarray) -> np.ndarray:
    return rankdata(score) / len(score)


def _methods(seed: int) -> dict[str, Callable[[], object]]:
    return {
        "XGB-Graph": lambda: XGBGraph(random_state=seed),
        "XGB (own features)": lambda: XGBGraph(hops=0, random_state=seed),
        "LabelPropagation": lambda: LabelPropagation(),
        "ComponentRate": lambda: ComponentRate(),
    }


def run_node_dataset(name: str, data, splits: np.ndarray, args: argparse.Namespace) -> list[Row]:
    """Every method on every split of one node-level dataset; one row per method."""
    y = data[ACCOUNT].y.numpy()
    dataset = BENCHMARK_CONFIG[name.lower()]
    positions = None
    if dataset.get("positions", 0):
        positions = spectral_positions(data[LINKED].edge_index, len(y), dataset["positions"])
    augmented = _augment(data.clone(), dataset["feature_transform"], positions)
    positioned = None if positions is None else _with_positions(data.clone(), positions)
    settings = {**GNN_CONFIG, **dataset["gnn"]}
    members = args.ensemble or BENCHMARK_CONFIG["ensemble"]
    adjacency = normalized_adjacency(data[LINKED].edge_index.numpy(), len(y))
    runs: dict[str, list[dict]] = {}
    seconds: dict[str, float] = {}
    for split_no, split in enumerate(splits[: args.splits]):
        train, val, test = (np.flatnonzero(split == k) for k in range(3))
        scores: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        started = time.perf_counter()
        all_scores = gnn_ensemble_logits(augmented, train, y, val, settings, members, split_no)
        scores["SepHeteroGNN (ours)"] = (all_scores[val], all_scores[test])
        seconds["SepHeteroGNN (ours)"] = seconds.get("SepHeteroGNN (ours)", 0) + (
            time.perf_counter() - started
        )
        started = time.perf_counter()
        smoothed, cs_summary = correct_and_smooth(adjacency, all_scores, train, y, val)
        scores["SepHeteroGNN + C&S (ours)"] = (smoothed[val], smoothed[test])
        seconds["SepHeteroGNN + C&S (ours)"] = seconds.get("SepHeteroGNN + C&S (ours)", 0) + (
            time.perf_counter() - started
        )
        baselines = [(method, make, data) for method, make in _methods(split_no).items()]
        best_trees = "XGB-Graph"
        if positioned is not None:
            best_trees = "XGB-Graph + positions (ours)"
            baselines.append((best_trees, _methods(split_no)["XGB-Graph"], positioned))
        for method, make, graph in baselines:
            started = time.perf_counter()
            model = make().fit_graph(graph, train, y[train], val, y[val])
            both = model.score_graph(graph)
            scores[method] = (both[val], both[test])
            seconds[method] = seconds.get(method, 0) + time.perf_counter() - started
        scores["GNN+XGB (ours)"] = _blend(scores["SepHeteroGNN (ours)"], scores[best_trees], y[val])
        for method, (_, test_score) in scores.items():
            runs.setdefault(method, []).append(node_metrics(y[test], test_score))
        gnn_auc = runs["SepHeteroGNN (ours)"][-1]["auroc"]
        xgb_auc = runs["XGB-Graph"][-1]["auroc"]
        cs_auc = runs["SepHeteroGNN + C&S (ours)"][-1]["auroc"]
        print(
            f"  {name} split {split_no}: GNN {gnn_auc:.4f}  GNN+C&S {cs_auc:.4f}  "
            f"XGB-Graph {xgb_auc:.4f}  [{cs_summary}]",
            flush=True,
        )
    rows = []
    for method, results in runs.items():
        row = {"dataset": f"{name} ({len(results)} splits)", "method": method}
        row.update(summarize(results))
        row["seconds/split"] = seconds.get(method, float("nan")) / len(results)
        rows.append(row)
    return rows


def _blend(gnn: tuple, xgb: tuple, val_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank average ``w * gnn + (1 - w) * xgb`` with ``w`` chosen on validation AUROC."""
    best_w = max(
        np.linspace(0, 1, 11),
        key=lambda w: auroc(val_y, w * _rank(gnn[0]) + (1 - w) * _rank(xgb[0])),
    )
    return tuple(best_w * _rank(g) + (1 - best_w) * _rank(x) for g, x in zip(gnn, xgb, strict=True))


def run_tolokers(args: argparse.Namespace) -> list[Row]:
    """Tolokers, official splits."""
    data, splits = load_tolokers(DATASETS / "tolokers")
    return run_node_dataset("Tolokers", data, splits, args)


def run_reddit(args: argparse.Namespace) -> list[Row]:
    """Reddit, stratified random 40/20/40 splits."""
    data, splits = load_reddit(DATASETS / "reddit", num_splits=max(args.splits, 5))
    return run_node_dataset("Reddit", data, splits, args)


RING_METRICS = ("recovered", "top_precision", "auroc", "auprc")
#: Method names of ``benchmarks/rings.py`` as they appear in this table.
RING_METHOD_NAMES = {
    "gnn": "SepHeteroGNN (ours)",
    "xgb-graph": "XGB-Graph",
    "structure": "Structure only (ours)",
    "components": "Components",
}


def ring_rows(rows: list[dict]) -> list[Row]:
    """``benchmarks/rings.py`` rows (one per method and seed) -> mean ± std table rows."""
    grouped: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        grouped.setdefault((row["dataset"], row["method"]), []).append(row)
    table = []
    for (dataset, method), runs in grouped.items():
        out: Row = {
            "dataset": f"{dataset} ({len(runs)} seeds)",
            "method": RING_METHOD_NAMES.get(method, method),
        }
        for metric in RING_METRICS:
            values = np.array([r[metric] for r in runs], dtype=float)
            out[metric] = (float(values.mean()), float(values.std()))
        out["seconds/split"] = float(np.mean([r["seconds"] for r in runs]))
        table.append(out)
    return table


def run_amlsim_rings(args: argparse.Namespace) -> list[Row]:
    """AMLSim 10k, half the rings labelled (``benchmarks/rings.py``)."""
    from benchmarks.rings import run_amlsim

    return ring_rows(run_amlsim(seeds=args.ring_seeds))


def run_synth_rings(args: argparse.Namespace) -> list[Row]:
    """The generator's data with its planted rings (``benchmarks/rings.py``)."""
    from benchmarks.rings import run_synth

    return ring_rows(run_synth(args.synth_accounts, seeds=args.synth_seeds,
                               methods=args.synth_methods))


NODE_RUNNERS: dict[str, Runner] = {"tolokers": run_tolokers, "reddit": run_reddit}


def dataset_runners(args: argparse.Namespace) -> list[Runner]:
    """The node-level runners (``--datasets``), then the ring datasets unless ``--skip-rings``."""
    runners: list[Runner] = [NODE_RUNNERS[name] for name in args.datasets]
    if not args.skip_rings:
        runners += [run_amlsim_rings, run_synth_rings]
    return runners


def format_table(rows: list[Row]) -> str:
    """A fixed-width text table: dataset, method, then every metric as ``mean ± std``."""
    metrics: list[str] = []
    for row in rows:
        metrics.extend(k for k in row if k not in ("dataset", "method") and k not in metrics)
    width = max([22, *(len(row["method"]) for row in rows)])
    header = f"{'dataset':<22} {'method':<{width}} " + " ".join(f"{m:>16}" for m in metrics)
    lines = [header, "-" * len(header)]
    for row in rows:
        cells = []
        for m in metrics:
            value = row.get(m)
            if isinstance(value, tuple):
                cells.append(f"{100 * value[0]:>9.2f} ± {100 * value[1]:<4.2f}")
            elif isinstance(value, float):
                cells.append(f"{value:>16.1f}")
            else:
                cells.append(f"{'-':>16}")
        lines.append(f"{row['dataset']:<22} {row['method']:<{width}} " + " ".join(cells))
    return "\n".join(lines)


def synthetic_graph(num_accounts: int, seed: int = 0) -> HeteroData:
    """A random snapshot-shaped graph: ``num_accounts`` accounts with 16 features, devices, IPs,
    payment methods and transfers (about 3.5 edges per account before reversal), edge times over
    30 days, heavy-tailed entity popularity."""
    from torch_geometric.data import HeteroData  # imported after gnn, which mutes PyG's warning

    rng = np.random.default_rng(seed)
    day = 86_400
    sizes = {
        ACCOUNT: num_accounts,
        "Device": num_accounts // 5,
        "IP": num_accounts // 3,
        "PaymentMethod": num_accounts // 2,
    }
    data = HeteroData()
    for node_type, n in sizes.items():
        data[node_type].x = torch.randn(n, 16 if node_type == ACCOUNT else 2)
        data[node_type].num_nodes = n
    per_account = {
        "USED_DEVICE": ("Device", 1.2),
        "USED_IP": ("IP", 1.2),
        "PAID_WITH": ("PaymentMethod", 0.6),
        "TRANSACTED_WITH": (ACCOUNT, 0.5),
    }
    for rel, (dst_type, ratio) in per_account.items():
        m = int(ratio * num_accounts)
        src = rng.integers(0, num_accounts, m)
        dst = (rng.pareto(1.5, m) * sizes[dst_type] / 50).astype(np.int64) % sizes[dst_type]
        edge_index = torch.from_numpy(np.stack([src, dst]))
        edge_time = torch.from_numpy(rng.integers(0, 30 * day, m))
        data[ACCOUNT, rel, dst_type].edge_index = edge_index
        data[ACCOUNT, rel, dst_type].edge_time = edge_time
        data[dst_type, f"rev_{rel}", ACCOUNT].edge_index = edge_index.flip(0)
        data[dst_type, f"rev_{rel}", ACCOUNT].edge_time = edge_time
    return data


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_scale(num_accounts: int, labelled: float = 0.1, seed: int = 0) -> None:
    """Sampler seeds/s, one training epoch (time and peak memory) and scoring accounts/s.

    One epoch = every labelled training account (``labelled`` of all accounts) drawn once as a
    seed, each with its own time bound (fan-out [15, 10], batches of 1024), then the validation
    pass over 5,000 more time-bounded accounts. Scoring = every account of the graph with its
    full neighbourhood, layer by layer over the whole graph (no sampling).
    """
    from torch_geometric.sampler import NodeSamplerInput

    from gnn.sampler import TemporalNeighborSampler

    started = time.perf_counter()
    data = synthetic_graph(num_accounts, seed)
    edges = sum(data[et].edge_index.size(1) for et in data.edge_types)
    print(
        f"graph: {num_accounts:,} accounts, {edges:,} directed edge entries (reversals "
        f"included), built in {time.perf_counter() - started:.0f} s"
    )
    rng = np.random.default_rng(seed)
    sampler = TemporalNeighborSampler(data, [15, 10], seed=seed)
    for timed in (False, True):
        seeds = torch.from_numpy(rng.integers(0, num_accounts, 20 * 1024))
        times = torch.full((1024,), 20 * 86_400) if timed else None
        started = time.perf_counter()
        for lo in range(0, len(seeds), 1024):
            sampler.sample_from_nodes(NodeSamplerInput(None, seeds[lo : lo + 1024], times, ACCOUNT))
        rate = len(seeds) / (time.perf_counter() - started)
        kind = "time-bounded, disjoint" if timed else "no time bound, shared"
        print(f"sampler [15, 10], batches of 1024 ({kind}): {rate:,.0f} seeds/s")
    order = rng.permutation(num_accounts)
    n_train = int(labelled * num_accounts)
    train, val = order[:n_train], order[n_train : n_train + 5_000]
    y = (rng.random(num_accounts) < 0.05).astype(np.float32)
    label_time = rng.integers(10 * 86_400, 30 * 86_400, num_accounts)
    detector = AccountDetector(max_epochs=1, batch_size=1024, random_state=seed)
    cpu = _cpu_seconds()
    detector.fit_graph(data, train, y[train], val, y[val], label_time[train], label_time[val])
    cpu = _cpu_seconds() - cpu
    epoch = detector.history_[0]["seconds"]
    print(
        f"training: one epoch = all {n_train:,} labelled training accounts "
        f"({labelled:.0%} of the graph) once, time-bounded, + validation on 5,000: "
        f"{epoch:.0f} s wall ({n_train / epoch:,.0f} seeds/s); fit {cpu:.0f} CPU s"
    )
    started, cpu = time.perf_counter(), _cpu_seconds()
    scores = detector.score_graph(data)
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    print(
        f"scoring: {len(scores):,} accounts in {seconds:.1f} s wall, {cpu:.1f} CPU s "
        f"({len(scores) / seconds:,.0f} accounts/s; full neighbourhoods, whole-graph layers)"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak:,.0f} MiB; load average {os.getloadavg()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--splits", type=int, default=10, help="splits per dataset (at most)")
    parser.add_argument("--quick", action="store_true", help="2 splits per dataset")
    parser.add_argument("--max-epochs", type=int, default=None, help="override the GNN epochs")
    parser.add_argument("--ensemble", type=int, default=None,
                        help="GNNs per split (default: configs/detect.yaml benchmark.ensemble)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--scale", type=int, default=0, help="run the scale benchmark instead")
    parser.add_argument("--scale-labelled", type=float, default=0.1,
                        help="share of the --scale graph's accounts labelled for training")
    parser.add_argument("--skip-rings", action="store_true", help="node-level datasets only")
    parser.add_argument("--datasets", nargs="*", choices=list(NODE_RUNNERS),
                        default=list(NODE_RUNNERS), help="node-level datasets to run")
    parser.add_argument("--ring-seeds", type=int, nargs="+", default=list(AMLSIM_SEEDS),
                        help="label draws on AMLSim (default 0-9)")
    parser.add_argument("--synth-accounts", type=int, default=100_000,
                        help="accounts in the generated ring dataset")
    parser.add_argument("--synth-seeds", type=int, nargs="+", default=list(SYNTH_SEEDS),
                        help="generator seeds, one generated world each (default 0-2)")
    parser.add_argument("--synth-methods", nargs="+", default=None,
                        help="methods on the generated data (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.quick:
        args.splits = 2
    if args.max_epochs:
        GNN_CONFIG["max_epochs"] = args.max_epochs
    if args.scale:
        run_scale(args.scale, args.scale_labelled)
        return
    rows: list[Row] = []
    for runner in dataset_runners(args):
        rows.extend(runner(args))
    print()
    print(
        "Test metrics x 100, mean ± std over splits or seeds (AUROC, AUPRC, Recall@k with k = "
        "positives; rings: recovered at Jaccard >= 0.5, top-ring precision)"
    )
    print(format_table(rows))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
