import numpy as np
import pandas as pd
import pytest

from gnn.entities.evidence import EVIDENCE_COLUMNS, with_label_evidence
from tests.gnn.planted import make_snapshot

DAY = pd.Timestamp("2024-03-01", tz="UTC")


@pytest.fixture
def snapshot():
    return make_snapshot(
        ["a", "b"],
        {"events": np.ones(2)},
        {"PAID_WITH": (["a", "b"], ["card1", "card2"], [0.0, 0.0])},
    )


def _labelled(rows):
    """(account, card, label, known on day) per labelled event."""
    return pd.DataFrame(
        {
            "account_id": [r[0] for r in rows],
            "payment_id": [r[1] for r in rows],
            "label": [r[2] for r in rows],
            "known_at": [DAY + pd.Timedelta(days=r[3]) for r in rows],
        }
    )


def test_counts_of_known_labels_per_node(snapshot):
    events = _labelled(
        [("a", "card1", 1, 1), ("a", "card1", 0, 2), ("a", None, 1, 3), ("b", "card2", 0, 9)]
    )
    out = with_label_evidence(snapshot, events, {"PaymentMethod": "payment_id"}, as_of=DAY
                              + pd.Timedelta(days=5))
    accounts = out.nodes["Account"].set_index("id")
    assert accounts.loc["a", "fraud_labels"] == 2 and accounts.loc["a", "genuine_labels"] == 1
    assert accounts.loc["a", "fraud_label_share"] == pytest.approx(2 / 3)
    assert accounts.loc["b", list(EVIDENCE_COLUMNS)].tolist() == [0, 0, 0]  # known too late
    cards = out.nodes["PaymentMethod"].set_index("id")
    assert cards.loc["card1", "fraud_label_share"] == pytest.approx(0.5)
    assert set(EVIDENCE_COLUMNS) <= set(out.feature_columns("PaymentMethod"))
    assert "fraud_labels" not in snapshot.nodes["Account"].columns  # the input is untouched
    everything = with_label_evidence(snapshot, events, {"PaymentMethod": "payment_id"})
    assert everything.nodes["Account"].set_index("id").loc["b", "genuine_labels"] == 1


def test_bad_input_is_named(snapshot):
    events = _labelled([("a", "card1", 2, 1)])
    with pytest.raises(ValueError, match=r"rows \[0\] hold \[2\]"):
        with_label_evidence(snapshot, events, {})
    with pytest.raises(ValueError, match="terminal_id"):
        with_label_evidence(snapshot, events, {"Terminal": "terminal_id"})
    events["terminal_id"] = "t1"
    with pytest.raises(ValueError, match=r"\['Terminal'\] are not in the snapshot"):
        with_label_evidence(snapshot, events, {"Terminal": "terminal_id"})


def test_compromise_evidence_on_every_entity_type_but_the_cards():
    from gnn.entities.evidence import with_compromise_evidence
    from gnn.events.compromise import COMPROMISE_COLUMNS

    snapshot = make_snapshot(
        ["a", "b", "c"],
        {"events": np.ones(3)},
        {"PAID_WITH": (["a", "b", "c"], ["k1", "k2", "k3"], [0.0] * 3),
         "USED_DEVICE": (["a", "b", "c"], ["skimmer", "skimmer", "other"], [0.0] * 3)},
    )
    # k1 and k2 share the device on day 1; both are defrauded on day 5, known on day 7.
    events = pd.DataFrame({
        "event_id": ["e1", "e2", "e3", "e4", "e5"],
        "ts": [DAY + pd.Timedelta(days=d) for d in (1, 1.1, 1.2, 5, 5.1)],
        "account_id": ["a", "b", "c", "a", "b"],
        "payment_id": ["k1", "k2", "k3", "k1", "k2"],
        "device_id": ["skimmer", "skimmer", "other", None, None],
    })
    labels = pd.DataFrame({"event_id": ["e4", "e5"], "label": [1, 1],
                           "known_at": [DAY + pd.Timedelta(days=7)] * 2})
    columns = {"PaymentMethod": "payment_id", "Device": "device_id"}
    out = with_compromise_evidence(snapshot, events, labels, columns, DAY + pd.Timedelta(days=8))
    devices = out.nodes["Device"].set_index("id")
    assert devices.loc["skimmer", "cpc_cards"] == 2 and devices.loc["other", "cpc_cards"] == 0
    assert devices.loc["skimmer", "cpc_surprise"] > 0
    assert not set(COMPROMISE_COLUMNS) & set(out.nodes["PaymentMethod"].columns)
    assert "cpc_cards" not in snapshot.nodes["Device"].columns
    before = with_compromise_evidence(snapshot, events, labels, columns,
                                      DAY + pd.Timedelta(days=6))
    assert (before.nodes["Device"]["cpc_cards"] == 0).all()
    with pytest.raises(ValueError, match="names 'Account'"):
        with_compromise_evidence(snapshot, events, labels, {"Account": "account_id"}, DAY)


def test_a_reported_card_anchors_the_compromise_evidence_from_its_report_on():
    from gnn.entities.evidence import with_compromise_evidence

    snapshot = make_snapshot(
        ["a", "b"], {"events": np.ones(2)},
        {"PAID_WITH": (["a", "b"], ["k1", "k2"], [0.0] * 2),
         "USED_DEVICE": (["a", "b"], ["skimmer", "other"], [0.0] * 2)},
    )
    events = pd.DataFrame({
        "event_id": ["e1", "e2"], "ts": [DAY + pd.Timedelta(days=d) for d in (1, 1.1)],
        "account_id": ["a", "b"], "payment_id": ["k1", "k2"], "device_id": ["skimmer", "other"],
    })
    # No event label at all: k1 reported compromised on day 4, and the device itself too.
    reports = pd.DataFrame({"node_type": ["PaymentMethod", "Device"],
                            "entity_id": ["k1", "other"], "label": [1, 1],
                            "known_at": [DAY + pd.Timedelta(days=4)] * 2})
    columns = {"PaymentMethod": "payment_id", "Device": "device_id"}
    out = with_compromise_evidence(snapshot, events, None, columns, DAY + pd.Timedelta(days=5),
                                   entity_labels=reports)
    devices = out.nodes["Device"].set_index("id")
    assert devices.loc["skimmer", "cpc_cards"] == 1 and devices.loc["other", "cpc_cards"] == 0
    early = with_compromise_evidence(snapshot, events, None, columns,
                                     DAY + pd.Timedelta(days=4), entity_labels=reports)
    assert (early.nodes["Device"]["cpc_cards"] == 0).all()
    with pytest.raises(ValueError, match="lack the column 'node_type'"):
        with_compromise_evidence(snapshot, events, None, columns, DAY,
                                 entity_labels=reports.drop(columns="node_type"))
