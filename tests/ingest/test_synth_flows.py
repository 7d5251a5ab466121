"""The generator's money-flow typologies and their honest look-alikes (configs/synth-flows.yaml)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ingest.synth import generate, load_config

FLOWS_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "synth-flows.yaml"
FLOW_KINDS = {"layering_chain", "scatter_gather", "gather_scatter", "bipartite_flow"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    knobs = {**load_config(FLOWS_CONFIG).to_dict(), "chunk_accounts": 2_000}
    result = generate(tmp_path_factory.mktemp("flows") / "logs", n_accounts=4_000, seed=5,
                      progress=False, **knobs)
    events = pd.read_parquet(result.events_dir)
    rings = pd.read_parquet(result.rings_path)
    honest = pd.read_parquet(result.out_dir / "honest_flows.parquet")
    return events, rings, honest


def _inside(events: pd.DataFrame, members) -> pd.DataFrame:
    return events[(events["event_type"] == "transfer") & events["account_id"].isin(members)
                  & events["counterparty_id"].isin(members)]


def test_every_flow_typology_is_planted(world):
    _, rings, honest = world
    assert set(rings["kind"]) >= FLOW_KINDS
    assert set(honest["kind"]) == {"salary", "rent_split", "marketplace"}


def test_a_layering_chain_passes_money_on_within_hours_and_cashes_out(world):
    events, rings, _ = world
    for ring in rings[rings["kind"] == "layering_chain"].itertuples():
        hops = _inside(events, ring.members).set_index("account_id")
        members = list(ring.members)
        sent = hops.loc[members[:-1]]
        assert list(sent["counterparty_id"]) == members[1:]
        ratio = sent["amount"].to_numpy()[1:] / sent["amount"].to_numpy()[:-1]
        assert ((ratio > 0.94) & (ratio < 1.0)).all()
        assert sent["ts"].is_monotonic_increasing
        assert (sent["ts"].max() - sent["ts"].min()) < pd.Timedelta(days=7)
        cash = events[(events["account_id"] == members[-1]) & (events["event_type"] == "payment")
                      & (events["ts"] > sent["ts"].max())]
        assert len(cash) and ring.entities and any(
            e == f"PaymentMethod:{p}" for e in ring.entities for p in cash["payment_id"])


def test_scatter_gather_and_bipartite_shapes(world):
    events, rings, _ = world
    for ring in rings[rings["kind"].isin(["scatter_gather", "bipartite_flow"])].itertuples():
        inside = _inside(events, ring.members)
        senders, receivers = set(inside["account_id"]), set(inside["counterparty_id"])
        if ring.kind == "scatter_gather":
            # the source pays every mule, every mule pays the collector
            assert inside["account_id"].value_counts().iloc[0] == ring.size - 2
            assert inside["counterparty_id"].value_counts().iloc[0] == ring.size - 2
        else:
            # every sender pays every receiver
            assert not senders & receivers
            assert len(senders) + len(receivers) == ring.size
            assert len(inside) == len(senders) * len(receivers)


def test_honest_flows_are_ordinary_accounts_with_their_shapes(world):
    events, rings, honest = world
    ring_members = {m for ms in rings["members"] for m in ms}
    honest_members = [m for ms in honest["members"] for m in ms]
    assert len(honest_members) == len(set(honest_members))
    assert not set(honest_members) & ring_members
    for group in honest.itertuples():
        hub, others = group.members[0], set(group.members[1:])
        transfers = events[events["event_type"] == "transfer"]
        if group.kind == "salary":
            paid = transfers[(transfers["account_id"] == hub)
                             & transfers["counterparty_id"].isin(others)]
            assert set(paid["counterparty_id"]) == others
        elif group.kind == "rent_split":
            paid = transfers[transfers["account_id"].isin(others)
                             & (transfers["counterparty_id"] == hub)]
            assert set(paid["account_id"]) == others
        else:
            sold = transfers[transfers["account_id"].isin(others)
                             & (transfers["counterparty_id"] == hub)]
            payouts = transfers[(transfers["account_id"] == hub)
                                & transfers["counterparty_id"].isin(others)]
            assert len(sold) and len(payouts)
            assert payouts["amount"].sum() < sold["amount"].sum()


def test_the_default_world_plants_no_flow_typology_and_no_honest_flow(tmp_path):
    result = generate(tmp_path / "logs", n_accounts=1_000, seed=5, progress=False)
    assert not FLOW_KINDS & set(pd.read_parquet(result.rings_path)["kind"])
    assert len(pd.read_parquet(result.out_dir / "honest_flows.parquet")) == 0
