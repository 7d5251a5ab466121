"""The Cypher text of the driver load's writes: values only as parameters, in step with them."""

from graph.store.cypher import as_assignments, as_map, node_write, property_values, write_params
from graph.store.tables import node_tables

from .helpers import investigation_snapshot, nodes


def test_property_values_read_the_parameter_lists_in_order() -> None:
    frame = nodes(["a1"], n_events=[3]).assign(content_hash=[7])
    values = property_values(frame, ["first_ts", "n_events"])
    assert [key for key, _ in values] == ["`first_ts`", "`n_events`", "`content_hash`"]
    assert values[0][1] == ("CASE WHEN $p0[i] IS NULL THEN null "
                            "ELSE datetime.fromepoch($p0[i], $p1[i]) END")
    assert values[1][1] == "$p2[i]" and values[2][1] == "$p3[i]"
    params = write_params(frame, ["first_ts", "n_events"], "shop")
    assert sorted(params) == ["graph", "id", "p0", "p1", "p2", "p3"]
    assert params["graph"] == "shop"
    assert params["id"] == ["a1"] and params["p2"] == [3] and params["p3"] == [7]


def test_maps_and_assignments() -> None:
    values = [("`a`", "$p0[i]"), ("`b`", "$p1[i]")]
    assert as_map(values) == "`a`: $p0[i], `b`: $p1[i]"
    assert as_assignments("n", values) == "n.`a` = $p0[i], n.`b` = $p1[i]"


def test_create_sets_every_property_and_merge_sets_each() -> None:
    table = next(t for t in node_tables(investigation_snapshot()) if t.label == "Device")
    create, merge = node_write(table, "CREATE"), node_write(table, "MERGE")
    assert create.startswith(
        "UNWIND range(0, size($id) - 1) AS i CREATE (n:`Device` {graph: $graph, id: $id[i], ")
    assert "MERGE (n:`Device` {graph: $graph, id: $id[i]}) SET n.`first_ts` = " in merge
    assert all(q.endswith("RETURN collect(i) AS rows, collect(elementId(n)) AS element_ids")
               for q in (create, merge))
