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
