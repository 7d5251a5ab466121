"""The card-fraud benchmark of the field on a generated card world (issue 14, item 6).

One command: generate a card world (``abusenet synth --world cards``), then

1. **Rolling time split** (train on weeks 1..k, a gap for label delay, test the next week,
   rolling): per test day transaction AUROC, AUPRC and card precision@100 of
   :class:`~gnn.events.model.EventModel`, the handbook's
   :class:`~gnn.baselines.xgb_history.XGBHistory` as the field runs it (every fraud older than
   7 days counts, known or not), ``history="own_event_delay"`` (only the frauds charged back
   within 7 days of themselves) and ``history="known"`` (the frauds whose label is known at the
   scored purchase: the fair baseline); and per test day the share of compromised terminals'
   transactions ranked in the day's top 1 % of event scores. ``--models`` runs only some.
2. **Terminals, half labelled**: compromised terminals from truth, a stratified half labelled;
   AUROC on the other half of XGBoost on per-terminal aggregates (handbook style: volume,
   cards, amounts, night and online shares, chargebacks known by the window end), of the
   supervised :class:`~gnn.entities.EntityRiskModel` (label evidence and the common point of
   compromise, :mod:`gnn.events.compromise`, as node features) and of the pooled method
   (terminals scored from their accounts' scores) on a snapshot of the world
   (``--entity-gnn``), of the CPC surprise alone and next to the aggregates, and of the
   terminals' highest event score in the last test week.
3. **Label delays**: how much of the terminal fraud is known when it must be scored.

``--ceiling`` trains nothing: on the same world, split and scoring times it reports the best
held-back terminal AUROC, transaction AUROC and top-1 % share of terminal fraud any model can
reach from each kind of evidence known at scoring time (:mod:`benchmarks.cards_ceiling`).

The cards reported compromised (``entity_labels.csv``, ``PaymentMethod`` rows, known about 5 days
after a card's first misuse) anchor the common point of compromise from their ``known_at`` on,
in the event model's features, the CPC surprise and the entity model's evidence
(``--without-card-reports``: the event labels alone, as before session 9).

Examples
--------
``python -m benchmarks.cards`` (2,000 customers, 56 days, 3 folds) or ``--quick`` (1,000
customers, 49 days, 2 folds: 177 CPU s with ``--entity-gnn``; the default size about 300);
``python -m benchmarks.cards --ceiling --seed 1`` (about 13 CPU s).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from benchmarks.cards_ceiling import (
    TERMINAL_FRAUD,
    ceiling_auroc,
    ceiling_top_share,
    evident_under,
    purchase_evidence,
    terminal_evidence,
)
from gnn.baselines.xgb_history import XGBHistory
from gnn.evaluate import auroc
from gnn.events.booster import EventBooster
from gnn.events.compromise import CompromiseIndex, holder_labels
from gnn.events.model import EventModel
from gnn.events.rolling import daily_metrics, rolling_folds, rolling_scores
from ingest.files import write_text_atomic
from ingest.synth.cards import generate_cards

#: Share of each day's events an investigator checks (the top-1 % target of issue 14).
TOP_SHARE = 0.01
#: The card world's entity node types and their event columns (the cards are PaymentMethod).
ENTITY_COLUMNS = {"Device": "device_id", "IP": "ip", "PaymentMethod": "payment_id",
                  "Terminal": "terminal_id"}
#: The rolling split (train on weeks 1..k, a gap, test the next week), shared by the ceiling.
ROLLING = {"min_train_weeks": 3, "gap_days": 7, "test_days": 7}
#: The card-fraud kinds (the card's own purchases look unlike its owner's).
CARD_FRAUD = ("stolen_card", "skimmed_card", "bust_out")
#: The ceiling's evidence sets (:mod:`benchmarks.cards_ceiling`), by the name its tables use.
CEILING_LEVELS = {
    "no terminal evidence (online merchants only)": ("online",),
    "own chargebacks known by then": ("online", "own"),
    "+ CPC in the models' windows": ("online", "own", "cpc"),
    "+ any card with a known fraud or report that visited it": ("online", "own", "cpc",
                                                                "linked"),
    "+ label timing (generator artefact)": ("online", "own", "cpc", "linked", "timing"),
    "the handbook's: own frauds >= 7 days old, known or not": ("online", "handbook"),
    "caused by the compromise (truth): its chargebacks, its skimmed cards misused": (
        "online", "caused_chargeback", "caused_card"),
    "+ its frauds unlabelled past settlement (truth, generator artefact)": (
        "online", "caused_chargeback", "caused_card", "caused_timing"),
}


def card_world_dir(accounts: int, days: int, seed: int, workdir: Path) -> Path:
    """The generated card world of these settings under ``workdir`` (generated unless there)."""
    world = workdir / f"cards-n{accounts}-d{days}-s{seed}"
    if not (world / "synth.json").exists():
        generate_cards(world, n_accounts=accounts, seed=seed, days=days, progress=False,
                       overwrite=True)
    return world


def load_world(world: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(events, event_labels, truth_events, truth_entities)`` of a generated card world."""
    events = pd.read_parquet(world / "events")
    labels = pd.read_csv(world / "event_labels.csv")
    labels["known_at"] = pd.to_datetime(labels["known_at"], utc=True)
    return (events, labels, pd.read_parquet(world / "truth_events.parquet"),
            pd.read_parquet(world / "truth_entities.parquet"))


