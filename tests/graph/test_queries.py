import logging
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import neo4j
import pandas as pd
import pytest

from graph.query_pack import (
    MissingNodeError,
    QueryPackError,
    get_query,
    list_queries,
    parse_query,
    query_metadata,
    run_pack_query,
    run_query,
)
from graph.snapshot import Snapshot
from graph.store import Neo4jStore, Rows, load_snapshot
from graph.store.graphs import GraphNameError
from graph.store.writeback import write_scores
from tests.graph.store.helpers import (
    TRICKY_IDS,
    RecordingRunner,
    edges,
    investigation_snapshot,
    nodes,
    relation_specs,
    tricky_snapshot,
)

PACK = ("account_risky_events", "accounts_near_entity", "evidence_path",
        "new_accounts_on_risky_entities", "ring_of_account", "risky_entities", "shared_between",
        "top_rings")
SCORED_AT = datetime(2024, 5, 1, tzinfo=UTC)


def test_the_pack_holds_every_query_with_documented_parameters() -> None:
    queries = {q.name: q for q in list_queries()}
    assert tuple(queries) == PACK
    for query in queries.values():
        assert query.summary and "Neo4j Browser" in query.text
        body = "\n".join(x for x in query.text.splitlines() if not x.lstrip().startswith("//"))
        assert {p.name for p in query.params} == set(re.findall(r"\$(\w+)", body))
    near = {p.name: p for p in queries["accounts_near_entity"].params}
    assert near["k"].default == 2 and near["k"].type == "int" and near["entity_id"].required


def test_bind_converts_command_line_strings_and_fills_defaults() -> None:
    query = get_query("accounts_near_entity")
    bound = query.bind({"entity_type": "Device", "entity_id": "d1", "k": "3"})
    assert bound == {"entity_type": "Device", "entity_id": "d1", "k": 3, "limit": 200,
                     "max_degree": 200, "max_nodes": 5000,
                     "graph": None}  # None: the only graph in the store, found when it runs
    since = get_query("new_accounts_on_risky_entities").bind({"since": "2024-03-01"})
    assert since["since"].startswith("2024-03-01T00:00:00")


@pytest.mark.parametrize(("name", "params", "message"), [
    ("nope", {}, "no query 'nope'.*ring_of_account"),
    ("ring_of_account", {}, r"needs \$account_id"),
    ("ring_of_account", {"account_id": "a", "extra": 1}, r"no parameter\(s\) \['extra'\]"),
    ("top_rings", {"limit": "many"}, r"\$limit must be int"),
    ("new_accounts_on_risky_entities", {"since": "yesterday-ish"}, r"\$since must be datetime"),
])
def test_bad_calls_get_clear_errors(name: str, params: dict, message: str) -> None:
    with pytest.raises(QueryPackError, match=message):
        get_query(name).bind(params)


@pytest.mark.parametrize(("params", "message"), [
    ({"k": "9"}, r"\$k must be between 1 and 4 .*got 9"),
    ({"k": "0"}, r"\$k must be between 1 and 4"),
    ({"limit": "5000"}, r"\$limit must be between 1 and 1000"),
    ({"max_degree": "0"}, r"\$max_degree must be between 1 and 1000"),
    ({"entity_type": "device"}, r"one of Device, IP, PaymentMethod, Account; got 'device' "
                                r"\(did you mean Device\?\)"),
    ({"entity_type": "Phone"}, r"one of Device, .*got 'Phone'$"),
])
def test_values_outside_the_documented_range_are_refused(params: dict, message: str) -> None:
    with pytest.raises(QueryPackError, match=message):
        get_query("accounts_near_entity").bind({"entity_type": "IP", "entity_id": "x", **params})


def test_ids_are_trimmed_like_ingest_trims_them() -> None:
    bound = get_query("accounts_near_entity").bind({"entity_type": " IP ",
                                                    "entity_id": " 1.2.3.4\t"})
    assert (bound["entity_type"], bound["entity_id"]) == ("IP", "1.2.3.4")
    assert get_query("shared_between").bind({"account_a": " a1", "account_b": "a2 "})[
        "account_a"] == "a1"


