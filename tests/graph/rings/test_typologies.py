from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graph.build import build_snapshot
from graph.rings.candidates import find_ring_candidates
from graph.rings.config import RingConfig
from graph.rings.flows import transfer_table
from graph.rings.metrics import rings_recovered
from graph.rings.projection import account_index
from graph.rings.typologies import (
    TypologySettings,
    cash_out_table,
    episode_components,
    flow_typologies,
)
from ingest.run import ingest_logs
from ingest.synth import generate, load_config

from .helpers import T0, snapshot

H = 3600.0


def _table(rows: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    """Edge table from ``(src, dst, amount, hours after T0)``, one event per pair."""
    ts = [T0 + pd.Timedelta(hours=h) for *_, h in rows]
    return pd.DataFrame({
        "src": [r[0] for r in rows], "dst": [r[1] for r in rows], "count": 1,
        "first_ts": ts, "last_ts": ts, "amount_sum": [r[2] for r in rows],
    })


def _world_snapshot():
    """Each typology once, with its own accounts, next to honest look-alikes."""
    transfers, cards = [], []
    # chain / layering: 1000 passed along four mules within a day, about 3 % kept per hop
    transfers += [("c_src", "c_m1", 1000, 0), ("c_m1", "c_m2", 970, 2), ("c_m2", "c_m3", 940, 5),
                  ("c_m3", "c_m4", 915, 9)]
    cards += [("c_m4", "card_c", 900, 12)]
    # fan-out: a hub splits 5000 over five mules, who cash out
    transfers += [("fo_src", "fo_hub", 5000, 0)]
    transfers += [("fo_hub", f"fo_l{i}", 1000, 3 + i) for i in range(5)]
    cards += [(f"fo_l{i}", f"card_fo{i}", 985, 20 + i) for i in range(5)]
    # fan-in: four mules pass what they were sent on to a collector, who cashes the sum out
    transfers += [(f"fi_s{i}", f"fi_l{i}", 910, i) for i in range(4)]
    transfers += [(f"fi_l{i}", "fi_hub", 900, i + 1) for i in range(4)]
    cards += [("fi_hub", "card_fi", 3550, 30)]
    # scatter-gather: one source -> four mules -> one collector -> cash-out
    transfers += [("sg_src", f"sg_m{i}", 500, i) for i in range(4)]
    transfers += [(f"sg_m{i}", "sg_dst", 490, 6 + i) for i in range(4)]
    cards += [("sg_dst", "card_sg", 1940, 15)]
    # gather-scatter: four senders -> one hub -> four receivers, who cash out
    transfers += [(f"gs_in{i}", "gs_hub", 600, i) for i in range(4)]
    transfers += [("gs_hub", f"gs_out{i}", 590, 8 + i) for i in range(4)]
    cards += [(f"gs_out{i}", f"card_gs{i}", 580, 20 + i) for i in range(4)]
    # bipartite: three senders each pay three receivers, who cash out
    transfers += [(f"bp_a{i}", f"bp_b{j}", 300, i + j) for i in range(3) for j in range(3)]
    cards += [(f"bp_b{j}", f"card_bp{j}", 890, 10 + j) for j in range(3)]
    # honest: a salary run (staff spend a little over the following days) ...
    transfers += [("employer", f"staff{i}", 2500, 0) for i in range(8)]
    transfers += [(f"staff{i}", "grocer", 60, 24 + i) for i in range(8)]
    cards += [(f"staff{i}", f"card_staff{i}", 45, 30 + i) for i in range(8)]
    # ... a rent split among flatmates, and marketplace payouts of a week's sales
    transfers += [(f"flat{i}", "landlord", 700, 10 + i) for i in range(3)]
    transfers += [(f"buyer{i}", "market", 50, 12 * i) for i in range(12)]
    transfers += [("market", f"seller{j}", 150, 24 * 6 + j) for j in range(4)]
    return snapshot(TRANSACTED_WITH=_table(transfers), PAID_WITH=_table(cards))


def _world():
    """The typologies :func:`flow_typologies` finds in :func:`_world_snapshot`, by members."""
    snap = _world_snapshot()
    accounts = account_index(snap)
    groups = flow_typologies(transfer_table(snap, accounts), cash_out_table(snap, accounts),
                             accounts)
    return {frozenset(accounts[g.rows]): g for g in groups}


EXPECTED = {
    "flow_chain": {"c_src", "c_m1", "c_m2", "c_m3", "c_m4"},
    "flow_fan_out": {"fo_src", "fo_hub", *(f"fo_l{i}" for i in range(5))},
    "flow_fan_in": {"fi_hub", *(f"fi_l{i}" for i in range(4)), *(f"fi_s{i}" for i in range(4))},
    "flow_scatter_gather": {"sg_src", "sg_dst", *(f"sg_m{i}" for i in range(4))},
    "flow_gather_scatter": {"gs_hub", *(f"gs_in{i}" for i in range(4)),
                            *(f"gs_out{i}" for i in range(4))},
    "flow_bipartite": {*(f"bp_a{i}" for i in range(3)), *(f"bp_b{j}" for j in range(3))},
}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_each_typology_is_found_with_its_kind(kind):
    found = _world()
    members = frozenset(EXPECTED[kind])
    assert members in found, sorted(map(sorted, found))
    assert found[members].kind == kind


def test_honest_salary_rent_and_marketplace_flows_are_not_found():
    honest = ("employer", "staff", "grocer", "flat", "landlord", "buyer", "market", "seller")
    for members in _world():
        assert not any(m.startswith(honest) for m in members), sorted(members)


def test_evidence_names_path_hubs_cash_out_span_and_conservation():
    found = _world()
    chain = found[frozenset(EXPECTED["flow_chain"])].evidence
    assert chain[0] == "Path:c_src->c_m1->c_m2->c_m3->c_m4"
    assert "CashOut:c_m4->card_c" in chain
    assert "Span:9.0h" in chain
    conserved = float(next(e for e in chain if e.startswith("Conserved:")).split(":")[1])
    assert 0.9 <= conserved <= 1.0
    fan_in = found[frozenset(EXPECTED["flow_fan_in"])].evidence
    assert "Hub:fi_hub" in fan_in and "CashOut:fi_hub->card_fi" in fan_in


def test_ring_candidates_carry_the_flow_evidence_of_their_typology():
    candidates = {frozenset(c.members): c for c in find_ring_candidates(_world_snapshot())}
    chain = candidates[frozenset(EXPECTED["flow_chain"])]
    assert chain.evidence[0] == "Path:c_src->c_m1->c_m2->c_m3->c_m4"
    assert "CashOut:c_m4->card_c" in chain.evidence
    fan_in = candidates[frozenset(EXPECTED["flow_fan_in"])]
    assert "Hub:fi_hub" in fan_in.evidence


def test_a_fan_whose_money_stops_at_the_leaves_is_no_typology():
    # an ordinary payer spends a transfer on four payees within the day; none moves it on
    transfers = [("friend", "payer", 400, 0)] + [("payer", f"payee{i}", 100, 2 + i)
                                                  for i in range(4)]
    snap = snapshot(TRANSACTED_WITH=_table(transfers))
    accounts = account_index(snap)
    assert flow_typologies(transfer_table(snap, accounts), cash_out_table(snap, accounts),
                           accounts) == []
    one_pass = replace(TypologySettings.defaults(), min_pass=1)
    found = flow_typologies(transfer_table(snap, accounts), cash_out_table(snap, accounts),
                            accounts, one_pass)
    assert [g.kind for g in found] == ["flow_fan_out"]


def test_money_kept_back_or_moved_on_too_late_breaks_the_chain():
    transfers = [("s", "m1", 1000, 0), ("m1", "m2", 500, 2), ("m2", "m3", 490, 3),
                 ("x", "y1", 1000, 0), ("y1", "y2", 990, 24 * 10), ("y2", "y3", 980, 24 * 20)]
    snap = snapshot(TRANSACTED_WITH=_table(transfers))
    accounts = account_index(snap)
    groups = flow_typologies(transfer_table(snap, accounts), cash_out_table(snap, accounts),
                             accounts)
    # m1 kept half: only m2 passes money on, one pass-through account is no chain
    assert groups == []
    wide = replace(TypologySettings.defaults(), min_conserved=0.4, hop_s=30 * 86400.0,
                   span_s=40 * 86400.0, chain_min_pass=2)
    found = {frozenset(accounts[g.rows]) for g in flow_typologies(
        transfer_table(snap, accounts), cash_out_table(snap, accounts), accounts, wide)}
    assert {"s", "m1", "m2", "m3"} in found and {"x", "y1", "y2", "y3"} in found


def test_no_transfers_or_no_amounts_give_no_candidates():
    snap = snapshot(TRANSACTED_WITH=_table([("a", "b", 0.0, 0), ("b", "c", 0.0, 1)]))
    accounts = account_index(snap)
    assert flow_typologies(transfer_table(snap, accounts), cash_out_table(snap, accounts),
                           accounts) == []
    assert np.all(transfer_table(snap, accounts)["amount"] == 0.0)


FLOW_KINDS = ("layering_chain", "scatter_gather", "gather_scatter", "bipartite_flow")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A generated world with every flow typology planted and honest look-alikes, as a
    snapshot built by the pipeline's own ingest and snapshot stages."""
    root = Path(__file__).resolve().parents[3]
    work = tmp_path_factory.mktemp("flows")
    knobs = {**load_config(root / "configs" / "synth-flows.yaml").to_dict(),
             "abuse_fraction": 0.1}
    result = generate(work / "data", n_accounts=6_000, seed=0, progress=False, **knobs)
    ingest_logs(str(result.events_dir), root / "configs" / "mappings" / "synth.yaml",
                work / "events", progress=False)
    snap = build_snapshot(work / "events", work / "snapshot", progress=False)
    accounts = account_index(snap)
    groups = flow_typologies(transfer_table(snap, accounts), cash_out_table(snap, accounts),
                             accounts, TypologySettings.from_ring_config(RingConfig()))
    return ([list(accounts[g.rows]) for g in groups], pd.read_parquet(result.rings_path),
            pd.read_parquet(result.out_dir / "honest_flows.parquet"))


@pytest.mark.parametrize("kind", FLOW_KINDS)
def test_planted_typologies_are_recovered_in_a_generated_world(generated, kind):
    found, rings, _ = generated
    truth = [list(m) for m in rings.loc[rings["kind"] == kind, "members"]]
    assert len(truth) >= 4
    assert rings_recovered(found, truth) >= 0.8


def test_honest_flows_of_a_generated_world_are_not_candidates(generated):
    found, _, honest = generated
    assert len(honest) >= 10
    for kind, part in honest.groupby("kind"):
        assert rings_recovered(found, [list(m) for m in part["members"]]) == 0.0, kind


def test_an_account_ties_its_linked_transfers_only_within_one_episode():
    # b forwards a's money at once, and days later takes part in d's unrelated flow
    edge = pd.DataFrame({"src": [0, 1, 1, 3], "dst": [1, 2, 3, 4],
                         "ts": [0.0, H, 5 * 24 * H, 5 * 24 * H + H]})
    labels = episode_components(edge, 2 * 24 * H)
    assert labels[0] == labels[1] and labels[2] == labels[3] and labels[0] != labels[2]
    assert len(set(episode_components(edge, 10 * 24 * H).tolist())) == 1
    assert episode_components(edge.iloc[:0], H).tolist() == []
