import numpy as np
import pandas as pd

from graph.rings.bursts import (
    _Arrivals,
    _judge,
    _window_count,
    account_times,
    entity_bursts,
)
from graph.rings.candidates import find_ring_candidates
from graph.rings.config import RingConfig
from graph.snapshot import ACCOUNT
from tests.graph.rings.helpers import T0, edges, snapshot

DAY = 86400
START = int(T0.timestamp())


class _World:
    """Account-entity uses of a hand-made world: each ``add`` gives an entity new accounts at
    the given times, fresh (their first event) or not (active 30 days before), each active for
    ``lives`` seconds from its first event."""

    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.ts: list[int] = []
        self.first: list[int] = []
        self.last: list[int] = []
        self.labels: list[str] = []

    def entity(self, label: str) -> int:
        self.labels.append(label)
        return len(self.labels) - 1

    def add(self, entity: int, times: np.ndarray, fresh: bool = True,
            lives: float = 30 * DAY) -> list[int]:
        added = []
        for t in np.asarray(times, np.int64).tolist():
            added.append(len(self.first))
            self.rows.append(len(self.first))
            self.cols.append(entity)
            self.ts.append(t)
            self.first.append(t if fresh else t - 30 * DAY)
            self.last.append(self.first[-1] + int(lives))
        return added

    def also(self, rows: list[int], kind: str, later: float = 10 * DAY) -> None:
        """Each of ``rows`` goes on to an own entity of ``kind`` ``later`` after its first
        event (a phone beside the laptop, a home IP, another seller)."""
        for r in rows:
            self.rows.append(r)
            self.cols.append(self.entity(f"{kind}:own{len(self.labels)}"))
            self.ts.append(self.first[r] + int(later))

    def business(self, n: int, days: int, start_day: int = 0) -> np.ndarray:
        """``n`` times on business hours (9-18) of ``days`` days."""
        day = self.rng.integers(start_day, start_day + days, n)
        return START + day * DAY + (self.rng.uniform(9, 18, n) * 3600).astype(np.int64)

    def honest(self, kind: str, n: int, days: int = 60) -> None:
        """``n`` entities of ``kind`` with one fresh account each, on business hours; every
        other account goes on to a second entity of the kind, every third is a drive-by (gone
        within an hour)."""
        for i in range(n):
            rows = self.add(self.entity(f"{kind}:h{len(self.labels)}"), self.business(1, days),
                            lives=3600 if i % 3 == 0 else 30 * DAY)
            if i % 2:
                self.also(rows, kind)

    def sellers(self, n: int = 100) -> None:
        """``n`` sellers each with 20 reviewers with histories and 3 fresh ones over two
        months, on business hours."""
        for _ in range(n):
            seller = self.entity(f"Seller:s{len(self.labels)}")
            self.add(seller, self.business(20, 60), fresh=False)
            self.add(seller, self.business(3, 60))

    def bursts(self, min_size: int = 3, max_size: int = 50, fresh_s: float = DAY,
               unknown: bool = False) -> list:
        uses = pd.DataFrame({"row": self.rows, "col": self.cols,
                             "first_ts": np.full(len(self.ts), -1) if unknown else self.ts})
        labels = pd.Index(self.labels)
        types, codes = np.unique([label.split(":")[0] for label in self.labels],
                                 return_inverse=True)
        return entity_bursts(uses, np.asarray(self.first, np.int64), codes.astype(np.int64),
                             labels, min_size, max_size, 2.0, fresh_s,
                             np.asarray(self.last, np.int64))


def test_fifty_accounts_on_one_device_in_three_bursts_are_one_group():
    world = _World()
    world.honest("Device", 3000)
    bad = world.entity("Device:farm")
    start = START + 10 * DAY + 20 * 3600
    members = []
    for at, size in ((start, 17), (start + 3 * 3600, 17), (start + 26 * 3600, 16)):
        members += world.add(bad, at + world.rng.integers(0, 900, size), lives=3600)
    bursts = world.bursts()
    assert len(bursts) == 1
    assert bursts[0].rows.tolist() == sorted(members)
    assert bursts[0].evidence[0].startswith("Burst:Device:farm: 50 new accounts in 3 bursts")
    assert bursts[0].log_chance < -10


def test_a_device_gaining_its_accounts_in_daily_sessions_or_over_one_week_is_a_burst():
    # a device gaining 50 in daily 15-minute sessions (the shapes battery's one_device farm,
    # each session its hour's and day's whole arrivals) and one gaining 30 evenly over a week's
    # business hours: the latter only a week judged within the four weeks around it shows
    world = _World()
    world.honest("Device", 3000)
    sessions = world.entity("Device:sessions")
    members = []
    for day, size in ((12, 17), (13, 17), (14, 16)):
        at = START + day * DAY + int(world.rng.uniform(8, 20) * 3600)
        members += world.add(sessions, at + world.rng.integers(0, 900, size), lives=3600)
    spread = world.entity("Device:spread")
    evenly = world.add(spread, world.business(30, 7, start_day=30), lives=3600)
    found = {b.entity: b for b in world.bursts()}
    assert sorted(found) == [sessions, spread]
    assert found[sessions].rows.tolist() == sorted(members)
    # a week's signups fall in one week-cell of one of the two grids only in part
    assert set(found[spread].rows) <= set(evenly) and len(found[spread].rows) >= 20
    assert "of the 4 weeks around it in one week" in found[spread].evidence[1]


