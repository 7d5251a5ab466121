"""Rings on real data: YelpChi reviews, Bitcoin-OTC ratings and AMLSim transfers.

Protocol
--------
Each dataset becomes a snapshot (YelpChi: ``Account -REVIEWED-> Product``, every review a day
apart so that no lockstep is invented from the missing dates; Bitcoin-OTC: ratings as
``TRANSACTED_WITH`` at their real times; AMLSim: the real pipeline with
``configs/mappings/amlsim.yaml``; the card worlds of
``ingest.synth.cards.generate_cards``, 5k customers, seed 7: ``cards-no-collusion`` with
``ring_fraction`` 0, compromised cards and terminals only, and ``cards-rings`` with 0.03, through
``configs/mappings/synth_cards.yaml``). An account is abusive when YelpChi filtered any of its
reviews, when REV2 marks it fraudulent (Bitcoin-OTC; only the 316 labelled users count in
precision), when it is in an AMLSim alert, or when the generator says so. The labelled
accounts are split in halves (seed 0): the first half trains, the second is held out.

* ``gnn`` and ``xgb-graph`` (the ``gnn_*`` / ``xgb-graph_*`` columns of the ``with labels``
  rows): :class:`gnn.detector.AccountDetector` with its default settings (``boost="auto"``:
  the boosted residual head of :mod:`gnn.boosted` when the training labels hold 50 of each
  class, as all datasets here but the no-collusion card world do; chosen on validation splits of
  the training halves and generated worlds of seed 3, never on the held-out half; ``--quick``:
  8 epochs, 32 channels, neighbours 10 / 5) and :class:`gnn.baselines.xgb_graph.XGBGraph`
  trained on the first half, AUROC / AUPRC on the held-out half, seconds (per fit); the
  GNN's figures are the mean over ``--gnn-seeds`` seeds (default 3), ``gnn_auprc_min`` /
  ``_max`` the least and greatest: on the card worlds' 22 held-out positives one seed's AUPRC
  ranged 0.47-0.92 over 3 label splits x 3 seeds (session 24), so one draw says little;
* ``xgb``: XGBoost on each account's own features (:func:`own_features`: uses and distinct
  entities per relation, mean / max / min degree of its entities, transfer in / out degrees);
  AUROC / AUPRC on the held-out half.
* rings ``without labels``: the candidates the null model finds significant
  (:func:`graph.rings.candidates.find_ring_candidates`, default :class:`RingConfig`) with a
  surprise of at least ``ring_scoring.unlabelled_min_surprise`` (money-flow shapes: a robust
  surprise, each group-level test capped, of at least
  :data:`gnn.ring_ranking.FLOW_REPORT_SURPRISE` when lower), ranked by their surprise
  (``score_rings`` without account scores: :mod:`gnn.ring_ranking`), as ``abusenet run``
  reports them without labels; the account structure scores (each account's best ring's
  score) give ``auroc`` / ``auprc`` on the held-out half. Where true rings are known,
  ``true_surprise`` is the median surprise of the candidate best matching each true ring
  (matched at Jaccard >= 0.5; -inf when none is) and ``other_surprise`` the 99th percentile
  of the other candidates' (:func:`surprise_separation`): whether chance, as the null model
  judges it, tells the true rings from the rest at all. ``with labels``: the candidates scored with
  the ``xgb`` account scores (trained on the first half), with the groups of high-scoring
  accounts an implicated entity ties (:func:`graph.rings.scored.scored_candidates`, the first
  half's accounts not counted) and, with ``ring_scoring.pair_fdr`` set (off by default), the
  pairs chance explains (``RingConfig.chance_pairs``, judged by
  :func:`graph.rings.anchored.paired_candidates` on each account's own evidence,
  :mod:`gnn.association`, the first half's honest accounts anchoring
  none), trimmed to their implicated members
  (:func:`gnn.rings.trim_members`; with ``ring_scoring.max_association_odds`` set, each
  member's score held to that many times the odds of its own evidence,
  :mod:`gnn.association`), their scores calibrated on the first half's labels
  (:func:`gnn.rings.fit_ring_calibrator`), reported at ``score >= 0.5``, as ``abusenet run``
  does with a model (with XGBoost standing in for the GNN, whose training does not fit the
  time budget here).
* on YelpChi, UGFraud's SpEagle, FRAUDAR and GANG side by side (:func:`ugfraud_yelpchi`;
  ``--skip-ugfraud`` leaves them out);
* ``null`` = ``off`` rows repeat both without the null model (``min_surprise`` = -inf, no
  pairs) and, without labels, with the ranking and ``min_score`` 0.5 of before
  (:func:`gnn.rings.structure_scores`), with labels untrimmed and uncalibrated: the code of
  before the null model, for comparison.
* figures: reported rings per 10k accounts, ring member precision (share of reported members
  that are abusive, among the labelled ones; ``held_precision``: among the held-out half only,
  whose labels nothing here was fitted on), ``ring_ece`` (expected calibration error of the
  reported rings' scores against their held-out outcome, :func:`gnn.evaluate.reliability`),
  recall of true rings (planted rings matched at
  member Jaccard >= 0.5), top precision (share of the ``k`` best rings matching a true ring,
  ``k`` = number of true rings), seconds.

Nothing is tuned here: all settings are defaults. Run
``nice -n 10 python -m benchmarks.realdata [--quick] [--datasets yelpchi bitcoin-otc ...]
[--gnn-seeds N] [--ring-set KEY=VALUE ...] [--detector-set KEY=VALUE ...]`` (``--ring-set``: a
ring search setting other than the default, e.g. ``whole_groups=true``; ``--detector-set``: a GNN
setting other than the default, e.g. ``ensemble=auto``, over ``--quick``'s).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.metrics import average_precision_score, roc_auc_score

from abusenet.pipeline.config import RingScoringConfig
from abusenet.pipeline.stages.detect import scored_group_candidates, unlabelled_rings
from gnn.evaluate import reliability
from gnn.rings import (
    assign_rings,
    calibrate_rings,
    fit_ring_calibrator,
    score_rings,
    structure_scores,
)
from graph.rings.candidates import CHANCE_PAIR_FEATURE, find_ring_candidates
from graph.rings.config import RingConfig
from graph.rings.metrics import (
    jaccard_matrix,
    ring_label_outcomes,
    rings_recovered,
    top_precision,
)
from graph.rings.projection import account_index
from graph.snapshot import ACCOUNT, Snapshot, relation_specs

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets"
T0 = pd.Timestamp("2010-01-01", tz="UTC")


def _edge_table(src: pd.Series, dst: pd.Series, ts: pd.Series) -> pd.DataFrame:
    """Aggregated edges: count, first / last time per (src, dst)."""
    frame = pd.DataFrame({"src": src.astype(str), "dst": dst.astype(str), "ts": ts})
    return (frame.groupby(["src", "dst"], as_index=False)
            .agg(count=("ts", "size"), first_ts=("ts", "min"), last_ts=("ts", "max"))
            .assign(amount_sum=0.0))


def _snapshot(accounts: pd.Series, tables: dict[str, pd.DataFrame],
              extra: dict[str, tuple[str, str]] | None = None) -> Snapshot:
    specs = relation_specs(extra)
    return Snapshot(nodes={ACCOUNT: pd.DataFrame({"id": pd.unique(accounts.astype(str))})},
                    edges=tables, relations={name: specs[name] for name in tables})


def yelpchi() -> tuple[Snapshot, pd.DataFrame, None]:
    """YelpChi snapshot and labels (user abusive when any review was filtered)."""
    reviews = pd.read_csv(DATA / "yelpchi-reviews" / "metadata.gz", sep=" ", header=None,
                          names=["user", "product", "rating", "label", "date"],
                          dtype={"user": str, "product": str})
    ts = T0 + pd.to_timedelta(np.arange(len(reviews)), unit="D")
    edges = _edge_table(reviews["user"], reviews["product"], pd.Series(ts))
    labels = (reviews.assign(bad=reviews["label"] == -1).groupby("user")["bad"].any()
              .astype(int).rename("label").reset_index().rename(columns={"user": "account_id"}))
    snap = _snapshot(reviews["user"], {"REVIEWED": edges}, {"REVIEWED": (ACCOUNT, "Product")})
    snap.nodes["Product"] = pd.DataFrame({"id": pd.unique(reviews["product"].astype(str))})
    return snap, labels, None


def bitcoin_otc() -> tuple[Snapshot, pd.DataFrame, None]:
    """Bitcoin-OTC ratings as transfers; REV2 labels (-1 = fraudulent)."""
    net = pd.read_csv(DATA / "bitcoin-otc" / "otc_network.csv", header=None,
                      names=["src", "dst", "rating", "ts"])
    ts = pd.to_datetime(net["ts"], unit="s", utc=True)
    edges = _edge_table(net["src"], net["dst"], ts)
    gt = pd.read_csv(DATA / "bitcoin-otc" / "otc_gt.csv", header=None, names=["node", "label"])
    labels = pd.DataFrame({"account_id": gt["node"].astype(str),
                           "label": (gt["label"] == -1).astype(int)})
    snap = _snapshot(pd.concat([net["src"], net["dst"]]), {"TRANSACTED_WITH": edges})
    return snap, labels, None


def amlsim() -> tuple[Snapshot, pd.DataFrame, list[list[str]]]:
    """AMLSim through the real pipeline; every account labelled (alert member = 1)."""
    from benchmarks.rings import AMLSIM, _pipeline_snapshot, amlsim_truth

    truth = amlsim_truth()
    with tempfile.TemporaryDirectory(prefix="realdata-amlsim-") as tmp:
        snap = _pipeline_snapshot(str(AMLSIM / "transactions.csv.gz"),
                                  ROOT / "configs" / "mappings" / "amlsim.yaml", Path(tmp))
    accounts = account_index(snap).astype(str)
    bad = {m for ring in truth for m in ring}
    labels = pd.DataFrame({"account_id": accounts,
                           "label": [int(a in bad) for a in accounts]})
    return snap, labels, truth


def generated(n_accounts: int = 20_000, seed: int = 7) -> tuple[Snapshot, pd.DataFrame,
                                                                list[list[str]]]:
    """A generated world (``ingest.synth``; seed 7, not the seed 0 of ``benchmarks.rings``):
    every account labelled by the generator's truth, every planted ring a true ring."""
    from benchmarks.rings import _pipeline_snapshot
    from ingest.synth import generate

    with tempfile.TemporaryDirectory(prefix="realdata-synth-") as tmp:
        out = Path(tmp) / "synth"
        generate(out, n_accounts=n_accounts, seed=seed, progress=False)
        snap = _pipeline_snapshot(str(out / "events"), ROOT / "configs" / "mappings" /
                                  "synth.yaml", Path(tmp))
        truth = pd.read_parquet(out / "rings.parquet")
        accounts = pd.read_parquet(out / "truth_accounts.parquet")
    labels = pd.DataFrame({"account_id": accounts["account_id"].astype(str),
                           "label": accounts["is_abusive"].astype(int)})
    return snap, labels, [sorted(map(str, m)) for m in truth["members"]]