def test_a_header_range_or_id_of_must_make_sense() -> None:
    header = "// x: x\n//\n// Parameters:\n//   $graph  string  the graph\n"
    ranged = parse_query("x", header + "//   $n  int  = 3  in 1..5  a number\nRETURN $n, $graph")
    assert (ranged.params[1].low, ranged.params[1].high, ranged.params[1].default) == (1, 5, 3)
    with pytest.raises(QueryPackError, match=r"between 1 and 5.*got 9"):
        parse_query("x", header + "//   $n  int  = 9  in 1..5  a number\nRETURN $n, $graph")
    with pytest.raises(QueryPackError, match="must name a parameter declared with 'one of'"):
        parse_query("x", header + "//   $t  string  a type\n//   $i  string  id of $t  an id\n"
                    "RETURN $t, $i, $graph")


def test_a_file_without_its_header_is_refused() -> None:
    with pytest.raises(QueryPackError, match="must start with"):
        parse_query("x", "MATCH (n) RETURN n")


class OneGraph(RecordingRunner):
    """A recording runner whose store holds one graph, ``shop``."""

    def read(self, query, params=None, **kwargs):
        if "MATCH (l:LoadRun) RETURN DISTINCT l.graph AS graph" in query:
            return Rows(["graph"], [("shop",)])
        if query.endswith("RETURN count(n) AS n"):  # every account asked for is there
            return Rows(["n"], [(1,)])
        return super().read(query, params, **kwargs)


def test_every_query_takes_the_graph_and_needs_a_header() -> None:
    for query in list_queries():
        graph = next(p for p in query.params if p.name == "graph")
        assert not graph.required and "$graph" in query.text
    with pytest.raises(QueryPackError, match=r"must declare \$graph"):
        parse_query("x", "// x: no graph\n//\n// Parameters:\n//   $a  int  a\nRETURN $a")


def test_run_query_sends_values_as_parameters_and_tags_the_transaction() -> None:
    runner = OneGraph()
    run_query(runner, "shared_between", {"account_a": TRICKY_IDS[0], "account_b": TRICKY_IDS[2]},
              metadata=query_metadata("shared_between", analyst="kim", case="CASE-7"))
    query, params, metadata = runner.reads[-1]
    assert TRICKY_IDS[0] not in query and params["account_a"] == TRICKY_IDS[0]
    assert params["graph"] == "shop"  # the only graph
    assert metadata == {"app": "abusenet", "query": "shared_between", "analyst": "kim",
                        "case": "CASE-7"}


@pytest.fixture
def investigated(store: Neo4jStore) -> Neo4jStore:
    """The investigation graph, scored: ring r1 = {a1, a2}; c1 risky; a5 known bad."""
    load_snapshot(store, investigation_snapshot(), mode="driver", progress=False)
    write_scores(
        store, pd.DataFrame({"account_id": ["a1", "a2"], "score": [0.9, 0.8]}),
        pd.DataFrame({"node_type": ["PaymentMethod", "Device"], "entity_id": ["c1", "d2"],
                      "score": [0.9, 0.2]}),
        pd.DataFrame({"ring_id": ["r1", "r0"], "score": [0.95, 0.2], "size": [2, 1],
                      "members": [["a1", "a2"], ["a6"]], "evidence": [["PaymentMethod:c1"], []],
                      "kind": ["shared_card", None]}),
        model_version="v1", scored_at=SCORED_AT,
    )
    return store


def _rows(frame: pd.DataFrame, *columns: str) -> list[tuple]:
    return [tuple(r) for r in frame[list(columns)].itertuples(index=False)]


@pytest.mark.neo4j
def test_ring_of_account(investigated: Neo4jStore) -> None:
    frame = run_query(investigated, "ring_of_account", {"account_id": "a2"})
    assert _rows(frame, "ring_id", "score", "kind", "size", "model_version") == [
        ("r1", 0.95, "shared_card", 2, "v1")]
    assert frame.loc[0, "members"] == ["a1", "a2"]
    assert frame.loc[0, "shared_entities"] == ["Device:d1", "PaymentMethod:c1"]
    assert frame.loc[0, "detected_at"] == SCORED_AT
    assert run_query(investigated, "ring_of_account", {"account_id": "a3"}).empty
    trimmed = run_query(investigated, "ring_of_account", {"account_id": "  a2 "})
    assert trimmed["ring_id"].tolist() == ["r1"]


@pytest.mark.neo4j
@pytest.mark.parametrize(("name", "params", "message"), [
    ("ring_of_account", {"account_id": "a9"}, r"no Account 'a9' in graph 'default' "
                                              r"\(parameter \$account_id\)"),
    ("shared_between", {"account_a": "a1", "account_b": "zz"}, r"no Account 'zz'.*\$account_b"),
    ("evidence_path", {"account_id": "d1"}, r"no Account 'd1'"),
    ("accounts_near_entity", {"entity_type": "IP", "entity_id": "d1"}, r"no IP 'd1'"),
])
def test_a_missing_account_or_entity_is_an_error_naming_it(
        investigated: Neo4jStore, name: str, params: dict, message: str) -> None:
    with pytest.raises(MissingNodeError, match=message):
        run_query(investigated, name, params)


