"""report.html from hand-made results: sections, ring drawings, evidence, escaping, no labels."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from abusenet.pipeline.stages.report import report_stage
from abusenet.report import ReportData, build_report, report_title, ring_subgraph
from abusenet.report.drawing import EXTRA_STYLES, entity_styles, legend_svg, ring_svg, risk_colour
from abusenet.report.html import score_parts
from graph.snapshot import relation_specs, write_snapshot
from tests.graph.store.helpers import investigation_snapshot

RELATIONS = relation_specs()


def tiny_edges() -> dict[str, pd.DataFrame]:
    """Ring r1 = a1..a4 sharing device d1 and card c1, a1 -> a2 money; a5 alone on d2 with a1."""
    used_device = pd.DataFrame({"src": ["a1", "a2", "a3", "a4", "a5", "a1"],
                                "dst": ["d1", "d1", "d1", "d1", "d2", "d2"],
                                "count": [3, 2, 4, 1, 1, 1]})
    paid_with = pd.DataFrame({"src": ["a1", "a2", "a9"], "dst": ["c1", "c1", "c1"],
                              "count": [1, 1, 1]})
    transacted = pd.DataFrame({"src": ["a1", "a1"], "dst": ["a2", "a9"], "count": [2, 1]})
    return {"USED_DEVICE": used_device, "PAID_WITH": paid_with, "TRANSACTED_WITH": transacted}


def make_report_data(with_labels: bool = True) -> ReportData:
    """A small but complete ReportData: two rings, scores, entity scores, optional labels."""
    rng = np.random.default_rng(0)
    ids = [f"a{i}" for i in range(1, 10)] + [f"b{i}" for i in range(200)]
    accounts = pd.DataFrame({"account_id": ids,
                             "score": np.r_[[0.95, 0.9, 0.85, 0.8, 0.2, 0.1, 0.1, 0.1, 0.3],
                                            rng.uniform(0, 0.4, 200)],
                             "ring_id": ["r1"] * 4 + [None] * 205})
    rings = pd.DataFrame({
        "ring_id": ["r1", "r<2>"], "score": [0.91, 0.4], "size": [4, 3],
        "members": [["a1", "a2", "a3", "a4"], ["a5", "a6", "a7"]],
        "evidence": [["Device:d1", "PaymentMethod:c1"], ["Device:d2"]],
        "kind": ["dense_block", "lockstep"], "density": [1.0, 0.5], "sharing": [1.0, 0.3],
        "exclusivity": [0.9, 0.2], "synchrony": [0.8, 0.1], "internal_flow": [0.2, 0.0],
    })
    entities = pd.DataFrame({"node_type": ["Device", "Device", "PaymentMethod"],
                             "entity_id": ["d1", "d2", "c1"], "score": [0.88, 0.3, 0.6]})
    edges = tiny_edges()
    evaluation = None
    metrics = None
    if with_labels:
        evaluation = pd.DataFrame({"account_id": ids[:40],
                                   "label": [1, 1, 0, 1, 0, 0, 0, 0, 0] + [0] * 31})
        evaluation = evaluation.merge(accounts[["account_id", "score"]], on="account_id")
        metrics = {"evaluated_on": "held-back labels", "labels": 40, "positives": 3,
                   "accounts": {"auroc": 0.97, "auprc": 0.9, "recall_at_k": 0.67},
                   "precision_at_0_5": 0.75, "recall_at_0_5": 1.0,
                   "rings": {"count": 2, "positives_in_a_ring": 1.0,
                             "precision_of_ring_members": 0.75}}
    return ReportData(
        title="abusenet report: test <run>",
        run={"inputs": ["logs/<x>.csv"], "mapping": "m.yaml"},
        ingest={"rows_in": 1000, "accepted": 990, "quarantined": 7, "duplicates": 3,
                "reasons": {"unparseable ts": 7}},
        graph={"nodes": {"Account": 209, "Device": 2, "PaymentMethod": 1},
               "relationships": {"USED_DEVICE": 6, "PAID_WITH": 3, "TRANSACTED_WITH": 2}},
        stages=[("ingest logs", 1.2, False), ("train the detector", 3.4, True)],
        account_scores=accounts, entity_scores=entities, rings=rings,
        subgraphs={r: ring_subgraph(edges, RELATIONS, m)
                   for r, m in zip(rings["ring_id"], rings["members"], strict=True)},
        evaluation=evaluation, metrics=metrics,
        neo4j={"uri": "bolt://127.0.0.1:7687", "browser_url": "http://127.0.0.1:7474/browser/"},
    )


def test_ring_subgraph_keeps_shared_entities_and_inner_transfers_only():
    graph = ring_subgraph(tiny_edges(), RELATIONS, ["a1", "a2", "a3", "a4"])
    assert list(graph.evidence["entity"]) == ["Device:d1", "PaymentMethod:c1"]
    assert list(graph.evidence["members"]) == [4, 2]
    assert list(graph.evidence["users"]) == [4, 3]
    assert "Device:d2" not in set(graph.nodes["id"]), "d2 is used by one member only"
    money = graph.edges[graph.edges["relation"] == "TRANSACTED_WITH"]
    assert list(zip(money["src"], money["dst"], strict=True)) == [("a1", "a2")]
    assert graph.nodes["member"].sum() == 4


def test_ring_svg_draws_every_node_with_its_risk():
    graph = ring_subgraph(tiny_edges(), RELATIONS, ["a1", "a2", "a3", "a4"])
    svg = ring_svg(graph, {"a1": 0.95, "Device:d1": 0.9})
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('class="account"') == 4 and svg.count('class="entity"') == 2
    assert "risk 0.950" in svg and risk_colour(0.95) in svg
    assert svg.count("<line") == len(graph.edges)


@pytest.mark.parametrize("score", [0.0, 0.5, 1.0])
def test_risk_colour_darkens_with_risk(score):
    red, green = int(risk_colour(score)[1:3], 16), int(risk_colour(score)[3:5], 16)
    assert red == 255 and green == int(255 - 200 * score)


def test_report_is_one_self_contained_file_with_every_section(tmp_path):
    path = build_report(make_report_data(), tmp_path / "report.html")
    html = path.read_text()
    for section in ("summary", "quality", "scores", "rings", "entities", "quarantine"):
        assert f'<section id="{section}">' in html
    assert not re.search(r'src="(?!data:)', html), "the report must not fetch anything"
    assert not re.search(r"<link[^>]+href=\"(?!data:)|url\(|@import", html)
    assert html.count('class="ring top"') == 1
    assert 'data-ring-id="r1"' in html and "ring-drawing" in html
    assert html.count("data:image/svg+xml;base64,") == 4, "PR, ROC and two histograms"
    assert "Device:d1" in html and "http://127.0.0.1:7474/browser/" in html
    assert "MATCH (r:Ring)" in html
    assert "unparseable ts" in html


def test_values_from_the_data_are_escaped(tmp_path):
    html = build_report(make_report_data(), tmp_path / "report.html").read_text()
    assert "r<2>" not in html and "r&lt;2&gt;" in html
    assert "test <run>" not in html and "logs/<x>.csv" not in html


def test_markup_in_ring_and_entity_ids_is_escaped(tmp_path):
    data = make_report_data()
    attack = "<script>alert(1)</script>"
    data.rings.loc[0, "ring_id"] = f"r{attack}"
    data.subgraphs = {f"r{attack}": data.subgraphs["r1"]}
    data.entity_scores.loc[0, "entity_id"] = f'd"{attack}'
    data.explanations = pd.DataFrame({"ring_id": [f"r{attack}"], "account_id": [attack],
                                      "kind": ["neighbour"], "item": [attack],
                                      "relation": ["USED_DEVICE"], "attribution": [0.5]})
    html = build_report(data, tmp_path / "report.html").read_text()
    assert html.count("<script>") == 1, "only the report's own script"
    assert "alert(1)" in html and html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5
    assert 'data-ring-id="r&lt;script&gt;' in html and 'd&#34;&lt;script&gt;' in html


def test_without_labels_there_are_no_curves_and_no_quality_section(tmp_path):
    data = make_report_data(with_labels=False)
    data.neo4j = None
    html = build_report(data, tmp_path / "report.html").read_text()
    assert '<section id="quality">' not in html
    assert html.count("data:image/svg+xml;base64,") == 2
    assert "Neo4j Browser" not in html


def test_no_rings_says_so(tmp_path):
    data = make_report_data()
    data.rings = data.rings.iloc[0:0]
    data.subgraphs = {}
    html = build_report(data, tmp_path / "report.html").read_text()
    assert "No ring candidates were found" in html


def test_the_title_names_the_input_and_the_graph_not_the_output_folder():
    assert report_title(["logs/purchases.csv"], graph="purchases") == (
        "abusenet report: purchases.csv · graph purchases")
    assert report_title(["/data/a.csv", "/data/b/", "c/*.csv", "d.csv"], run="out") == (
        "abusenet report: a.csv, b and 2 more · run out")
    assert report_title([]) == "abusenet report: no input"


def test_the_report_stage_titles_the_page_from_the_run_facts(tmp_path):
    snapshot = investigation_snapshot()
    write_snapshot(snapshot, tmp_path / "snapshot")
    ids = list(snapshot.nodes["Account"]["id"])
    pd.DataFrame({"account_id": ids, "score": [0.5] * len(ids),
                  "ring_id": [None] * len(ids)}).to_parquet(tmp_path / "accounts.parquet")
    pd.DataFrame({"node_type": ["Device"], "entity_id": ["d1"], "score": [0.4]}).to_parquet(
        tmp_path / "entities.parquet")
    pd.DataFrame({"ring_id": ["r1"], "score": [0.6], "size": [2], "members": [["a1", "a2"]],
                  "evidence": [["Device:d1"]], "kind": ["dense_block"]}).to_parquet(
        tmp_path / "rings.parquet")
    facts = {"inputs": ["logs/purchases.csv"], "graph": "purchases",
             "output directory": str(tmp_path / "out")}
    report_stage(tmp_path, run_facts=facts, ingest={}, graph={}, stages=[],
                 snapshot_dir=tmp_path / "snapshot",
                 account_scores_path=tmp_path / "accounts.parquet",
                 entity_scores_path=tmp_path / "entities.parquet",
                 rings_path=tmp_path / "rings.parquet")
    html = (tmp_path / "report.html").read_text()
    assert "<title>abusenet report: purchases.csv · graph purchases</title>" in html
    del facts["graph"]
    report_stage(tmp_path, run_facts=facts, ingest={}, graph={}, stages=[],
                 snapshot_dir=tmp_path / "snapshot",
                 account_scores_path=tmp_path / "accounts.parquet",
                 entity_scores_path=tmp_path / "entities.parquet",
                 rings_path=tmp_path / "rings.parquet")
    assert "<h1>abusenet report: purchases.csv · run out</h1>" in (
        tmp_path / "report.html").read_text()


def test_a_ring_scoring_below_every_member_shows_its_parts(tmp_path):
    data = make_report_data()
    # a1..a4 score 0.95, 0.9, 0.85, 0.8; a weak structure pulls the ring below all of them.
    data.rings["member_score"] = [0.89, 0.2]
    data.rings["structure_score"] = [0.1, 0.6]
    data.rings["score"] = 0.7 * data.rings["member_score"] + 0.3 * data.rings["structure_score"]
    html = build_report(data, tmp_path / "report.html").read_text()
    assert "Lower than every member&#39;s own score (lowest 0.800) because its structure score" \
        in html
    assert ("Score 0.653 = 0.70 × members&#39; pooled score 0.890 (mean 0.875, highest 0.950) "
            "+ 0.30 × structure score 0.100.") in html
    # The second ring (0.32) is not below its members' 0.2 / 0.1 / 0.1: its parts, no excuse.
    assert html.count("Lower than every") == 1 and "Score 0.320 = 0.70 ×" in html


def test_score_parts_counts_unscored_members_as_zero():
    ring = pd.DataFrame({"score": [0.29], "member_score": [0.3], "structure_score": [0.25]})
    row = next(ring.itertuples(index=False))
    text = score_parts(row, pd.Series([0.9, np.nan], index=["a", "b"]))
    assert text is not None and "1 without a score, counted as 0" in text
    assert "Lower than every scored member's score (lowest 0.900)" in text
    structure_only = pd.DataFrame({"score": [0.4], "member_score": [np.nan],
                                   "structure_score": [0.4]})
    text = score_parts(next(structure_only.itertuples(index=False)), pd.Series([0.4]))
    assert text is not None and "from the ring's structure alone" in text
    assert score_parts(next(pd.DataFrame({"score": [0.4]}).itertuples(index=False)),
                       pd.Series([0.4])) is None


def test_the_legend_shows_every_entity_type_drawn_custom_ones_too(tmp_path):
    data = make_report_data()
    relations = relation_specs({"USED_EMAIL": ("Account", "Email"),
                                "LIVES_AT": ("Account", "Address")})
    edges = {**tiny_edges(),
             "USED_EMAIL": pd.DataFrame({"src": ["a5", "a6"], "dst": ["e1", "e1"],
                                         "count": [1, 1]}),
             "LIVES_AT": pd.DataFrame({"src": ["a6", "a7"], "dst": ["s1", "s1"],
                                       "count": [1, 1]})}
    data.subgraphs["r<2>"] = ring_subgraph(edges, relations, ["a5", "a6", "a7"])
    html = build_report(data, tmp_path / "report.html").read_text()
    legend = re.search(r'<svg class="legend".*?</svg>', html, re.S).group(0)
    for name in ("Account (colour = risk)", "Device", "PaymentMethod", "Email", "Address"):
        assert f">{name}</text>" in legend
    assert ">IP</text>" not in legend, "no IP is drawn"
    styles = entity_styles(["Email", "Device", "Address"])
    assert list(styles) == ["Device", "Address", "Email"]
    assert styles["Address"] == EXTRA_STYLES[0] and styles["Email"] == EXTRA_STYLES[1]
    # The drawing uses the legend's colours.
    assert f'fill="{styles["Email"][0]}"' in html and f'fill="{styles["Address"][0]}"' in html
    assert legend_svg({}).count("<text") == 1


@pytest.mark.parametrize(("kind", "said"), [
    ("probability", "calibrated probabilities"),
    ("structure", "structure scores"),
])
def test_the_report_says_what_the_account_scores_are(tmp_path, kind: str, said: str) -> None:
    data = make_report_data(with_labels=kind == "probability")
    data.account_scores = data.account_scores.assign(score_kind=kind)
    text = build_report(data, tmp_path / "r.html").read_text()
    assert said in text
    assert ("not probabilities" in text) is (kind == "structure")


def test_quality_section_shows_account_and_ring_reliability_tables(tmp_path):
    data = make_report_data()
    data.metrics["calibration"] = {
        "count": 40, "brier": 0.05, "ece": 0.0412,
        "bins": [{"lower": 0.0, "upper": 0.1, "count": 36, "mean_score": 0.031,
                  "observed_rate": 0.0278},
                 {"lower": 0.9, "upper": 1.0, "count": 4, "mean_score": 0.925,
                  "observed_rate": 0.5}]}
    data.metrics["rings"]["reliability"] = {
        "definition": "a ring is abusive when <half> of its labelled members are",
        "rings": 2, "known": 1, "unknown": 1, "abusive_share": 1.0, "count": 1,
        "brier": 0.0081, "ece": 0.0911,
        "bins": [{"lower": 0.9, "upper": 1.0, "count": 1, "mean_score": 0.9089,
                  "observed_rate": 1.0, "observed_low": 0.2071, "observed_high": 1.0}]}
    html = build_report(data, tmp_path / "report.html").read_text()
    quality = html[html.index('<section id="quality">'):html.index('<section id="scores">')]
    assert "Account score reliability" in quality and "Ring score reliability" in quality
    assert "ECE 0.041" in quality and "ECE 0.091" in quality
    assert "0.9–1.0" in quality and "0.925" in quality and "0.909" in quality
    assert "1 rings known, 1 unknown" in quality
    assert "0.207–1.000" in quality
    # The account bins were written without intervals: a dash, not a made-up range.
    assert '<td class="num">0.028</td><td>–</td>' in quality
    assert "&lt;half&gt;" in quality


def test_quality_section_without_reliability_blocks_has_no_reliability_tables(tmp_path):
    html = build_report(make_report_data(), tmp_path / "report.html").read_text()
    assert '<section id="quality">' in html and "score reliability" not in html


def test_quality_section_says_which_boost_form_the_few_labels_chose_and_why(tmp_path):
    data = make_report_data()
    data.metrics["training"] = {"boost_choice": {
        "folds": 3, "labels": 44, "positives": 9, "chosen": "residual",
        "auprc": {"network": 0.6123, "residual": 0.8711}}}
    html = build_report(data, tmp_path / "report.html").read_text()
    quality = html[html.index('<section id="quality">'):html.index('<section id="scores">')]
    assert "Trained the boosted residual head" in quality
    assert "3 folds of its 44 labels (9 abusive)" in quality
    assert "residual head 0.871, the network alone 0.612" in quality
    plain = build_report(make_report_data(), tmp_path / "plain.html").read_text()
    assert "pooled AUPRC" not in plain