def cards(ring_fraction: float, n_accounts: int = 5_000, seed: int = 7
          ) -> tuple[Snapshot, pd.DataFrame, list[list[str]] | None]:
    """A card world (``ingest.synth.cards.generate_cards``: compromised terminals and cards;
    collusive bust-out rings only at ``ring_fraction`` > 0), through the real pipeline with
    ``configs/mappings/synth_cards.yaml``; every customer labelled by the generator's truth."""
    from benchmarks.rings import _pipeline_snapshot
    from ingest.synth.cards import generate_cards

    with tempfile.TemporaryDirectory(prefix="realdata-cards-") as tmp:
        out = Path(tmp) / "cards"
        generate_cards(out, n_accounts=n_accounts, seed=seed, progress=False,
                       ring_fraction=ring_fraction)
        snap = _pipeline_snapshot(str(out / "events"), ROOT / "configs" / "mappings" /
                                  "synth_cards.yaml", Path(tmp))
        truth = pd.read_parquet(out / "rings.parquet")
        accounts = pd.read_parquet(out / "truth_accounts.parquet")
    labels = pd.DataFrame({"account_id": accounts["account_id"].astype(str),
                           "label": accounts["is_abusive"].astype(int)})
    # customers without a purchase in the window are not in the graph
    labels = labels[labels["account_id"].isin(account_index(snap).astype(str))]
    rings = [sorted(map(str, m)) for m in truth["members"]]
    return snap, labels, rings or None