@pytest.mark.neo4j
@pytest.mark.parametrize(("k", "expected"), [
    (1, [("a1", 1), ("a2", 1)]),
    (2, [("a1", 1), ("a2", 1)]),
    (3, [("a1", 1), ("a2", 1), ("a3", 3), ("a4", 3)]),
    (4, [("a1", 1), ("a2", 1), ("a3", 3), ("a4", 3), ("a5", 4)]),
])
def test_accounts_near_entity(investigated: Neo4jStore, k: int, expected: list) -> None:
    frame = run_query(investigated, "accounts_near_entity",
                      {"entity_type": "Device", "entity_id": "d1", "k": k})
    assert _rows(frame, "account_id", "hops") == expected
    assert frame["risk_score"].tolist()[:2] == [0.9, 0.8]


@pytest.mark.neo4j
def test_accounts_near_entity_needs_the_right_type(investigated: Neo4jStore) -> None:
    ip = run_query(investigated, "accounts_near_entity",
                   {"entity_type": "IP", "entity_id": "ip1", "k": 1})
    assert ip["account_id"].tolist() == ["a2", "a3"]


@pytest.mark.neo4j
def test_top_rings(investigated: Neo4jStore) -> None:
    frame = run_query(investigated, "top_rings", {})
    assert _rows(frame, "ring_id", "score", "size") == [("r1", 0.95, 2), ("r0", 0.2, 1)]
    assert frame.loc[0, "top_members"] == ["a1", "a2"]  # riskiest first
    limited = run_query(investigated, "top_rings", {"limit": 1, "min_score": 0.5})
    assert limited["ring_id"].tolist() == ["r1"]


@pytest.mark.neo4j
def test_shared_between(investigated: Neo4jStore) -> None:
    frame = run_query(investigated, "shared_between", {"account_a": "a1", "account_b": "a2"})
    assert _rows(frame, "kind", "shared_type", "shared_id", "a_link", "b_link") == [
        ("entity", "Device", "d1", "USED_DEVICE", "USED_DEVICE"),
        ("entity", "PaymentMethod", "c1", "PAID_WITH", "PAID_WITH"),
        ("ring", "Ring", "r1", "MEMBER_OF", "MEMBER_OF"),
    ]
    assert frame.loc[0, "a_count"] == 2 and frame.loc[0, "b_count"] == 3
    direct = run_query(investigated, "shared_between", {"account_a": "a5", "account_b": "a4"})
    assert _rows(direct, "kind", "a_link", "b_link") == [("direct", None, "TRANSACTED_WITH")]
    assert run_query(investigated, "shared_between",
                     {"account_a": "a1", "account_b": "a6"}).empty


@pytest.mark.neo4j
def test_new_accounts_on_risky_entities(investigated: Neo4jStore) -> None:
    frame = run_query(investigated, "new_accounts_on_risky_entities", {"since": "2024-03-01"})
    assert _rows(frame, "account_id", "entity_type", "entity_id", "entity_risk") == [
        ("a4", "PaymentMethod", "c1", 0.9)]
    older = run_query(investigated, "new_accounts_on_risky_entities",
                      {"since": datetime(2023, 12, 1, tzinfo=UTC), "min_risk": 0.1})
    assert _rows(older, "account_id", "entity_id") == [
        ("a4", "c1"), ("a2", "c1"), ("a1", "c1"), ("a3", "d2")]


@pytest.mark.neo4j
def test_evidence_path(investigated: Neo4jStore) -> None:
    frame = run_query(investigated, "evidence_path", {"account_id": "a1"})
    assert _rows(frame, "known_bad_id", "hops") == [("a5", 3)]
    assert frame.loc[0, "path_nodes"] == ["Account:a1", "PaymentMethod:c1", "Account:a4",
                                          "Account:a5"]
    assert frame.loc[0, "path_relationships"] == ["PAID_WITH", "PAID_WITH", "TRANSACTED_WITH"]
    assert run_query(investigated, "evidence_path", {"account_id": "a6"}).empty


