"""Pairs: two accounts tied by rare entities are a finding when chance does not explain them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from graph.rings.candidates import find_ring_candidates
from graph.rings.config import RingConfig
from graph.rings.pairs import (
    co_user_pair_counts,
    coincidence_log_chance,
    episode_log_chance,
    event_use_times,
    household_pairs,
    rare_entity_pairs,
)
from ingest.state import IngestState
from tests.graph.rings.helpers import edges, snapshot


def test_rare_entity_pairs_need_two_rare_entities_and_skip_pairs_a_group_ties_as_well():
    # accounts 0, 1 share entities 0 and 1; 2, 3 share entity 2 only; 4, 5 share 3 and 4;
    # entity 5 is used by all six
    uses = np.zeros((6, 6))
    uses[[0, 0, 1, 1, 2, 3, 4, 4, 5, 5], [0, 1, 0, 1, 2, 2, 3, 4, 3, 4]] = 1.0
    uses[:, 5] = 1.0
    matrix = sp.csr_matrix(uses)
    assert rare_entity_pairs(matrix, max_degree=5).tolist() == [[0, 1], [4, 5]]
    # entity 5 counts once it is rare enough: every pair shares it, 2 and 3 now share two
    assert rare_entity_pairs(matrix, max_degree=6).tolist() == [[0, 1], [2, 3], [4, 5]]
    # a group holding 4 and 5 whose third member uses neither of their entities hides nothing
    group = sp.csr_matrix(np.array([[0.0, 0.0, 0.0, 1.0, 1.0, 1.0]]))
    assert rare_entity_pairs(matrix, max_degree=5, groups=group).tolist() == [[0, 1], [4, 5]]
    # once account 3 uses both, the group ties them as well as the pair does
    uses[3, [3, 4]] = 1.0
    assert rare_entity_pairs(sp.csr_matrix(uses), max_degree=5, groups=group).tolist() == [
        [0, 1]]
    # one of them is not enough: the pair's tie through entity 4 is its own
    uses[3, 4] = 0.0
    assert rare_entity_pairs(sp.csr_matrix(uses), max_degree=5, groups=group).tolist() == [
        [0, 1], [4, 5]]


def _spread(rows: list[tuple[str, str]], rng: np.random.Generator,
            together: frozenset[str] = frozenset()) -> pd.DataFrame:
    """Edges at random minutes over 30 days; those of the entities in ``together`` at one
    minute each (two accounts in lockstep on them)."""
    minutes = rng.uniform(60.0, 30 * 24 * 60 - 60.0, len(rows))
    at: dict[str, float] = {}
    for i, (_, entity) in enumerate(rows):
        if entity in together:
            minutes[i] = at.setdefault(entity, minutes[i])
    return edges(rows, list(minutes))


def test_a_pair_sharing_two_devices_is_reported_a_device_and_a_card_are_one_place():
    people = [f"u{i}" for i in range(10_000)]
    own_devices = [(p, f"d{i}") for i, p in enumerate(people)]
    own_cards = [(p, f"c{i}") for i, p in enumerate(people)]
    # u0 and u1 share two devices and a card; u2 and u3 a device and a card (one household:
    # each type once, as a family's phone and card); u4 and u5 only a device
    devices = own_devices + [("u0", "dx"), ("u1", "dx"), ("u1", "d0"), ("u3", "d2"),
                             ("u5", "d4")]
    cards = own_cards + [("u1", "c0"), ("u3", "c2")]
    # u0 and u1 take turns on what they share within minutes
    rng, met = np.random.default_rng(0), frozenset({"dx", "d0", "c0"})
    snap = snapshot(USED_DEVICE=_spread(devices, rng, met), PAID_WITH=_spread(cards, rng, met))
    found = find_ring_candidates(snap)
    pairs = [c for c in found if c.kind == "pair"]
    assert [c.members for c in pairs] == [["u0", "u1"]]
    assert pairs[0].features["surprise"] >= RingConfig().min_surprise
    assert {"Device:d0", "Device:dx", "PaymentMethod:c0"} <= set(pairs[0].evidence)
    assert not find_ring_candidates(snap, RingConfig(pairs=False))


def test_two_devices_and_a_card_only_the_two_use_at_times_of_their_own_are_a_couple():
    """Review F6 (session 19): a couple living alone shares a tablet, a laptop and a joint card
    that no one else uses; without a cue (their uses meet no more than chance says) the second
    device is no evidence, so the pair is no finding; on two devices the others also use it
    stays one."""
    people = [f"u{i}" for i in range(10_000)]
    devices = [(p, f"d{i}") for i, p in enumerate(people)] + [
        ("u0", "dx"), ("u1", "dx"), ("u1", "d0"),
        ("u2", "dy"), ("u3", "dy"), ("u3", "d2"), ("u8", "dy"), ("u9", "d2")]
    cards = [(p, f"c{i}") for i, p in enumerate(people)] + [("u1", "c0"), ("u3", "c2")]
    rng = np.random.default_rng(0)
    found = find_ring_candidates(snapshot(USED_DEVICE=_spread(devices, rng),
                                          PAID_WITH=_spread(cards, rng)))
    assert [c.members for c in found if c.kind == "pair"] == [["u2", "u3"]]


def test_couples_alone_taking_turns_on_their_tablet_of_an_evening_are_no_finding(tmp_path):
    """Issue 19 (review G1, session 20): couples living alone, each with a tablet, a laptop and a
    joint card no one else uses, take turns on the tablet on 15 evenings (one member, then the
    other 2-30 min later): their timing meets a colluders' cue, yet what they share is what
    every such couple shares, so their laptop is no evidence whatever their timing (a cue
    opening it made 15 of these 20 findings). Their turns alone still make one: at
    home, minutes apart, they take turns as colluders do (a ceiling of timing)."""
    day, rng = 86_400, np.random.default_rng(3)
    rows: list[tuple[str, int, str | None, str | None]] = []
    for h in range(20):
        a, b = f"h{h}a", f"h{h}b"
        for d in rng.choice(30, 15, replace=False):
            at = int(d * day + 19 * 3600 + rng.integers(0, 3 * 3600))
            rows.append((a, at, f"T{h}", f"J{h}" if rng.random() < 0.5 else f"p{a}"))
            rows.append((b, at + int(rng.integers(120, 1800)), f"T{h}",
                         f"J{h}" if rng.random() < 0.5 else f"p{b}"))
        for m in (a, b):
            rows += [(m, int(rng.integers(0, 30 * day)), f"L{h}", f"J{h}") for _ in range(4)]
            rows += [(m, int(rng.integers(0, 30 * day)), f"o{m}", f"p{m}") for _ in range(10)]
    rows += [(f"u{i}", int(rng.integers(0, 30 * day)), f"du{i}", f"cu{i}") for i in range(1_000)]
    rows += [(account, int(rng.integers(0, 30 * day)), f"pub{rng.integers(100)}",
              f"pc{rng.integers(200)}") for account in sorted({r[0] for r in rows})]
    events = _events(rows)
    events.to_parquet(tmp_path / "events.parquet")
    tables = {}
    for relation, column in (("USED_DEVICE", "device_id"), ("PAID_WITH", "payment_id")):
        used = events.groupby(["account_id", column])["ts"].agg(
            first_ts="min", last_ts="max", count="size").reset_index()
        tables[relation] = used.rename(columns={"account_id": "src", column: "dst"}).assign(
            amount_sum=0.0)
    found = find_ring_candidates(snapshot(**tables),
                                 use_times=event_use_times(tmp_path / "events.parquet"))
    assert len([c for c in found if c.kind == "pair"]) <= 1


def test_a_generated_world_s_planted_pairs_are_found_by_their_timing_its_households_are_not(
        tmp_path):
    """The generator's planted pairs share what a couple living alone shares (devices, cards
    and a home address no one else uses: no evidence, issue 19), so their episodes on every
    event find some of them; no pair found is honest."""
    import pandas as pd

    from ingest.synth import generate

    world = generate(tmp_path / "pairs", n_accounts=2_000, seed=3, progress=False,
                     pair_fraction=0.1)
    events = pd.read_parquet(world.events_dir)
    rings = pd.read_parquet(world.rings_path)
    truth = pd.read_parquet(world.truth_path)
    abusive = set(truth.loc[truth["is_abusive"], "account_id"])
    tables = {}
    for relation, column in (("USED_DEVICE", "device_id"), ("USED_IP", "ip"),
                             ("PAID_WITH", "payment_id"), ("TRANSACTED_WITH", "counterparty_id")):
        used = events.dropna(subset=[column]).groupby(["account_id", column])["ts"]
        table = used.agg(first_ts="min", last_ts="max", count="size").reset_index()
        tables[relation] = table.rename(columns={"account_id": "src", column: "dst"}).assign(
            amount_sum=0.0)
    found = {tuple(sorted(c.members)) for c in find_ring_candidates(
        snapshot(**tables), use_times=event_use_times(world.events_dir)) if len(c.members) == 2}
    planted = rings.loc[rings["kind"] == "pair", "members"].map(lambda m: tuple(sorted(m)))
    assert planted.isin(found).sum() >= 5  # 11 of 100 (52 when a second one counted)
    assert all(set(pair) & abusive for pair in found)


def test_coincidence_counts_distinct_moments_the_two_accounts_meet_on_what_they_share():
    day = 86_400
    # pair 0 (accounts 0, 1) first uses entities 0 and 1 within a minute of each other and
    # last uses entity 0 together days later: two moments; pair 1 (accounts 2, 3) uses
    # entity 2 days apart, and the snapshot spans 30 days
    uses = pd.DataFrame({
        "row": [0, 1, 0, 1, 2, 3, 4],
        "col": [0, 0, 1, 1, 2, 2, 3],
        "first_ts": [day, day + 30, day + 5, day + 40, 2 * day, 9 * day, 0],
        "last_ts": [10 * day, 10 * day + 60, day + 5, day + 40, 3 * day, 12 * day, 30 * day],
    })
    shared = sp.csr_matrix(np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]))
    a, b = np.array([0, 2]), np.array([1, 3])
    chance, moments, _ = coincidence_log_chance(uses, a, b, shared, 3600.0)
    p = 2 * 3600.0 / (30 * day)
    # 8 comparisons (4 on each entity), 2 distinct moments
    assert chance[0] == pytest.approx(np.log10(28) + 2 * np.log10(p))
    assert chance[1] == 0.0
    assert moments.tolist() == [2.0, 0.0]
    # the uses' order does not matter (stacked incidences are not sorted as a whole)
    shuffled = uses.iloc[[6, 3, 0, 5, 1, 4, 2]].reset_index(drop=True)
    assert coincidence_log_chance(shuffled, a, b, shared, 3600.0).log_chance == pytest.approx(
        chance)
    # an entity one of the two used at an unknown time is not compared: entity 1 goes, and
    # entity 0's 4 comparisons hold the same two moments
    unknown = uses.assign(first_ts=uses["first_ts"].where(uses.index != 2, -1))
    assert coincidence_log_chance(unknown, a, b, shared, 3600.0).log_chance[0] == pytest.approx(
        np.log10(6) + 2 * np.log10(p))
    assert coincidence_log_chance(uses, np.array([], dtype=np.int64),
                                  np.array([], dtype=np.int64), sp.csr_matrix((0, 4)),
                                  3600.0).log_chance.shape == (0,)


def test_uses_spanning_the_whole_log_are_no_coincidence():
    """Two household members using the family device every evening of the log "first" and
    "last" use it at its bounds: that is the log's edge, not two accounts acting together."""
    day = 86_400
    uses = pd.DataFrame({"row": [0, 1], "col": [0, 0], "first_ts": [60, 600],
                         "last_ts": [30 * day - 600, 30 * day]})
    shared = sp.csr_matrix(np.array([[1.0]]))
    met = coincidence_log_chance(uses, np.array([0]), np.array([1]), shared, 3600.0)
    assert met.log_chance.tolist() == [0.0] and met.moments.tolist() == [0.0]
    with pytest.raises(ValueError, match="window must be positive"):
        coincidence_log_chance(uses, np.array([0]), np.array([1]), shared, 0.0)


