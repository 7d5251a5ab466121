"""Ring benchmark: rings recovered and top-ring precision on AMLSim 10k and on generated data.

Protocol
--------
AMLSim (``../shared/datasets/amlsim-10k``): the transfers go through the real pipeline
(``ingest_logs`` with ``configs/mappings/amlsim.yaml``, then ``build_snapshot``). For each seed,
half of the 100 rings are drawn as *training rings*: their members are labelled 1, and a random
half of the accounts outside every ring are labelled 0. Everything else is unlabelled. The
figures are measured on the other half (*evaluation rings*) only:

* ``recovered``: fraction of evaluation rings whose best predicted ring has member-set Jaccard
  >= 0.5 (:func:`graph.rings.metrics.rings_recovered`);
* ``top_precision``: among the ``k`` = 50 best-scored predicted rings, the fraction matching an
  evaluation ring at Jaccard >= 0.5 (:func:`graph.rings.metrics.top_precision`). Predicted rings
  that are already known, i.e. more than half of whose members carry a positive label, are left
  out of the ranking first: finding them again is no discovery;
* ``auroc`` / ``auprc``: account scores on the unlabelled accounts (evaluation-ring members = 1).

Generated data (``ingest.synth.generate``): the generator's own partial, noisy labels train;
the rings it marks ``labelled == False`` (no member labelled) are the evaluation rings for
``recovered``; ``top_precision`` takes the ``k`` (= number of evaluation rings) best predicted
rings that are not known and counts those matching any planted ring (labelled rings are only
partly labelled, so a ring matching one of them is a real ring the labels did not give away);
account figures count every abusive account of the
generator's truth (``truth_accounts.parquet``) among the unlabelled accounts as positive.

Methods: ``gnn`` (:class:`gnn.detector.AccountDetector` account scores pooled over the
unsupervised ring candidates by :func:`gnn.rings.score_rings` (members trimmed) and calibrated
on the training labels (:func:`gnn.rings.fit_ring_calibrator`), as ``abusenet run`` does;
``--scored-candidates`` adds the score-seeded ``scored_*`` candidates), ``xgb-graph`` (the same
over the XGB-Graph baseline's scores, when ``gnn.baselines`` provides it), ``structure`` (ring
candidates ranked by structure alone, no labels), ``components`` (plain connected components of
the account graph over shared entities and flows, no hub down-weighting, ranked by links per
member). The candidate search reads the transfer times the snapshot does not keep from the
ingested events (:func:`graph.rings.off_routine.event_transfer_times`).
Nothing is tuned on the evaluation rings: all settings are the defaults of
:class:`graph.rings.config.RingConfig` and :func:`gnn.rings.score_rings`.

Run ``python -m benchmarks.rings [--seeds 0 1] [--synth-accounts 100000] [--methods ...]``;
``--perf-accounts 1000000`` also times the candidate search on a generated 1M-account world;
``--perf-snapshot DIR`` on an existing snapshot (e.g. ``OUT/.work/snapshot/snapshot`` of
``abusenet run``), without making one.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from sklearn.metrics import average_precision_score, roc_auc_score

from gnn.rings import assign_rings, calibrate_rings, fit_ring_calibrator, score_rings
from graph.rings.candidates import RingCandidate, find_ring_candidates
from graph.rings.communities import group_rows
from graph.rings.metrics import rings_recovered, top_precision
from graph.rings.off_routine import TransferTimes, event_transfer_times
from graph.rings.projection import account_entity_incidence, account_index
from graph.snapshot import Snapshot

ROOT = Path(__file__).resolve().parents[1]
#: The AMLSim 10k files: under the nearest folder above the checkout holding
#: ``shared/datasets`` (the repository's parent; a worktree's is one level further up).
AMLSIM = next((p for p in ROOT.parents if (p / "shared" / "datasets").is_dir()),
              ROOT.parent) / "shared" / "datasets" / "amlsim-10k"

AccountScorer = Callable[[Snapshot, pd.DataFrame], pd.DataFrame]


def _pipeline_snapshot(inputs: str, mapping: Path, work: Path,
                       labels: pd.DataFrame | None = None) -> Snapshot:
    """Ingest ``inputs`` with ``mapping`` and build a snapshot under ``work``."""
    from graph.build import build_snapshot
    from ingest.run import ingest_logs

    ingest_logs(inputs, mapping, work / "events", progress=False)
    return build_snapshot(work / "events", work / "snapshot", labels=labels, progress=False)


def amlsim_truth() -> list[list[str]]:
    """Member ids of the 100 AMLSim rings, ordered by alert id."""
    alerts = pd.read_csv(AMLSIM / "alert_accounts.csv.gz", usecols=["alert_id", "acct_id"])
    return [sorted(g["acct_id"].astype(str)) for _, g in alerts.groupby("alert_id")]


def amlsim_labels(truth: list[list[str]], accounts: pd.Index, seed: int
                  ) -> tuple[pd.DataFrame, list[list[str]]]:
    """Training labels and evaluation rings of one seed (see module docstring)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(truth))
    train = [truth[i] for i in order[: len(truth) // 2]]
    evaluation = [truth[i] for i in order[len(truth) // 2:]]
    in_ring = {m for ring in truth for m in ring}
    outside = np.array([a for a in accounts if a not in in_ring], dtype=object)
    negatives = rng.choice(outside, size=len(outside) // 2, replace=False)
    positives = sorted({m for ring in train for m in ring})
    labels = pd.DataFrame({"account_id": [*positives, *negatives],
                           "label": [1] * len(positives) + [0] * len(negatives)})
    return labels.astype({"label": "int8"}), evaluation


def component_rings(snapshot: Snapshot, min_size: int = 3) -> pd.DataFrame:
    """Baseline: connected components of the account graph linking any two accounts that share
    an entity or a transfer, no hub weighting (taken on the account + entity graph, so a hub's
    pairs are never listed); ranked by entity and transfer links per member."""
    accounts = account_index(snapshot)
    uses = account_entity_incidence(snapshot, accounts, include_counterparties=True).matrix
    n = len(accounts)
    graph = sp.bmat([[None, uses], [uses.T, None]]).tocsr()
    _, labels = connected_components(graph, directed=False)
    groups = [g[g < n] for g in group_rows(labels)]
    groups = [g for g in groups if len(g) >= min_size]
    degree = np.asarray(uses.getnnz(axis=1), dtype=np.float64)
    return pd.DataFrame({
        "members": [sorted(accounts[g].astype(str)) for g in groups],
        "score": [degree[g].mean() for g in groups],
        "size": [len(g) for g in groups],
    })


def _without_known(rings: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Drop rings more than half of whose members are labelled positive."""
    known = set(labels.loc[labels["label"] == 1, "account_id"].astype(str))
    share = rings["members"].map(lambda m: sum(a in known for a in m) / max(len(m), 1))
    return rings[share <= 0.5].sort_values("score", ascending=False, kind="stable")


def _account_figures(scores: pd.DataFrame, labels: pd.DataFrame, positives: set[str]
                     ) -> dict[str, float]:
    """AUROC / AUPRC of account scores on the accounts without a label."""
    unlabelled = scores[~scores["account_id"].astype(str).isin(set(labels["account_id"]))]
    y = unlabelled["account_id"].astype(str).isin(positives).to_numpy()
    if y.all() or not y.any():
        return {"auroc": float("nan"), "auprc": float("nan")}
    s = unlabelled["score"].to_numpy(np.float64)
    return {"auroc": float(roc_auc_score(y, s)), "auprc": float(average_precision_score(y, s))}


def _ring_scores_as_accounts(rings: pd.DataFrame, accounts: pd.Index) -> pd.DataFrame:
    """Account score = score of the best ring containing it, 0 outside every ring."""
    scores = pd.DataFrame({"account_id": accounts.astype(str), "score": 0.0})
    assigned = assign_rings(scores, rings)
    best = rings.set_index("ring_id")["score"]
    assigned["score"] = assigned["ring_id"].map(best).fillna(0.0).astype(float)
    return assigned[["account_id", "score"]]


def _scorers(methods: Sequence[str] | None = None) -> dict[str, AccountScorer]:
    """Supervised account scorers available in this checkout (only ``methods`` when given)."""
    scorers: dict[str, AccountScorer] = {}
    from gnn.detector import AccountDetector

    scorers["gnn"] = lambda snap, labels: AccountDetector(random_state=0).fit(
        snap, labels).score_accounts(snap)
    try:
        from gnn.baselines.xgb_graph import XGBGraph
    except ImportError:
        pass
    else:
        scorers["xgb-graph"] = lambda snap, labels: XGBGraph().fit(
            snap, labels).score_accounts(snap)
    return {m: f for m, f in scorers.items() if methods is None or m in methods}


def evaluate(
    dataset: str,
    seed: int,
    snapshot: Snapshot,
    labels: pd.DataFrame,
    evaluation: list[list[str]],
    candidates: Sequence[RingCandidate],
    methods: Sequence[str] | None = None,
    abusive: set[str] | None = None,
    all_rings: list[list[str]] | None = None,
    scored_candidates: bool = False,
    transfer_times: TransferTimes | None = None,
) -> list[dict]:
    """Rows of every method (or only ``methods``) on one dataset and seed; account figures take
    ``abusive`` as positives (default: the evaluation rings' members); top-ranked rings count
    as correct when they match any of ``all_rings`` (default: the evaluation rings).
    ``scored_candidates`` adds each method's score-seeded candidates to ``candidates`` (found
    with ``transfer_times``, :func:`graph.rings.candidates.find_ring_candidates`)."""
    accounts = account_index(snapshot)
    all_rings = evaluation if all_rings is None else all_rings
    positives = abusive if abusive is not None else {m for ring in evaluation for m in ring}
    k = len(evaluation)
    rows = []

    def row(method: str, rings: pd.DataFrame, account_scores: pd.DataFrame, seconds: float):
        ranked = _without_known(rings, labels)["members"].tolist()
        rows.append({
            "method": method, "dataset": dataset, "seed": seed,
            "recovered": rings_recovered(rings["members"].tolist(), evaluation),
            "top_precision": top_precision(ranked, all_rings, k),
            **_account_figures(account_scores, labels, positives),
            "n_rings": len(rings), "seconds": round(seconds, 1),
        })
        print(rows[-1], flush=True)

    for method, scorer in _scorers(methods).items():
        started = time.perf_counter()
        scores = scorer(snapshot, labels)
        scored = (find_ring_candidates(snapshot, account_scores=scores,
                                       transfer_times=transfer_times) if scored_candidates
                  else candidates)
        rings = score_rings(scored, snapshot, scores)
        rings = calibrate_rings(rings, fit_ring_calibrator(rings, labels), scores)
        row(method, rings, scores, time.perf_counter() - started)
    if methods is not None and "structure" not in methods:
        return rows
    started = time.perf_counter()
    rings = score_rings(candidates, snapshot, None)
    row("structure", rings, _ring_scores_as_accounts(rings, accounts),
        time.perf_counter() - started)
    started = time.perf_counter()
    rings = component_rings(snapshot)
    rings["ring_id"] = [f"c{i}" for i in range(len(rings))]
    row("components", rings, _ring_scores_as_accounts(rings, accounts),
        time.perf_counter() - started)
    return rows


#: AMLSim label draws by default: ten, like the ten splits of the node datasets (with three,
#: the mean's standard error, ~0.02 in top precision, was as large as the effects measured).
AMLSIM_SEEDS = tuple(range(10))
#: Generated worlds by default (each a different generator seed).
SYNTH_SEEDS = (0, 1, 2)


def run_amlsim(seeds: Sequence[int] = AMLSIM_SEEDS, methods: Sequence[str] | None = None,
               scored_candidates: bool = False) -> list[dict]:
    """Benchmark rows on AMLSim 10k, one per method and seed (see module docstring).

    ``methods`` picks among ``gnn``, ``xgb-graph``, ``structure`` (with ``components``);
    all by default. ``scored_candidates``: see :func:`evaluate`."""
    truth = amlsim_truth()
    rows = []
    with tempfile.TemporaryDirectory(prefix="rings-amlsim-") as tmp:
        snapshot = _pipeline_snapshot(str(AMLSIM / "transactions.csv.gz"),
                                      ROOT / "configs" / "mappings" / "amlsim.yaml", Path(tmp))
        # every transfer's time, as the pipeline's candidates stage reads it from the events
        times = event_transfer_times(Path(tmp) / "events")
        started = time.perf_counter()
        candidates = find_ring_candidates(snapshot, transfer_times=times)
        print(f"amlsim: {len(candidates)} candidates in {time.perf_counter() - started:.1f}s")
        accounts = account_index(snapshot).astype(str)
        for seed in seeds:
            labels, evaluation = amlsim_labels(truth, accounts, seed)
            rows += evaluate("amlsim-10k", seed, snapshot, labels, evaluation, candidates,
                             methods, scored_candidates=scored_candidates, transfer_times=times)
    return rows


def run_synth(n_accounts: int = 100_000, seeds: Sequence[int] = SYNTH_SEEDS,
              methods: Sequence[str] | None = None, scored_candidates: bool = False
              ) -> list[dict]:
    """Benchmark rows on generated data, one per method and seed (see module docstring);
    ``scored_candidates``: see :func:`evaluate`."""
    from ingest.synth import generate

    rows = []
    for seed in seeds:
        with tempfile.TemporaryDirectory(prefix="rings-synth-") as tmp:
            out = Path(tmp) / "synth"
            generate(out, n_accounts=n_accounts, seed=seed, progress=False)
            from ingest.labels import read_labels
            from ingest.mapping import load_mapping

            mapping = load_mapping(ROOT / "configs" / "mappings" / "synth.yaml")
            labels = read_labels(out / "labels.csv", mapping).to_pandas()
            labels["account_id"] = labels["account_id"].astype(str)
            snapshot = _pipeline_snapshot(str(out / "events"), ROOT / "configs" / "mappings" /
                                          "synth.yaml", Path(tmp), labels)
            truth = pd.read_parquet(out / "rings.parquet")
            accounts = pd.read_parquet(out / "truth_accounts.parquet")
            abusive = set(accounts.loc[accounts["is_abusive"].astype(bool),
                                       "account_id"].astype(str))
            evaluation = [sorted(map(str, m)) for m in truth.loc[~truth["labelled"], "members"]]
            every_ring = [sorted(map(str, m)) for m in truth["members"]]
            times = event_transfer_times(Path(tmp) / "events")
            started = time.perf_counter()
            candidates = find_ring_candidates(snapshot, transfer_times=times)
            print(f"synth {n_accounts}: {len(candidates)} candidates in "
                  f"{time.perf_counter() - started:.1f}s")
            rows += evaluate(f"synth-{n_accounts // 1000}k", seed, snapshot, labels, evaluation,
                             candidates, methods, abusive, every_ring, scored_candidates, times)
    return rows


def time_candidates(n_accounts: int = 1_000_000, seed: int = 0,
                    snapshot_dir: Path | None = None) -> dict:
    """Wall and CPU time and peak memory of :func:`find_ring_candidates` on a generated world
    (or on the snapshot at ``snapshot_dir``, e.g. one ``abusenet run`` built, to skip making
    one; without its events, so the off-routine fans read the pair table's times only). The
    peak RSS is the whole process's, reading the snapshot included."""
    import resource

    from graph.snapshot import read_snapshot

    with tempfile.TemporaryDirectory(prefix="rings-perf-") as tmp:
        if snapshot_dir is not None:
            snapshot, times = read_snapshot(snapshot_dir), None
        else:
            from ingest.synth import generate

            out = Path(tmp) / "synth"
            generate(out, n_accounts=n_accounts, seed=seed, progress=False)
            snapshot = _pipeline_snapshot(str(out / "events"), ROOT / "configs" / "mappings" /
                                          "synth.yaml", Path(tmp))
            times = event_transfer_times(Path(tmp) / "events")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started, cpu_started = time.perf_counter(), time.process_time()
        candidates = find_ring_candidates(snapshot, transfer_times=times)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "accounts": len(account_index(snapshot)),
        "edges": int(sum(len(e) for e in snapshot.edges.values())),
        "candidates": len(candidates),
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "peak_rss_gb_before": round(before / 2**20, 2),
        "peak_rss_gb": round(peak / 2**20, 2),
    }


def summarise(rows: list[dict]) -> pd.DataFrame:
    """Mean +- std over seeds per dataset and method."""
    table = pd.DataFrame(rows)
    figures = ["recovered", "top_precision", "auroc", "auprc"]
    grouped = table.groupby(["dataset", "method"], sort=False)[figures]
    mean, std = grouped.mean(), grouped.std(ddof=0).fillna(0.0)
    return mean.round(3).astype(str) + " +- " + std.round(3).astype(str)


def main() -> None:
    """Print the ring table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(AMLSIM_SEEDS),
                        help="AMLSim label draws (default 0-9)")
    parser.add_argument("--synth-accounts", type=int, default=100_000)
    parser.add_argument("--synth-seeds", type=int, nargs="+", default=list(SYNTH_SEEDS),
                        help="generator seeds, one world each (default 0-2)")
    parser.add_argument("--skip-synth", action="store_true")
    parser.add_argument("--skip-amlsim", action="store_true")
    parser.add_argument("--methods", nargs="+", default=None,
                        help="gnn, xgb-graph, structure (structure also runs components)")
    parser.add_argument("--synth-methods", nargs="+", default=None)
    parser.add_argument("--perf-accounts", type=int, default=0,
                        help="also time the candidate search on a generated world this large")
    parser.add_argument("--perf-snapshot", type=Path, default=None,
                        help="also time the candidate search on this snapshot directory")
    parser.add_argument("--scored-candidates", action="store_true",
                        help="add score-seeded candidates (scored_component / scored_core) to "
                             "each supervised method's candidates; abusenet run does not")
    args = parser.parse_args()
    if args.perf_accounts:
        print(time_candidates(args.perf_accounts))
    if args.perf_snapshot:
        print(time_candidates(snapshot_dir=args.perf_snapshot))
    rows = [] if args.skip_amlsim else run_amlsim(args.seeds, args.methods,
                                                  args.scored_candidates)
    if not args.skip_synth:
        rows += run_synth(args.synth_accounts, args.synth_seeds,
                          args.synth_methods or args.methods, args.scored_candidates)
    if rows:
        pd.set_option("display.width", 200)
        print(pd.DataFrame(rows).to_string(index=False))
        print(summarise(rows).to_string())


if __name__ == "__main__":
    main()
