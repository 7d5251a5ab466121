"""The summary printed at the end of a run: what went in, what came out, where it is."""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from abusenet.pipeline.run import RunResult
from abusenet.report import TOP_RING_QUERY


def no_rings_line(candidates: int) -> str:
    """What the summary says when no ring is reported: that candidates were judged and none
    passed, or that none was found (so a user does not read "none found" after N candidates)."""
    if candidates:
        return (f"No rings reported: none of the {candidates:,} ring candidates passed the bars "
                "(significance, and with labels the ring score).")
    return "No ring candidates were found."


def whole_groups_line(judged: int, max_size: int, reported: int) -> str:
    """The summary's line on the ring candidates of more than ``max_size`` accounts (groups
    judged whole, a farm of 200 one group) and the reported rings that big, so that a big
    group judged and not reported is said, not silent."""
    return (f"{judged:,} ring candidate(s) of more than {max_size} accounts judged whole "
            f"(rings.max_group_size); {reported:,} reported ring(s) of more than {max_size} "
            "accounts.")


def text_features_line(text_features: dict[str, list[str]]) -> str:
    """The summary's line naming the text attributes made features and their values, so that a
    column recording the outcome (a chargeback, a ban), which would leak the label into the
    model, is seen."""
    named = "; ".join(f"{name} ({', '.join(values)})" for name, values in text_features.items())
    return (f"Text attributes as features (each value's share of an account's events): {named}. "
            "A text that records the outcome (chargeback, ban, removed) leaks the label: give it "
            "featurize: false.")


#: Below this many abusive (or legitimate) labels a quality figure is mostly chance; the same
#: count as ``validation.min_challenger_positives``' default.
FEW_LABELS = 10


def quality_line(metrics: dict[str, Any]) -> str:
    """The summary's account-quality line: the figures, how many abusive labels they rest on,
    and a warning when that is too few for the figures to mean much."""
    acc = metrics.get("accounts", {})
    labels = int(metrics.get("labels", 0))
    positives = metrics.get("positives")
    counted = "" if positives is None else f" ({int(positives):,} abusive)"
    line = (f"Quality on {labels:,} {metrics.get('evaluated_on')}{counted}: "
            f"AUROC {_fmt(acc.get('auroc'))}, AUPRC {_fmt(acc.get('auprc'))}, "
            f"recall@k {_fmt(acc.get('recall_at_k'))}.")
    if positives is not None and min(int(positives), labels - int(positives)) < FEW_LABELS:
        line += (f" Too few of one class (fewer than {FEW_LABELS}) for these figures to mean "
                 "much: label more accounts.")
    return line


def render_summary(result: RunResult, console: Console, top: int = 5) -> None:
    """Print the run's summary: rows, graph size, quality, top rings, outputs, Neo4j."""
    ing = result.info("ingest")
    graph = result.info("snapshot")
    console.print(f"\n[bold]abusenet run finished in {result.seconds:.1f} s[/bold]")
    console.print(
        f"Rows: {ing.get('rows_in', 0):,} in, {ing.get('accepted', 0):,} accepted, "
        f"{ing.get('quarantined', 0):,} quarantined, {ing.get('duplicates', 0):,} duplicates "
        "removed.", highlight=False,
    )
    nodes = ", ".join(f"{n:,} {t}" for t, n in graph.get("nodes", {}).items())
    rels = sum(graph.get("relationships", {}).values())
    console.print(f"Graph: {nodes}; {rels:,} relationships.", highlight=False)
    if graph.get("text_features"):
        console.print(text_features_line(graph["text_features"]), highlight=False, markup=False)
    if graph.get("counterparty_hint"):
        console.print(f"Hint: {graph['counterparty_hint']}.", highlight=False, markup=False)
    for line in label_lines(result.info("labels")):
        console.print(line, highlight=False)
    if result.info("rings").get("score_kind") == "structure":
        console.print(
            "No labels: account and ring scores are structure scores (how far chance is from "
            "explaining an account's ring), a ranking, not probabilities.", highlight=False,
        )
    metrics = result.info("evaluate")
    if metrics:
        console.print(quality_line(metrics), highlight=False)
    for line in validation_lines(result):
        console.print(line, highlight=False)
    rings_path = result.out_dir / "rings.parquet"
    candidates = result.info("candidates")
    if candidates.get("over_max_size") and rings_path.is_file():
        sizes = pd.read_parquet(rings_path, columns=["size"])["size"]
        max_size = candidates["max_size"]
        console.print(whole_groups_line(candidates["over_max_size"], max_size,
                                        int((sizes > max_size).sum())), highlight=False)
    if rings_path.is_file():
        rings = pd.read_parquet(rings_path, columns=["ring_id", "score", "size", "kind",
                                                     "evidence"]).head(top)
        if len(rings):
            table = Table(title=f"Top {len(rings)} rings", title_justify="left")
            for column in ("ring", "score", "size", "kind", "evidence"):
                table.add_column(column)
            for ring in rings.itertuples(index=False):
                table.add_row(ring.ring_id, f"{ring.score:.3f}", str(ring.size), ring.kind,
                              ", ".join(list(ring.evidence)[:3]))
            console.print(table)
        else:
            console.print(no_rings_line(result.info("candidates").get("candidates", 0)),
                          highlight=False)
    console.print(f"Outputs in {result.out_dir}:", highlight=False)
    for path in result.outputs:
        console.print(f"  {path}", highlight=False)
    if result.neo4j_uri:
        where = result.browser_url or "your Neo4j Browser"
        console.print(
            f"Neo4j: graph, scores and rings written to {result.neo4j_uri}. Open {where} "
            "(user neo4j) and paste:", highlight=False,
        )
        console.print(TOP_RING_QUERY, highlight=False, markup=False)