def _events(rows: list[tuple[str, int, str | None, str | None]]) -> pd.DataFrame:
    """Canonical events ``account_id, ts, device_id, payment_id`` (ts: epoch seconds)."""
    return pd.DataFrame({
        "account_id": [r[0] for r in rows],
        "ts": pd.to_datetime([r[1] for r in rows], unit="s", utc=True),
        "device_id": [r[2] for r in rows],
        "payment_id": [r[3] for r in rows],
    })


def test_event_use_times_reads_only_the_wanted_uses(tmp_path):
    events = _events([("a", 10, "d1", "c1"), ("a", 20, "d2", None), ("b", 30, "d1", None),
                      ("z", 40, "d1", "c1")])
    events.to_parquet(tmp_path / "events.parquet")
    read = event_use_times(tmp_path / "events.parquet", batch_rows=2)
    wanted = pd.DataFrame({"account_id": ["a", "b", "a"],
                           "entity": ["Device:d1", "Device:d1", "PaymentMethod:c1"]})
    got = read(wanted).sort_values(["i", "ts"]).to_numpy().tolist()
    assert got == [[0, 10], [1, 30], [2, 10]]
    assert read(wanted.iloc[:0]).empty


def test_episodes_within_minutes_at_any_hour_are_unlikely_a_family_evening_is_not(tmp_path):
    """Two colluders take turns on a device and a card within minutes, on six days at six
    different hours; a household's two members use the family device every evening of a month,
    each at an hour of their own: the evenings meet as often with a member moved by whole days,
    the colluders' minutes do not."""
    day, rng = 86_400, np.random.default_rng(0)
    rows: list[tuple[str, int, str | None, str | None]] = []
    for k, episode in enumerate([2, 5, 9, 14, 20, 26]):
        at = episode * day + (3 + 3 * k) * 3600 + int(rng.integers(0, 600))
        rows += [("c0", at, "dx", "cx"), ("c1", at + 90, "dx", "cx")]
    for evening in range(30):
        for member in ("h0", "h1"):
            rows.append((member, evening * day + 19 * 3600 + int(rng.integers(0, 3 * 3600)),
                         "dh", None))
    rows += [("c0", 30 * day - 1, "own", None)]
    _events(rows).to_parquet(tmp_path / "events.parquet")
    accounts = pd.Index(["c0", "c1", "h0", "h1"])
    entities = pd.Index(["Device:dx", "PaymentMethod:cx", "Device:dh"])
    shared = sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    met = episode_log_chance(event_use_times(tmp_path / "events.parquet"), accounts, entities,
                             np.array([0, 2]), np.array([1, 3]), shared, 3600.0)
    assert met.moments[0] == 6.0
    assert met.log_chance[0] < -8.0
    assert met.moments[1] > 0 and met.log_chance[1] > -1.0
    # uniform over the log the evenings would look far less likely: the days' move is the null
    households = episode_log_chance(
        event_use_times(tmp_path / "events.parquet"), accounts, entities, np.array([2]),
        np.array([3]), shared[1:], 3600.0, shift_days=0)
    assert households.log_chance[0] < met.log_chance[1] - 3.0
    with pytest.raises(ValueError, match="window must be positive"):
        episode_log_chance(event_use_times(tmp_path / "events.parquet"), accounts, entities,
                           np.array([0]), np.array([1]), shared[:1], 0.0)
    assert episode_log_chance(event_use_times(tmp_path / "events.parquet"), accounts, entities,
                              np.array([], dtype=np.int64), np.array([], dtype=np.int64),
                              sp.csr_matrix((0, 3)), 3600.0).log_chance.shape == (0,)


