"""The detection stages: train, score (with a model or by ring structure alone), rings,
evaluation and explanations."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from abusenet.pipeline.config import DetectorConfig, RingScoringConfig
from abusenet.pipeline.outputs import write_contract_table
from abusenet.pipeline.stages.data import read_candidates
from abusenet.pipeline.stages.files import (
    ACCOUNT_SCORES,
    ENTITY_SCORES,
    EXPLANATIONS,
    METRICS,
    MODEL,
    RINGS,
)
from abusenet.validation.config import ValidationConfig
from graph.rings.config import RingConfig

if TYPE_CHECKING:
    from graph.rings.candidates import RingCandidate
    from graph.snapshot import Snapshot

logger = logging.getLogger(__name__)

#: Columns of ``explanations.parquet``: one row per driving neighbour or feature of an account.
EXPLANATION_COLUMNS = ["ring_id", "account_id", "score", "kind", "node_type", "item", "relation",
                       "attribution"]


def train_stage(
    snapshot_dir: Path, train_labels: Path, settings: DetectorConfig, out: Path,
    *, progress: bool = False, validation: ValidationConfig | None = None,
) -> dict[str, Any]:
    """Train an :class:`~gnn.detector.AccountDetector` on the training labels -> ``out/model``.

    The settings a config names are passed on; the others keep the detector's defaults.
    ``progress`` shows a per-epoch bar (loss, validation AUROC) on stderr. The training labels
    are split first (:func:`abusenet.pipeline.stages.validation.split_training_labels`): with
    ``validation``, the out-of-time window is held out; the rest is split into the labels the
    detector fits and those it validates on (its ``val_fraction``), both kept in ``out`` for
    the challenger. The model directory also keeps the drift reference
    (:func:`abusenet.validation.drift.build_reference`) of its training snapshot.
    """
    from abusenet.pipeline.stages.validation import split_training_labels
    from abusenet.validation.drift import build_reference, write_reference
    from gnn.data.snapshot_graph import model_view
    from gnn.detector import AccountDetector
    from graph.snapshot import ACCOUNT, read_snapshot

    snapshot = read_snapshot(snapshot_dir)
    detector = AccountDetector(**settings.model_dump(exclude_unset=True))
    labels = pd.read_parquet(train_labels)
    fit, val, facts = split_training_labels(snapshot, labels, validation, detector.val_fraction,
                                            detector.random_state, out)
    detector.fit(snapshot, fit, val_labels=val, progress=progress)
    detector.save(out / MODEL)
    # The drift reference's scores come from one whole-graph pass without the snapshot held
    # meanwhile (at a million accounts the snapshot is ~2 GB next to the pass's graph).
    del snapshot
    data = _detector_graph(detector, snapshot_dir)
    ids = np.asarray(data[ACCOUNT].node_ids, dtype=object)
    scores = pd.DataFrame({"account_id": ids, "score": detector.score_graph(model_view(data))})
    del data
    snapshot = read_snapshot(snapshot_dir, relations=[])  # the reference reads node tables only
    reference = build_reference(snapshot, scores, labels,
                                validation.drift.bins if validation else 10)
    write_reference(out / MODEL, reference, snapshot.nodes[ACCOUNT]["id"])
    return {"metrics": _jsonable(detector.metrics_), "model_version": model_version(out / MODEL),
            "split": _jsonable(facts)}


#: ``model_version`` of results ranked by ring structure alone (a run without labels).
STRUCTURE_ONLY = "structure-only"
#: ``score_kind`` of ``account_scores.parquet``: calibrated probabilities of a trained model, or
#: structure scores (a run without labels: the significance of the account's best ring, a
#: ranking, not a probability).
PROBABILITY, STRUCTURE = "probability", "structure"


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
    """Score every account and linked entity with a saved model -> ``out/*_scores.parquet``.

    Accounts are scored by the model's published candidate (the GNN, XGB-Graph or their blend:
    :func:`abusenet.validation.challenger.score_published`; the GNN for a model saved without
    one); entities by the GNN. The summary's ``candidate`` names the one applied.
    """
    from abusenet.validation.challenger import GNN, read_published, score_published
    from gnn.detector import AccountDetector
    from gnn.entity_scores import entity_scores_from_accounts
    from graph.snapshot import read_snapshot

    detector = AccountDetector.load(model_dir)
    # One whole-graph pass scores the accounts and, from them, the entities (what
    # score_accounts and score_entities would each compute), without the snapshot held meanwhile.
    data = _detector_graph(detector, snapshot_dir)
    target = detector.model_.target_type
    scores = detector.score_graph(data)
    gnn = pd.DataFrame({"account_id": np.asarray(data[target].node_ids, dtype=object),
                        "score": scores})
    entities = entity_scores_from_accounts(data, scores, target)
    del data
    # Only a published XGB-Graph or blend reads the snapshot again (for its own graph).
    snapshot = (None if read_published(model_dir)["candidate"] == GNN
                else read_snapshot(snapshot_dir))
    accounts, candidate = score_published(model_dir, snapshot, gnn)
    return {**_write_scores(accounts, entities, out, model_version(model_dir), PROBABILITY),
            "candidate": candidate}


def _detector_graph(detector: Any, snapshot_dir: Path) -> Any:
    """The snapshot's graph as ``detector`` reads it (its fitted scaler); the snapshot itself is
    dropped on return."""
    from gnn.data.snapshot_graph import read_snapshot_graph

    return read_snapshot_graph(snapshot_dir, detector.scaler_)[0]


def _write_scores(
    accounts: pd.DataFrame, entities: pd.DataFrame, out: Path, version: str, kind: str
) -> dict[str, Any]:
    """Write the account and entity score tables of a score stage; return its summary.

    ``kind`` (:data:`PROBABILITY` or :data:`STRUCTURE`) goes into the ``score_kind`` column.
    """
    write_contract_table(accounts.assign(ring_id=None, score_kind=kind), ACCOUNT_SCORES,
                         out / ACCOUNT_SCORES)
    write_contract_table(entities, ENTITY_SCORES, out / ENTITY_SCORES)
    return {
        "accounts": int(len(accounts)),
        "entities": int(len(entities)),
        "accounts_above_0_5": int((accounts["score"] >= 0.5).sum()),
        "model_version": version,
        "score_kind": kind,
    }


def structure_score_stage(
    snapshot_dir: Path, candidates_path: Path, scoring: RingScoringConfig, out: Path
) -> dict[str, Any]:
    """Scores without labels: rank the candidates by structure alone -> ``out/*_scores.parquet``.

    An account scores the structure score (:func:`gnn.rings.unlabelled_scores`: significance)
    of the best reported ring it belongs to (0 outside every one), ``score_kind``
    :data:`STRUCTURE`: a ranking, not a probability; an entity scores the shrunk mean of its
    accounts' scores, as with a trained model.
    """
    from gnn.data.snapshot_graph import snapshot_to_heterodata
    from gnn.entity_scores import entity_scores_from_accounts
    from gnn.rings import assign_rings
    from graph.snapshot import ACCOUNT, read_snapshot

    snapshot = read_snapshot(snapshot_dir)
    ids = snapshot.nodes[ACCOUNT]["id"].astype(str)
    rings = unlabelled_rings(read_candidates(candidates_path), scoring.unlabelled_min_surprise,
                             **scoring.score_rings_kwargs())
    assigned = assign_rings(pd.DataFrame({"account_id": ids, "score": 0.0}), rings)
    best = rings.set_index("ring_id")["score"]
    accounts = pd.DataFrame({
        "account_id": ids.to_numpy(),
        "score": assigned["ring_id"].map(best).fillna(0.0).astype(float).to_numpy(),
    })
    data, _ = snapshot_to_heterodata(snapshot)
    entities = entity_scores_from_accounts(data, accounts["score"].to_numpy())
    return _write_scores(accounts, entities, out, STRUCTURE_ONLY, STRUCTURE)


def own_evidence_scores(snapshot_dir: Path, train: pd.DataFrame, max_depth: int | None = None
                        ) -> pd.Series | None:
    """Each account's own evidence (:func:`gnn.association.own_evidence` fitted on ``train``,
    trees of ``max_depth``, its default when None, read from the snapshot's accounts and
    relations between accounts only), by account id; ``None`` when the snapshot relates accounts
    to no entity or the labels fit no model."""
    from gnn.association import OWN_DEPTH, account_relations, own_evidence
    from graph.snapshot import ACCOUNT, RelationSpec, read_manifest, read_snapshot

    specs = {name: RelationSpec(name, spec["src"], spec["dst"])
             for name, spec in read_manifest(snapshot_dir)["relations"].items()}
    inside = account_relations(specs)
    if inside is None:
        return None
    return own_evidence(read_snapshot(snapshot_dir, [ACCOUNT], inside), train,
                        max_depth=OWN_DEPTH if max_depth is None else max_depth)


def unshared_pair_scores(snapshot_dir: Path, model_dir: Path,
                         candidates: Sequence[RingCandidate]) -> pd.DataFrame | None:
    """The saved detector's scores (``account_id, score``) of the accounts of the pairs chance
    explains among ``candidates`` (:data:`graph.rings.candidates.CHANCE_PAIR_FEATURE`), each
    scored on the snapshot with what it shares with its partner made its own
    (:func:`gnn.association.unshared`: one pass for all the pairs); ``None`` when there are
    none."""
    from gnn.association import unshared
    from gnn.data.snapshot_graph import snapshot_to_heterodata
    from gnn.detector import AccountDetector
    from graph.rings.candidates import CHANCE_PAIR_FEATURE
    from graph.snapshot import read_snapshot

    pairs = [tuple(map(str, c.members)) for c in candidates
             if CHANCE_PAIR_FEATURE in c.features and len(c.members) == 2]
    if not pairs:
        return None
    detector = AccountDetector.load(model_dir)
    data, _ = snapshot_to_heterodata(unshared(read_snapshot(snapshot_dir), pairs),
                                     detector.scaler_)
    ids = pd.Index(np.asarray(data[detector.model_.target_type].node_ids, dtype=object))
    rows = np.unique(ids.get_indexer(pd.unique(np.asarray(pairs, dtype=object).reshape(-1))))
    rows = rows[rows >= 0]
    scores = detector.score_graph(data, rows)
    logger.info("%d chance pairs: their %d accounts scored with what they share made their own",
                len(pairs), len(rows))
    return pd.DataFrame({"account_id": ids[rows].astype(str), "score": scores})


def pair_judge_scores(candidates: Sequence[RingCandidate], train: pd.DataFrame | None,
                      snapshot_dir: Path | None, model_dir: Path | None) -> pd.DataFrame | None:
    """The scores (``account_id, score``) the pairs chance explains are judged by
    (:func:`graph.rings.anchored.paired_candidates`): with the saved detector ``model_dir``,
    its scores of the pairs' accounts with what each pair shares made its own
    (:func:`unshared_pair_scores`); without one, each account's own evidence fitted on the
    training labels ``train`` (:func:`own_evidence_scores`, trees of
    :data:`gnn.association.PAIR_OWN_DEPTH`). ``None`` without ``snapshot_dir``, or with
    neither a detector nor an own-evidence model."""
    from gnn.association import PAIR_OWN_DEPTH

    if snapshot_dir is None:
        return None
    if model_dir is not None:
        return unshared_pair_scores(Path(snapshot_dir), Path(model_dir), candidates)
    own = (own_evidence_scores(Path(snapshot_dir), train, PAIR_OWN_DEPTH)
           if train is not None else None)
    return None if own is None else pd.DataFrame({"account_id": own.index,
                                                   "score": own.to_numpy()})


def association_guard(
    snapshot_dir: Path, scores: pd.DataFrame, train: pd.DataFrame, max_odds: float,
    member_bar: float | None,
) -> tuple[pd.DataFrame, dict[str, int] | None]:
    """``scores`` (``account_id, score``) held to ``max_odds`` times the odds of each account's
    own evidence (:func:`own_evidence_scores`; :func:`gnn.association.guard_scores`,
    ``train``'s accounts excepted), and how many scores it lowered (``capped``) and took under
    ``member_bar`` (``unanchored``); ``scores`` and ``None`` when the snapshot relates accounts
    to no entity or the labels fit no model."""
    from gnn.association import guard_scores

    own = own_evidence_scores(snapshot_dir, train)
    if own is None:
        return scores, None
    held = guard_scores(scores, own, max_odds, train["account_id"].astype(str))
    before, after = scores["score"].to_numpy(), held["score"].to_numpy()
    bar = -np.inf if member_bar is None else member_bar
    figures = {"capped": int((after < before).sum()),
               "unanchored": int(((before >= bar) & (after < bar)).sum())}
    logger.info("association guard: %d account scores held to %g times their own evidence's "
                "odds, %d of them under the member bar", figures["capped"], max_odds,
                figures["unanchored"])
    return held, figures


def scored_group_candidates(
    snapshot: Snapshot | Path, candidates: Sequence[RingCandidate],
    account_scores: pd.DataFrame, scoring: RingScoringConfig, search: RingConfig,
    known: Collection[str] = frozenset(),
) -> list[RingCandidate]:
    """The groups of high-scoring accounts that join ``candidates`` in a run with a model
    (:func:`graph.rings.scored.scored_candidates`): the anchors (``scoring.min_member_score``)
    of each entity or counterparty set of at most ``search.hub_degree_cap`` users most of whose
    users are anchors, more than chance makes at the search's ``min_surprise`` among the
    entities asked, the training labels' accounts (``known``) not counted; described with the
    search's settings. None without a member bar (``min_member_score`` None: nothing is an
    anchor). ``snapshot`` may be the snapshot's directory: then only what the search reads of it
    is read, once some account reaches the bar (the Account nodes and the relations; the
    tables go once :func:`graph.rings.candidates.ring_inputs` has read them)."""
    from graph.rings.candidates import ring_inputs
    from graph.rings.scored import scored_candidates
    from graph.snapshot import ACCOUNT, read_snapshot

    bar = scoring.min_member_score
    if bar is None or int((account_scores["score"] >= bar).sum()) < search.min_size:
        return []
    inputs = ring_inputs(read_snapshot(snapshot, node_types=[ACCOUNT])
                         if isinstance(snapshot, Path) else snapshot)
    return scored_candidates(inputs, account_scores, bar, search.min_surprise, search, known,
                             candidates)


def rings_stage(
    candidates_path: Path, account_scores_path: Path, scoring: RingScoringConfig, out: Path,
    train_labels_path: Path | None = None, snapshot_dir: Path | None = None,
    search: RingConfig | None = None, model_dir: Path | None = None,
) -> dict[str, Any]:
    """Score and rank the candidates with the account scores; give each account its best ring.

    With probabilities (a trained model), candidates are trimmed to their implicated members
    (:func:`gnn.rings.trim_members`; a group sharing entities at least
    ``scoring.unlabelled_min_surprise`` surprising keeps its core, as it would be reported
    without labels, and the core members the training labels call abusive whatever their
    score); with ``train_labels_path`` (the run's training labels)
    the ring scores become the probability that a ring is collusive
    (:func:`gnn.rings.fit_ring_calibrator` fitted on those labels only, then
    :func:`gnn.rings.calibrate_rings`); rings scoring at least ``scoring.min_score`` are
    reported (never a candidate the null model does not find significant, nor a ring whose
    members' pooled score is under :data:`gnn.rings.MIN_MEMBER_POOL`). With structure scores
    (no labels), the rings the null model finds significant
    (``RingConfig.min_surprise``) with a surprise of at least
    ``scoring.unlabelled_min_surprise`` (a money-flow shape from
    :data:`gnn.ring_ranking.FLOW_REPORT_SURPRISE`) are reported, ranked by their structure
    score: a structure score is no probability to hold to ``min_score``. Writes
    ``out/rings.parquet`` (every column of :func:`gnn.rings.score_rings`) and
    ``out/account_scores.parquet`` (``account_id, score, ring_id, score_kind``). The
    summary's ``ring_calibration`` holds the ring calibrator's state (None when not
    calibrated).

    With probabilities and ``scoring.pair_fdr`` set, the pairs chance explains are judged by
    the scores :func:`pair_judge_scores` gives: the saved detector ``model_dir``'s with what
    each pair shares made its own, or without one each account's own evidence (kept pairs are
    then trimmed with the model's scores as any candidate is); not judged without
    ``snapshot_dir``, or with neither a detector nor own evidence.

    With probabilities, training labels, ``snapshot_dir`` and ``scoring.max_association_odds``
    set (off by default), ring membership reads each account's score held to that many times the
    odds of its own evidence
    (:func:`association_guard`; the summary's ``association_guard`` says how many it held); the
    written account scores stay the model's.

    With probabilities and ``snapshot_dir``, the groups of high-scoring accounts an implicated
    entity ties (:func:`scored_group_candidates` with ``search``, the run's ring settings; the
    accounts of the training labels not counted) join the candidates first: a farm on one
    device, which the search's null model explains, is one ring when its members' scores
    implicate it. The summary's ``scored_groups`` counts them and ``scored_rings`` the
    reported rings among them.
    """
    from gnn.rings import assign_rings, calibrate_rings, fit_ring_calibrator, score_rings
    from graph.rings.scored import SCORED_KIND

    accounts = pd.read_parquet(account_scores_path)
    kind = str(accounts["score_kind"].iloc[0]) if "score_kind" in accounts and len(accounts) \
        else PROBABILITY
    structure = kind == STRUCTURE
    candidates = read_candidates(candidates_path)
    train = (pd.read_parquet(train_labels_path, columns=["account_id", "label"])
             if train_labels_path is not None else None)
    scored: list[RingCandidate] = []
    members = accounts[["account_id", "score"]]
    guard = None
    if (not structure and train is not None and snapshot_dir is not None
            and scoring.max_association_odds is not None):
        members, guard = association_guard(Path(snapshot_dir), members, train,
                                           scoring.max_association_odds,
                                           scoring.min_member_score)
    pair_scores, pair_fdr = None, scoring.pair_fdr
    if not structure and pair_fdr is not None:
        # chance pairs are judged by scores their tie did not make: the model's read what the
        # pair shares (a device two use, their turns on it), an honest couple's as a ring's
        pair_scores = pair_judge_scores(candidates, train, snapshot_dir, model_dir)
        if pair_scores is None:
            pair_fdr = None
            logger.info("pairs chance explains not judged: nothing to judge them by")
    if not structure and snapshot_dir is not None:
        known = frozenset() if train is None else frozenset(train["account_id"].astype(str))
        scored = scored_group_candidates(Path(snapshot_dir), candidates, members, scoring,
                                         search or RingConfig(), known)
    rings = score_rings([*candidates, *scored], None, None if structure else members,
                        eligible=reportable_without_labels(scoring.unlabelled_min_surprise)
                        if structure else None,
                        core_min_surprise=scoring.unlabelled_min_surprise,
                        labelled_abusive=frozenset() if train is None else frozenset(
                            train.loc[train["label"] == 1, "account_id"].astype(str)),
                        labelled_honest=frozenset() if train is None else frozenset(
                            train.loc[train["label"] == 0, "account_id"].astype(str)),
                        pair_scores=pair_scores,
                        **{**scoring.score_rings_kwargs(), "pair_fdr": pair_fdr})
    warning = None if structure else unanchored_warning(accounts["score"], scoring.min_member_score)
    if warning:
        logger.warning(warning)
    calibration = None
    if not structure and train is not None:
        calibrator = fit_ring_calibrator(rings, train)
        rings = calibrate_rings(rings, calibrator, members, **scoring.calibrate_rings_kwargs())
        calibration = {**calibrator.to_dict(), "fitted_on": "training labels"}
    if structure:
        rings = reported_without_labels(rings, scoring.unlabelled_min_surprise)
    else:
        # Candidates are generous by design (households and offices among them); only rings
        # scoring at least min_score are reported and handed to accounts.
        rings = rings[rings["score"] >= scoring.min_score].reset_index(drop=True)
    write_contract_table(rings, RINGS, out / RINGS)
    assigned = assign_rings(accounts, rings).assign(score_kind=kind)
    write_contract_table(assigned[["account_id", "score", "ring_id", "score_kind"]],
                         ACCOUNT_SCORES, out / ACCOUNT_SCORES)
    top = rings.head(1)
    return {
        "score_kind": kind,
        "rings": int(len(rings)),
        "ring_calibration": calibration,
        "accounts_in_rings": int(assigned["ring_id"].notna().sum()),
        "scored_groups": len(scored),
        "association_guard": guard,
        "scored_rings": int(rings["kind"].astype(str).str.contains(SCORED_KIND, regex=False)
                            .sum()) if len(rings) else 0,
        **({"warning": warning} if warning else {}),
        "top_ring": None if top.empty else {
            "ring_id": str(top["ring_id"].iloc[0]),
            "score": float(top["score"].iloc[0]),
            "size": int(top["size"].iloc[0]),
        },
    }


def unanchored_warning(scores: pd.Series, min_member_score: float | None) -> str | None:
    """Why the rings will miss collusion when no account score reaches ``min_member_score``
    (None when one does, or nothing is trimmed): every candidate is trimmed to the members
    its money flows tie together, so rings that only share entities all vanish. The account
    scores are then no probabilities: an XGB-Graph challenger early-stopped on validation AUC
    after 4 trees scored every account of the seed-3 20k generated world within [0.12, 0.29]
    (session 14), and its rings recovered 0.393 of the 56 planted rings (0.93 with the same
    model's scores Platt-calibrated)."""
    if min_member_score is None or scores.empty or float(scores.max()) >= min_member_score:
        return None
    return (f"no account scores {min_member_score:g} or more (the highest "
            f"{float(scores.max()):.3f}, the median {float(scores.median()):.3f}): the rings "
            "keep only the members money flows tie together; the published account scores "
            "do not read as probabilities")


def reportable_without_labels(min_surprise: float) -> Callable[[pd.DataFrame], np.ndarray]:
    """The mask of the rings a run without labels may report (:func:`reported_without_labels`'s
    rule), as :func:`gnn.rings.score_rings`'s ``eligible``: a candidate that will not be reported
    does not take part in the overlap suppression (a one-test subgroup whose robust surprise is
    under the flow bar once shadowed the reportable fan it sits in: AMLSim without labels, 20 ->
    18 rings when one-shot fans came in)."""

    def eligible(rings: pd.DataFrame) -> np.ndarray:
        if "significant" not in rings:
            return np.ones(len(rings), dtype=bool)
        from gnn.ring_ranking import reportable

        return reportable(rings, min_surprise)

    return eligible


def reported_without_labels(rings: pd.DataFrame, min_surprise: float) -> pd.DataFrame:
    """The rings reported without labels: significant, and at least ``min_surprise`` surprising
    (a money-flow shape at least :data:`gnn.ring_ranking.FLOW_REPORT_SURPRISE` when that is
    lower, a pair's own candidate :data:`gnn.ring_ranking.PAIR_REPORT_SURPRISE`, the
    significance bar, unless a reported ring holds both its accounts:
    :func:`gnn.ring_ranking.reportable`).

    Candidates written before the null model have neither column: all are kept.
    """
    if "significant" not in rings:
        return rings
    return rings[reportable_without_labels(min_surprise)(rings)].reset_index(drop=True)


def unlabelled_rings(candidates: Sequence[RingCandidate], min_surprise: float,
                     **kwargs: Any) -> pd.DataFrame:
    """The rings a run without labels reports among ``candidates``: :func:`gnn.rings.score_rings`
    without account scores (``kwargs`` passed on), the rings it would not report left out of
    the overlap suppression (:func:`reportable_without_labels`), then
    :func:`reported_without_labels`."""
    from gnn.rings import score_rings

    return reported_without_labels(score_rings(
        candidates, None, None, eligible=reportable_without_labels(min_surprise), **kwargs),
        min_surprise)


def evaluate_stage(
    account_scores_path: Path,
    rings_path: Path,
    holdout_path: Path,
    out: Path,
    *,
    training: dict[str, Any] | None = None,
    what: str = "held-back labels",
    validation: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Quality on the held-back labels -> ``out/metrics.json``; returns the same figures.

    Besides ranking figures, ``calibration`` holds the account scores' reliability
    (:func:`gnn.evaluate.reliability`) and ``rings.reliability`` the reported rings' (see
    :func:`ring_reliability`). Structure scores (no labels) are no probabilities: they get
    neither block. ``validation`` (the blocks of
    :func:`abusenet.pipeline.stages.validation.validation_metrics` and the challenger stage's
    ``selection``) is merged in as it is.
    """
    from gnn.evaluate import node_metrics, reliability
    from ingest.files import write_text_atomic

    scores = pd.read_parquet(account_scores_path)
    holdout = pd.read_parquet(holdout_path)
    rings = pd.read_parquet(rings_path)
    joined = holdout.merge(scores, on="account_id", how="left")
    y = joined["label"].to_numpy(np.int64)
    score = joined["score"].fillna(0.0).to_numpy(np.float64)
    in_ring = joined["ring_id"].notna().to_numpy()
    positives = int(y.sum())
    probabilities = not (len(scores) and "score_kind" in scores
                         and str(scores["score_kind"].iloc[0]) == STRUCTURE)
    metrics: dict[str, Any] = {
        "evaluated_on": what,
        "labels": int(len(y)),
        "positives": positives,
        "accounts": node_metrics(y, score),
        "precision_at_0_5": _precision(y, score >= 0.5),
        "recall_at_0_5": float(y[score >= 0.5].sum() / positives) if positives else float("nan"),
        "rings": {
            "count": int(len(rings)),
            "positives_in_a_ring": float(y[in_ring].sum() / positives) if positives else None,
            "precision_of_ring_members": _precision(y, in_ring),
        },
    }
    if probabilities:
        metrics["calibration"] = reliability(y, np.clip(score, 0.0, 1.0))
        metrics["rings"]["reliability"] = ring_reliability(rings, holdout)
    if training is not None:
        metrics["training"] = training
    if validation is not None:
        metrics.update(validation)
    metrics = _jsonable(metrics)
    write_text_atomic(out / METRICS, json.dumps(metrics, indent=2))
    return metrics


#: How ``rings.reliability`` in ``metrics.json`` decides a ring's outcome.
RING_OUTCOME = ("a ring is abusive when at least half of its members labelled in the held-back "
                "labels are abusive; rings with no such member are unknown")


def ring_reliability(rings: pd.DataFrame, holdout: pd.DataFrame) -> dict[str, Any]:
    """Whether reported ring scores read as the probability that a ring is abusive.

    Parameters
    ----------
    rings
        The reported rings (``ring_id``, ``score``, ``members``).
    holdout
        Held-back labels, ``account_id, label``.

    Returns
    -------
    dict
        ``definition`` (:data:`RING_OUTCOME`), ``rings``, ``known`` and ``unknown`` ring counts,
        ``abusive_share`` (of the known rings), ``labelled_members_median`` (per known ring), and
        :func:`gnn.evaluate.reliability` of the known rings' scores against their outcome
        (``count``, ``brier``, ``ece``, ``bins``).
    """
    from gnn.evaluate import reliability
    from graph.rings.metrics import ring_label_outcomes

    outcomes = ring_label_outcomes(rings, holdout)
    known = outcomes[outcomes["abusive"].notna()]
    return {
        "definition": RING_OUTCOME,
        "rings": int(len(outcomes)),
        "known": int(len(known)),
        "unknown": int(len(outcomes) - len(known)),
        "abusive_share": float(known["abusive"].mean()) if len(known) else None,
        "labelled_members_median": float(known["labelled"].median()) if len(known) else None,
        **reliability(known["abusive"].to_numpy(), known["score"].clip(0.0, 1.0).to_numpy()),
    }


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


def explain_stage(
    snapshot_dir: Path, model_dir: Path, rings_path: Path, account_scores_path: Path, out: Path,
    *, rings: int = 10, members: int = 3, top_k: int = 5, progress: bool = False,
) -> dict[str, Any]:
    """Explain the riskiest ``members`` of each of the top ``rings`` rings with the model.

    Writes ``out/explanations.parquet`` (:data:`EXPLANATION_COLUMNS`): for each explained
    account, the ``top_k`` neighbours (``kind = "neighbor"``: shared devices, cards, IPs,
    counterparties) and the ``top_k`` own features (``kind = "feature"``) that drove its score,
    from :meth:`gnn.detector.AccountDetector.explain`. Nothing to explain (no rings, or
    ``members`` = 0) gives an empty table.
    """
    from gnn.detector import AccountDetector

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
            detector = AccountDetector.load(model_dir)
            found = detector.explain_graph(_detector_graph(detector, snapshot_dir), list(chosen),
                                           top_k=top_k, progress=progress)
            found["ring_id"] = found["account_id"].map(chosen)
            table = found[EXPLANATION_COLUMNS]
        except Exception as exc:  # an optional extra: its failure must not cost the run
            skipped = f"{type(exc).__name__}: {exc}"
            logger.warning("explanations skipped: %s", skipped)
    table.to_parquet(out / EXPLANATIONS, index=False)
    return {"accounts": int(table["account_id"].nunique()), "rows": int(len(table)),
            "skipped": skipped}


