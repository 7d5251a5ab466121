import pandas as pd

from graph.rings.communities import components
from graph.rings.lockstep import lockstep_matrix, lockstep_touches
from graph.rings.projection import account_entity_incidence

from .helpers import T0, edges, snapshot


def _world():
    """x0..x3 use devices D1 and D2 within minutes; y0..y3 use D1 days apart."""
    rows = [(f"x{i}", d) for i in range(4) for d in ("D1", "D2")]
    minutes = [float(i) for i in range(4) for _ in range(2)]
    rows += [(f"y{i}", "D1") for i in range(4)]
    minutes += [3000.0 * (i + 1) for i in range(4)]
    return snapshot(USED_DEVICE=edges(rows, minutes))


def test_accounts_acting_together_are_linked_and_stragglers_are_not():
    inc = account_entity_incidence(_world())
    matrix = lockstep_matrix(lockstep_touches(inc), len(inc.accounts), 3600.0, 100)
    groups = [set(inc.accounts[c]) for c in components(matrix, 0.1) if len(c) > 1]
    assert groups == [{"x0", "x1", "x2", "x3"}]


def test_half_window_grid_catches_touches_across_a_boundary():
    boundary = 3600.0 - (T0.timestamp() % 3600.0)
    minutes = [boundary / 60 - 1, boundary / 60 + 1]
    snap = snapshot(USED_DEVICE=edges([("a", "D"), ("b", "D")], minutes))
    inc = account_entity_incidence(snap)
    matrix = lockstep_matrix(lockstep_touches(inc), 2, 3600.0, 100)
    assert matrix[0, 1] > 0


def test_events_give_every_touch():
    inc = account_entity_incidence(_world())
    events = pd.DataFrame({"account_id": ["x0", "y0"], "ts": [T0, T0], "device_id": ["D9", "D9"],
                           "ip": [None, "1.2.3.4"]})
    touches = lockstep_touches(inc, events)
    assert len(touches) == 3
    by_row = touches.groupby("row")["entity"].agg(sorted)
    x0, y0 = inc.accounts.get_loc("x0"), inc.accounts.get_loc("y0")
    assert by_row[x0][0] in by_row[y0] and len(set(by_row[y0])) == 2  # D9 shared, the IP not
    assert (touches["ts"] == int(T0.timestamp())).all()


def test_an_entitys_users_are_counted_once_however_often_they_touch_it():
    # a pair's weight on an entity is 1 / log(accounts that touched it): repeats (here 300, past
    # any 8-bit count) must not change it
    inc = account_entity_incidence(_world())
    touches = lockstep_touches(inc)
    repeated = pd.concat([touches] + [touches[touches["row"] == 0]] * 300, ignore_index=True)
    once = lockstep_matrix(touches, len(inc.accounts), 3600.0, 100)
    again = lockstep_matrix(repeated, len(inc.accounts), 3600.0, 100)
    assert (once != again).nnz == 0
    assert once.nnz > 0