def test_one_evening_of_turns_is_one_moment_not_one_per_turn(tmp_path):
    """Two household members take turns on the family device every 3 minutes for one hour,
    once, and each also uses it alone on two other evenings: a session of turns meets once."""
    day = 86_400
    rows: list[tuple[str, int, str | None, str | None]] = []
    for turn in range(20):
        rows.append(("h0" if turn % 2 else "h1", 11 * day + 20 * 3600 + 180 * turn, "dh", None))
    rows += [("h0", 3 * day + 19 * 3600, "dh", None), ("h0", 20 * day + 21 * 3600, "dh", None),
             ("h1", 6 * day + 18 * 3600, "dh", None), ("h1", 25 * day + 22 * 3600, "dh", None),
             ("z", 0, "own", None), ("z", 30 * day, "own", None)]
    _events(rows).to_parquet(tmp_path / "events.parquet")
    met = episode_log_chance(event_use_times(tmp_path / "events.parquet"),
                             pd.Index(["h0", "h1"]), pd.Index(["Device:dh"]), np.array([0]),
                             np.array([1]), sp.csr_matrix(np.array([[1.0]])), 3600.0)
    assert met.moments[0] == 1.0
    assert met.log_chance[0] > -2.0


def test_event_use_times_reads_the_entity_types_the_ingest_declared(tmp_path):
    events = tmp_path / "events"
    (events / "day=2026-01-01").mkdir(parents=True)
    frame = _events([("a", 10, None, None), ("b", 70, None, None)]).assign(
        merchant_id=["m1", "m1"])
    frame.to_parquet(events / "day=2026-01-01" / "part.parquet")
    IngestState(entities={"Merchant": {"column": "merchant_id",
                                       "relation": "BOUGHT_AT"}}).save(events)
    wanted = pd.DataFrame({"account_id": ["a", "b"], "entity": ["Merchant:m1", "Merchant:m1"]})
    got = event_use_times(events)(wanted).sort_values("i").to_numpy().tolist()
    assert got == [[0, 10], [1, 70]]


