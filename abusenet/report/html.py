"""Render :class:`~abusenet.report.data.ReportData` as one self-contained HTML page.

The markup lives in Jinja2 templates (``abusenet/resources/templates``) rendered with autoescape,
so every value from the data is HTML-escaped where it is written; this module only turns the
data into plain values (formatted numbers, rows of cells). CSS, JavaScript, charts (SVG data
URIs) and ring drawings (inline SVG, marked safe: :mod:`abusenet.report.drawing` escapes what it
draws) are all embedded: the page opens offline and can be mailed as one file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from abusenet.report import charts
from abusenet.report.data import ReportData
from abusenet.report.drawing import entity_scores_lookup, entity_styles, legend_svg, ring_svg
from graph.store.connection import redact_uri

#: Cypher an investigator can paste into Neo4j Browser to see the top ring.
TOP_RING_QUERY = (
    "MATCH (r:Ring) WITH r ORDER BY r.score DESC LIMIT 1\n"
    "MATCH (a:Account)-[m:MEMBER_OF]->(r)\n"
    "OPTIONAL MATCH (a)-[u:USED_DEVICE|USED_IP|PAID_WITH]->(e)\n"
    "RETURN r, a, m, u, e"
)


def top_ring_query(graph: str | None = None) -> str:
    """:data:`TOP_RING_QUERY` limited to one graph of the store, ready to paste in Neo4j Browser.

    ``graph`` is a checked graph name (:func:`graph.store.graphs.graph_name`: letters, digits,
    ``_ . -``), so it can stand in the text as a literal.
    """
    if graph is None:
        return TOP_RING_QUERY
    return TOP_RING_QUERY.replace(
        "MATCH (r:Ring) WITH r", f"MATCH (r:Ring) WHERE r.graph = '{graph}' WITH r", 1)

#: The structure measures shown under each drawn ring, when the ring table has them.
STRUCTURE = ("density", "sharing", "exclusivity", "synchrony", "internal_flow")


@dataclass(frozen=True)
class Section:
    """One section of the page: its anchor, heading and rendered body."""

    key: str
    title: str
    html: Markup


@cache
def environment() -> Environment:
    """The Jinja2 environment of the report's templates (autoescape on for ``*.html``)."""
    return Environment(
        loader=PackageLoader("abusenet", "resources/templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report(data: ReportData) -> str:
    """The complete HTML document."""
    parts = [
        ("summary", "Run summary", _summary(data)),
        ("quality", "Quality on held-back labels", _quality(data)),
        ("validation", "Validation: challenger, out-of-time, time slices", _validation(data)),
        ("drift", "Drift from the model's training data", _drift(data)),
        ("scores", "Score distributions", _distributions(data)),
        ("rings", "Top rings", _rings(data)),
        ("events", "Event risk", _events(data)),
        ("entities", "Entity risk", _entities(data)),
        ("quarantine", "Quarantined rows", _quarantine(data)),
    ]
    sections = [Section(key, title, _render(f"{key}.html", context))
                for key, title, context in parts if context is not None]
    return _render("report.html", {
        "title": data.title, "sections": sections,
        "stamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "score_meaning": score_meaning(data.account_scores),
    })


def score_meaning(account_scores: pd.DataFrame) -> str:
    """What the account scores are: calibrated probabilities, or (no labels) a ranking."""
    if _structure_scores(account_scores):
        return ("This run had no labels: account scores are structure scores (the significance "
                "of the account's best ring), a ranking in [0, 1], not probabilities; "
                "higher = riskier.")
    return "Scores are calibrated probabilities in [0, 1]; higher = riskier."


def _structure_scores(account_scores: pd.DataFrame) -> bool:
    """Whether the scores are structure scores (a run without labels), not probabilities."""
    kinds = set(account_scores.get("score_kind", pd.Series(dtype=str)).dropna().astype(str))
    return kinds == {"structure"}


def _render(template: str, context: dict[str, Any]) -> Markup:
    return Markup(environment().get_template(template).render(context))


# ---------------------------------------------------------------------------- section contexts
def _summary(data: ReportData) -> dict[str, Any]:
    ing = data.ingest
    nodes = data.graph.get("nodes", {})
    relationships = data.graph.get("relationships", {})
    counts = [
        ("rows in", ing.get("rows_in")), ("accepted", ing.get("accepted")),
        ("quarantined", ing.get("quarantined")), ("duplicates removed", ing.get("duplicates")),
        ("accounts", nodes.get("Account")),
        ("linked entities", sum(n for t, n in nodes.items() if t != "Account")),
        ("relationships", sum(relationships.values())),
        ("rings", len(data.rings)),
    ]
    neo4j = None
    if data.neo4j:
        neo4j = {"uri": redact_uri(data.neo4j["uri"]), "browser_url": data.neo4j.get("browser_url"),
                 "query": data.neo4j.get("query", TOP_RING_QUERY)}
    return {
        "counts": [(name, _number(value)) for name, value in counts],
        "run": [(str(k), _plain(v)) for k, v in data.run.items()],
        "graph": [(f"{t} nodes", _plain(n)) for t, n in nodes.items()]
        + [(f"{r} relationships", _plain(n)) for r, n in relationships.items()],
        "neo4j": neo4j,
        "stages": [(title, f"{seconds:.1f}", "cached" if cached else "ran")
                   for title, seconds, cached in data.stages],
    }


def _quality(data: ReportData) -> dict[str, Any] | None:
    if data.metrics is None:
        return None
    metrics = data.metrics
    accounts = metrics.get("accounts", {})
    rings = metrics.get("rings", {})
    figures = [
        ("AUROC", accounts.get("auroc")), ("AUPRC", accounts.get("auprc")),
        ("recall@k (k = positives)", accounts.get("recall_at_k")),
        ("precision at score >= 0.5", metrics.get("precision_at_0_5")),
        ("recall at score >= 0.5", metrics.get("recall_at_0_5")),
        ("positives inside a ring", rings.get("positives_in_a_ring")),
        ("labelled ring members abusive", rings.get("precision_of_ring_members")),
    ]
    curves = []
    evaluation = data.evaluation
    if evaluation is not None and evaluation["label"].nunique() == 2:
        y = evaluation["label"].to_numpy(np.int64)
        score = evaluation["score"].to_numpy(np.float64)
        curves = [("precision-recall curve", charts.pr_curve(y, score)),
                  ("ROC curve", charts.roc_curve_chart(y, score))]
    training = metrics.get("training") or {}
    validation = training.get("validation") or {}
    return {
        "labels": _number(metrics.get("labels")),
        "evaluated_on": str(metrics.get("evaluated_on", "held-back labels")),
        "positives": _number(metrics.get("positives")),
        "figures": [(name, _fraction(value)) for name, value in figures],
        "curves": curves,
        "validation": [(name, _fraction(value)) for name, value in validation.items()],
        "boost_choice": _boost_choice(training.get("boost_choice")),
        "calibration": _reliability_rows(metrics.get("calibration")),
        "ring_calibration": _reliability_rows(rings.get("reliability")),
        "reliability_charts": [
            (alt, charts.reliability_diagram(block, title))
            for alt, title, block in (
                ("account score reliability diagram", "Account scores",
                 metrics.get("calibration")),
                ("ring score reliability diagram", "Ring scores", rings.get("reliability")))
            if block and block.get("bins")],
    }


def _boost_choice(choice: dict[str, Any] | None) -> dict[str, str] | None:
    """What ``detector.boost: auto`` chose below ``boost_min_labels`` and why (the two pooled
    out-of-fold AUPRCs, :meth:`gnn.detector.AccountDetector._choose_boost`), or ``None``."""
    if not choice:
        return None
    return {"chosen": ("the boosted residual head" if choice["chosen"] == "residual"
                       else "the network alone"),
            "folds": _number(choice["folds"]), "labels": _number(choice["labels"]),
            "positives": _number(choice["positives"]),
            "residual": _fraction(choice["auprc"]["residual"]),
            "network": _fraction(choice["auprc"]["network"])}


def _validation(data: ReportData) -> dict[str, Any] | None:
    """The candidates (GNN, XGB-Graph, blend), which one publishes, the out-of-time window and
    the time slices, from ``metrics.json``."""
    metrics = data.metrics or {}
    selection = metrics.get("selection")
    if not selection:
        return None
    window = metrics.get("out_of_time") or {}
    held = metrics.get("candidates", {})
    rows = [(name, _fraction(selection["validation"].get(name, {}).get("auroc")),
             _fraction(selection["validation"].get(name, {}).get("auprc")),
             _fraction(held.get(name, {}).get("auroc")), _fraction(held.get(name, {}).get("auprc")),
             _fraction(window.get("candidates", {}).get(name, {}).get("auroc")),
             _fraction(window.get("candidates", {}).get(name, {}).get("auprc")))
            for name in selection["validation"]]
    slices = [(str(s["start"])[:10], _number(s["labels"]), _number(s["positives"]),
               _fraction(s["auroc"]), _fraction(s["auprc"]))
              for s in metrics.get("time_slices", [])]
    return {"selection": selection, "rows": rows, "window": window, "slices": slices}


def _drift(data: ReportData) -> dict[str, Any] | None:
    """PSI per input feature, of the scores, unseen accounts and label rate (scoring runs)."""
    drift = data.drift
    if not drift:
        return None
    if not drift.get("reference"):
        return {"reference": False}
    features = sorted(((f"{t}.{c}", v) for t, cols in drift["features"].items()
                       for c, v in cols.items()), key=lambda item: -(item[1] or 0.0))
    label_rate = drift.get("label_rate") or {}
    return {
        "reference": True,
        "alerts": drift["alerts"],
        "figures": [("score PSI", _fraction(drift["score_psi"])),
                    ("worst feature PSI", _fraction(drift["max_feature_psi"])),
                    ("unseen accounts", _fraction(drift.get("unseen_share"))),
                    ("label rate (new)", _fraction(label_rate.get("new"))),
                    ("label rate (training)", _fraction(label_rate.get("reference")))],
        "rows": [(name, "missing" if value is None else f"{value:.3f}")
                 for name, value in features],
    }


def _reliability_rows(block: dict[str, Any] | None) -> dict[str, Any] | None:
    """A reliability block of ``metrics.json`` as table rows and headline figures."""
    if not block or not block.get("bins"):
        return None
    rows = [(f"{b['lower']:.1f}–{b['upper']:.1f}", _number(b["count"]),
             _fraction(b["mean_score"]), _fraction(b["observed_rate"]),
             _interval(b.get("observed_low"), b.get("observed_high")))
            for b in block["bins"]]
    return {
        "rows": rows,
        "figures": [(name, _fraction(block.get(key))) for name, key in (
            ("ECE", "ece"), ("ECE without label noise", "ece_debiased"),
            ("ECE of calibrated scores by chance", "ece_noise"), ("Brier", "brier"))
            if key in ("ece", "brier") or block.get(key) is not None],
        "definition": block.get("definition"),
        "known": _number(block.get("known")),
        "unknown": _number(block.get("unknown")),
        "abusive_share": _fraction(block.get("abusive_share")),
    }


def _distributions(data: ReportData) -> dict[str, Any]:
    structure = _structure_scores(data.account_scores)
    shown = [("account structure score histogram (a ranking, not probabilities)" if structure
              else "account score histogram",
              charts.score_histogram(data.account_scores["score"], data.evaluation))]
    if len(data.entity_scores):
        shown.append(("entity score histograms", charts.entity_histograms(data.entity_scores)))
    return {"charts": shown}


def _rings(data: ReportData) -> dict[str, Any]:
    if data.rings.empty:
        return {"rows": []}
    rows = [
        (i + 1, (i + 1, r.ring_id), f"{r.score:.3f}", int(r.size), str(r.kind),
         ", ".join(list(r.evidence)[:3]))
        for i, r in enumerate(data.rings.head(max(data.top_rings, 50)).itertuples(index=False))
    ]
    scores = data.account_scores.set_index("account_id")["score"]
    drawn = [g.nodes[~g.nodes["member"]] for g in data.subgraphs.values()]
    entities = pd.concat([nodes["id"] for nodes in drawn] or [pd.Series(dtype=object)])
    entity_risk = entity_scores_lookup(data.entity_scores, entities)
    styles = entity_styles(t for nodes in drawn for t in nodes["node_type"])
    labels = {}
    if data.evaluation is not None:
        labels = data.evaluation.set_index("account_id")["label"].to_dict()
    articles = [
        _ring_view(rank, ring, data, scores, entity_risk, labels, styles)
        for rank, ring in enumerate(data.rings.head(data.top_rings).itertuples(index=False),
                                    start=1)
    ]
    return {"rows": rows, "legend": Markup(legend_svg(styles)), "articles": articles}


def _ring_view(rank: int, ring: Any, data: ReportData, scores: pd.Series,
               entity_risk: dict[str, float], labels: dict[str, int],
               styles: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """What ``ring.html`` shows of one ring."""
    members = [str(m) for m in ring.members]
    member_scores = scores.reindex(members)
    graph = data.subgraphs.get(ring.ring_id)
    drawing = ""
    shared_entities = None
    if graph is not None:
        node_scores = {**{m: float(s) for m, s in member_scores.dropna().items()}, **entity_risk}
        drawing = ring_svg(graph, node_scores, styles=styles)
        if len(graph.evidence):
            shared_entities = [
                (e.entity, int(e.members), int(e.users), _fraction(entity_risk.get(e.entity)))
                for e in graph.evidence.itertuples(index=False)
            ]
    explanations = []
    if data.explanations is not None:
        rows = data.explanations[data.explanations["ring_id"] == ring.ring_id]
        explanations = [(str(r.account_id), str(r.kind),
                         f"{r.node_type}:{r.item}" if r.kind == "neighbor" else str(r.item),
                         str(r.relation), f"{float(r.attribution):+.2f}")
                        for r in rows.itertuples(index=False)]
    return {
        "rank": rank, "ring_id": ring.ring_id, "score": f"{ring.score:.3f}",
        "size": int(ring.size), "kind": str(ring.kind),
        "structure": ", ".join(f"{name} {float(getattr(ring, name)):.2f}"
                               for name in STRUCTURE if hasattr(ring, name)),
        "score_parts": score_parts(ring, member_scores),
        "drawing": Markup(drawing),
        "shared_entities": shared_entities,
        "evidence": [(e,) for e in list(ring.evidence)[:20]],
        "members": sorted(((m, _fraction(member_scores.get(m)), _label(labels.get(m)))
                           for m in members), key=lambda row: row[1], reverse=True),
        "explanations": explanations,
    }


def score_parts(ring: Any, member_scores: pd.Series) -> str | None:
    """How a ring's score is made of its members' pooled score and its structure score.

    The ring table of :func:`gnn.rings.score_rings` has ``member_score`` (the members' account
    scores pooled, members without one counting as 0) and ``structure_score``; the ring score
    weighs the two (the weight is read back from the three numbers). A ring scoring below each
    of its members gets a sentence saying what pulled it down. ``None`` when the table lacks
    the parts.

    Parameters
    ----------
    ring
        One row of the ring table (``itertuples``).
    member_scores
        The members' account scores, indexed by account id (NaN where unscored).
    """
    structure = float(getattr(ring, "structure_score", float("nan")))
    pooled = float(getattr(ring, "member_score", float("nan")))
    score = float(ring.score)
    if structure != structure:
        return None
    if pooled != pooled:
        return (f"Score {score:.3f} comes from the ring's structure alone (this run has no "
                "account scores to pool).")
    scored = member_scores.dropna()
    members = (f"members' pooled score {pooled:.3f} (mean {scored.mean():.3f}, highest "
               f"{scored.max():.3f}" if len(scored) else f"members' pooled score {pooled:.3f} (")
    unscored = len(member_scores) - len(scored)
    if unscored:
        members += f"{'; ' if len(scored) else ''}{unscored} without a score, counted as 0"
    members += ")"
    if abs(pooled - structure) < 1e-9:
        text = f"Score {score:.3f}: {members} and structure score {structure:.3f} agree."
    else:
        weight = (score - structure) / (pooled - structure)
        text = (f"Score {score:.3f} = {weight:.2f} × {members} + {1 - weight:.2f} × structure "
                f"score {structure:.3f}.")
    if len(scored) == len(member_scores) and len(scored) and score < scored.min():
        pulled = ["its structure score is lower"] if structure < scored.min() else []
        if pooled < scored.min():
            pulled.append("members without a score count as 0")
        text = (f"Lower than every member's own score (lowest {scored.min():.3f}) because "
                f"{' and '.join(pulled)}. " + text)
    elif len(scored) < len(member_scores) and len(scored) and score < scored.min():
        text = (f"Lower than every scored member's score (lowest {scored.min():.3f}): members "
                "without a score count as 0. " + text)
    return text


def _entities(data: ReportData) -> dict[str, Any] | None:
    if data.entity_scores.empty:
        return None
    scores = data.entity_scores
    if "method" not in scores.columns:
        scores = scores.assign(method="pooled")
    risk = data.entity_risk or {}
    metrics = risk.get("metrics") or {}
    groups = []
    for node_type, part in scores.groupby("node_type", sort=True):
        top = part.nlargest(data.top_entities, "score")
        measured = metrics.get(str(node_type))
        groups.append({
            "node_type": str(node_type), "total": f"{len(part):,}",
            "method": str(part["method"].iloc[0]),
            "metrics": None if not measured else [
                ("AUROC", _fraction(measured.get("auroc"))),
                ("AUPRC", _fraction(measured.get("auprc"))),
                ("labelled entities measured", _number(measured.get("n"))),
                ("of them fraudulent", _number(measured.get("positives")))],
            "what": None if not measured else str(measured.get("what", "")),
            "rows": [(str(r.entity_id), f"{r.score:.3f}", str(r.method))
                     for r in top.itertuples(index=False)]})
    labels = None
    if "labels" in risk:
        labels = (f"{risk['labels']:,} entity labels: {risk.get('given', 0):,} given, "
                  f"{risk.get('derived_from_events', 0):,} derived from labelled events (a "
                  f"given label wins); {risk.get('train', 0):,} for training, "
                  f"{risk.get('holdout', 0):,} held back.")
    return {"groups": groups, "labels": labels, "skipped": risk.get("skipped"),
            "not_trained": sorted((risk.get("not_trained") or {}).items())}


#: Riskiest events listed in the report.
TOP_EVENTS = 20


def _events(data: ReportData) -> dict[str, Any] | None:
    scores = data.event_scores
    if scores is None:
        return None
    risk = data.event_risk or {}
    metrics = risk.get("metrics") or {}
    figures = [("AUROC", _fraction(metrics.get("auroc"))),
               ("AUPRC", _fraction(metrics.get("auprc"))),
               ("events measured", _number(metrics.get("n"))),
               ("of them fraudulent", _number(metrics.get("positives")))] if metrics else []
    top = scores.nlargest(TOP_EVENTS, "score")
    entity_columns = [c for c in scores.columns if c not in ("event_id", "account_id", "score")]
    return {
        "total": f"{len(scores):,}",
        "what": str(metrics.get("what", "")),
        "figures": figures,
        "trained_on": _number(risk.get("train")),
        "headers": ["event", "account", "risk", *entity_columns],
        "rows": [(str(r["event_id"]), str(r["account_id"]), f"{r['score']:.3f}",
                  *(_plain(r[c]) for c in entity_columns)) for _, r in top.iterrows()],
        "risky": f"{int((scores['score'] >= 0.5).sum()):,}",
    }


def _quarantine(data: ReportData) -> dict[str, Any] | None:
    reasons = data.ingest.get("reasons") or {}
    if not reasons:
        return None
    return {"rows": [(reason, f"{n:,}")
                     for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1])]}


# ---------------------------------------------------------------------------------- formatting
def _plain(value: Any) -> str:
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


def _number(value: Any) -> str:
    return "–" if value is None else f"{int(value):,}"


def _interval(low: Any, high: Any) -> str:
    return "–" if low is None or high is None else f"{_fraction(low)}–{_fraction(high)}"


def _fraction(value: Any) -> str:
    if value is None:
        return "–"
    value = float(value)
    return "–" if value != value else f"{value:.3f}"


def _label(value: Any) -> str:
    if value is None or value != value:
        return ""
    return "abusive" if int(value) == 1 else "legitimate"