def load_card_reports(world: Path) -> pd.DataFrame:
    """``node_type, entity_id, label, known_at`` of the world's cards (``PaymentMethod``): the
    cards reported compromised (1) and those checked and cleared (0)."""
    labels = pd.read_csv(world / "entity_labels.csv")
    labels = labels[labels["node_type"] == "PaymentMethod"].reset_index(drop=True)
    labels["known_at"] = pd.to_datetime(labels["known_at"], utc=True)
    return labels


def models() -> dict[str, EventBooster]:
    """The compared event models, by the name the tables use."""
    return {
        "EventModel": EventModel(),
        "XGBHistory (handbook)": XGBHistory(),
        "XGBHistory (charged back within 7 days of itself)": XGBHistory(
            history="own_event_delay"),
        "XGBHistory (labels known at the purchase)": XGBHistory(history="known"),
    }


def pick_models(names: list[str] | None) -> dict[str, EventBooster]:
    """The models of :func:`models` whose table name starts with one of ``names`` (all when
    ``None``).

    Raises
    ------
    ValueError
        If a name matches no model (the known names are listed).
    """
    every = models()
    if names is None:
        return every
    unknown = [n for n in names if not any(m.startswith(n) for m in every)]
    if unknown:
        raise ValueError(f"--models: {unknown} match no model of {list(every)}")
    return {m: model for m, model in every.items() if any(m.startswith(n) for n in names)}


def top_share_captured(scores: pd.DataFrame, target: pd.Series, share: float = TOP_SHARE
                       ) -> pd.Series:
    """Per test day, the share of ``target`` events (a boolean per row of ``scores``) ranked
    in the day's top ``share`` of scores (``nan`` on a day without any)."""
    out = {}
    for day, group in scores.groupby("day", sort=True):
        hit = target.loc[group.index].to_numpy()
        if not hit.any():
            out[day] = np.nan
            continue
        n_top = max(1, int(round(len(group) * share)))
        top = np.argsort(-group["score"].to_numpy(), kind="stable")[:n_top]
        out[day] = hit[top].sum() / hit.sum()
    return pd.Series(out, name="top_share")