DATASETS = {"yelpchi": yelpchi, "bitcoin-otc": bitcoin_otc, "amlsim": amlsim,
            "generated-20k": generated,
            "cards-no-collusion": lambda: cards(0.0), "cards-rings": lambda: cards(0.03)}


def own_features(snapshot: Snapshot) -> pd.DataFrame:
    """Per account: for each relation, uses, distinct entities and the mean / max / min degree
    of its entities (transfers: out and in degree and counts)."""
    accounts = account_index(snapshot).astype(str)
    columns: dict[str, pd.Series] = {}
    for name, table in snapshot.edges.items():
        src, dst = table["src"].astype(str), table["dst"].astype(str)
        degree = dst.map(dst.value_counts())
        frame = pd.DataFrame({"src": src, "count": table["count"], "degree": degree})
        grouped = frame.groupby("src")
        columns[f"{name}_uses"] = grouped["count"].sum()
        columns[f"{name}_distinct"] = grouped.size()
        for how in ("mean", "max", "min"):
            columns[f"{name}_degree_{how}"] = grouped["degree"].agg(how)
        if name == "TRANSACTED_WITH":
            into = pd.DataFrame({"dst": dst, "count": table["count"]}).groupby("dst")
            columns[f"{name}_in_distinct"] = into.size()
            columns[f"{name}_in_uses"] = into["count"].sum()
    return pd.DataFrame({k: v.reindex(accounts) for k, v in columns.items()}).fillna(0.0)


