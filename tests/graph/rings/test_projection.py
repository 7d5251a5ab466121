import numpy as np
import pandas as pd

from graph.rings.projection import (
    account_entity_incidence,
    account_projection,
    adamic_adar_weight,
    co_membership,
    epoch_seconds,
    stack_incidences,
)

from .helpers import edges, snapshot


def _hub_world(n_hub_users: int = 600):
    """Ring r0..r4 shares device D; everyone (ring included) also uses the NAT IP."""
    ring = [f"r{i}" for i in range(5)]
    crowd = [f"a{i}" for i in range(n_hub_users)]
    devices = edges([(a, "D") for a in ring] + [(a, f"d{a}") for a in crowd])
    ips = edges([(a, "NAT") for a in ring + crowd])
    return snapshot(USED_DEVICE=devices, USED_IP=ips), ring


def test_incidence_labels_entities_by_type():
    snap, ring = _hub_world(10)
    inc = account_entity_incidence(snap)
    assert inc.matrix.shape == (15, len(inc.entities))
    assert "Device:D" in inc.entities and "IP:NAT" in inc.entities
    assert inc.entity_degree[inc.entities.get_loc("IP:NAT")] == 15
    users = inc.matrix[:, inc.entities.get_loc("Device:D")].nonzero()[0]
    assert set(inc.accounts[users]) == set(ring)


def test_counterparties_become_entities_both_ways():
    snap = snapshot(TRANSACTED_WITH=edges([("a", "b")]))
    inc = account_entity_incidence(snap, include_counterparties=True)
    assert set(inc.entities) == {"Account:a", "Account:b"}
    assert inc.matrix.nnz == 2


def test_hub_is_sampled_not_expanded_and_cut_is_recorded():
    snap, ring = _hub_world(600)
    proj = account_projection(snap, hub_degree_cap=200)
    # 605 NAT users: a chain of 604 pairs, never 605 * 604 / 2.
    assert proj.matrix.nnz <= 2 * (604 + 10)
    cut = proj.cut_entities.set_index("entity")
    assert cut.loc["IP:NAT", "degree"] == 605
    assert cut.loc["IP:NAT", "sampled_pairs"] == 604
    r0, r1 = proj.accounts.get_loc("r0"), proj.accounts.get_loc("r1")
    assert proj.matrix[r0, r1] >= adamic_adar_weight(np.array([5]))[0]
    a0, a1 = proj.accounts.get_loc("a0"), proj.accounts.get_loc("a1")
    assert proj.matrix[a0, a1] <= adamic_adar_weight(np.array([605]))[0] + 1e-12


def test_hub_weight_is_small_next_to_a_private_device():
    weights = adamic_adar_weight(np.array([2, 5, 1000]))
    assert weights[0] > weights[1] > 3 * weights[2]


def test_co_membership_is_symmetric_without_diagonal_and_seeded():
    snap, _ = _hub_world(300)
    inc = account_entity_incidence(snap)
    first, _ = co_membership(inc.matrix, inc.entities, 100, seed=1)
    again, _ = co_membership(inc.matrix, inc.entities, 100, seed=1)
    assert (first != first.T).nnz == 0
    assert first.diagonal().sum() == 0
    assert (first != again).nnz == 0


def test_flows_link_accounts_and_hub_flows_weigh_less():
    pairs = [("a", "b")] + [(f"c{i}", "shop") for i in range(50)]
    proj = account_projection(snapshot(TRANSACTED_WITH=edges(pairs)))
    a, b = proj.accounts.get_loc("a"), proj.accounts.get_loc("b")
    c0, shop = proj.accounts.get_loc("c0"), proj.accounts.get_loc("shop")
    assert proj.matrix[a, b] > 2 * proj.matrix[c0, shop] > 0


def test_epoch_seconds_handles_units_and_missing():
    values = pd.Series([pd.Timestamp("1970-01-01 00:01", tz="UTC"), pd.NaT])
    assert epoch_seconds(values).tolist() == [60, -1]


def test_stacked_counterparties_equal_the_combined_incidence():
    snap = snapshot(USED_DEVICE=edges([("a", "D"), ("b", "D")]),
                    TRANSACTED_WITH=edges([("a", "c")]))
    combined = account_entity_incidence(snap, include_counterparties=True)
    base = account_entity_incidence(snap, combined.accounts)
    flows_only = account_entity_incidence(snap, combined.accounts, include_counterparties=True,
                                          include_entities=False)
    assert set(flows_only.entities) == {"Account:a", "Account:c"}
    stacked = stack_incidences(base, flows_only)
    assert list(stacked.entities) == list(combined.entities)
    assert (stacked.matrix != combined.matrix).nnz == 0
    assert len(stacked.edges) == combined.matrix.nnz


def test_co_membership_is_the_weighted_product_without_diagonal_or_stored_zeros():
    import scipy.sparse as sp

    from graph.rings.projection import adamic_adar_weight, co_membership

    rng = np.random.default_rng(4)
    dense = (rng.random((40, 15)) < 0.2).astype(float)
    dense[:, 0] = 1.0  # a hub every account uses
    matrix = sp.csr_matrix(dense)
    projected, cut = co_membership(matrix, pd.Index([f"e{i}" for i in range(15)]), 30, seed=2)
    degree = dense.sum(axis=0)
    small = (degree >= 2) & (degree <= 30)
    expected = dense[:, small] @ np.diag(adamic_adar_weight(degree[small])) @ dense[:, small].T
    np.fill_diagonal(expected, 0.0)
    chain = projected.toarray() - expected  # what the hub's chain adds
    assert projected.diagonal().sum() == 0.0 and (projected.data != 0).all()
    assert np.allclose(projected.toarray(), projected.toarray().T)
    assert np.isclose(chain.sum(), 2 * 39 * adamic_adar_weight(np.array([40.0]))[0])
    assert cut["entity"].tolist() == ["e0"]
