import pandas as pd
import pytest

from gnn.entities.labels import (
    EntityLabelRule,
    binary_event_labels,
    check_entity_labels,
    entity_labels_from_events,
)

DAY = pd.Timestamp("2024-03-01", tz="UTC")


def _events(rows: list[tuple[str | None, int, float | None]]) -> pd.DataFrame:
    """(terminal, label, known on day) per labelled event."""
    return pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(len(rows))],
            "account_id": "a",
            "terminal_id": [t for t, _, _ in rows],
            "label": [y for _, y, _ in rows],
            "known_at": [pd.NaT if d is None else DAY + pd.Timedelta(days=d) for _, _, d in rows],
        }
    )


def test_rule_labels_entities_from_their_events():
    rows = (
        [("skimmer", 1, 3), ("skimmer", 0, 1), ("skimmer", 1, 5), ("skimmer", 1, 9)]
        + [("busy", 1, 2)] + [("busy", 0, d) for d in range(9)]       # 1 fraud in 10: no label
        + [("clean", 0, d) for d in (4, 1, 3, 2, 8, 6)]               # 6 genuine: negative
        + [("quiet", 0, 1), ("quiet", 0, 2)]                          # too few to vouch for
        + [(None, 1, 1)]                                              # names no terminal
    )
    rule = EntityLabelRule(min_events=2, min_share=0.5, min_genuine_events=5)
    table = entity_labels_from_events(_events(rows), {"Terminal": "terminal_id"}, rule)
    assert list(table.columns) == ["node_type", "entity_id", "label", "known_at"]
    table = table.set_index("entity_id")
    assert sorted(table.index) == ["clean", "skimmer"]
    assert (table["node_type"] == "Terminal").all()
    assert table.loc["skimmer", "label"] == 1
    assert table.loc["skimmer", "known_at"] == DAY + pd.Timedelta(days=5)  # 2nd fraud known
    assert table.loc["clean", "label"] == 0
    assert table.loc["clean", "known_at"] == DAY + pd.Timedelta(days=6)  # 5th genuine known


def test_known_at_is_when_the_share_was_first_reached():
    # genuine on days 0..2, fraud on days 3..6: 2 frauds of 5 on day 4 (0.4), 3 of 6 on day 5
    rows = [("t", 0, d) for d in range(3)] + [("t", 1, d) for d in range(3, 7)]
    table = entity_labels_from_events(
        _events(rows), {"Terminal": "terminal_id"}, EntityLabelRule(min_events=2, min_share=0.5)
    )
    assert table["label"].tolist() == [1]
    assert table["known_at"].iloc[0] == DAY + pd.Timedelta(days=5)


def test_an_undated_event_label_counts_as_known_last():
    rows = [("t", 1, 2), ("t", 1, None)]
    table = entity_labels_from_events(
        _events(rows), {"Terminal": "terminal_id"}, EntityLabelRule(min_events=2)
    )
    assert table["label"].tolist() == [1]
    assert pd.isna(table["known_at"].iloc[0])


def test_several_entity_types_from_one_event_table():
    events = _events([("t1", 1, 1), ("t1", 1, 2)])
    events["payment_id"] = ["card1", "card2"]
    table = entity_labels_from_events(
        events,
        {"Terminal": "terminal_id", "PaymentMethod": "payment_id"},
        EntityLabelRule(min_events=1, min_share=1.0),
    )
    assert sorted(zip(table["node_type"], table["entity_id"], strict=True)) == [
        ("PaymentMethod", "card1"), ("PaymentMethod", "card2"), ("Terminal", "t1"),
    ]


def test_rule_settings_are_checked():
    with pytest.raises(ValueError, match="min_share"):
        EntityLabelRule(min_share=0.0)
    with pytest.raises(ValueError, match="min_events"):
        EntityLabelRule(min_events=0)


def test_bad_event_labels_and_columns_are_named():
    events = _events([("t", 1, 1), ("t", 7, 1)])
    with pytest.raises(ValueError, match=r"rows \[1\] hold \[7\]"):
        entity_labels_from_events(events, {"Terminal": "terminal_id"})
    with pytest.raises(ValueError, match="merchant"):
        entity_labels_from_events(events, {"Terminal": "merchant"})


def test_check_entity_labels_names_contradictions_and_keeps_the_earliest_duplicate():
    labels = pd.DataFrame(
        {
            "node_type": ["Terminal", "Terminal", "Terminal", "Device"],
            "entity_id": ["t1", "t1", "t2", "t1"],
            "label": [1, 1, 0, 0],
            "known_at": ["2024-01-05", "2024-01-02", None, "2024-01-01"],
        }
    )
    table = check_entity_labels(labels)
    assert len(table) == 3  # t1 twice as a Terminal; a Device t1 is another entity
    t1 = table[(table["node_type"] == "Terminal") & (table["entity_id"] == "t1")].iloc[0]
    assert t1["known_at"] == pd.Timestamp("2024-01-02", tz="UTC")
    labels.loc[1, "label"] = 0
    with pytest.raises(ValueError, match=r"Terminal:t1.*rows \[0, 1\]"):
        check_entity_labels(labels)
    with pytest.raises(ValueError, match="lack column"):
        check_entity_labels(labels.drop(columns="node_type"))


def test_binary_event_labels_names_the_rows_that_are_not_0_or_1():
    assert binary_event_labels(pd.DataFrame({"label": ["1", 0, 1.0]})).tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match=r"rows \[1, 3\] hold \['yes', 2\]"):
        binary_event_labels(pd.DataFrame({"label": [0, "yes", 1, 2]}))