def test_co_user_pairs_are_the_pairs_sharing_an_entity_of_every_type_hubs_left_out():
    # accounts x entities: d0, d1 devices (type 0), c0 a card (type 1), h a hub card
    uses = sp.csr_matrix(np.array([
        [1, 0, 1, 1],  # a: d0, c0, h
        [1, 1, 1, 1],  # b: d0, d1, c0, h
        [1, 1, 0, 1],  # c: d0, d1, h
        [0, 0, 0, 1],  # d: h only
    ], dtype=np.float64))
    codes = np.array([0, 0, 1, 1])
    counted = np.array([True, True, True, False])
    sets = np.array([[True, False], [False, True], [True, True], [False, False]])
    counts = co_user_pair_counts(uses, codes, counted, sets)
    # devices: ab, ac, bc (bc twice over, counted once); cards: ab; both: ab; no type: none
    assert counts.tolist() == [3.0, 1.0, 1.0, np.inf]
    # the rarest type's co-user pairs over the limit: left to the caller's bound
    assert np.isinf(co_user_pair_counts(uses, codes, counted, sets, limit=0.5)[0])
    # with a pair filter, a second row counts the pairs it keeps (here those without account a),
    # a chunk at a time
    both = co_user_pair_counts(uses, codes, counted, sets, chunk=1,
                               kept_pairs=lambda a, b: (a != 0) & (b != 0))
    assert both.tolist() == [[3.0, 1.0, 1.0, np.inf], [1.0, 0.0, 0.0, np.inf]]


