from abusenet.registry.card import model_card

METADATA = {"kind": "AccountDetector", "config": {"lr": 0.01, "max_epochs": 3},
            "features": ["events", "amount"], "data_fingerprint": "b01c", "torch_version": "2.5"}


def test_the_card_states_what_the_run_measured():
    card = model_card(METADATA, {"accounts.auroc": 0.91234, "calibration.ece": 0.04},
                      model_version="gnn-abc", graph="shop", abusenet_version="0.1.0",
                      evaluated_on="held-back labels")
    assert card.startswith("# Model card: gnn-abc\n")
    assert "| AUROC (accounts) | 0.9123 |" in card
    assert "| Expected calibration error | 0.0400 |" in card
    assert "AUPRC" not in card, "a figure the run did not measure is not shown"
    assert "## Quality (on held-back labels)" in card
    assert "graph: `shop`; data fingerprint `b01c`" in card
    assert "| `max_epochs` | `3` |" in card and "2 account features" in card


def test_a_card_without_metrics_says_so():
    card = model_card(METADATA, {}, model_version="gnn-abc", graph="g", abusenet_version="0")
    assert "No held-back labels: the run measured no quality figures." in card