def test_a_sellers_history_less_raters_within_a_day_are_a_burst():
    # the seller has 300 honest reviewers with histories over two months; 22 fresh accounts
    # rate it within one day
    world = _World()
    world.honest("Seller", 1000)
    world.sellers()
    seller = world.entity("Seller:target")
    world.add(seller, world.business(300, 60), fresh=False)
    world.add(seller, world.business(10, 60))
    ring = world.add(seller, START + 45 * DAY + world.rng.integers(0, DAY, 22), lives=3600)
    bursts = world.bursts()
    assert [b.rows.tolist() for b in bursts] == [ring]
    assert "BurstChance:" in bursts[0].evidence[1]


def test_honest_look_alikes_are_no_bursts():
    world = _World()
    world.honest("Device", 3000)
    world.honest("IP", 2000)
    # a kiosk: 150 fresh customers sign up on it over business hours of 40 days
    world.add(world.entity("Device:kiosk"), world.business(150, 40))
    # 40 families of 4 sign up on their shared laptop within a few days
    for i in range(40):
        laptop = world.entity(f"Device:family{i}")
        world.add(laptop, world.business(1, 60)[0] + np.sort(world.rng.integers(0, 5 * DAY, 4)))
    # a university NAT: 1,500 fresh students within an orientation week, at every hour
    world.add(world.entity("IP:university"),
              START + 20 * DAY + world.rng.integers(0, 7 * DAY, 1500))
    # a flash sale: 270 existing customers and 30 fresh accounts buy within one hour
    world.sellers()
    sale = world.entity("Seller:sale")
    world.add(sale, world.business(200, 60), fresh=False)
    world.add(sale, START + 30 * DAY + world.rng.integers(0, 3600, 270), fresh=False)
    world.add(sale, START + 30 * DAY + world.rng.integers(0, 3600, 30))
    assert world.bursts() == []