def test_independent_accounts_active_on_a_few_evenings_are_not_unlikely_pairs():
    """Calibration: 20,000 pairs of independent accounts, each with 3 sessions of 10 uses on 3
    random evenings of a month, sharing a device: the share of pairs at log10 chance <= -k
    stays near 10^-k, and none claims a chance below 1e-5 (a chance alignment of their days
    is about 1 in 4,000)."""
    rng = np.random.default_rng(0)
    day, n_pairs = 86_400, 20_000
    times = [np.concatenate([d * day + 20 * 3600 + rng.uniform(0, 3600, 10)
                             for d in rng.choice(30, 3, replace=False)])
             for _ in range(2 * n_pairs)]
    uses = pd.DataFrame({"i": np.repeat(np.arange(2 * n_pairs), 30),
                         "ts": np.concatenate(times).astype(np.int64)})

    def use_times(wanted: pd.DataFrame) -> pd.DataFrame:
        # one (account, device) use each, in account order
        assert len(wanted) == 2 * n_pairs
        return uses

    accounts = pd.Index([f"p{p}s{s}" for p in range(n_pairs) for s in range(2)])
    entities = pd.Index([f"Device:d{p}" for p in range(n_pairs)])
    shared = sp.csr_matrix((np.ones(n_pairs), (np.arange(n_pairs), np.arange(n_pairs))))
    chance = episode_log_chance(use_times, accounts, entities, np.arange(n_pairs) * 2,
                                np.arange(n_pairs) * 2 + 1, shared, 3600.0).log_chance
    assert (chance <= -2).mean() <= 0.01
    assert (chance <= -3).mean() <= 0.001
    assert chance.min() > -4.5  # 3 meetings of one such pair: -6.55 with the moves' plain mean


def _confined_pairs_log_chance(days: np.ndarray, uses_per_session: int,
                               rng: np.random.Generator, given: bool = False) -> np.ndarray:
    """Episode log chance of independent account pairs (rows 2p, 2p + 1 of ``days``), each
    account using its own shared device in evening sessions (``uses_per_session`` uses at 20-21 h)
    on the days given, in a 30-day log; with ``given``, each account's activity is its uses."""
    day, n_pairs = 86_400, len(days) // 2
    sessions = days.shape[1]
    times = (days[:, :, None] * day + 20 * 3600 + rng.uniform(
        0, 3600, (len(days), sessions, uses_per_session))).reshape(len(days), -1)
    rows = [*times, np.array([0.0]), np.array([30.0 * day - 1])]
    uses = pd.DataFrame({"i": np.repeat(np.arange(len(rows)), [len(t) for t in rows]),
                         "ts": np.concatenate(rows).astype(np.int64)})
    accounts = pd.Index([f"a{i}" for i in range(len(rows))])
    entities = pd.Index([f"Device:d{p}" for p in range(n_pairs + 1)])
    shared = sp.csr_matrix((np.ones(n_pairs + 1), (np.arange(n_pairs + 1),
                                                   np.arange(n_pairs + 1))))
    active = (np.array([t.min() for t in rows]).astype(np.int64),
              np.array([t.max() for t in rows]).astype(np.int64)) if given else None
    return episode_log_chance(lambda wanted: uses, accounts, entities,
                              np.r_[np.arange(n_pairs) * 2, 2 * n_pairs],
                              np.r_[np.arange(n_pairs) * 2 + 1, 2 * n_pairs + 1],
                              shared, 3600.0, active=active).log_chance[:n_pairs]


def test_independent_accounts_active_in_the_same_week_are_not_unlikely_pairs():
    """Calibration: independent accounts whose evening sessions (3 of 10 uses) all fall in one
    week of the month: the share at log10 chance <= -2 stays under 1 %. (Every whole-day move
    of the month, instead of a week each way, failed this: 2.6 %.)"""
    rng = np.random.default_rng(0)
    n_pairs = 6_000
    week = np.repeat(rng.integers(0, 23, n_pairs), 2)
    days = np.argsort(rng.random((2 * n_pairs, 7)), axis=1)[:, :3] + week[:, None]
    chance = _confined_pairs_log_chance(days, 10, rng)
    assert (chance <= -2).mean() <= 0.01
    assert (chance <= -3).mean() <= 0.001


def test_accounts_active_on_the_same_few_days_are_not_strongly_unlikely_pairs():
    """Two independent accounts active on the same 4 evenings and no others (a visit, a holiday)
    meet at most sessions: without their activity the day moves cannot see that and the null
    is loose at -2 here (6.6 % of such pairs; given it, see the next test), but a tail tighter
    than the Poisson's (the binomial over the sessions, tried in session 17) made it 4.3 % at
    -3; the Poisson keeps it under 0.5 %."""
    rng = np.random.default_rng(0)
    n_pairs = 6_000
    start = np.repeat(rng.integers(0, 27, n_pairs), 2)
    days = np.argsort(rng.random((2 * n_pairs, 4)), axis=1) + start[:, None]
    chance = _confined_pairs_log_chance(days, 5, rng)
    assert (chance <= -3).mean() <= 0.005


