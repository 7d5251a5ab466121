import numpy as np
import pandas as pd
import scipy.sparse as sp

from graph.rings.activity import account_activity
from graph.rings.places import (
    PlaceUsers,
    converged,
    explained_uses,
    place_explained,
    place_users,
)

DAY = 86400


def _uses(rows: list[tuple[int, int, int, int]], shape: tuple[int, int]
          ) -> tuple[pd.DataFrame, sp.csr_matrix]:
    """Edges (row, col, first_ts, last_ts) and their incidence."""
    edges = pd.DataFrame(rows, columns=["row", "col", "first_ts", "last_ts"])
    matrix = sp.csr_matrix((np.ones(len(rows)), (edges["row"], edges["col"])), shape=shape)
    return edges, matrix


def test_living_accounts_are_active_over_the_life_span_and_own_an_entity() -> None:
    # entities: 0 a PC used over 20 days, 1 a PC used within a day, 2 a card, 3 and 4 own cards
    edges, matrix = _uses([
        (0, 0, 0, 0), (0, 3, 20 * DAY, 20 * DAY),  # 20 days, own card: living
        (1, 0, 0, 20 * DAY), (1, 2, 0, 0),          # 20 days, shares its only card
        (2, 1, 0, 0), (2, 4, DAY // 2, DAY // 2),   # own card, half a day
        (3, 0, 5 * DAY, 5 * DAY), (3, 2, -1, -1),
    ], (4, 5))
    place_type = np.array([True, True, False, False, False])
    users = place_users(edges, matrix, place_type, account_activity(edges, 4), 14 * DAY, 1,
                        2 * DAY)
    assert users.living.tolist() == [True, False, False, False]
    # account 0's own card is no home: only a device or IP of its own used over the life is
    assert not users.homed.any()
    # first seen: the log begins at 0; only account 3 (first seen on day 5) is fresh
    assert users.first.tolist() == [0, 0, 0, 5 * DAY]
    assert users.fresh.tolist() == [False, False, False, True]
    # a place type used over 20 days by a living account is a place; one used within a day,
    # or a card, is not
    assert users.places.tolist() == [True, False, False, False, False]
    # ... and none with fewer living users than asked for
    assert not place_users(edges, matrix, place_type, account_activity(edges, 4), 14 * DAY, 2,
                           2 * DAY).places.any()


def test_a_household_s_card_is_its_members_own() -> None:
    # a hostel's families (la28 hostel_families): accounts 0-2 one family on its card 2, all
    # at the hostel's PC 0 and Wi-Fi 1 for 20 days, nothing of their own; account 3 on a card
    # 3 four others use too. With a household of 3 the family's card makes them living; a
    # card of more users than that makes nobody living
    rows = [(a, e, 0, 20 * DAY) for a in range(3) for e in (0, 1, 2)]
    rows += [(3, 0, 0, 20 * DAY), (3, 3, 0, 20 * DAY)]
    rows += [(a, 3, 0, 0) for a in range(4, 8)]
    edges, matrix = _uses(rows, (8, 4))
    place_type = np.array([True, True, False, False])
    activity = account_activity(edges, 8)
    alone = place_users(edges, matrix, place_type, activity, 14 * DAY, 3, 0.0)
    family = place_users(edges, matrix, place_type, activity, 14 * DAY, 3, 0.0, household=3)
    assert not alone.living.any() and not alone.places.any()
    assert family.living.tolist() == [True, True, True] + [False] * 5
    assert family.places.tolist() == [True, True, False, False]
    # a home is still an entity nobody else uses: the family's card makes none
    assert not family.homed.any()


def test_a_short_stay_guest_s_use_of_a_place_is_explained_a_burst_s_is_not() -> None:
    # a hostel's PC 0 and Wi-Fi 1 used for 20 days by ten families' members (0-9, each on its
    # own card 2 + a, living); guest 10 stays 5 days there (its family card 12), account 11 is
    # a burst farm's, there for an hour on its own card 13
    rows = [(a, e, 0, 20 * DAY) for a in range(10) for e in (0, 1, 2 + a)]
    rows += [(10, e, 3 * DAY, 8 * DAY) for e in (0, 1, 12)]
    rows += [(11, e, 4 * DAY, 4 * DAY + 3600) for e in (0, 1, 13)]
    # accounts 12-21 a burst farm's, all there within an hour on day 6, each back 4 days later
    # (review R63), each on its own card 14 + k
    rows += [(a, e, 6 * DAY + 60 * a, 10 * DAY) for a in range(12, 22) for e in (0, 1)]
    rows += [(a, 2 + a, 6 * DAY, 6 * DAY) for a in range(12, 22)]
    edges, matrix = _uses(rows, (22, 24))
    place_type = np.r_[True, True, np.zeros(22, bool)]
    users = place_users(edges, matrix, place_type, account_activity(edges, 22), 14 * DAY, 10,
                        0.0, arrival_s=DAY, household=3)
    assert users.places[:2].all() and users.living.tolist() == [True] * 10 + [False] * 12
    assert users.stayed.tolist() == [False] * 10 + [True] + [False] * 11
    # in a group that did not arrive together the guest's stay is explained, the burst's not
    apart, together = explained_uses(matrix, users)
    assert apart[10, :2].toarray().tolist() == [[1.0, 1.0]]
    assert apart[11].nnz == 0
    # ... and in a farm's cohort that arrived together, as it made no late payoff
    assert together[10, :2].toarray().tolist() == [[1.0, 1.0]] and together[11].nnz == 0


def test_uses_without_times_give_no_life() -> None:
    edges, matrix = _uses([(0, 0, -1, -1), (0, 1, -1, -1)], (1, 2))
    users = place_users(edges, matrix, np.array([True, False]), account_activity(edges, 1), 0.0,
                        1, 0.0)
    assert not users.living.any() and not users.places.any() and not users.fresh.any()
    assert users.first.tolist() == [-1]


def test_a_place_explains_the_sharing_of_a_group_s_living_members_only() -> None:
    # accounts 0-11 (0-9 living) on entity 0 (a place) and entity 1 (not);
    # group 0: all of them; group 1: accounts 8-11 (two living)
    n = 12
    uses = sp.csr_matrix(np.column_stack([np.ones(n), np.ones(n)]))
    membership = sp.csr_matrix(np.vstack([np.ones(n), np.r_[np.zeros(8), np.ones(4)]]))
    shared = (membership @ uses).tocsr()
    shared.sort_indices()
    living = np.r_[np.ones(10, bool), np.zeros(2, bool)]
    homed = np.r_[np.ones(3, bool), np.zeros(9, bool)]
    # accounts 3-9 paid off late (entity 1: a farm's aged accounts)
    late = sp.csr_matrix((np.ones(7), (np.arange(3, 10), np.ones(7, int))), shape=(n, 2))
    users = PlaceUsers(living, np.array([True, False]), np.zeros(n, np.int64), np.zeros(n, bool),
                       homed, np.zeros(n, np.int64), np.zeros(n, bool), late,
                       np.zeros(n, bool), late, living, sp.csr_matrix((n, 2)))
    apart = np.array([False, False])
    # CSR order: (0, 0), (0, 1), (1, 0), (1, 1)
    assert place_explained(membership, uses, shared, users, apart).tolist() == [10.0, 0, 2, 0]
    nowhere = PlaceUsers(living, np.array([False, False]), users.first, users.fresh, homed,
                         users.life, users.gone, users.late, users.ordinary, users.paid,
                         users.settled, users.desks)
    assert place_explained(membership, uses, shared, nowhere, apart).tolist() == [0.0] * 4
    # a group whose living members arrived together (a farm kept alive, paid off late) has a
    # place for those with a home of their own only (accounts 0-2: a phone kept for weeks)
    together = np.array([True, False])
    assert place_explained(membership, uses, shared, users, together).tolist() == [3, 0, 2, 0]


def test_a_home_is_a_place_type_entity_of_one_s_own_used_over_the_life() -> None:
    # entities: 0 a phone used over 20 days, 1 a fingerprint seen once, 2 a shared PC,
    # 3 account 0's home IP used over 20 days, 4 account 3's profile kept 20 days, seen with
    # the PC and 5 a proxy IP used once
    edges, matrix = _uses([
        (0, 0, 0, 20 * DAY), (0, 2, 0, 0), (0, 3, 0, 20 * DAY),
        (1, 1, 0, 0), (1, 2, 20 * DAY, 20 * DAY),
        (2, 2, 0, 20 * DAY),
        (3, 4, 0, 20 * DAY), (3, 2, 0, 0), (3, 5, 16 * DAY, 16 * DAY),
    ], (4, 6))
    users = place_users(edges, matrix, np.array([True] * 6), account_activity(edges, 4),
                        14 * DAY, 2, 2 * DAY)
    assert users.living.tolist() == [True, True, False, True]
    assert users.places.tolist() == [False, False, True, False, False, False]
    # account 3's profile is a home seen on the place and a proxy used once (reviews R31,
    # R37): none
    assert users.homed.tolist() == [True, False, False, False]


def test_a_late_use_is_a_payoff_after_one_s_life_span_and_an_earlier_order() -> None:
    # entities: 0 a PC, 1 a promo code, 2 and 3 cards; account 0 pays with card 2 on day 2
    # and redeems the code on day 20 (a later order), account 1 redeems it on its first day,
    # account 2 uses the PC 20 days on, account 3 makes its first order (card 3 and the code)
    # on day 20: an honest first order that came late (review R44)
    edges, matrix = _uses([(0, 0, 0, 0), (0, 2, 2 * DAY, 2 * DAY), (0, 1, 20 * DAY, 20 * DAY),
                           (1, 0, 0, 20 * DAY), (1, 1, DAY, DAY), (2, 0, 0, 20 * DAY),
                           (3, 0, 0, 0), (3, 3, 20 * DAY, 20 * DAY), (3, 1, 20 * DAY, 20 * DAY)],
                          (4, 4))
    users = place_users(edges, matrix, np.array([True, False, False, False]),
                        account_activity(edges, 4), 14 * DAY, 1, 0.0,
                        np.array([False, True, False, False]))
    assert users.late.toarray()[:, 1].tolist() == [1, 0, 0, 0]
    assert users.paid.toarray()[:, 1].tolist() == [1, 1, 0, 1]
    # last known uses: day 20 for all of a log ending on day 20: none went quiet
    assert users.life.tolist() == [20 * DAY] * 4 and not users.gone.any()


def test_lives_are_the_accounts_activity_passed_in() -> None:
    # account 0's uses here span one day; the activity the search read (its uses elsewhere
    # too, e.g. of counterparties' entities) spans 20 days: that is its life
    edges, matrix = _uses([(0, 0, 0, DAY), (0, 1, 0, 0), (1, 0, 20 * DAY, 20 * DAY)], (2, 2))
    place_type = np.array([True, False])
    short = place_users(edges, matrix, place_type, account_activity(edges, 2), 14 * DAY, 1, 0.0)
    long = place_users(edges, matrix, place_type,
                       (np.array([0, 20 * DAY]), np.array([20 * DAY, 20 * DAY])), 14 * DAY, 1,
                       0.0)
    assert short.living.tolist() == [False, False] and long.living.tolist() == [True, False]


def test_a_cohort_converged_on_a_code_only_when_its_late_uses_are_unusual_for_it() -> None:
    # accounts 0-5: a cohort whose members all first used codes 0, 1 and 2 late; accounts
    # 6-29: ordinary new users (homes of their own) of code 0 (all early), of code 1 (all
    # late) and, 6-9 only, of code 2 (too few to tell its usual course)
    n = 30
    late = np.zeros((n, 3))
    late[:6] = 1.0
    late[6:, 1] = 1.0
    paid = np.zeros((n, 3))
    paid[:, :2] = 1.0
    paid[:10, 2] = 1.0
    users = PlaceUsers(np.ones(n, bool), np.zeros(3, bool), np.zeros(n, np.int64),
                       np.ones(n, bool), np.zeros(n, bool), np.zeros(n, np.int64),
                       np.zeros(n, bool), sp.csr_matrix(late), np.ones(n, bool),
                       sp.csr_matrix(paid), np.ones(n, bool), sp.csr_matrix((n, 3)))
    cohort = sp.csr_matrix(np.r_[np.ones(6), np.zeros(n - 6)][None, :])
    assert converged(cohort, cohort, users, 10, 2.0).tolist() == [True]
    # late on codes 1 and 2 only: no payoff
    users = PlaceUsers(*[getattr(users, f) for f in ("living", "places", "first", "fresh",
                                                     "homed", "life", "gone")],
                       sp.csr_matrix(late * [0, 1, 1]), users.ordinary, users.paid,
                       users.settled, users.desks)
    assert converged(cohort, cohort, users, 10, 2.0).tolist() == [False]
    # two of six late on code 0: fewer than half
    users = PlaceUsers(*[getattr(users, f) for f in ("living", "places", "first", "fresh",
                                                     "homed", "life", "gone")],
                       sp.csr_matrix(late * np.r_[np.ones(2), np.zeros(n - 2)][:, None]),
                       users.ordinary, users.paid, users.settled, users.desks)
    assert converged(cohort, cohort, users, 10, 2.0).tolist() == [False]


def test_a_desk_is_touched_on_arriving_only_by_an_account_that_then_lives_among_others() -> None:
    # entities: 0 a gym's tablet, 1 a carrier IP, 2-5, 10 and 11 phones of accounts 2-7, 6 a
    # farm's IP, 7-9 home IPs of accounts 0, 1 and 5. Accounts 0-1 there since the log began,
    # on the carrier IP (min_users 2: a public network); fresh from day 5, each signing up on
    # the tablet: 2 then its phone on the carrier for 20 days; 3 and 6 their phones on the
    # farm's IP only; 4 back at the tablet on day 12; 5 a phone and a home IP of its own
    edges, matrix = _uses([
        (0, 1, 0, 30 * DAY), (0, 7, 0, 30 * DAY), (1, 1, 0, 30 * DAY), (1, 8, 0, 30 * DAY),
        (2, 0, 5 * DAY, 5 * DAY), (2, 2, 5 * DAY, 25 * DAY), (2, 1, 6 * DAY, 25 * DAY),
        (3, 0, 5 * DAY, 5 * DAY), (3, 3, 5 * DAY, 25 * DAY), (3, 6, 6 * DAY, 25 * DAY),
        (4, 0, 5 * DAY, 12 * DAY), (4, 4, 5 * DAY, 25 * DAY), (4, 1, 6 * DAY, 25 * DAY),
        (5, 0, 5 * DAY, 5 * DAY), (5, 5, 5 * DAY, 25 * DAY), (5, 9, 5 * DAY, 25 * DAY),
        (6, 0, 5 * DAY, 5 * DAY), (6, 10, 5 * DAY, 25 * DAY), (6, 6, 6 * DAY, 25 * DAY),
        (7, 0, 5 * DAY, 5 * DAY), (7, 11, 5 * DAY, 25 * DAY), (7, 6, 6 * DAY, 25 * DAY),
        (7, 1, 10 * DAY, 10 * DAY),
    ], (8, 12))
    users = place_users(edges, matrix, np.array([True] * 12), account_activity(edges, 8),
                        14 * DAY, 2, 2 * DAY, np.zeros(12, bool), DAY)
    assert users.settled.tolist() == [True] * 8
    assert users.homed.tolist() == [False, False, False, False, False, True, False, False]
    # 3 and 6 live on a network only fresh accounts use (a farm's); 4 came back to the tablet;
    # 7 is a farm's account seen once through the carrier (a mobile proxy), not for weeks
    assert users.desks.toarray()[:, 0].tolist() == [0, 0, 1, 0, 0, 1, 0, 0]
    assert users.desks.nnz == 2


def test_a_desk_explains_its_settled_members_unless_the_group_arrived_together() -> None:
    # accounts 0-3 signed up on entity 0 (a desk, no place); 0-2 settled, 0 with a home
    n = 4
    uses = sp.csr_matrix(np.ones((n, 1)))
    membership = sp.csr_matrix(np.ones((1, n)))
    shared = (membership @ uses).tocsr()
    settled = np.array([True, True, True, False])
    users = PlaceUsers(np.ones(n, bool), np.array([False]), np.zeros(n, np.int64),
                       np.ones(n, bool), np.array([True, False, False, False]),
                       np.zeros(n, np.int64), np.zeros(n, bool), sp.csr_matrix((n, 1)),
                       np.zeros(n, bool), sp.csr_matrix((n, 1)), settled,
                       sp.csr_matrix(np.array([[1.0], [1.0], [1.0], [0.0]])))
    assert place_explained(membership, uses, shared, users, np.array([False])).tolist() == [3]
    assert place_explained(membership, uses, shared, users, np.array([True])).tolist() == [1]


def test_in_a_cohort_a_place_explains_its_homed_and_those_living_there_without_a_payoff() -> None:
    # entity 0 a place; accounts 0-3 living on it: 0 with a home, 1 with a late payoff (a
    # farm's aged account), 2 without one (a hostel's guest in the farm's group), 3 not living
    n = 4
    uses = sp.csr_matrix(np.ones((n, 1)))
    late = sp.csr_matrix(np.array([[0.0], [1.0], [0.0], [0.0]]))
    users = PlaceUsers(np.array([True, True, True, False]), np.array([True]),
                       np.zeros(n, np.int64), np.ones(n, bool),
                       np.array([True, False, False, False]), np.zeros(n, np.int64),
                       np.zeros(n, bool), late, np.zeros(n, bool), late,
                       np.array([True, True, True, False]), sp.csr_matrix((n, 1)))
    apart, together = explained_uses(uses, users)
    assert apart.toarray().ravel().tolist() == [1, 1, 1, 0]
    assert together.toarray().ravel().tolist() == [1, 0, 1, 0]
    membership = sp.csr_matrix(np.ones((1, n)))
    shared = (membership @ uses).tocsr()
    assert place_explained(membership, uses, shared, users, np.array([True])).tolist() == [2]
