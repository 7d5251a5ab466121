import numpy as np
import scipy.sparse as sp

from graph.rings.growth import grow_groups

CARD, DEVICE, IP = 0, 1, 2


def _world(ring: int = 10, honest: int = 20000, seed: int = 0
           ) -> tuple[sp.csr_matrix, np.ndarray, dict[str, np.ndarray]]:
    """A payment ring of ``ring`` members chained by cards (members ``2k``, ``2k + 1`` pay
    with ring cards ``k`` and ``k + 1``), each member with an own device; ``honest``
    accounts with an own device and card and a popular IP each of 1,000 users; member 0's
    household (two accounts on member 0's device)."""
    rng = np.random.default_rng(seed)
    rows, cols, codes = [], [], []

    def entity(code: int) -> int:
        codes.append(code)
        return len(codes) - 1

    def use(account: int, column: int) -> None:
        rows.append(account)
        cols.append(column)

    n = ring + honest + 2
    cards = [entity(CARD) for _ in range((ring + 1) // 2 + 1)]
    for m in range(ring):
        use(m, cards[m // 2])
        use(m, cards[m // 2 + 1])
        use(m, entity(DEVICE))
    ips = [entity(IP) for _ in range(max(1, (n + 999) // 1000))]
    for a in range(ring, n):
        use(a, entity(DEVICE))
        use(a, entity(CARD))
        use(a, ips[int(rng.integers(len(ips)))])
    household = np.array([ring + honest, ring + honest + 1])
    for a in household:
        use(int(a), cols[2])                      # member 0's own device
    data = np.ones(len(rows))
    uses = sp.csr_matrix((data, (rows, cols)), shape=(n, len(codes)))
    return uses, np.asarray(codes), {"ring": np.arange(ring), "household": household}


def test_a_pair_grows_into_its_chained_ring() -> None:
    uses, codes, who = _world()
    grown = grow_groups([np.array([4, 5])], uses, codes, max_degree=10, max_size=50,
                        min_surprise=2.0)
    assert len(grown) == 1
    assert set(grown[0].tolist()) == set(who["ring"].tolist())


def test_accounts_tied_to_one_member_stay_out() -> None:
    uses, codes, who = _world()
    grown = grow_groups([np.array([0, 1])], uses, codes, max_degree=10, max_size=50,
                        min_surprise=2.0)
    members = set(grown[0].tolist())
    assert not members & set(who["household"].tolist())
    assert set(who["ring"].tolist()) <= members


def test_popular_entities_tie_nobody_and_size_is_capped() -> None:
    uses, codes, _ = _world()
    assert grow_groups([np.array([20, 21])], uses, codes, max_degree=10, max_size=50,
                       min_surprise=2.0) == []
    grown = grow_groups([np.array([4, 5])], uses, codes, max_degree=10, max_size=6,
                        min_surprise=2.0)
    assert len(grown[0]) == 6


def test_a_weak_tie_needs_more_surprise() -> None:
    uses, codes, _ = _world(honest=200)
    # cards of degree 4 among 200 accounts' 220 card uses: one shared card is not surprising
    # at 10^-2 charged for the accounts the pair reaches
    assert grow_groups([np.array([4, 5])], uses, codes, max_degree=10, max_size=50,
                       min_surprise=2.0) == []
