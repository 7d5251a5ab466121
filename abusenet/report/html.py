"""Render :class:`~abusenet.report.data.ReportData` as one self-contained HTML page.

CSS, JavaScript, charts (SVG data URIs) and ring drawings (inline SVG) are all embedded: the
page opens offline and can be mailed as one file. Every value from the data is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from abusenet.report import charts
from abusenet.report.data import ReportData
from abusenet.report.drawing import entity_scores_lookup, legend_svg, ring_svg

#: Cypher an investigator can paste into Neo4j Browser to see the top ring.
TOP_RING_QUERY = (
    "MATCH (r:Ring) WITH r ORDER BY r.score DESC LIMIT 1\n"
    "MATCH (a:Account)-[m:MEMBER_OF]->(r)\n"
    "OPTIONAL MATCH (a)-[u:USED_DEVICE|USED_IP|PAID_WITH]->(e)\n"
    "RETURN r, a, m, u, e"
)


def render_report(data: ReportData) -> str:
    """The complete HTML document."""
    sections = [
        ("summary", "Run summary", _summary(data)),
        ("quality", "Quality on held-back labels", _quality(data)),
        ("scores", "Score distributions", _distributions(data)),
        ("rings", "Top rings", _rings(data)),
        ("entities", "Entity risk", _entities(data)),
        ("quarantine", "Quarantined rows", _quarantine(data)),
    ]
    sections = [s for s in sections if s[2]]
    nav = "".join(f'<a href="#{key}">{escape(title)}</a>' for key, title, _ in sections)
    body = "".join(f'<section id="{key}"><h2>{escape(title)}</h2>{html}</section>'
                   for key, title, html in sections)
    css = resources.files("abusenet.resources").joinpath("report.css").read_text()
    js = resources.files("abusenet.resources").joinpath("report.js").read_text()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<link rel=\"icon\" href=\"data:,\">"
        f"<title>{escape(data.title)}</title><style>{css}</style></head><body>"
        f"<header><h1>{escape(data.title)}</h1><p>Generated {stamp} by abusenet. Scores are "
        "calibrated probabilities in [0, 1]; higher = riskier.</p></header>"
        f"<nav>{nav}</nav><main>{body}</main><script>{js}</script></body></html>"
    )


# ------------------------------------------------------------------------------------- pieces
def _summary(data: ReportData) -> str:
    ing = data.ingest
    cards = [
        ("rows in", ing.get("rows_in")), ("accepted", ing.get("accepted")),
        ("quarantined", ing.get("quarantined")), ("duplicates removed", ing.get("duplicates")),
        ("accounts", data.graph.get("nodes", {}).get("Account")),
        ("linked entities", sum(n for t, n in data.graph.get("nodes", {}).items()
                                if t != "Account")),
        ("relationships", sum(data.graph.get("relationships", {}).values())),
        ("rings", len(data.rings)),
    ]
    html = '<div class="cards">' + "".join(
        f'<div class="card"><div class="value">{_number(v)}</div>'
        f'<div class="name">{escape(n)}</div></div>' for n, v in cards
    ) + "</div>"
    html += "<h3>Run</h3>" + _key_values(data.run.items())
    graph_rows = [(f"{t} nodes", n) for t, n in data.graph.get("nodes", {}).items()] + [
        (f"{r} relationships", n) for r, n in data.graph.get("relationships", {}).items()
    ]
    html += "<h3>Graph</h3>" + _key_values(graph_rows)
    if data.neo4j:
        browser = data.neo4j.get("browser_url")
        link = (f'<a href="{escape(browser)}">{escape(browser)}</a>' if browser
                else "your Neo4j Browser")
        html += (
            f"<h3>Neo4j</h3><p>Graph, scores and rings were written to "
            f"<code>{escape(data.neo4j['uri'])}</code>. Open {link} (user <code>neo4j</code>) "
            "and paste this query to see the top ring:</p>"
            f'<pre class="query">{escape(data.neo4j.get("query", TOP_RING_QUERY))}</pre>'
        )
    if data.stages:
        rows = [(title, f"{seconds:.1f}", "cached" if cached else "ran")
                for title, seconds, cached in data.stages]
        html += "<h3>Stages</h3>" + _table(["stage", "seconds", "this run"], rows,
                                          numeric={1})
    return html


def _quality(data: ReportData) -> str:
    if data.metrics is None:
        return ""
    metrics = data.metrics
    accounts = metrics.get("accounts", {})
    rings = metrics.get("rings", {})
    cards = [
        ("AUROC", accounts.get("auroc")), ("AUPRC", accounts.get("auprc")),
        ("recall@k (k = positives)", accounts.get("recall_at_k")),
        ("precision at score >= 0.5", metrics.get("precision_at_0_5")),
        ("recall at score >= 0.5", metrics.get("recall_at_0_5")),
        ("positives inside a ring", rings.get("positives_in_a_ring")),
        ("labelled ring members abusive", rings.get("precision_of_ring_members")),
    ]
    html = (f'<p class="muted">On {_number(metrics.get("labels"))} '
            f'{escape(str(metrics.get("evaluated_on", "held-back labels")))} '
            f'({_number(metrics.get("positives"))} abusive), never used for training.</p>')
    html += '<div class="cards">' + "".join(
        f'<div class="card"><div class="value">{_fraction(v)}</div>'
        f'<div class="name">{escape(n)}</div></div>' for n, v in cards
    ) + "</div>"
    evaluation = data.evaluation
    if evaluation is not None and evaluation["label"].nunique() == 2:
        y = evaluation["label"].to_numpy(np.int64)
        score = evaluation["score"].to_numpy(np.float64)
        html += (f'<div class="charts"><img alt="precision-recall curve" '
                 f'src="{charts.pr_curve(y, score)}"><img alt="ROC curve" '
                 f'src="{charts.roc_curve_chart(y, score)}"></div>')
    training = metrics.get("training") or {}
    if training.get("validation"):
        html += ("<p class=\"muted\">Early-stopping validation inside training: "
                 + ", ".join(f"{escape(k)} {_fraction(v)}"
                             for k, v in training["validation"].items()) + "</p>")
    return html


def _distributions(data: ReportData) -> str:
    html = '<div class="charts">'
    html += (f'<img alt="account score histogram" src="'
             f'{charts.score_histogram(data.account_scores["score"], data.evaluation)}">')
    if len(data.entity_scores):
        html += (f'<img alt="entity score histograms" '
                 f'src="{charts.entity_histograms(data.entity_scores)}">')
    return html + "</div>"


def _rings(data: ReportData) -> str:
    if data.rings.empty:
        return "<p>No ring candidates were found.</p>"
    top = data.rings.head(data.top_rings)
    rows = [
        (i + 1, f'<a href="#ring-{i + 1}" class="id">{escape(r.ring_id)}</a>',
         f"{r.score:.3f}", int(r.size), escape(str(r.kind)),
         escape(", ".join(list(r.evidence)[:3])))
        for i, r in enumerate(data.rings.head(max(data.top_rings, 50)).itertuples(index=False))
    ]
    html = ('<input class="filter" data-table="ring-table" placeholder="filter rings...">'
            + _table(["rank", "ring", "score", "size", "kind", "evidence (first 3)"], rows,
                     numeric={0, 2, 3}, table_id="ring-table", raw=True))
    scores = data.account_scores.set_index("account_id")["score"]
    entities = pd.concat([g.nodes.loc[~g.nodes["member"], "id"] for g in data.subgraphs.values()]
                         or [pd.Series(dtype=object)])
    entity_risk = entity_scores_lookup(data.entity_scores, entities)
    html += legend_svg()
    for rank, ring in enumerate(top.itertuples(index=False), start=1):
        html += _ring_article(rank, ring, data, scores, entity_risk)
    return html


def _ring_article(rank: int, ring: Any, data: ReportData, scores: pd.Series,
                  entity_risk: dict[str, float]) -> str:
    members = [str(m) for m in ring.members]
    member_scores = scores.reindex(members)
    graph = data.subgraphs.get(ring.ring_id)
    drawing = ""
    if graph is not None:
        node_scores = {**{m: float(s) for m, s in member_scores.dropna().items()}, **entity_risk}
        drawing = ring_svg(graph, node_scores)
    labels = {}
    if data.evaluation is not None:
        labels = data.evaluation.set_index("account_id")["label"].to_dict()
    member_rows = sorted(
        ((escape(m), _fraction(member_scores.get(m)), _label(labels.get(m))) for m in members),
        key=lambda row: row[1], reverse=True,
    )
    evidence_html = ""
    if graph is not None and len(graph.evidence):
        evidence_rows = [
            (f'<span class="id">{escape(e.entity)}</span>', int(e.members), int(e.users),
             _fraction(entity_risk.get(e.entity)))
            for e in graph.evidence.itertuples(index=False)
        ]
        evidence_html = "<h3>Evidence: shared entities</h3>" + _table(
            ["entity", "ring members using it", "accounts using it", "entity risk"],
            evidence_rows, numeric={1, 2, 3}, raw=True)
    else:
        evidence_html = "<h3>Evidence</h3>" + _table(
            ["evidence"], [(escape(e),) for e in list(ring.evidence)[:20]], raw=True)
    explanation = ""
    exp = None if data.explanations is None else data.explanations[
        data.explanations["ring_id"] == ring.ring_id]
    if exp is not None and len(exp):
        summary = "Why the top members score high" if rank == 1 else "Why members score high"
        explanation = (f"<details{' open' if rank == 1 else ''}><summary>{summary}</summary>"
                       + _table(
            ["account", "kind", "item", "relation", "attribution"],
            [(escape(str(r.account_id)), escape(str(r.kind)), escape(str(r.item)),
              escape(str(r.relation)), f"{float(r.attribution):+.4f}")
             for r in exp.itertuples(index=False)], numeric={4}, raw=True) + "</details>")
    structure = ", ".join(
        f"{name} {float(getattr(ring, name)):.2f}"
        for name in ("density", "sharing", "exclusivity", "synchrony", "internal_flow")
        if hasattr(ring, name)
    )
    return (
        f'<article class="ring{" top" if rank == 1 else ""}" id="ring-{rank}" '
        f'data-ring-id="{escape(ring.ring_id)}"><h3>#{rank} <span class="id">'
        f'{escape(ring.ring_id)}</span><span class="badge">score {ring.score:.3f}</span>'
        f'<span class="badge">{int(ring.size)} accounts</span>'
        f'<span class="badge">{escape(str(ring.kind))}</span></h3>'
        f'<p class="muted">Structure: {escape(structure)}</p><div class="ring-body">'
        f"<div>{drawing}</div><div>{evidence_html}</div><div><h3>Members</h3>"
        + _table(["account", "risk", "label"], member_rows, numeric={1}, raw=True)
        + f"</div></div>{explanation}</article>"
    )


def _entities(data: ReportData) -> str:
    if data.entity_scores.empty:
        return ""
    html = ""
    for node_type, part in data.entity_scores.groupby("node_type", sort=True):
        top = part.nlargest(data.top_entities, "score")
        html += f"<h3>{escape(str(node_type))}: the {len(top)} riskiest of {len(part):,}</h3>"
        html += _table(["entity", "risk"],
                       [(escape(str(r.entity_id)), f"{r.score:.3f}")
                        for r in top.itertuples(index=False)], numeric={1})
    return html


def _quarantine(data: ReportData) -> str:
    reasons = data.ingest.get("reasons") or {}
    if not reasons:
        return ""
    rows = sorted(reasons.items(), key=lambda kv: -kv[1])
    return ("<p>Rows rejected by validation are kept, with their source file and line, in "
            "<code>quarantine.parquet</code>.</p>"
            + _table(["reason", "rows"], [(escape(r), f"{n:,}") for r, n in rows], numeric={1}))


# ------------------------------------------------------------------------------------ helpers
def _table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], *, numeric: Iterable[int] = (),
    table_id: str | None = None, raw: bool = False,
) -> str:
    """A sortable table; cells are escaped unless ``raw`` (then the caller escaped them)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            text = str(value) if raw else escape(str(value))
            cls = ' class="num"' if i in numeric else ""
            cells.append(f"<td{cls}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    ident = f' id="{escape(table_id)}"' if table_id else ""
    return (f'<table class="sortable"{ident}><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def _key_values(items: Iterable[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(_plain(v))}</td></tr>"
                   for k, v in items)
    return f"<table>{rows}</table>"


def _plain(value: Any) -> str:
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


def _number(value: Any) -> str:
    return "–" if value is None else f"{int(value):,}"


def _fraction(value: Any) -> str:
    if value is None:
        return "–"
    value = float(value)
    return "–" if value != value else f"{value:.3f}"


def _label(value: Any) -> str:
    if value is None or value != value:
        return ""
    return "abusive" if int(value) == 1 else "legitimate"