def test_a_household_s_pair_shares_with_a_small_set_one_entity_all_of_the_set_use():
    # entities: 0 / 10 the family device / card of 0-3, 1 a couple's tablet (0, 1), 2 a ring
    # device of 4 and 5, 3 / 4 the home devices of 4 (with 6) and of 5 (with 7), 5 a ring
    # device of 8 and 9 and 11 their ring card, 6 a device of 10-15, 7 one of 10 and 11, 8 / 9
    # devices of 16, 17 and 18 / of 16, 17 and 19 (a chain: none used by all four)
    users_of = {0: [0, 1, 2, 3], 10: [0, 1, 2, 3], 1: [0, 1], 2: [4, 5], 3: [4, 6], 4: [5, 7],
                5: [8, 9], 11: [8, 9], 6: [10, 11, 12, 13, 14, 15], 7: [10, 11],
                8: [16, 17, 18], 9: [16, 17, 19]}
    uses = np.zeros((21, 12))
    for entity, users in users_of.items():
        uses[users, entity] = 1.0
    a, b = np.array([0, 4, 8, 10, 0, 16]), np.array([1, 5, 9, 11, 2, 17])
    ties = np.ones(12, dtype=bool)
    assert household_pairs(sp.csr_matrix(uses), a, b, ties).tolist() == [
        True, False, False, False, True, False]
    # the family device and card are no ties (hubs, say): the couple's set is the two of them
    ties[[0, 10]] = False
    assert household_pairs(sp.csr_matrix(uses), a, b, ties).tolist()[0] is False
    # one of the couple is also in a colluding pair with an outsider: still the family's pair
    uses[1, 5] = 1.0
    assert household_pairs(sp.csr_matrix(uses), a, b, np.ones(12, dtype=bool)).tolist()[0]
    # an account using the colluders' ring device too makes them look like a family (disclosed)
    uses[20, 5] = 1.0
    assert household_pairs(sp.csr_matrix(uses), a, b, np.ones(12, dtype=bool)).tolist()[2]


def test_a_couple_sharing_a_second_device_and_card_in_a_family_of_four_is_no_finding():
    """Review F5 (session 17): two of a household's four members who also share a tablet and a
    joint card (uses at times of their own) were all reported as pairs (surprise 3.56); two
    colluders from two homes sharing as much and taking turns on it still are."""
    rng = np.random.default_rng(1)
    day, devices, cards = 86_400, [], []
    for h in range(200):
        for i in range(4):
            devices.append((f"h{h}m{i}", f"dh{h}"))
            cards.append((f"h{h}m{i}", f"ch{h}"))
        for i in range(2):
            devices.append((f"h{h}m{i}", f"th{h}"))
            cards.append((f"h{h}m{i}", f"kh{h}"))
    # colluders: 20 pairs, each member also on its own home device with a family member
    for p in range(20):
        for side in "ab":
            devices += [(f"r{p}{side}", f"rd{p}"), (f"r{p}{side}", f"home{p}{side}"),
                        (f"f{p}{side}", f"home{p}{side}")]
            cards += [(f"r{p}{side}", f"rc{p}"), (f"r{p}{side}", f"rk{p}")]
        devices.append((f"r{p}a", f"re{p}"))
        devices.append((f"r{p}b", f"re{p}"))
    devices += [(f"u{i}", f"du{i}") for i in range(2_000)]
    cards += [(f"u{i}", f"cu{i}") for i in range(2_000)]

    def timed(rows: list[tuple[str, str]]) -> pd.DataFrame:
        table = edges(rows, list(rng.uniform(0, 15 * day / 60, len(rows))))
        table["last_ts"] += pd.to_timedelta(rng.integers(0, 15 * day, len(table)), unit="s")
        # colluders take turns on their devices and cards within minutes (review F6: sharing
        # only what no one else uses is what a couple living alone does too)
        ring = table["dst"].str.match(r"r[dekc]\d")
        for column in ("first_ts", "last_ts"):
            table.loc[ring, column] = table[ring].groupby("dst")[column].transform("first")
        return table

    found = find_ring_candidates(snapshot(USED_DEVICE=timed(devices), PAID_WITH=timed(cards)))
    pairs = {tuple(c.members) for c in found if c.kind == "pair"}
    assert not {pair for pair in pairs if pair[0].startswith("h")}
    assert len({pair for pair in pairs if pair[0].startswith("r")}) == 20