@pytest.mark.neo4j
def test_tricky_ids_are_found_verbatim_by_the_pack(store: Neo4jStore) -> None:
    load_snapshot(store, tricky_snapshot(), mode="driver", progress=False)
    for tricky in TRICKY_IDS:
        if tricky != tricky.strip():  # ingest never stores it: ids are looked up trimmed
            with pytest.raises(MissingNodeError, match=repr(f"dev:{tricky}".strip())):
                run_query(store, "accounts_near_entity",
                          {"entity_type": "Device", "entity_id": f"dev:{tricky}"})
            continue
        near = run_query(store, "accounts_near_entity",
                         {"entity_type": "Device", "entity_id": f"dev:{tricky}", "k": 1})
        assert near["account_id"].tolist() == [tricky]
    shared = run_query(store, "shared_between",
                       {"account_a": TRICKY_IDS[0], "account_b": TRICKY_IDS[1]})
    assert shared["kind"].tolist() == ["direct"]


@pytest.mark.neo4j
def test_metadata_shows_in_show_transactions(store: Neo4jStore) -> None:
    tags = query_metadata("top_rings", analyst="kim", case="CASE-7")
    seen = store.read("SHOW TRANSACTIONS YIELD metaData RETURN metaData", metadata=tags)
    assert tags in seen.column("metaData")


def test_docs_show_every_query_as_it_runs() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "queries.md").read_text()
    for query in list_queries():
        body = "\n".join(x for x in query.text.splitlines() if not x.startswith("//")).strip()
        assert f"## `{query.name}`" in docs and body in docs


@pytest.mark.neo4j
def test_queries_search_the_graph_they_are_given(investigated: Neo4jStore) -> None:
    other = investigation_snapshot()
    other.nodes["Account"] = other.nodes["Account"].assign(n_events=1)
    load_snapshot(investigated, other, graph="other", mode="driver", progress=False)
    with pytest.raises(GraphNameError, match=r"2 graphs \('default', 'other'\).*-p graph="):
        run_query(investigated, "top_rings", {})
    with pytest.raises(GraphNameError, match="no graph 'nope'.*'default', 'other'"):
        run_query(investigated, "top_rings", {"graph": "nope"})
    assert run_query(investigated, "top_rings", {"graph": "other"}).empty  # no rings there
    ring = run_query(investigated, "ring_of_account", {"account_id": "a2", "graph": "default"})
    assert ring["ring_id"].tolist() == ["r1"] and ring.attrs["graph"] == "default"
    near = run_query(investigated, "accounts_near_entity",
                     {"entity_type": "Device", "entity_id": "d1", "k": 4, "graph": "other"})
    assert near["account_id"].tolist() == ["a1", "a2", "a3", "a4", "a5"]
    assert near["risk_score"].isna().all()  # the scores belong to the other graph


@pytest.mark.neo4j
def test_a_query_on_a_half_loaded_graph_warns(investigated: Neo4jStore,
                                             caplog: pytest.LogCaptureFixture) -> None:
    assert run_query(investigated, "top_rings", {}).attrs["warning"] is None
    investigated.write([("CREATE (:LoadRun {id: 'cut', graph: 'default', status: 'running', "
                         "started: datetime() + duration('PT1S')})", {})])
    with caplog.at_level(logging.WARNING, logger="graph.query_pack"):
        frame = run_query(investigated, "top_rings", {})
    assert "'running', not complete" in frame.attrs["warning"]
    assert frame.attrs["warning"] in caplog.text


@pytest.mark.neo4j
def test_top_rings_never_lists_a_ring_without_members(investigated: Neo4jStore) -> None:
    investigated.write([("MATCH (:Account {id: 'a6'})-[m:MEMBER_OF]->() DELETE m", {})])
    assert run_query(investigated, "top_rings", {})["ring_id"].tolist() == ["r1"]  # not r0