def validation_lines(result: RunResult) -> list[str]:
    """The summary's lines on validation: the published candidate and the challenger, the
    out-of-time window, calibration, drift, the registered version and the promotion gates."""
    lines = []
    metrics = result.info("evaluate")
    selection = metrics.get("selection") or result.info("challenger")
    if selection:
        over = selection.get("margin_over_gnn")
        lines.append(
            f"Published scores: {selection['winner']} (chosen on {selection['chosen_on']}, "
            f"by {selection['margin']:+.4f} over the next candidate"
            + (f", {over:+.4f} over the GNN" if over is not None else "") + ").")
        if selection.get("warning"):
            lines.append(f"Warning: {selection['warning']}.")
    challenger = metrics.get("challenger")
    if challenger:
        lines.append(f"Challenger {challenger['name']} on the same labels: AUROC "
                     f"{_fmt(challenger.get('auroc'))}, AUPRC {_fmt(challenger.get('auprc'))}.")
    window = metrics.get("out_of_time")
    if window and window.get("labels"):
        lines.append(f"Out-of-time window ({window['labels']:,} labels from "
                     f"{str(window['start'])[:10]}): AUROC {_fmt(window.get('auroc'))}, "
                     f"AUPRC {_fmt(window.get('auprc'))}.")
    elif window:
        lines.append(f"No out-of-time window: {window.get('reason')}.")
    calibration = metrics.get("calibration")
    if calibration:
        lines.append(f"Calibration: ECE {_fmt(calibration.get('ece'))}, Brier "
                     f"{_fmt(calibration.get('brier'))}.")
    drift = result.info("drift")
    if drift.get("reference"):
        lines.append("Drift: " + ("; ".join(drift["alerts"]) if drift["alerts"] else
                                  f"none (worst feature PSI {drift['max_feature_psi']:.3f}, "
                                  f"score PSI {drift['score_psi']:.3f})") + ".")
    elif drift:
        lines.append("Drift: not checked (the model was saved without a training reference).")
    registry = result.extra.get("registry") or {}
    if "version" in registry:
        lines.append(f"Registered as version {registry['version']} of {registry['model_name']!r}.")
    elif registry:
        lines.append(f"Warning: the model was not registered: {registry['warning']}")
    promotion = result.extra.get("promotion")
    if promotion:
        lines += promotion_lines(promotion)
    return lines


def promotion_lines(promotion: dict[str, Any]) -> list[str]:
    """What ``--promote`` decided: promoted, or each failed gate and by how much."""
    if "gates" not in promotion:
        return [f"Not promoted: {promotion.get('warning')}"]
    if promotion["promoted"]:
        return [f"Promoted to production: every gate passed on the {promotion['compared_on']}."]
    lines = [f"Not promoted: gates failed on the {promotion['compared_on']}:"]
    for gate in promotion["gates"]:
        if not gate["passed"]:
            by = "" if gate["margin"] is None else f" (failed by {-gate['margin']:.4f})"
            lines.append(f"  {gate['name']}: {gate['detail']}{by}")
    return lines


def label_lines(info: dict[str, Any]) -> list[str]:
    """The summary's lines on event and entity labels (none for a run with account labels only):
    kept, fraudulent, naming nothing in the graph, skipped, and account labels derived."""
    lines = []
    for level, what in (("event", "event"), ("entity", "entity")):
        facts = info.get(f"{level}_labels")
        if not facts:
            continue
        text = (f"{what.capitalize()} labels: {facts['count']:,} kept ({facts['positives']:,} "
                f"fraudulent), {facts['unmatched']:,} naming no {what} of the graph")
        by_type = facts.get("unmatched_by_type") or {}
        if by_type:
            text += " (" + ", ".join(f"{n:,} {t}" for t, n in by_type.items()) + ")"
        if facts.get("skipped"):
            text += f", {facts['skipped']:,} rows without a label value or id skipped"
        lines.append(text + ".")
    if "derived_from_events" in info:
        lines.append(f"Account labels derived from event labels (labels.from_events="
                     f"{info.get('from_events')}): {info['derived_from_events']:,}; given "
                     "account labels win over derived ones.")
    return lines


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