def _halves(labels: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    order = np.random.default_rng(seed).permutation(len(labels))
    half = len(labels) // 2
    return labels.iloc[order[:half]], labels.iloc[order[half:]]


def _xgb_scores(features: pd.DataFrame, train: pd.DataFrame) -> pd.Series:
    from xgboost import XGBClassifier

    model = XGBClassifier(n_estimators=200, max_depth=4, learning_rate=0.1, n_jobs=1,
                          random_state=0, eval_metric="logloss")
    model.fit(features.loc[train["account_id"]].to_numpy(), train["label"].to_numpy())
    return pd.Series(model.predict_proba(features.to_numpy())[:, 1], index=features.index)


def _model_scores(method: str, snapshot: Snapshot, train: pd.DataFrame, quick: bool,
                  seed: int = 0, detector: dict[str, object] | None = None) -> pd.Series:
    """Account scores of the GNN (``gnn``: :class:`gnn.detector.AccountDetector` seeded with
    ``seed``, fast settings with ``quick``, then the settings ``detector``) or XGB-Graph
    (``xgb-graph``) trained on ``train``."""
    if method == "gnn":
        from gnn.detector import AccountDetector

        settings = ({"max_epochs": 8, "hidden_channels": 32, "num_neighbors": (10, 5),
                     "patience": 3} if quick else {})
        model = AccountDetector(random_state=seed, num_threads=1,
                                **{**settings, **(detector or {})})
    else:
        from gnn.baselines.xgb_graph import XGBGraph

        model = XGBGraph()
    scored = model.fit(snapshot, train).score_accounts(snapshot)
    return pd.Series(scored["score"].to_numpy(np.float64),
                     index=scored["account_id"].astype(str))


def ugfraud_yelpchi(train: pd.DataFrame, test: pd.DataFrame, gang_portion: float = 0.4,
                    speagle: bool = True) -> list[dict]:
    """UGFraud's SpEagle, FRAUDAR and GANG on YelpChi, scored on the held-out half.

    The graph and the node and review priors are UGFraud's own (its copy of the same
    ``metadata.gz``, checked identical, and its ``priors.pkl``, computed by its authors from
    the review text and behaviour); SpEagle (belief propagation on those priors, 2 rounds as
    in its demo) and FRAUDAR (dense blocks of the user x restaurant matrix; a user scores its
    block's normalised density, as in UGFraud's demo) use no labels; GANG is given the
    training half (``gang_portion`` of it, half positives half negatives, as UGFraud samples
    it; seed 0). ``speagle=False`` leaves SpEagle out (its pure-Python belief propagation
    took 741 s wall here under load).
    """
    import pickle
    import random

    from UGFraud.Detector.Fraudar import detect_blocks, logWeightedAveDegree
    from UGFraud.Detector.GANG import GANG
    from UGFraud.Detector.SpEagle import SpEagle
    from UGFraud.Utils.helper import add_attribute_to_graph, dict_to_networkx, read_graph_data

    package = Path(__import__("UGFraud").__file__).parent / "Yelp_Data" / "YelpChi"
    user_product, _ = read_graph_data(str(package / "metadata.gz"))
    with open(package / "priors.pkl", "rb") as handle:
        user_priors, review_priors, product_priors = pickle.load(handle)
    # UGFraud's own construction: its detectors look reviews up as (user, product) in the
    # order its graph yields them
    graph = dict_to_networkx({u: {p: {} for p, *_ in reviews}
                              for u, reviews in user_product.items()})
    truth = dict(zip(train["account_id"].astype(str), train["label"].astype(int), strict=True))
    add_attribute_to_graph(graph, {u: {"prior": v, "types": "user", "label": truth.get(u, 0)}
                                   for u, v in user_priors.items()}, "node")
    add_attribute_to_graph(graph, {p: {"prior": v, "types": "prod"}
                                   for p, v in product_priors.items()}, "node")
    add_attribute_to_graph(graph, {e: {"prior": v, "types": "review"}
                                   for e, v in review_priors.items()}, "edge")
    rows, scores = [], {}
    if speagle:
        began = time.perf_counter()
        eps, tiny = 0.1, 1e-5
        user_review = np.log(np.array([[1 - tiny, tiny], [tiny, 1 - tiny]]))
        review_product = np.log(np.array([[1 - eps, eps], [eps, 1 - eps]]))
        model = SpEagle(graph, {"u_r": user_review, "r_u": user_review, "r_p": review_product,
                                "p_r": review_product}, message=None, max_iters=4)
        model.schedule(schedule_type="bfs")
        model.run_bp(start_iter=0, max_iters=2, tol=1e-3)
        scores["SpEagle"] = (model.classify()[0], time.perf_counter() - began)
    began = time.perf_counter()
    users = sorted(user_priors, key=int)
    products = sorted(product_priors, key=int)
    user_at = {u: i for i, u in enumerate(users)}
    product_at = {p: i for i, p in enumerate(products)}
    pairs = [(user_at[u], product_at[p]) for u, reviews in user_product.items()
             for p, *_ in reviews]
    matrix = sp.coo_matrix((np.ones(len(pairs)), tuple(np.array(pairs).T)),
                           shape=(len(users), len(products))).tocsr()
    matrix.data[:] = 1
    blocks = detect_blocks(matrix.astype(int), logWeightedAveDegree)
    top, bottom = blocks[0][1], blocks[-1][1]
    density = {}
    for (block_rows, _), weight in blocks:
        for row in block_rows:
            density.setdefault(users[row], (weight - bottom) / max(top - bottom, 1e-12))
    scores["FRAUDAR"] = ({u: density.get(u, 0.0) for u in users}, time.perf_counter() - began)
    began = time.perf_counter()
    random.seed(0)
    gang = GANG(graph, truth, gang_portion, nor_flg=True, sup_flg=True)
    gang.pu_lbp(1000)
    # GANG.classify calls float() on one-element arrays, which NumPy 2 refuses
    # ("only 0-dimensional arrays can be converted to Python scalars"): its user beliefs are
    # read here instead (the rows after the products', min-max scaled as classify does)
    posterior = np.asarray(gang.res_pu_spam_post_vector, np.float64).ravel()[len(products):]
    spread = max(float(posterior.max() - posterior.min()), 1e-12)
    scores["GANG"] = ({str(i + len(products)): (v - posterior.min()) / spread
                       for i, v in enumerate(posterior)}, time.perf_counter() - began)
    for method, (belief, seconds) in scores.items():
        figures = _auc(test, pd.Series(belief, dtype=np.float64))
        rows.append({"dataset": "yelpchi", "mode": f"UGFraud {method}",
                     "auroc": figures["auroc"], "auprc": figures["auprc"],
                     "seconds": round(seconds, 1)})
    return rows


def _ring_figures(rings: pd.DataFrame, labels: pd.DataFrame, n_accounts: int,
                  truth: list[list[str]] | None, test: pd.DataFrame) -> dict:
    members = pd.Series([m for ms in rings["members"] for m in ms], dtype=object).unique()
    known = labels.set_index("account_id")["label"].reindex(members).dropna()
    held = test.set_index("account_id")["label"].reindex(members).dropna()
    outcomes = ring_label_outcomes(rings, test) if len(rings) else None
    outcomes = outcomes[outcomes["abusive"].notna()] if outcomes is not None else None
    return {
        "rings": len(rings),
        "rings_per_10k": 1e4 * len(rings) / n_accounts,
        "pairs": int((rings["size"] == 2).sum()) if len(rings) else 0,
        "members": len(members),
        "member_precision": float(known.mean()) if len(known) else float("nan"),
        "held_precision": float(held.mean()) if len(held) else float("nan"),
        "ring_ece": reliability(outcomes["abusive"].to_numpy(),
                                outcomes["score"].clip(0.0, 1.0).to_numpy())["ece"]
        if outcomes is not None and len(outcomes) else float("nan"),
        "ring_recall": rings_recovered(rings["members"].tolist(), truth) if truth else None,
        "top_precision": top_precision(rings["members"].tolist(), truth, k=len(truth))
        if truth else None,
    }


def surprise_separation(candidates: list, truth: list[list[str]]) -> dict[str, float]:
    """The median null-model surprise of the candidate best matching each true ring (member
    Jaccard >= 0.5; ``-inf`` for a true ring no candidate matches) and the 99th percentile of
    the surprise of candidates matching no true ring."""
    surprise = np.array([c.features.get("surprise", 0.0) for c in candidates], np.float64)
    if not len(candidates):
        return {"true_surprise": float("nan"), "other_surprise": float("nan")}
    overlap = jaccard_matrix([c.members for c in candidates], truth).tocsr()
    overlap.data[overlap.data < 0.5] = 0.0
    overlap.eliminate_zeros()
    matched = np.diff(overlap.indptr) > 0
    by_truth = overlap.T.tocsr()
    best = [surprise[by_truth.indices[by_truth.indptr[t]:by_truth.indptr[t + 1]]].max()
            if by_truth.indptr[t + 1] > by_truth.indptr[t] else -np.inf
            for t in range(len(truth))]
    others = surprise[~matched]
    return {"true_surprise": float(np.median(best)),
            "other_surprise": float(np.quantile(others, 0.99)) if len(others) else float("nan")}


def _auc(test: pd.DataFrame, scores: pd.Series) -> dict[str, float]:
    held = scores.reindex(test["account_id"]).fillna(0.0).to_numpy()
    return {"auroc": roc_auc_score(test["label"], held),
            "auprc": average_precision_score(test["label"], held)}


def _guarded(snapshot: Snapshot, scores: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    """``scores`` as the rings stage of ``abusenet run`` reads them: held to
    ``ring_scoring.max_association_odds`` times each account's own evidence's odds, fitted on
    ``train`` (:mod:`gnn.association`; unchanged with the setting off, its default, or without
    an entity type or own evidence)."""
    from gnn.association import account_view, guard_scores, own_evidence

    max_odds = RingScoringConfig().max_association_odds
    if max_odds is None:
        return scores
    view = account_view(snapshot)
    own = None if view is None else own_evidence(view, train)
    if own is None:
        return scores
    return guard_scores(scores, own, max_odds, train["account_id"].astype(str))


def _own_pair_scores(snapshot: Snapshot, train: pd.DataFrame) -> pd.DataFrame | None:
    """The scores the rings stage of ``abusenet run`` judges chance pairs by: each account's own
    evidence fitted on ``train`` (:func:`abusenet.pipeline.stages.detect.own_evidence_scores`),
    ``account_id, score``; None without an entity type or own evidence (pairs not judged)."""
    from gnn.association import PAIR_OWN_DEPTH, account_view, own_evidence

    view = account_view(snapshot)
    own = None if view is None else own_evidence(view, train, max_depth=PAIR_OWN_DEPTH)
    return None if own is None else pd.DataFrame({"account_id": own.index,
                                                  "score": own.to_numpy()})


def run(name: str, quick: bool = False, ugfraud: bool = True, gnn_seeds: int = 3,
        rings: dict[str, object] | None = None,
        detector: dict[str, object] | None = None) -> list[dict]:
    """Benchmark rows of one dataset (module docstring); ``quick`` trains the GNN briefly;
    the GNN's figures are the mean over ``gnn_seeds`` seeds (0, 1, ...; with their least and
    greatest AUPRC when more than one); on YelpChi ``ugfraud`` adds UGFraud's detectors
    (:func:`ugfraud_yelpchi`); ``rings`` are :class:`RingConfig` settings other than the
    defaults for the ring search (both ``null`` rows); ``detector`` are
    :class:`~gnn.detector.AccountDetector` settings other than the defaults (and ``quick``'s) for
    the GNN."""
    settings = dict(rings or {})
    started = time.perf_counter()
    snapshot, labels, truth = DATASETS[name]()
    n = len(account_index(snapshot))
    accounts = account_index(snapshot).astype(str)
    loaded = time.perf_counter() - started
    train, test = _halves(labels)
    started = time.perf_counter()
    scores = _xgb_scores(own_features(snapshot), train)
    xgb_s = time.perf_counter() - started
    as_table = pd.DataFrame({"account_id": scores.index, "score": scores.to_numpy()})
    models = {}
    for method, seeds in (("gnn", range(gnn_seeds)), ("xgb-graph", range(1))):
        began = time.perf_counter()
        draws = pd.DataFrame([_auc(test, _model_scores(method, snapshot, train, quick, seed,
                                                       detector))
                              for seed in seeds])
        models.update({f"{method}_auroc": draws["auroc"].mean(),
                       f"{method}_auprc": draws["auprc"].mean(),
                       f"{method}_s": round((time.perf_counter() - began) / len(draws), 1)})
        if len(draws) > 1:
            models.update({f"{method}_auprc_min": draws["auprc"].min(),
                           f"{method}_auprc_max": draws["auprc"].max()})
    rows = []
    for null, config in (("on", RingConfig(**settings)),
                         ("off", RingConfig(**{**settings, "min_surprise": -np.inf,
                                               "pairs": False}))):
        started = time.perf_counter()
        # with the null on, as abusenet run with a model: the pairs chance explains listed for
        # the scores when ring_scoring.pair_fdr is set (never reported without them)
        pair_fdr = RingScoringConfig().pair_fdr
        listed = find_ring_candidates(snapshot, replace(
            config, chance_pairs=null == "on" and pair_fdr is not None))
        search = time.perf_counter() - started
        candidates = [c for c in listed if CHANCE_PAIR_FEATURE not in c.features]
        if null == "on":  # as abusenet run without labels: significant, surprising enough
            bar = RingScoringConfig().unlabelled_min_surprise
            unlabelled = unlabelled_rings(candidates, bar)
        else:  # before the null model: structure features, reported at min_score 0.5
            old = score_rings(candidates)
            old["score"] = pd.Series(structure_scores(candidates),
                                     index=[c.ring_id for c in candidates]).reindex(
                                         old["ring_id"]).to_numpy()
            unlabelled = old[old["score"] >= 0.5].sort_values("score", ascending=False)
        structure = assign_rings(pd.DataFrame({"account_id": accounts, "score": 0.0}),
                                 unlabelled)
        structure = structure["ring_id"].map(unlabelled.set_index("ring_id")["score"]).fillna(0.0)
        structure.index = accounts
        if null == "on":  # with the groups of high-scoring accounts, trimmed, calibrated
            members = _guarded(snapshot, as_table, train)
            found = scored_group_candidates(snapshot, listed, members, RingScoringConfig(),
                                            config, frozenset(train["account_id"].astype(str)))
            own = None if pair_fdr is None else _own_pair_scores(snapshot, train)
            scored = score_rings([*listed, *found], None, members,
                                 pair_fdr=None if own is None else pair_fdr, pair_scores=own,
                                 labelled_honest=frozenset(
                                     train.loc[train["label"] == 0, "account_id"].astype(str)))
            scored = calibrate_rings(scored, fit_ring_calibrator(scored, train), members)
        else:
            scored = score_rings(candidates, None, as_table, min_member_score=None)
        base = {"dataset": name, "null": null, "accounts": n,
                "positives": int(labels["label"].sum()), "candidates": len(candidates),
                "load_s": round(loaded, 1), "search_s": round(search, 1)}
        xgb = _auc(test, scores)
        own = _auc(test, structure)
        separation = surprise_separation(candidates, truth) if truth and null == "on" else {}
        rows.append({**base, "mode": "without labels", "auroc": own["auroc"],
                     "auprc": own["auprc"], **_ring_figures(unlabelled, labels, n, truth, test),
                     **separation})
        rows.append({**base, "mode": "with labels (xgb)", "auroc": xgb["auroc"],
                     "auprc": xgb["auprc"], "xgb_s": round(xgb_s, 1), **models,
                     **_ring_figures(scored[scored["score"] >= 0.5], labels, n, truth, test)})
    if name == "yelpchi" and ugfraud:
        rows += ugfraud_yelpchi(train, test)
    return rows


def _key_values(parser: argparse.ArgumentParser, option: str, items: list[str]
                ) -> dict[str, object]:
    """``KEY=VALUE`` items of ``option`` as a dict (values read as YAML); a malformed one stops
    the run naming it."""
    import yaml

    settings: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            parser.error(f"{option} needs KEY=VALUE, got {item!r}")
        settings[key.strip()] = yaml.safe_load(value)
    return settings


def _ring_settings(parser: argparse.ArgumentParser, items: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` items as RingConfig settings (values read as YAML), checked by building a
    RingConfig before any work; a malformed or unknown one stops the run naming it."""
    settings = _key_values(parser, "--ring-set", items)
    try:
        RingConfig(**settings)
    except (TypeError, ValueError) as error:
        parser.error(f"--ring-set: {error}")
    return settings


#: The GNN settings the benchmark sets itself, which ``--detector-set`` may not name.
BENCHMARK_SETS = {"random_state": "the seeds of --gnn-seeds", "num_threads": "one thread"}


def _detector_settings(parser: argparse.ArgumentParser, items: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` items as :class:`~gnn.detector.AccountDetector` settings (values read as
    YAML), checked against the ``detector`` section's typed model before any work, as a config
    file's are; a malformed, unknown or ill-typed one, or one the benchmark sets itself
    (:data:`BENCHMARK_SETS`), stops the run naming it."""
    from pydantic import ValidationError

    from abusenet.pipeline.config import detector_model

    settings = _key_values(parser, "--detector-set", items)
    own = sorted(set(settings) & set(BENCHMARK_SETS))
    if own:
        parser.error(f"--detector-set: {', '.join(own)} set by the benchmark itself "
                     f"({'; '.join(BENCHMARK_SETS[k] for k in own)})")
    try:
        checked = detector_model().model_validate(settings)
    except ValidationError as error:
        parser.error(f"--detector-set: {error}")
    return checked.model_dump(exclude_unset=True)


def main(argv: list[str] | None = None) -> None:
    """Print one table row per dataset and mode."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--quick", action="store_true",
                        help="train the GNN briefly (8 epochs, 32 channels, neighbours 10/5)")
    parser.add_argument("--skip-ugfraud", action="store_true",
                        help="leave UGFraud's SpEagle, FRAUDAR and GANG out on YelpChi")
    parser.add_argument("--gnn-seeds", type=int, default=3, metavar="N",
                        help="train the GNN with seeds 0..N-1 and give the mean of its figures, "
                             "with the least and greatest AUPRC (default 3: on a few dozen "
                             "held-out positives one seed's AUPRC moves by 0.1-0.4)")
    parser.add_argument("--ring-set", action="append", default=[], metavar="KEY=VALUE",
                        help="a ring search setting other than the default (a RingConfig field; "
                             "the value read as YAML), e.g. --ring-set whole_groups=true")
    parser.add_argument("--detector-set", action="append", default=[], metavar="KEY=VALUE",
                        help="a GNN setting other than the default (an AccountDetector keyword; "
                             "the value read as YAML; over --quick's), e.g. "
                             "--detector-set ensemble=auto")
    args = parser.parse_args(argv)
    if args.gnn_seeds < 1:
        parser.error(f"--gnn-seeds must be at least 1, not {args.gnn_seeds}")
    rings = _ring_settings(parser, args.ring_set)
    detector = _detector_settings(parser, args.detector_set)
    rows = [row for name in args.datasets
            for row in run(name, args.quick, ugfraud=not args.skip_ugfraud,
                           gnn_seeds=args.gnn_seeds, rings=rings, detector=detector)]
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