@pytest.mark.neo4j
def test_hubs_are_not_expanded_and_the_result_says_it_was_cut(investigated: Neo4jStore) -> None:
    full = run_query(investigated, "accounts_near_entity",
                     {"entity_type": "Device", "entity_id": "d1", "k": 4})
    assert not full.attrs["truncated"] and not full["truncated"].any()
    assert full["hubs"].map(len).eq(0).all()
    # c1 has 3 relationships, a2 has 3 (d1, ip1, c1): with max_degree 2 neither is walked through.
    capped = run_query(investigated, "accounts_near_entity",
                       {"entity_type": "Device", "entity_id": "d1", "k": 4, "max_degree": 2})
    assert _rows(capped, "account_id", "hops") == [("a1", 1), ("a2", 1)]
    assert capped.attrs["truncated"] and capped["truncated"].all()
    assert capped.loc[0, "hubs"] == ["Account:a2 (3)", "PaymentMethod:c1 (3)"]  # once each
    # The flagged entity itself a hub: walked to max_degree neighbours, its degree shown.
    hub = run_query(investigated, "accounts_near_entity",
                    {"entity_type": "PaymentMethod", "entity_id": "c1", "k": 1, "max_degree": 1})
    assert len(hub) == 1 and hub.loc[0, "hubs"] == ["PaymentMethod:c1 (3)"]
    assert hub.attrs["truncated"]
    limited = run_query(investigated, "accounts_near_entity",
                        {"entity_type": "Device", "entity_id": "d1", "k": 4, "limit": 2})
    assert limited["account_id"].tolist() == ["a1", "a2"] and limited.attrs["truncated"]
    exact = run_query(investigated, "accounts_near_entity",
                      {"entity_type": "Device", "entity_id": "d1", "k": 4, "limit": 5})
    assert len(exact) == 5 and not exact.attrs["truncated"]


@pytest.mark.neo4j
def test_a_write_through_the_query_path_is_refused(investigated: Neo4jStore) -> None:
    evil = parse_query("evil", "// evil: writes\n//\n// Parameters:\n"
                               "//   $graph  string  the graph\n"
                               "CREATE (n:Evil {graph: $graph}) RETURN n.graph AS graph")
    with pytest.raises(neo4j.exceptions.ClientError, match="Writing in read access mode"):
        run_pack_query(investigated, evil, {})
    assert investigated.read("MATCH (n:Evil) RETURN count(n) AS n").records[0][0] == 0


@pytest.mark.neo4j
def test_a_query_past_its_timeout_is_stopped(investigated: Neo4jStore) -> None:
    slow = parse_query("slow", "// slow: counts for long\n//\n// Parameters:\n"
                               "//   $graph  string  the graph\n"
                               "UNWIND range(1, 1000000000) AS i WITH i WHERE i % 7 = $graph "
                               "RETURN count(i) AS n")
    started = time.perf_counter()
    with pytest.raises(neo4j.exceptions.ClientError, match="(?i)timed? ?out|terminated"):
        run_pack_query(investigated, slow, {}, timeout=0.5)
    assert time.perf_counter() - started < 10


def hub_snapshot(accounts: int = 1500) -> Snapshot:
    """One IP shared by every account (the issue's busy IP); account i also uses device d<i//2>."""
    ids = [f"a{i:05d}" for i in range(accounts)]
    devices = sorted({f"d{i // 2:05d}" for i in range(accounts)})
    return Snapshot(
        nodes={"Account": nodes(ids, n_events=[1] * accounts), "IP": nodes(["hub"]),
               "Device": nodes(devices)},
        edges={"USED_IP": edges([(a, "hub") for a in ids]),
               "USED_DEVICE": edges([(a, f"d{i // 2:05d}") for i, a in enumerate(ids)])},
        relations={k: v for k, v in relation_specs().items() if k in ("USED_IP", "USED_DEVICE")},
    )


@pytest.mark.neo4j
def test_a_hub_with_the_worst_allowed_parameters_is_cut_and_says_so(store: Neo4jStore) -> None:
    load_snapshot(store, hub_snapshot(), mode="driver", progress=False)
    query = get_query("accounts_near_entity")
    worst = {p.name: int(p.high) for p in query.params if p.high is not None}
    frame = run_query(store, "accounts_near_entity",
                      {"entity_type": "IP", "entity_id": "hub", **worst})
    assert len(frame) == worst["limit"] and frame.attrs["truncated"]
    assert frame.loc[0, "hubs"] == ["IP:hub (1500)"]
    assert set(frame["hops"]) <= {1, 3}  # accounts on the hub, then through their devices
    # From a device: 2 hops reach the hub without walking through it, nothing is cut; 3 hops
    # would walk through it, so it stays closed and the result says so.
    two = run_query(store, "accounts_near_entity",
                    {"entity_type": "Device", "entity_id": "d00000", "k": 2})
    assert two["account_id"].tolist() == ["a00000", "a00001"] and not two.attrs["truncated"]
    three = run_query(store, "accounts_near_entity",
                      {"entity_type": "Device", "entity_id": "d00000", "k": 3})
    assert three["account_id"].tolist() == ["a00000", "a00001"] and three.attrs["truncated"]
    assert three.loc[0, "hubs"] == ["IP:hub (1500)"]
