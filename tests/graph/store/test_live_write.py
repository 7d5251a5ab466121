"""Live changes merged into a loaded graph: statements (units) and a real server."""

from __future__ import annotations

import math

import numpy as np
import pytest

from graph.store.live_write import (
    STATEMENT_ROWS,
    LiveChange,
    live_change_statements,
    write_live_change,
)
from graph.store.names import UnsafeNameError


def _change() -> LiveChange:
    change = LiveChange()
    change.add_node("Account", "a1", {"risk_score": np.float32(0.75), "n_events": np.int64(3)})
    change.add_node("Device", "d'1 OR 1=1", {"degree": 2})
    change.add_rel("Account", "USES_DEVICE", "Device", "a1", "d'1 OR 1=1", {"n": 1})
    return change


def test_changes_coalesce_later_properties_winning() -> None:
    first, second = _change(), LiveChange()
    second.add_node("Account", "a1", {"risk_score": 0.9})
    second.add_node("Account", "a2")
    second.add_rel("Account", "USES_DEVICE", "Device", "a1", "d'1 OR 1=1", {"n": 2})
    first.update(second)
    assert first.nodes["Account"]["a1"] == {"risk_score": 0.9, "n_events": np.int64(3)}
    assert len(first) == 4  # a1, a2, the device, one relationship


def test_statements_carry_values_as_parameters_and_check_names() -> None:
    statements = live_change_statements(_change(), "shop")
    assert [q.split("(")[1].split(" ")[0] for q, _ in statements] == [
        "n:`Account`", "n:`Device`", "a:`Account`"]  # nodes before relationships
    assert all("d'1" not in query for query, _ in statements)  # ids travel as parameters
    node_rows = statements[0][1]["rows"]
    assert node_rows[0]["props"] == {"risk_score": pytest.approx(0.75), "n_events": 3}
    assert type(node_rows[0]["props"]["n_events"]) is int
    bad = LiveChange()
    bad.add_node("Account`) DETACH DELETE (x", "a1")
    with pytest.raises(UnsafeNameError):
        live_change_statements(bad, "shop")


def test_big_changes_are_split_into_statements_of_bounded_size() -> None:
    change = LiveChange()
    for i in range(STATEMENT_ROWS + 1):
        change.add_node("Account", f"a{i}", {"nan": math.nan})
    statements = live_change_statements(change, "g")
    assert [len(p["rows"]) for _, p in statements] == [STATEMENT_ROWS, 1]
    assert statements[0][1]["rows"][0]["props"] == {"nan": None}


def test_a_value_neo4j_cannot_hold_is_refused() -> None:
    change = LiveChange()
    change.add_node("Account", "a", {"x": {"nested": 1}})
    with pytest.raises(TypeError, match="cannot store a dict"):
        live_change_statements(change, "g")


def test_written_twice_the_graph_is_the_same_and_other_graphs_untouched(store) -> None:
    store.write([("CREATE (:Account {graph: 'other', id: 'a1', risk_score: 0.1})", {})])
    change = _change()
    assert write_live_change(store, change, "shop") == 3
    assert write_live_change(store, change, "shop") == 3
    rows = store.read(
        "MATCH (a:Account {graph: 'shop'})-[r:USES_DEVICE]->(d:Device {graph: 'shop'}) "
        "RETURN a.id AS a, a.risk_score AS s, a.n_events AS n, d.id AS d, r.n AS rn, "
        "r.graph AS rg")
    assert rows.records == [("a1", pytest.approx(0.75), 3, "d'1 OR 1=1", 1, "shop")]
    counts = store.read("MATCH (n) RETURN count(n) AS n").single("n")
    assert counts == 3  # shop's account and device, and the other graph's account
    assert store.read("MATCH (a:Account {graph: 'other'}) RETURN a.risk_score AS s"
                      ).single("s") == pytest.approx(0.1)
    later = LiveChange()
    later.add_node("Account", "a1", {"risk_score": None, "n_events": 4})
    write_live_change(store, later, "shop")
    rows = store.read("MATCH (a:Account {graph: 'shop', id: 'a1'}) "
                      "RETURN a.risk_score AS s, a.n_events AS n")
    assert rows.records == [(None, 4)]  # a property set to None is removed