def test_a_surge_starting_at_a_calendar_week_boundary_is_no_burst():
    # 750 students arrive on one NAT IP over a week whose first day is the last of a calendar
    # week (weeks of epoch time): a day's students alone in their calendar week
    world = _World()
    world.honest("IP", 2000)
    first_day = (START // (7 * DAY) + 5) * 7 * DAY - DAY
    world.add(world.entity("IP:campus"), world.business(750, 7, (first_day - START) // DAY))
    assert world.bursts() == []


def test_other_new_users_outside_the_pools_span_stay_with_their_entity():
    # entity 1 gains 20 fresh accounts within 10 minutes, entity 2 one a day; entity 0's 100
    # older users come after every fresh arrival, in the cell that, unclipped, would key into
    # entity 1's burst cell and make its minute a popular one of its own
    codes = np.zeros(3, dtype=np.int64)
    burst = START + 5 * DAY + 12 * 3600 + np.arange(20) * 30
    spread = START + np.arange(10) * DAY + 12 * 3600
    ts = np.concatenate([burst, spread])
    mine = _Arrivals.of(np.arange(20), np.ones(20, np.int64), burst, codes)
    pool = _Arrivals.of(np.arange(30), np.r_[np.ones(20, np.int64), np.full(10, 2)], ts, codes)
    base = ts.min() - ts.min() % 3600
    span = int((ts.max() - base) // 900) + 1
    late = np.full(100, base + (span + (burst[0] - base) // 900) * 900 + 1)
    older = _Arrivals.of(np.arange(100, 200), np.zeros(100, np.int64), late, codes)
    cells = _judge(pool, mine, older, codes, np.array([0, 20, 10]), 900, 3600, 0, 4, 50)
    assert cells.col.tolist() == [1] and cells.log_chance[0] < -5


def test_window_count_is_the_cells_whose_window_holds_enough():
    # entity 0: arrivals in cells 0, 1, 9; entity 1: 4, 4, 4, 20; windows of 5 cells (half 2)
    col = np.array([0, 0, 0, 1, 1, 1, 1])
    cell = np.array([0, 1, 9, 4, 4, 4, 20])
    brute = sum(
        1 for e in (0, 1) for x in range(-5, 30)
        if np.sum((col == e) & (np.abs(cell - x) <= 2)) >= 2)
    assert _window_count(col, cell, 2, 2) == brute == 4 + 5
    assert _window_count(col, cell, 2, 3) == 5
    assert _window_count(col, cell, 2, 5) == 0


def test_a_crowd_that_goes_on_or_stays_is_no_burst_and_a_farm_is():
    # 30 accounts created on one device within an hour: students and customers then use their
    # own phones (a lab, a store opening), a loyalty kiosk's customers come back to it for weeks;
    # a farm's accounts live on the one device, briefly
    for variant in ("goes on", "stays", "farm", "farm at the log's end"):
        world = _World()
        world.honest("Device", 3000)
        day = 88 if variant == "farm at the log's end" else 20
        rows = world.add(world.entity("Device:lab"),
                         START + day * DAY + 10 * 3600 + world.rng.integers(0, 3600, 30),
                         lives=30 * DAY if variant == "stays" else 3600)
        if variant == "goes on":
            world.also(rows, "Device", later=DAY / 2)
        bursts = world.bursts()
        if variant != "farm":
            assert bursts == [], variant
        else:
            assert [b.rows.tolist() for b in bursts] == [rows]
            assert bursts[0].evidence[-1].startswith(
                "BurstExclusive:30 of 30 use no other Device and are gone within 7 days")


def test_a_launch_day_explains_itself():
    # every account of the log arrives within its first two hours: shared office devices of
    # 5-8 accounts too
    world = _World()
    for i in range(600):
        size = 1 if i >= 60 else 5 + i % 4
        world.add(world.entity(f"Device:d{i}"),
                  START + world.rng.integers(0, 2 * 3600, size))
    assert world.bursts() == []


def test_without_event_times_there_are_no_bursts():
    world = _World()
    world.honest("Device", 100)
    world.add(world.entity("Device:farm"), START + world.rng.integers(0, 600, 20), lives=3600)
    assert world.bursts(unknown=True) == []
    assert len(world.bursts()) == 1


def test_a_burst_over_max_size_is_no_candidate():
    world = _World()
    world.honest("Device", 3000)
    world.add(world.entity("Device:farm"), START + 5 * DAY + world.rng.integers(0, 600, 20),
              lives=3600)
    assert len(world.bursts()) == 1
    assert world.bursts(max_size=19) == []


def test_account_times_take_the_node_table_and_the_uses():
    snap = snapshot(USED_DEVICE=edges([("a", "d1"), ("b", "d1"), ("c", "d2")], [60.0, 0.0, 5.0]))
    snap.nodes[ACCOUNT] = pd.DataFrame({
        "id": ["a", "b", "c"],
        "first_ts": [T0 + pd.Timedelta(minutes=10), pd.NaT, T0 + pd.Timedelta(minutes=30)],
        "last_ts": [T0 + pd.Timedelta(minutes=90), pd.NaT, T0 + pd.Timedelta(minutes=30)]})
    accounts = pd.Index(["a", "b", "c"])
    uses = pd.DataFrame({"row": [0, 1, 2], "first_ts": [START + 3600, START, START + 300],
                         "last_ts": [START + 3600, START + 60, START + 300]})
    first, last = account_times(snap, accounts, uses)
    assert first.tolist() == [START + 600, START, START + 300]
    assert last.tolist() == [START + 5400, START + 60, START + 1800]


def test_a_burst_is_a_candidate_judged_by_its_own_test():
    # 12 accounts created on one device within ten minutes, each with its own IP; 400 honest
    # accounts each on their own device over two months of business hours
    rng = np.random.default_rng(3)
    honest = [(f"h{i}", f"hd{i}") for i in range(400)]
    minutes = [60.0 * (24 * rng.integers(0, 60) + rng.uniform(9, 18)) for _ in honest]
    # every other honest account goes on to a phone of its own
    honest += [(f"h{i}", f"phone{i}") for i in range(0, 400, 2)]
    minutes += [m + 60.0 * 24 * 10 for m in minutes[0:400:2]]
    farm = [(f"f{i}", "farm") for i in range(12)]
    farm_minutes = [60.0 * 24 * 30 + 60 * 21 + rng.uniform(0, 10) for _ in farm]
    ips = [(f"f{i}", f"ip{i}") for i in range(12)]
    snap = snapshot(USED_DEVICE=edges(honest + farm, minutes + farm_minutes),
                    USED_IP=edges(ips, farm_minutes))
    candidates = find_ring_candidates(snap, RingConfig())
    burst = next(c for c in candidates if "entity_burst" in c.kind)
    assert burst.members == sorted(f"f{i}" for i in range(12))
    assert burst.core == burst.members
    assert burst.evidence[0].startswith("Burst:Device:farm: 12 new accounts within")
    assert burst.features["surprise"] >= burst.features["burst_surprise"] > 2.0
    off = find_ring_candidates(snap, RingConfig(bursts=False))
    assert not any("entity_burst" in c.kind for c in off)