def rolling_part(events: pd.DataFrame, labels: pd.DataFrame, truth_events: pd.DataFrame,
                 folds: int, reports: pd.DataFrame | None = None,
                 names: list[str] | None = None
                 ) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Per model (those of :func:`pick_models`) and test day: the rolling metrics and the
    top-1 % share of terminal fraud (the card ``reports`` feed the event model's features; the
    baselines read none)."""
    kind = truth_events.set_index("event_id")["fraud_kind"]
    days, scores_of = [], {}
    for name, model in pick_models(names).items():
        started = time.process_time()
        table = (model.event_features(events, labels, entity_labels=reports)
                 if isinstance(model, EventModel) else model.event_features(events, labels))
        features_s = time.process_time() - started
        started = time.process_time()
        scores = rolling_scores(model, table, **ROLLING, max_folds=folds)
        fit_s = time.process_time() - started
        daily = daily_metrics(scores, card_column="payment_id", k=100)
        terminal = scores["event_id"].map(kind).eq(TERMINAL_FRAUD)
        daily["terminal_fraud_top1"] = top_share_captured(scores, terminal).reindex(
            daily["day"]).to_numpy()
        daily.insert(0, "model", name)
        daily.attrs = {}
        days.append(daily.assign(features_cpu_s=features_s, folds_cpu_s=fit_s))
        scores_of[name] = scores
    return pd.concat(days, ignore_index=True), scores_of


def terminal_features(events: pd.DataFrame, labels: pd.DataFrame, end: pd.Timestamp
                      ) -> pd.DataFrame:
    """Handbook-style aggregates per terminal over the whole window, with the chargebacks
    known by ``end`` (all time, and of the events of the last 7 and 14 days)."""
    frame = events[["event_id", "ts", "terminal_id", "payment_id", "amount", "channel"]].merge(
        labels[["event_id", "label", "known_at"]], on="event_id", how="left")
    known_fraud = (frame["label"] == 1) & (frame["known_at"] <= end)
    known = frame["known_at"] <= end
    age = (end - frame["ts"]).dt.total_seconds() / 86400
    frame = frame.assign(
        night=(frame["ts"].dt.hour < 6).astype(float),
        online=(frame["channel"] == "online").astype(float),
        known_fraud=known_fraud.astype(float), known=known.astype(float),
        fraud_7d=(known_fraud & (age <= 7)).astype(float),
        fraud_14d=(known_fraud & (age <= 14)).astype(float),
        n_7d=(age <= 7).astype(float),
    )
    grouped = frame.groupby("terminal_id", sort=True)
    table = grouped.agg(
        n=("event_id", "size"), cards=("payment_id", "nunique"), mean_amount=("amount", "mean"),
        night_share=("night", "mean"), online_share=("online", "mean"),
        known_fraud=("known_fraud", "sum"), known=("known", "sum"),
        fraud_7d=("fraud_7d", "sum"), fraud_14d=("fraud_14d", "sum"), n_7d=("n_7d", "sum"),
    )
    table["known_fraud_share"] = table["known_fraud"] / table["known"].clip(lower=1)
    return table


def terminal_split(truth_entities: pd.DataFrame, terminals: pd.Index, seed: int
                   ) -> tuple[pd.Series, np.ndarray]:
    """Truth of every terminal with events (1 = compromised) and a stratified half labelled."""
    truth = truth_entities[truth_entities["node_type"] == "Terminal"].set_index("entity_id")
    y = truth["compromised"].reindex(terminals).fillna(False).astype(int)
    rng = np.random.default_rng(seed)
    labelled = np.zeros(len(y), dtype=bool)
    for cls in (0, 1):
        rows = np.flatnonzero(y.to_numpy() == cls)
        labelled[rng.permutation(rows)[: len(rows) // 2]] = True
    return y, labelled


def terminal_part(events: pd.DataFrame, labels: pd.DataFrame, truth_entities: pd.DataFrame,
                  event_scores: pd.DataFrame, seed: int, entity_gnn: Path | None,
                  reports: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """AUROC on the unlabelled half of the terminals, per method (the card ``reports``
    anchor the CPC evidence)."""
    end = events["ts"].max()
    features = terminal_features(events, labels, end)
    y, labelled = terminal_split(truth_entities, features.index, seed)
    rows = []
    started = time.process_time()
    booster = xgb.XGBClassifier(n_estimators=200, max_depth=4, learning_rate=0.05,
                                subsample=0.8, n_jobs=2, random_state=seed)
    booster.fit(features.to_numpy()[labelled], y.to_numpy()[labelled])
    score = booster.predict_proba(features.to_numpy()[~labelled])[:, 1]
    rows.append({"method": "XGBoost on terminal aggregates",
                 "auroc": auroc(y.to_numpy()[~labelled], score),
                 "cpu_s": time.process_time() - started})
    started = time.process_time()
    index = CompromiseIndex(events, labels, holder="payment_id", points=["terminal_id"],
                            until=end, reports=holder_labels(reports, "payment_id"))
    cpc = index.at("terminal_id", end).reindex(features.index).fillna(0.0)
    rows.append({"method": "CPC surprise alone (cards' fraud and reports known by the end)",
                 "auroc": auroc(y.to_numpy()[~labelled],
                                cpc["cpc_surprise"].to_numpy()[~labelled]),
                 "cpu_s": time.process_time() - started})
    started = time.process_time()
    both = features.join(cpc).to_numpy()
    booster = xgb.XGBClassifier(n_estimators=200, max_depth=4, learning_rate=0.05,
                                subsample=0.8, n_jobs=2, random_state=seed)
    booster.fit(both[labelled], y.to_numpy()[labelled])
    rows.append({"method": "XGBoost on terminal aggregates + CPC",
                 "auroc": auroc(y.to_numpy()[~labelled], booster.predict_proba(
                     both[~labelled])[:, 1]),
                 "cpu_s": time.process_time() - started})
    last = event_scores[event_scores["fold"] == event_scores["fold"].max()]
    per_terminal = last.groupby("terminal_id")["score"].max().reindex(features.index)
    seen = per_terminal.notna().to_numpy() & ~labelled
    rows.append({"method": "EventModel: highest event score in the last test week",
                 "auroc": auroc(y.to_numpy()[seen], per_terminal.to_numpy()[seen]),
                 "cpu_s": 0.0, "note": f"{seen.sum()} of {(~labelled).sum()} terminals seen"})
    if entity_gnn is not None:
        rows += _snapshot_rows(entity_gnn, events, labels, y, labelled, end, seed, last,
                               reports)
    for row in rows:
        row.update(labelled=int(labelled.sum()), held_back=int((~labelled).sum()),
                   held_back_compromised=int(y.to_numpy()[~labelled].sum()))
    return rows


def _snapshot_rows(world: Path, events: pd.DataFrame, labels: pd.DataFrame, y: pd.Series,
                   labelled: np.ndarray, end: pd.Timestamp, seed: int,
                   last_week: pd.DataFrame, reports: pd.DataFrame | None
                   ) -> list[dict[str, Any]]:
    """On a snapshot of the world: the supervised entity model (label evidence known by
    ``end``) and the pooled method (terminals scored from their accounts' scores, an account's
    score being its highest event score in the last test week)."""
    from gnn.data.snapshot_graph import snapshot_to_heterodata
    from gnn.entities import EntityRiskModel, with_compromise_evidence, with_label_evidence
    from gnn.entity_scores import entity_scores_from_accounts
    from graph.build import build_snapshot
    from ingest.run import ingest_logs

    started = time.process_time()
    work = world / ".bench"
    mapping = Path(__file__).resolve().parents[1] / "configs" / "mappings" / "synth_cards.yaml"
    if not (work / "snapshot").exists():
        ingest_logs(str(world / "events"), mapping, work / "events", progress=False)
        build_snapshot(work / "events", work / "snapshot", progress=False)
    from graph.snapshot import read_snapshot

    snapshot = read_snapshot(work / "snapshot")
    held = y.index[~labelled]
    data, _ = snapshot_to_heterodata(snapshot)
    account_score = last_week.groupby("account_id")["score"].max().reindex(
        pd.Index(data["Account"].node_ids)).fillna(0.0).to_numpy()
    pooled = entity_scores_from_accounts(data, account_score)
    pooled = pooled[pooled["node_type"] == "Terminal"].set_index("entity_id")["score"]
    rows = [{"method": "pooled: terminals from their accounts' highest EventModel score",
             "auroc": auroc(y.to_numpy()[~labelled], pooled.reindex(held).to_numpy()),
             "cpu_s": time.process_time() - started}]
    started = time.process_time()
    evidence = events[["event_id", "account_id", "terminal_id"]].merge(labels, on="event_id")
    snapshot = with_label_evidence(snapshot, evidence, {"Terminal": "terminal_id"}, as_of=end)
    snapshot = with_compromise_evidence(snapshot, events, labels, ENTITY_COLUMNS, as_of=end,
                                        entity_labels=reports)
    train = pd.DataFrame({"node_type": "Terminal", "entity_id": y.index[labelled],
                          "label": y.to_numpy()[labelled]})
    model = EntityRiskModel({"random_state": seed}).fit(snapshot, train)
    scores = model.score_entities(snapshot).set_index("entity_id")["score"]
    return rows + [{"method": "EntityRiskModel (supervised GNN, label and CPC evidence known "
                              "by the end)",
                    "auroc": auroc(y.to_numpy()[~labelled], scores.reindex(held).to_numpy()),
                    "cpu_s": time.process_time() - started}]


def delay_part(events: pd.DataFrame, labels: pd.DataFrame, truth_events: pd.DataFrame,
               truth_entities: pd.DataFrame) -> dict[str, Any]:
    """How much of the terminal fraud is known at the window end and when it is scored."""
    end = events["ts"].max()
    fraud = truth_events[truth_events["fraud_kind"] == TERMINAL_FRAUD][
        ["event_id", "ts", "terminal_id"]].merge(labels[["event_id", "label", "known_at"]],
                                                 on="event_id")
    known = (fraud["label"] == 1) & (fraud["known_at"] <= end)
    terminals = truth_entities[(truth_entities["node_type"] == "Terminal")
                               & truth_entities["compromised"]]
    any_known = fraud[known].groupby("terminal_id").size()
    late = terminals["compromised_from"] > end - pd.Timedelta(days=14)
    unknown = ~terminals["entity_id"].isin(any_known.index)
    # Terminal fraud known before the event itself (a label of an earlier event of its terminal).
    first_known = fraud[fraud["label"] == 1].groupby("terminal_id")["known_at"].min()
    before = fraud["ts"] > fraud["terminal_id"].map(first_known)
    return {
        "compromised_terminals": int(len(terminals)),
        "terminal_fraud_events": int(len(fraud)),
        "terminal_fraud_known_by_end": float(known.mean()),
        "terminals_without_known_fraud_by_end": int(unknown.sum()),
        "terminals_compromised_in_last_14_days": int(late.sum()),
        "of_those_without_known_fraud": int((late & unknown).sum()),
        "terminal_fraud_events_after_a_known_fraud_of_their_terminal": float(before.mean()),
    }


def run(accounts: int, days: int, seed: int, folds: int, workdir: Path,
        entity_gnn: bool, card_reports: bool = True, names: list[str] | None = None
        ) -> dict[str, Any]:
    """Generate the world (reused when its settings match) and measure every part (with the
    card reports as compromise anchors unless ``card_reports`` is false). With ``names``
    (:func:`pick_models`) only those models' rolling rows, and the terminal part only if
    EventModel is among them."""
    world = card_world_dir(accounts, days, seed, workdir)
    events, labels, truth_events, truth_entities = load_world(world)
    reports = load_card_reports(world) if card_reports else None
    daily, scores = rolling_part(events, labels, truth_events, folds, reports, names)
    return {
        "world": {"accounts": accounts, "days": days, "seed": seed, "events": len(events),
                  "fraud_events": int(truth_events["is_fraud"].sum()),
                  "card_reports": 0 if reports is None else int(reports["label"].sum())},
        "daily": daily,
        "terminals": (terminal_part(events, labels, truth_entities, scores["EventModel"], seed,
                                    world if entity_gnn else None, reports)
                      if "EventModel" in scores else []),
        "delays": delay_part(events, labels, truth_events, truth_entities),
    }


def ceiling_part(events: pd.DataFrame, labels: pd.DataFrame, truth_events: pd.DataFrame,
                 truth_entities: pd.DataFrame, seed: int, folds: int,
                 reports: pd.DataFrame | None = None) -> dict[str, list[dict[str, Any]]]:
    """The information ceiling per evidence set of :data:`CEILING_LEVELS`, no model trained.

    Terminals: the held-back half of :func:`terminal_part` (same split), evidence as of the
    window end (as the entity model's). Purchases: the test days of :func:`rolling_part`'s
    folds, each purchase's terminal evidence as of the purchase; the card-fraud purchases
    (:data:`CARD_FRAUD`) count as evident, ranked perfectly, so the bound is generous to them.
    The causal rows read the truth (which traces the compromise itself left); the others only
    what a model sees, chance links included.
    Transaction AUROC uses the event labels (as the rolling metrics), the top-1 % share the
    truth's terminal fraud; both are means over the test days.
    """
    end = events["ts"].max()
    index = CompromiseIndex(events, labels, holder="payment_id", points=["terminal_id"],
                            until=end, reports=holder_labels(reports, "payment_id"))
    terminals = terminal_features(events, labels, end).index
    y, labelled = terminal_split(truth_entities, terminals, seed)
    held = ~labelled
    kind = events["event_id"].map(truth_events.set_index("event_id")["fraud_kind"])
    cards = truth_entities[truth_entities["kind"] == "skimmed_card"]
    truth = (kind, cards.set_index("entity_id")["source_terminal"])
    by_terminal = terminal_evidence(events, labels, index, end, reports, truth).reindex(
        terminals)
    label = events["event_id"].map(labels.set_index("event_id")["label"]).to_numpy()
    by_purchase = purchase_evidence(events, labels, index, reports, truth)
    fold_list = rolling_folds(events["ts"].min(), end, **ROLLING, max_folds=folds)
    ts = events["ts"]
    test = np.zeros(len(events), dtype=bool)
    for fold in fold_list:
        test |= ((ts >= fold.test_start) & (ts < fold.test_end)).to_numpy()
    day = ts.dt.floor("D").to_numpy()[test]
    card_fraud = kind.isin(CARD_FRAUD).to_numpy()[test]
    target = kind.eq(TERMINAL_FRAUD).to_numpy()[test]
    out: dict[str, list[dict[str, Any]]] = {"terminals": [], "purchases": []}
    for name, kinds in CEILING_LEVELS.items():
        evident = evident_under(by_terminal, kinds)[held]
        truth = y.to_numpy()[held]
        out["terminals"].append({
            "evidence": name, "held_back": int(held.sum()),
            "compromised_with": int((evident & (truth == 1)).sum()),
            "compromised_without": int((~evident & (truth == 1)).sum()),
            "honest_without": int((~evident & (truth == 0)).sum()),
            "auroc_ceiling": ceiling_auroc(truth, evident)})
        evident = card_fraud | evident_under(by_purchase, kinds)[test]
        daily = [ceiling_auroc(label[test][day == d], evident[day == d])
                 for d in np.unique(day)]
        out["purchases"].append({
            "evidence": name, "test_days": len(daily),
            "terminal_fraud_without": int((target & ~evident).sum()),
            "terminal_fraud": int(target.sum()),
            "auroc_ceiling": float(np.nanmean(daily)),
            "terminal_fraud_top1_ceiling": float(ceiling_top_share(
                day, target, evident, TOP_SHARE).mean())})
    return out


def run_ceiling(accounts: int, days: int, seed: int, folds: int, workdir: Path,
                card_reports: bool = True) -> dict[str, Any]:
    """Generate the world (reused when its settings match) and compute :func:`ceiling_part`."""
    world = card_world_dir(accounts, days, seed, workdir)
    events, labels, truth_events, truth_entities = load_world(world)
    reports = load_card_reports(world) if card_reports else None
    started = time.process_time()
    result = ceiling_part(events, labels, truth_events, truth_entities, seed, folds, reports)
    return {"world": {"accounts": accounts, "days": days, "seed": seed, "events": len(events)},
            **result, "cpu_s": time.process_time() - started}


def print_ceiling(result: dict[str, Any]) -> None:
    """Markdown tables of :func:`run_ceiling`'s result."""
    print(f"world: {result['world']} ({result['cpu_s']:.1f} CPU s)\n")
    held = result["terminals"][0]["held_back"]
    print(f"| evidence (terminals, {held} held back) | compromised with | without | "
          "honest without | AUROC ceiling |\n|---|---:|---:|---:|---:|")
    for row in result["terminals"]:
        print(f"| {row['evidence']} | {row['compromised_with']} | "
              f"{row['compromised_without']} | {row['honest_without']} | "
              f"{row['auroc_ceiling']:.3f} |")
    days = result["purchases"][0]["test_days"]
    print(f"\n| evidence (purchases, {days} test days) | terminal fraud without | "
          "transaction AUROC ceiling | terminal fraud in top 1 % ceiling |\n|---|---:|---:|---:|")
    for row in result["purchases"]:
        print(f"| {row['evidence']} | {row['terminal_fraud_without']} of "
              f"{row['terminal_fraud']} | {row['auroc_ceiling']:.3f} | "
              f"{row['terminal_fraud_top1_ceiling']:.3f} |")


def print_report(result: dict[str, Any]) -> None:
    """Markdown tables of :func:`run`'s result."""
    daily = result["daily"]
    print(f"world: {result['world']}\n")
    print("| model | AUROC | AUPRC | card P@100 | terminal fraud in top 1 % | days | "
          "features CPU s | folds CPU s |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, group in daily.groupby("model", sort=False):
        print(f"| {name} | {group['auroc'].mean():.3f} | {group['auprc'].mean():.3f} | "
              f"{group['card_precision_at_k'].mean():.3f} | "
              f"{group['terminal_fraud_top1'].mean():.3f} | {len(group)} | "
              f"{group['features_cpu_s'].iloc[0]:.1f} | {group['folds_cpu_s'].iloc[0]:.1f} |")
    print("\nper fold (AUROC / AUPRC / card P@100):\n")
    per_fold = daily.groupby(["model", "fold"], sort=False)[
        ["auroc", "auprc", "card_precision_at_k"]].mean()
    print(per_fold.round(3).to_string())
    if result["terminals"]:
        print("\n| terminals (other half) | AUROC | CPU s | note |\n|---|---:|---:|---|")
        for row in result["terminals"]:
            print(f"| {row['method']} | {row['auroc']:.3f} | {row['cpu_s']:.1f} | "
                  f"{row.get('note', '')} |")
        print(f"\nheld back: {result['terminals'][0]['held_back']} terminals, "
              f"{result['terminals'][0]['held_back_compromised']} compromised")
    print(f"\nlabel delays: {json.dumps(result['delays'], indent=1)}")


def main(argv: list[str] | None = None) -> None:
    """Command line: see the module's docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--days", type=int, default=56)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="1,000 customers, 49 days, 2 folds")
    parser.add_argument("--entity-gnn", action="store_true",
                        help="also train the supervised entity GNN (ingest + snapshot)")
    parser.add_argument("--without-card-reports", action="store_true",
                        help="the event labels alone anchor the common point of compromise")
    parser.add_argument("--ceiling", action="store_true",
                        help="only the information ceiling per evidence set (no training)")
    parser.add_argument("--models", nargs="+", metavar="NAME",
                        help="only the rolling models whose table name starts with one of "
                             "these (e.g. XGBHistory); the terminal part needs EventModel")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/abusenet-bench-cards"))
    parser.add_argument("--json", type=Path, help="write the per-day rows and tables here")
    args = parser.parse_args(argv)
    if args.quick:
        args.accounts, args.days, args.folds = 1000, 49, 2
    if args.ceiling:
        ceiling = run_ceiling(args.accounts, args.days, args.seed, args.folds, args.workdir,
                              card_reports=not args.without_card_reports)
        print_ceiling(ceiling)
        if args.json:
            write_text_atomic(args.json, json.dumps(ceiling, indent=1, default=str))
        return
    result = run(args.accounts, args.days, args.seed, args.folds, args.workdir, args.entity_gnn,
                 card_reports=not args.without_card_reports, names=args.models)
    print_report(result)
    if args.json:
        payload = {**result, "daily": result["daily"].to_dict("records")}
        write_text_atomic(args.json, json.dumps(payload, indent=1, default=str))


if __name__ == "__main__":
    main()
