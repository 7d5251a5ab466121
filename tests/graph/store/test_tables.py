import math

import pandas as pd
import pytest

from graph.store.tables import (
    HASH,
    LABEL,
    MAX_ID_BYTES,
    OversizeIdError,
    node_tables,
    property_rows,
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


def test_property_rows_drop_missing_values_and_keep_python_types() -> None:
    table = rel_tables(investigation_snapshot())[2]  # PAID_WITH
    rows, times = property_rows(table.frame, table.properties)
    assert [r["amount_sum"] for r in rows] == [10.0, 20.5, None]
    assert all(type(r["count"]) is int for r in rows)
    assert all(isinstance(r[HASH], int) and not math.isnan(r[HASH]) for r in rows)
    assert "first_ts" not in rows[0]
    # [epoch seconds, nanoseconds] per timestamp column (first_ts, last_ts).
    first = int(pd.Timestamp("2024-01-02T03:04:05", tz="UTC").timestamp())
    last = int(pd.Timestamp("2024-02-01", tz="UTC").timestamp())
    assert times[0] == [[first, 123_456_000], [last, 0]]


def test_missing_and_pre_1970_timestamps() -> None:
    frame = pd.DataFrame({"t": pd.to_datetime(["1969-12-31T23:59:59.5Z", None], utc=True)})
    frame[HASH] = 0
    _, times = property_rows(frame, ["t"])
    assert times == [[[-1, 500_000_000]], [None]]


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
