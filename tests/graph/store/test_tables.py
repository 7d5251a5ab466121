import math

import pandas as pd
import pyarrow as pa
import pytest

from graph.store.tables import (
    HASH,
    LABEL,
    MAX_ID_BYTES,
    NANOS,
    OversizeIdError,
    node_tables,
    positions,
    property_columns,
    rel_tables,
)

from .helpers import edges, investigation_snapshot, nodes


def test_hash_is_stable_and_changes_only_with_the_row() -> None:
    first = node_tables(investigation_snapshot())[0].frame
    again = node_tables(investigation_snapshot())[0].frame
    assert first[HASH].tolist() == again[HASH].tolist()
    changed = investigation_snapshot()
    changed.nodes["Account"].loc[1, "n_events"] = 40
    after = node_tables(changed)[0].frame
    differs = (after[HASH] != first[HASH]).tolist()
    assert differs == [False, True, False, False, False, False]


def test_labels_are_merged_onto_accounts_only() -> None:
    tables = {t.label: t for t in node_tables(investigation_snapshot())}
    labels = tables["Account"].frame.set_index("id")[LABEL]
    assert labels.fillna(-1).to_dict() == {
        "a1": -1, "a2": -1, "a3": -1, "a4": -1, "a5": 1, "a6": 0}
    assert LABEL not in tables["Device"].frame.columns


def test_property_columns_drop_missing_values_and_keep_python_types() -> None:
    table = rel_tables(investigation_snapshot())[2]  # PAID_WITH
    columns = property_columns(table.frame, table.properties)
    assert list(columns) == ["count", "first_ts", f"first_ts{NANOS}", "last_ts",
                             f"last_ts{NANOS}", "amount_sum", HASH]
    assert columns["amount_sum"] == [10.0, 20.5, None]
    assert all(type(v) is int for v in columns["count"])
    assert all(isinstance(h, int) and not math.isnan(h) for h in columns[HASH])
    # Epoch seconds and nanoseconds per timestamp column.
    first = int(pd.Timestamp("2024-01-02T03:04:05", tz="UTC").timestamp())
    last = int(pd.Timestamp("2024-02-01", tz="UTC").timestamp())
    assert (columns["first_ts"][0], columns[f"first_ts{NANOS}"][0]) == (first, 123_456_000)
    assert (columns["last_ts"][0], columns[f"last_ts{NANOS}"][0]) == (last, 0)


def test_missing_and_pre_1970_timestamps() -> None:
    frame = pd.DataFrame({"t": pd.to_datetime(["1969-12-31T23:59:59.5Z", None], utc=True)})
    frame[HASH] = 0
    columns = property_columns(frame, ["t"])
    assert columns["t"] == [-1, None] and columns[f"t{NANOS}"] == [500_000_000, None]


def test_nullable_integers_become_ints_and_none() -> None:
    frame = pd.DataFrame({"label": pd.array([1, None, 0], dtype="Int64"), HASH: [0, 1, 2]})
    assert property_columns(frame, ["label"])["label"] == [1, None, 0]


def test_ids_too_long_for_the_index_are_refused_with_the_limit() -> None:
    snapshot = investigation_snapshot()
    snapshot.nodes["Device"] = nodes(["d1", "d2", "é" * (MAX_ID_BYTES // 2 + 1)])
    with pytest.raises(OversizeIdError, match=f"more than the {MAX_ID_BYTES} bytes"):
        node_tables(snapshot)


def test_relationships_to_unknown_nodes_are_left_out_with_a_warning() -> None:
    snapshot = investigation_snapshot()
    snapshot.edges["USED_IP"] = edges([("a2", "ip1"), ("a2", "ip-unknown")])
    with pytest.warns(UserWarning, match="USED_IP: 1 relationship"):
        tables = {t.rel_type: t for t in rel_tables(snapshot)}
    assert tables["USED_IP"].frame["dst"].tolist() == ["ip1"]


def test_positions_finds_each_value_or_minus_one() -> None:
    keys = pa.array(["a", "b", "c", "b"])
    found = positions(pd.Series(["c", "x", "b", "a", ""]), keys)
    assert found.tolist() == [2, -1, 1, 0, -1]  # the first of a repeated key
    assert positions(pd.Series(["a"]), pa.array([], pa.string())).tolist() == [-1]