def test_independent_accounts_active_only_on_the_same_few_days_are_not_unlikely_pairs():
    """Calibration (review F1, session 17): independent accounts active only on the same 3, 4
    or 5 evenings (a visit, accounts opened near the log's end) meet on most of them; with
    each account's activity given, the moves turn round within the days the pair is active and
    the share at log10 chance <= -2 stays under 1 % (moved over the month, 4.4-6.6 %)."""
    rng = np.random.default_rng(0)
    n_pairs = 2_000
    for days_active in (3, 4, 5):
        start = np.repeat(rng.integers(0, 31 - days_active, n_pairs), 2)
        days = np.argsort(rng.random((2 * n_pairs, days_active)), axis=1) + start[:, None]
        chance = _confined_pairs_log_chance(days, 5, rng, given=True)
        assert (chance <= -2).mean() <= 0.01, days_active
        assert (chance <= -3).mean() <= 0.001, days_active


def test_colluders_meeting_within_minutes_at_different_hours_stay_unlikely():
    """Two accounts that take turns on their device within minutes on 3 days of one week, at
    different hours: the moves among those days (the calendar is the days both used what they
    share, with their first and last uses) never meet, whether or not they were active over the
    whole month; only the shared uses are read."""
    day = 86_400
    meet = np.array([10, 12, 13]) * day + np.array([21, 9, 15]) * 3600
    rows = [meet + 60.0, meet + 240.0, np.array([0.0]), np.array([30.0 * day - 1])]
    uses = pd.DataFrame({"i": np.repeat(np.arange(4), [3, 3, 1, 1]),
                         "ts": np.concatenate(rows).astype(np.int64)})

    def read(wanted: pd.DataFrame) -> pd.DataFrame:
        assert wanted["entity"].tolist() == ["Device:d", "Device:d", "Device:e", "Device:e"]
        return uses

    args = (pd.Index(["a", "b", "x", "y"]), pd.Index(["Device:d", "Device:e"]),
            np.array([0, 2]), np.array([1, 3]), sp.csr_matrix(np.eye(2)), 3600.0)
    alone = episode_log_chance(read, *args).log_chance[0]
    month = episode_log_chance(read, *args, active=(np.zeros(4, np.int64),
                                                    np.full(4, 30 * day - 1))).log_chance[0]
    assert alone < -4.5 and month <= alone


def test_independent_accounts_active_only_on_the_same_days_over_the_month_are_not_unlikely():
    """Calibration (review R6, session 18): independent accounts both active only on the same 4
    or 5 evenings spread over more than 15 days of the month (paydays, weekends: a common
    outside schedule), 2 uses each at random in 20-21 h. Moved by whole days within the month,
    84-100 % of them were at log10 chance <= -2; moved among the days both are active, the
    share stays under 1 % (0.5 % here; 0.07-0.2 % with the sessions' starts read too, their
    tail the binomial at the moves' rate taken as known 0.3-0.4 %, at every window 0.9 %)."""
    rng = np.random.default_rng(0)
    n_pairs = 3_000
    for weekly, sessions in ((False, 4), (False, 5), (True, 4)):
        if weekly:
            common = rng.integers(0, 7, n_pairs)[:, None] + 7 * np.arange(sessions)[None, :]
        else:
            common = np.sort(np.argsort(rng.random((n_pairs, 30)), axis=1)[:, :sessions], axis=1)
            common[:, 0] = rng.integers(0, 5, n_pairs)
            common[:, -1] = rng.integers(22, 30, n_pairs)
        days = np.repeat(common, 2, axis=0)
        chance = _confined_pairs_log_chance(days, 2, rng, given=True)
        assert (chance <= -2).mean() <= 0.005, (weekly, sessions)
        assert (chance <= -3).mean() <= 0.002, (weekly, sessions)


def test_colluders_taking_turns_within_minutes_at_the_same_evening_hour_are_unlikely():
    """Review F2 (session 19): two accounts taking turns on their device 2 minutes apart (4
    turns each, 5 minutes apart) on 6 evenings of the month, each evening's start at random in
    20-21 h, both active all month. Moved among their 6 evenings, their sessions still meet
    about half the time (median log10 chance -1.4 on every use), but their sessions' starts
    meet within 4 minutes about an eighth of it: median -4.6."""
    rng = np.random.default_rng(0)
    day, n_pairs = 86_400, 200
    turns = []
    for _ in range(n_pairs):
        start = rng.choice(30, 6, replace=False) * day + 20 * 3600 + rng.integers(0, 3600, 6)
        at = (start[:, None] + 300 * np.arange(4)[None, :]).ravel()
        turns += [at, at + 120]
    uses = pd.DataFrame({"i": np.repeat(np.arange(2 * n_pairs), 24),
                         "ts": np.concatenate(turns).astype(np.int64)})
    chance = episode_log_chance(
        lambda wanted: uses, pd.Index([f"a{i}" for i in range(2 * n_pairs)]),
        pd.Index([f"Device:d{p}" for p in range(n_pairs)]), np.arange(n_pairs) * 2,
        np.arange(n_pairs) * 2 + 1, sp.identity(n_pairs, format="csr"), 3600.0,
        active=(np.zeros(2 * n_pairs, np.int64), np.full(2 * n_pairs, 30 * day - 1)))
    assert np.median(chance.log_chance) <= -4.0
    assert np.quantile(chance.log_chance, 0.9) <= -3.0
    assert (chance.window_s[chance.log_chance <= -4.0] == 225.0).all()


