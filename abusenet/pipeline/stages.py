"""The stages of a batch run, as plain functions from input paths and settings to output files.

Every function writes only into the ``out`` directory it is given (the runner makes it a fresh
temporary directory and renames it into place when the function returns) and returns a small
JSON-serialisable ``info`` dict for the progress display, the cache record and the summary.
The runner (:mod:`abusenet.pipeline.run`) wires them; nothing here knows about caching.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from abusenet.pipeline.outputs import write_contract_table
from graph.store.connection import Neo4jSettings
from ingest.mapping import Mapping

if TYPE_CHECKING:
    from graph.rings.candidates import RingCandidate
    from graph.store.server.local import LocalNeo4j

EVENTS = "events"
QUARANTINE = "quarantine.parquet"
SNAPSHOT = "snapshot"
CANDIDATES = "candidates.parquet"
TRAIN_LABELS = "train_labels.parquet"
HOLDOUT_LABELS = "holdout_labels.parquet"
MODEL = "model"
ACCOUNT_SCORES = "account_scores.parquet"
ENTITY_SCORES = "entity_scores.parquet"
RINGS = "rings.parquet"
METRICS = "metrics.json"
REPORT = "report.html"
EXPLANATIONS = "explanations.parquet"
#: Columns of ``explanations.parquet``: one row per driving neighbour or feature of an account.
EXPLANATION_COLUMNS = ["ring_id", "account_id", "score", "kind", "node_type", "item", "relation",
                       "attribution"]


# ------------------------------------------------------------------------------------- ingest
def ingest_stage(
    inputs: Sequence[str],
    mapping: Mapping,
    labels: Path | None,
    out: Path,
    *,
    max_bad_fraction: float,
    progress: bool = True,
) -> dict[str, Any]:
    """Logs -> ``out/events`` (canonical events, labels) and ``out/quarantine.parquet``."""
    from ingest.run import ingest_logs

    summary = ingest_logs(
        list(inputs), mapping, out / EVENTS, labels=labels, max_bad_fraction=max_bad_fraction,
        quarantine_path=out / QUARANTINE, progress=progress,
    )
    return {
        "rows_in": summary.rows_in,
        "accepted": summary.accepted,
        "quarantined": summary.quarantined,
        "duplicates": summary.duplicates,
        "reasons": dict(summary.reasons),
        "events": summary.events_total,
        "labels": summary.labels,
        "label_positives": summary.label_positives,
        "files": summary.files_new,
        "quarantine": (out / QUARANTINE).is_file(),
    }


# ------------------------------------------------------------------------------------- graph
def snapshot_stage(
    events_dir: Path, mapping: Mapping, out: Path, *, progress: bool = True
) -> dict[str, Any]:
    """Events -> graph snapshot in ``out/snapshot`` (with the labels, for Neo4j's investigators).

    The counts come from the snapshot's manifest: no table is read back into memory here."""
    from graph.build import write_snapshot_files

    manifest = write_snapshot_files(events_dir, out / SNAPSHOT, mapping=mapping,
                                    progress=progress)
    return {
        "nodes": {t: int(spec["count"]) for t, spec in manifest["nodes"].items()},
        "relationships": {r: int(spec["count"]) for r, spec in manifest["relations"].items()},
        "labels": None if manifest["labels"] is None else int(manifest["labels"]["count"]),
    }


def candidates_stage(
    snapshot_dir: Path, ring_settings: dict[str, Any], out: Path
) -> dict[str, Any]:
    """Unsupervised ring candidates of the snapshot -> ``out/candidates.parquet``."""
    from graph.rings.candidates import find_ring_candidates
    from graph.rings.config import RingConfig
    from graph.snapshot import read_snapshot

    candidates = find_ring_candidates(read_snapshot(snapshot_dir), RingConfig(**ring_settings))
    table = pd.DataFrame(
        {
            "ring_id": [c.ring_id for c in candidates],
            "members": [list(c.members) for c in candidates],
            "kind": [c.kind for c in candidates],
            "evidence": [list(c.evidence) for c in candidates],
            "features": [json.dumps(c.features, sort_keys=True) for c in candidates],
        }
    )
    table.to_parquet(out / CANDIDATES, index=False)
    return {"candidates": len(candidates)}


def read_candidates(path: Path) -> list[RingCandidate]:
    """The :class:`~graph.rings.candidates.RingCandidate` list :func:`candidates_stage` wrote."""
    from graph.rings.candidates import RingCandidate

    table = pd.read_parquet(path)
    return [
        RingCandidate(
            ring_id=row.ring_id, members=list(row.members), kind=row.kind,
            evidence=list(row.evidence), features=json.loads(row.features),
        )
        for row in table.itertuples(index=False)
    ]


# ------------------------------------------------------------------------------------- labels
def labels_stage(
    snapshot_dir: Path,
    out: Path,
    *,
    holdout_fraction: float,
    seed: int,
    unlabelled_as_negative: bool | str = "auto",
) -> dict[str, Any]:
    """Split the snapshot's labels into training and held-back evaluation labels.

    With ``unlabelled_as_negative`` true (or ``"auto"`` and labels naming abusive accounts only),
    every account of the graph without a label is labelled 0 first. The split is stratified;
    ``holdout_fraction`` 0 keeps every label for training (and writes no held-back labels).
    """
    from graph.snapshot import ACCOUNT, read_snapshot

    snapshot = read_snapshot(snapshot_dir, node_types=[ACCOUNT], relations=[])
    labels = snapshot.labels
    if labels is None or labels.empty:
        raise ValueError("the snapshot holds no labels of accounts in the graph")
    labels = labels.drop_duplicates("account_id", keep="last").reset_index(drop=True)
    positives_only = bool((labels["label"] == 1).all())
    filled = unlabelled_as_negative is True or (
        unlabelled_as_negative == "auto" and positives_only
    )
    if filled:
        rest = snapshot.nodes[ACCOUNT].loc[
            ~snapshot.nodes[ACCOUNT]["id"].isin(labels["account_id"]), "id"
        ]
        extra = pd.DataFrame({"account_id": rest.astype(str).to_numpy(), "label": np.int8(0)})
        if "ts" in labels.columns:
            extra["ts"] = pd.Series(pd.NaT, index=extra.index, dtype=labels["ts"].dtype)
        labels = pd.concat([labels, extra], ignore_index=True)
    train, holdout = stratified_split(labels, holdout_fraction, seed)
    train.to_parquet(out / TRAIN_LABELS, index=False)
    if holdout is not None:
        holdout.to_parquet(out / HOLDOUT_LABELS, index=False)
    return {
        "labels": int(len(labels)),
        "positives": int(labels["label"].sum()),
        "unlabelled_as_negative": filled,
        "train": int(len(train)),
        "holdout": 0 if holdout is None else int(len(holdout)),
    }


def stratified_split(
    labels: pd.DataFrame, fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """``(kept, held back)``: ``fraction`` of each class held back, at least one of each class.

    Returns ``(labels, None)`` when ``fraction`` is 0 or a class has fewer than two members.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"labels.holdout_fraction must be in [0, 1), got {fraction}")
    counts = labels["label"].value_counts()
    if fraction == 0.0 or len(counts) < 2 or counts.min() < 2:
        return labels.reset_index(drop=True), None
    rng = np.random.default_rng(seed)
    held = np.zeros(len(labels), dtype=bool)
    for value in counts.index:
        rows = np.flatnonzero(labels["label"].to_numpy() == value)
        take = min(max(1, round(fraction * len(rows))), len(rows) - 1)
        held[rng.choice(rows, size=take, replace=False)] = True
    return labels[~held].reset_index(drop=True), labels[held].reset_index(drop=True)


# ------------------------------------------------------------------------------------ detector
def train_stage(
    snapshot_dir: Path, train_labels: Path, detector_settings: dict[str, Any], out: Path
) -> dict[str, Any]:
    """Train an :class:`~gnn.detector.AccountDetector` on the training labels -> ``out/model``."""
    from gnn.detector import AccountDetector
    from graph.snapshot import read_snapshot

    snapshot = read_snapshot(snapshot_dir)
    detector = AccountDetector(**detector_settings).fit(snapshot, pd.read_parquet(train_labels))
    detector.save(out / MODEL)
    return {"metrics": _jsonable(detector.metrics_), "model_version": model_version(out / MODEL)}


#: ``model_version`` of results ranked by ring structure alone (a run without labels).
STRUCTURE_ONLY = "structure-only"


def model_version(model_dir: Path | None) -> str:
    """A short, stable name of a saved model: ``gnn-`` + 12 hex digits of its files' hash.

    ``None`` (no model: a run without labels) gives :data:`STRUCTURE_ONLY`.
    """
    from abusenet.pipeline.cache import fingerprint

    if model_dir is None:
        return STRUCTURE_ONLY

    digest = fingerprint(
        [(p.name, p.read_bytes().hex()) for p in sorted(Path(model_dir).glob("*")) if p.is_file()]
    )
    return f"gnn-{digest[:12]}"


def score_stage(snapshot_dir: Path, model_dir: Path, out: Path) -> dict[str, Any]:
    """Score every account and linked entity with a saved model -> ``out/*_scores.parquet``."""
    from gnn.detector import AccountDetector
    from graph.snapshot import read_snapshot

    snapshot = read_snapshot(snapshot_dir)
    detector = AccountDetector.load(model_dir)
    accounts = detector.score_accounts(snapshot)
    entities = detector.score_entities(snapshot)
    return _write_scores(accounts, entities, out, model_version(model_dir))


def _write_scores(
    accounts: pd.DataFrame, entities: pd.DataFrame, out: Path, version: str
) -> dict[str, Any]:
    """Write the account and entity score tables of a score stage; return its summary."""
    write_contract_table(accounts.assign(ring_id=None), ACCOUNT_SCORES, out / ACCOUNT_SCORES)
    write_contract_table(entities, ENTITY_SCORES, out / ENTITY_SCORES)
    return {
        "accounts": int(len(accounts)),
        "entities": int(len(entities)),
        "accounts_above_0_5": int((accounts["score"] >= 0.5).sum()),
        "model_version": version,
    }


def structure_score_stage(
    snapshot_dir: Path, candidates_path: Path, scoring: dict[str, Any], out: Path
) -> dict[str, Any]:
    """Scores without labels: rank the candidates by structure alone -> ``out/*_scores.parquet``.

    An account scores the structure score of the best ring it belongs to (0 outside every ring);
    an entity scores the shrunk mean of its accounts' scores, as with a trained model.
    """
    from gnn.data.snapshot_graph import snapshot_to_heterodata
    from gnn.entity_scores import entity_scores_from_accounts
    from gnn.rings import assign_rings, score_rings
    from graph.snapshot import ACCOUNT, read_snapshot

    snapshot = read_snapshot(snapshot_dir)
    ids = snapshot.nodes[ACCOUNT]["id"].astype(str)
    rings = score_rings(read_candidates(candidates_path), None, None,
                        **{k: v for k, v in scoring.items() if k != "min_score"})
    assigned = assign_rings(pd.DataFrame({"account_id": ids, "score": 0.0}), rings)
    best = rings.set_index("ring_id")["score"]
    accounts = pd.DataFrame({
        "account_id": ids.to_numpy(),
        "score": assigned["ring_id"].map(best).fillna(0.0).astype(float).to_numpy(),
    })
    data, _ = snapshot_to_heterodata(snapshot)
    entities = entity_scores_from_accounts(data, accounts["score"].to_numpy())
    return _write_scores(accounts, entities, out, STRUCTURE_ONLY)


def rings_stage(
    candidates_path: Path, account_scores_path: Path, scoring: dict[str, Any], out: Path
) -> dict[str, Any]:
    """Score and rank the candidates with the account scores; give each account its best ring.

    Writes ``out/rings.parquet`` (every column of :func:`gnn.rings.score_rings`) and
    ``out/account_scores.parquet`` (``account_id, score, ring_id``).
    """
    from gnn.rings import assign_rings, score_rings

    accounts = pd.read_parquet(account_scores_path)
    settings = dict(scoring)
    min_score = settings.pop("min_score", 0.0)
    rings = score_rings(read_candidates(candidates_path), None, accounts, **settings)
    # Candidates are generous by design (households and offices among them); only rings scoring
    # at least min_score are reported and handed to accounts.
    rings = rings[rings["score"] >= min_score].reset_index(drop=True)
    write_contract_table(rings, RINGS, out / RINGS)
    assigned = assign_rings(accounts, rings)
    write_contract_table(assigned[["account_id", "score", "ring_id"]], ACCOUNT_SCORES,
                         out / ACCOUNT_SCORES)
    top = rings.head(1)
    return {
        "rings": int(len(rings)),
        "accounts_in_rings": int(assigned["ring_id"].notna().sum()),
        "top_ring": None if top.empty else {
            "ring_id": str(top["ring_id"].iloc[0]),
            "score": float(top["score"].iloc[0]),
            "size": int(top["size"].iloc[0]),
        },
    }


def evaluate_stage(
    account_scores_path: Path,
    rings_path: Path,
    holdout_path: Path,
    out: Path,
    *,
    training: dict[str, Any] | None = None,
    what: str = "held-back labels",
) -> dict[str, Any]:
    """Quality on the held-back labels -> ``out/metrics.json``; returns the same figures."""
    from gnn.evaluate import node_metrics

    scores = pd.read_parquet(account_scores_path)
    holdout = pd.read_parquet(holdout_path)
    joined = holdout.merge(scores, on="account_id", how="left")
    y = joined["label"].to_numpy(np.int64)
    score = joined["score"].fillna(0.0).to_numpy(np.float64)
    in_ring = joined["ring_id"].notna().to_numpy()
    positives = int(y.sum())
    metrics: dict[str, Any] = {
        "evaluated_on": what,
        "labels": int(len(y)),
        "positives": positives,
        "accounts": node_metrics(y, score),
        "precision_at_0_5": _precision(y, score >= 0.5),
        "recall_at_0_5": float(y[score >= 0.5].sum() / positives) if positives else float("nan"),
        "rings": {
            "count": int(len(pd.read_parquet(rings_path, columns=["ring_id"]))),
            "positives_in_a_ring": float(y[in_ring].sum() / positives) if positives else None,
            "precision_of_ring_members": _precision(y, in_ring),
        },
    }
    if training is not None:
        metrics["training"] = training
    metrics = _jsonable(metrics)
    (out / METRICS).write_text(json.dumps(metrics, indent=2))
    return metrics


def _precision(y: np.ndarray, chosen: np.ndarray) -> float | None:
    return float(y[chosen].mean()) if chosen.any() else None


def _jsonable(value: Any) -> Any:
    """``value`` with numpy scalars made plain and NaN made ``None`` (valid JSON)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


# -------------------------------------------------------------------------------------- neo4j
def neo4j_load_stage(
    settings: Neo4jSettings, snapshot_dir: Path, *, mode: str = "auto", progress: bool = True
) -> dict[str, Any]:
    """Load (incrementally) the snapshot into Neo4j; idempotent, so it runs on every run."""
    from graph.store import connect, load_snapshot

    with connect(settings, server=local_server_for(settings)) as store:
        summary = load_snapshot(store, snapshot_dir, mode=mode, progress=progress)
    return {
        "mode": summary.mode,
        "written": int(summary.total_written),
        "unchanged": int(sum(summary.unchanged.values())),
        "deleted": int(sum(summary.deleted.values())),
        "seconds": round(summary.seconds, 2),
    }


def writeback_stage(
    settings: Neo4jSettings,
    account_scores_path: Path,
    entity_scores_path: Path,
    rings_path: Path,
    version: str,
) -> dict[str, Any]:
    """Write risk scores, rings and memberships back to Neo4j (idempotent)."""
    from dataclasses import asdict

    from graph.store import connect
    from graph.store.writeback import write_scores

    with connect(settings) as store:
        summary = write_scores(
            store, pd.read_parquet(account_scores_path), pd.read_parquet(entity_scores_path),
            pd.read_parquet(rings_path), model_version=version,
        )
    counts = asdict(summary)
    return {
        "accounts scored": counts["accounts_scored"],
        "entities scored": counts["entities_scored"],
        "rings": counts["rings_written"],
        "memberships": counts["memberships_written"],
        "stale rings removed": counts["stale_rings_removed"],
    }


def local_server_for(settings: Neo4jSettings) -> LocalNeo4j | None:
    """The local server behind ``settings`` (enables bulk import), or ``None``."""
    from graph.store.connection import default_neo4j_home
    from graph.store.server.local import LocalNeo4j

    local = LocalNeo4j(default_neo4j_home())
    if local.is_installed() and local.read_settings()["uri"] == settings.uri:
        return local
    return None


# -------------------------------------------------------------------------------- explanations
def explain_stage(
    snapshot_dir: Path, model_dir: Path, rings_path: Path, account_scores_path: Path, out: Path,
    *, rings: int = 10, members: int = 3, top_k: int = 5,
) -> dict[str, Any]:
    """Explain the riskiest ``members`` of each of the top ``rings`` rings with the model.

    Writes ``out/explanations.parquet`` (:data:`EXPLANATION_COLUMNS`): for each explained
    account, the ``top_k`` neighbours (``kind = "neighbor"``: shared devices, cards, IPs,
    counterparties) and the ``top_k`` own features (``kind = "feature"``) that drove its score,
    from :meth:`gnn.detector.AccountDetector.explain`. Nothing to explain (no rings, or
    ``members`` = 0) gives an empty table.
    """
    from gnn.detector import AccountDetector
    from graph.snapshot import read_snapshot

    top = pd.read_parquet(rings_path, columns=["ring_id", "members"]).head(rings)
    scores = pd.read_parquet(account_scores_path, columns=["account_id", "score"])
    chosen: dict[str, str] = {}
    for ring in top.itertuples(index=False):
        in_ring = scores[scores["account_id"].isin(list(ring.members))]
        for account in in_ring.nlargest(members, "score")["account_id"].astype(str):
            chosen.setdefault(account, ring.ring_id)
    table = pd.DataFrame(columns=EXPLANATION_COLUMNS)
    skipped = None
    if chosen and members > 0:
        try:
            found = AccountDetector.load(model_dir).explain(read_snapshot(snapshot_dir),
                                                            list(chosen), top_k=top_k)
            found["ring_id"] = found["account_id"].map(chosen)
            table = found[EXPLANATION_COLUMNS]
        except Exception as exc:  # an optional extra: its failure must not cost the run
            skipped = f"{type(exc).__name__}: {exc}"
            warnings.warn(f"explanations skipped: {skipped}", stacklevel=1)
    table.to_parquet(out / EXPLANATIONS, index=False)
    return {"accounts": int(table["account_id"].nunique()), "rows": int(len(table)),
            "skipped": skipped}


# ------------------------------------------------------------------------------------- report
def report_stage(
    out: Path,
    *,
    title: str,
    run_facts: dict[str, Any],
    ingest: dict[str, Any],
    graph: dict[str, dict[str, int]],
    stages: list[tuple[str, float, bool]],
    snapshot_dir: Path,
    account_scores_path: Path,
    entity_scores_path: Path,
    rings_path: Path,
    evaluation_labels: Path | None = None,
    metrics_path: Path | None = None,
    explanations_path: Path | None = None,
    neo4j: dict[str, str] | None = None,
    top_rings: int = 10,
    top_entities: int = 20,
) -> dict[str, Any]:
    """Gather the run's results and write ``out/report.html``.

    ``explanations_path`` is :func:`explain_stage`'s table, shown under each ring it covers.
    """
    from abusenet.report import ReportData, build_report, ring_subgraph
    from graph.snapshot import read_snapshot

    accounts = pd.read_parquet(account_scores_path)
    rings = pd.read_parquet(rings_path)
    snapshot = read_snapshot(snapshot_dir, node_types=[])
    drawn = rings.head(top_rings)
    subgraphs = {
        ring.ring_id: ring_subgraph(snapshot.edges, snapshot.relations, list(ring.members))
        for ring in drawn.itertuples(index=False)
    }
    evaluation = None
    if evaluation_labels is not None and evaluation_labels.is_file():
        evaluation = pd.read_parquet(evaluation_labels, columns=["account_id", "label"]).merge(
            accounts[["account_id", "score"]], on="account_id", how="left")
        evaluation["score"] = evaluation["score"].fillna(0.0)
    metrics = None
    if metrics_path is not None and metrics_path.is_file():
        metrics = json.loads(metrics_path.read_text())
    explanations = None
    if explanations_path is not None and explanations_path.is_file():
        explanations = pd.read_parquet(explanations_path)
    data = ReportData(
        title=title, run=run_facts, ingest=ingest, graph=graph, stages=stages,
        account_scores=accounts, entity_scores=pd.read_parquet(entity_scores_path),
        rings=rings, subgraphs=subgraphs, evaluation=evaluation, metrics=metrics,
        explanations=explanations, neo4j=neo4j, top_rings=top_rings, top_entities=top_entities,
    )
    path = build_report(data, out / REPORT)
    return {"bytes": path.stat().st_size, "rings_drawn": len(subgraphs)}
