import json

import pandas as pd
import pytest

from gnn.events.source import discover_entity_columns, register_events, register_labels
from ingest.engine import connect


def _events() -> pd.DataFrame:
    return pd.DataFrame({
        "event_id": ["e1", "e2"],
        "ts": pd.to_datetime(["2024-01-01 10:00", "2024-01-02 10:00"], utc=True),
        "account_id": ["a", "b"],
        "event_type": ["payment", "payment"],
        "payment_id": ["c1", "c2"],
        "terminal_id": ["t1", "t1"],
        "merchant_name": ["shop", "shop"],
        "amount": [1.0, 2.0],
    })


def test_entity_columns_of_a_table_are_the_canonical_ones_then_string_id_columns():
    con = connect()
    events = _events()
    register_events(con, events)
    assert discover_entity_columns(con, events) == ["payment_id", "terminal_id"]


def test_entity_columns_of_a_directory_come_from_its_ingest_state(tmp_path):
    day = tmp_path / "day=2024-01-01"
    day.mkdir()
    _events().rename(columns={"terminal_id": "shop_key"}).to_parquet(day / "part-0.parquet")
    (tmp_path / "_ingest_state.json").write_text(json.dumps({
        "version": 1, "files": {}, "attributes": {},
        "entities": {"Terminal": {"column": "shop_key", "relation": "AT_TERMINAL"}},
    }))
    con = connect()
    register_events(con, tmp_path)
    assert discover_entity_columns(con, tmp_path) == ["payment_id", "shop_key"]


def test_missing_event_column_is_named():
    con = connect()
    with pytest.raises(ValueError, match=r"missing event column\(s\) \['account_id'\]"):
        register_events(con, _events().drop(columns="account_id"))


def test_contradictory_labels_name_the_event():
    con = connect()
    register_events(con, _events())
    labels = pd.DataFrame({"event_id": ["e1", "e1", "e2"], "label": [1, 0, 0]})
    with pytest.raises(ValueError, match=r"contradictory labels for event_id\(s\) \['e1'\]"):
        register_labels(con, labels, default_delay_days=7)


def test_label_without_known_at_is_known_after_the_default_delay():
    con = connect()
    register_events(con, _events())
    register_labels(con, pd.DataFrame({"event_id": ["e1"], "label": [1]}), default_delay_days=2)
    (known,) = con.execute("SELECT known_at FROM event_labels").fetchone()
    assert pd.Timestamp(known) == pd.Timestamp("2024-01-03 10:00", tz="UTC")