def test_independent_accounts_with_a_common_schedule_and_lives_of_their_own_are_not_unlikely(
        tmp_path):
    """Calibration (review F2, session 19): independent accounts both using a shared device on
    the same 4 evenings of the month (2 uses each at random in 20-21 h) and nothing else those
    evenings, each also active on 20 random days of its own on its own device. With a calendar
    of the days both accounts were active anywhere, the common evenings a fifth of it, 12 % of
    them were at log10 chance <= -2; of each account's days outside the shared device (the
    common evenings entering only by chance), 70 % (10 days of their own); of the answering
    account's days, 6 % (10 days)."""
    rng = np.random.default_rng(0)
    day, n_pairs, evenings, uses, own = 86_400, 3_000, 4, 2, 20
    common = np.argsort(rng.random((n_pairs, 30)), axis=1)[:, :evenings]
    at = (np.repeat(common, 2, axis=0)[:, :, None] * day + 20 * 3600
          + rng.integers(0, 3600, (2 * n_pairs, evenings, uses))).reshape(2 * n_pairs, -1)
    private = (np.argsort(rng.random((2 * n_pairs, 30)), axis=1)[:, :own] * day
               + rng.integers(7 * 3600, 23 * 3600, (2 * n_pairs, own)))
    account = np.arange(2 * n_pairs)
    events = pd.DataFrame({
        "account_id": np.r_[np.repeat(account, at.shape[1]), np.repeat(account, own)].astype(str),
        "ts": pd.to_datetime(np.r_[at.ravel(), private.ravel()], unit="s", utc=True),
        "device_id": np.r_[np.repeat(account // 2, at.shape[1]).astype(str),
                           np.char.add("own", np.repeat(account, own).astype(str))]})
    events.to_parquet(tmp_path / "events.parquet")
    seconds = np.c_[at, private]
    chance = episode_log_chance(
        event_use_times(tmp_path / "events.parquet"), pd.Index(account.astype(str)),
        pd.Index([f"Device:{p}" for p in range(n_pairs)]), account[0::2], account[1::2],
        sp.identity(n_pairs, format="csr"), 3600.0,
        active=(seconds.min(axis=1), seconds.max(axis=1))).log_chance
    assert (chance <= -2).mean() <= 0.01
    assert (chance <= -3).mean() <= 0.002


def test_no_pair_is_a_household_s_where_nothing_ties_accounts():
    uses = sp.csr_matrix(np.ones((3, 2)))
    out = household_pairs(uses, np.array([0, 1]), np.array([1, 2]), np.zeros(2, dtype=bool))
    assert out.tolist() == [False, False]


def test_independent_accounts_with_an_evening_habit_and_one_odd_evening_are_not_unlikely():
    """Calibration (session 20): independent accounts who both use a shared device on the same 6
    evenings, each starting at 20:30 give or take 3 minutes (a habit: the news, a show), 3 uses
    within 10 minutes, and on one more common day each at a time of its own in 10-18 h. Moving
    whole days keeps each account's time of day, so the habit meets as often moved. A
    within-evening null that moves one account's start uniformly within the pair's range of
    start times (the odd day stretches it to hours) put all such pairs at log10 chance <= -2
    (/tmp/hturns/shiftnull.py: 100 %); here 0.25 %, with or without the sessions' starts."""
    rng = np.random.default_rng(0)
    day, n_pairs, evenings = 86_400, 2_000, 7
    days = np.argsort(rng.random((n_pairs, 30)), axis=1)[:, :evenings]
    start = np.repeat(days, 2, axis=0) * day + 20.5 * 3600 + rng.normal(
        0, 180, (2 * n_pairs, evenings))
    start[:, -1] += rng.uniform(-10.5 * 3600, -2.5 * 3600, 2 * n_pairs)
    at = start[:, :, None] + np.concatenate(
        [np.zeros((2 * n_pairs, evenings, 1)),
         np.sort(rng.uniform(0, 600, (2 * n_pairs, evenings, 2)), axis=2)], axis=2)
    uses = pd.DataFrame({"i": np.repeat(np.arange(2 * n_pairs), 3 * evenings),
                         "ts": at.reshape(-1).astype(np.int64)})
    chance = episode_log_chance(
        lambda wanted: uses, pd.Index([f"a{i}" for i in range(2 * n_pairs)]),
        pd.Index([f"Device:d{p}" for p in range(n_pairs)]), np.arange(n_pairs) * 2,
        np.arange(n_pairs) * 2 + 1, sp.identity(n_pairs, format="csr"), 3600.0,
        active=(np.zeros(2 * n_pairs, np.int64), np.full(2 * n_pairs, 30 * day - 1))).log_chance
    assert (chance <= -2).mean() <= 0.01
    assert (chance <= -3).mean() <= 0.002
