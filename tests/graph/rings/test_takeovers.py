from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from graph.rings.candidates import find_ring_candidates
from graph.rings.config import RingConfig
from graph.rings.takeovers import (
    AGE_S,
    BRIEF_USE_S,
    entered_pairs,
    event_failures,
    failed_uses,
    takeover_groups,
)
from ingest.state import IngestState
from tests.graph.rings.helpers import T0, edges, snapshot

DAY = 86400
START = int(T0.timestamp())


class _Log:
    """Account-entity uses of a hand-made log: ``accounts`` accounts living from day 0 on their
    own device and home IP (used from day 0 to day 80), visiting cafés' IPs and buying new
    phones (the types' references), and what :meth:`arrive` adds."""

    def __init__(self, accounts: int = 400) -> None:
        self.rng = np.random.default_rng(0)
        self.labels: list[str] = []
        self.uses: list[tuple[int, int, int, int, bool]] = []
        self.n = accounts
        for a in range(accounts):
            for kind in ("Device", "IP"):
                self.uses.append((a, self.entity(f"{kind}:own{a}"), START, START + 80 * DAY,
                                  bool(a % 30 == 0)))
        # 100 honest IPs (cafés, carriers) each reached by 10 of the accounts on a visit, a
        # failed password on one in thirty
        for i in range(100):
            ip = self.entity(f"IP:cafe{i}")
            for a in self.rng.choice(accounts, 10, replace=False).tolist():
                t = START + int(self.rng.uniform(10, 70) * DAY)
                self.uses.append((a, ip, t, t + 600, bool(self.rng.random() < 1 / 30)))
        # every other account buys a new phone on a day of its own and keeps it
        for a in range(0, accounts, 2):
            t = START + int(self.rng.uniform(10, 70) * DAY)
            self.uses.append((a, self.entity(f"Device:phone{a}"), t, START + 80 * DAY,
                              bool(self.rng.random() < 1 / 30)))

    def entity(self, label: str) -> int:
        self.labels.append(label)
        return len(self.labels) - 1

    def arrive(self, label: str, accounts: np.ndarray, day: float, hours: float,
               failing: float, stay_s: float = 120) -> None:
        """``accounts`` arrive at a new entity ``label`` within ``hours`` of ``day``, a share
        ``failing`` with a failed attempt there, each using it ``stay_s``."""
        entity = self.entity(label)
        for a in accounts.tolist():
            t = START + int(day * DAY + self.rng.uniform(0, hours * 3600))
            self.uses.append((a, entity, t, t + int(stay_s),
                              bool(self.rng.random() < failing)))

    def arrive_tool(self, accounts: np.ndarray, day: float, hours: float,
                    failing: float | np.ndarray, ip: str = "IP:tool",
                    device: str = "Device:toolfp", stay_s: float = 120) -> None:
        """``accounts`` worked by a tool within ``hours`` of ``day``: each login through its
        ``ip`` and ``device`` at once, a share ``failing`` with a failed attempt there (or
        those ``failing`` marks), each using them ``stay_s``."""
        sides = [self.entity(ip), self.entity(device)]
        marked = np.broadcast_to(failing, len(accounts)) if np.ndim(failing) else None
        for i, a in enumerate(accounts.tolist()):
            t = START + int(day * DAY + self.rng.uniform(0, hours * 3600))
            fails = bool(marked[i] if marked is not None else self.rng.random() < failing)
            self.uses += [(a, side, t, t + int(stay_s), fails) for side in sides]

    def groups(self, min_size: int = 3, refused: bool = False) -> list:
        """The takeover groups of the log (``refused``: a use with a failed attempt is one
        where every attempt failed, the account never got in there)."""
        row, col, first, last, failed = (np.array(c) for c in zip(*self.uses, strict=True))
        uses = pd.DataFrame({"row": row, "col": col, "first_ts": first, "last_ts": last})
        codes = np.array([0 if label.startswith("Device") else 1 for label in self.labels])
        account_first = np.full(self.n, START, dtype=np.int64)
        return takeover_groups(uses, failed, account_first, codes, pd.Index(self.labels),
                               min_size, 1000, 2.0, self.got_in if refused else None)

    def got_in(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Whether each account got in at each entity: a use without a failed attempt."""
        failing = {(a, c) for a, c, _, _, f in self.uses if f}
        return np.array([(a, c) not in failing for a, c in zip(rows.tolist(), cols.tolist(),
                                                                strict=True)], dtype=bool)


def test_stuffing_from_a_tool_ip_and_device_is_one_group():
    log = _Log()
    victims = np.arange(0, 120, 2)
    # the tool's IP and device: each victim fails first there, gets in and leaves
    log.arrive_tool(victims, 30, 3, failing=0.9)
    found = log.groups()
    assert len(found) == 1
    assert set(found[0].rows.tolist()) <= set(victims.tolist())
    assert len(found[0].rows) >= 50
    assert found[0].log_chance < -20
    assert found[0].evidence[0].startswith("Takeover:")
    assert "IP:tool" in found[0].evidence[0] and "Device:toolfp" in found[0].evidence[0]
    assert any(e.startswith("TakeoverChance:") for e in found[0].evidence)


def test_a_tool_ip_used_in_three_campaigns_is_found_on_each_day():
    log = _Log()
    tool, fingerprint = log.entity("IP:tool"), log.entity("Device:toolfp")
    for campaign, day in enumerate((20, 35, 50)):
        for a in range(20 * campaign, 20 * campaign + 20):
            t = START + day * DAY + int(log.rng.uniform(0, 3 * 3600))
            log.uses += [(a, tool, t, t + 120, True), (a, fingerprint, t, t + 120, True)]
    found = log.groups()
    assert [len(g.rows) for g in found] == [60]


@pytest.mark.parametrize("failing", [0.25, 0.4])
def test_a_loyalty_tablet_whose_customers_mostly_succeed_is_no_takeover(failing):
    # 150 customers with lives of their own log in once each on a store's new tablet over a
    # business day; unused to it, a quarter (or 40 %) mistype first: far above the type's
    # rate, but most get in at once
    log = _Log()
    log.arrive_tool(np.arange(150), 36, 8, failing, ip="IP:store", device="Device:tablet")
    assert log.groups() == []


def test_the_same_tablet_with_most_attempts_failing_is_one():
    # the effect bar is what tells the tablet from a tool: at 90 % failing it is reported
    log = _Log()
    log.arrive_tool(np.arange(150), 36, 8, 0.9, ip="IP:store", device="Device:tablet")
    assert len(log.groups()) == 1


def _conference(log: _Log) -> None:
    # 300 attendees on the conference's new Wi-Fi IP, logging in on and off over two days
    wifi = log.entity("IP:conference")
    for a in log.rng.choice(log.n, 300, replace=False).tolist():
        t = START + int(30 * DAY + log.rng.uniform(0, 6 * 3600))
        log.uses.append((a, wifi, t, t + int(log.rng.uniform(1, 2) * DAY),
                         bool(log.rng.random() < 0.05)))


def _reset_wave(log: _Log) -> None:
    # a breach notice: 300 accounts fail 1-3 times on their own device and home IP, then
    # reset; what they use is theirs since day 0, no arrival
    for a in log.rng.choice(log.n, 300, replace=False).tolist():
        for own in (2 * a, 2 * a + 1):
            r, c, first, last, _ = log.uses[own]
            log.uses[own] = (r, c, first, last, True)


def _renumbering(log: _Log) -> None:
    # a carrier moves 200 accounts onto its 6 new IPs within hours; a quarter fail once on
    # the way back in, all stay
    ips = [log.entity(f"IP:carrier_new{i}") for i in range(6)]
    for a in log.rng.choice(log.n, 200, replace=False).tolist():
        t = START + int(45 * DAY + log.rng.uniform(0, 5 * 3600))
        log.uses.append((a, ips[a % 6], t, START + 80 * DAY, bool(log.rng.random() < 0.25)))


def _app_update(log: _Log) -> None:
    # an app update: 300 accounts' fingerprints become one of 5 new ones within hours, and stay
    fps = [log.entity(f"Device:version{i}") for i in range(5)]
    for a in log.rng.choice(log.n, 300, replace=False).tolist():
        t = START + int(55 * DAY + log.rng.uniform(0, 6 * 3600))
        log.uses.append((a, fps[a % 5], t, START + 80 * DAY, bool(log.rng.random() < 0.2)))


def _hotel(log: _Log) -> None:
    # 200 guests on a hotel's Wi-Fi one night, one login each, 5 % mistyping first
    log.arrive("IP:hotel", log.rng.choice(log.n, 200, replace=False), 33, 5, failing=0.05)


def _forced_reset_through_a_carrier(log: _Log) -> None:
    # review R20: the carrier's 10 NAT IPs gain accounts every day (brief phone sessions, 3 %
    # mistyped); on day 50 a platform-wide forced reset: 300 accounts try the old password
    # first through a carrier IP new to them, then get in
    ips = [log.entity(f"IP:carrier{i}") for i in range(10)]
    for a in range(log.n):
        for ip in log.rng.choice(ips, 3, replace=False).tolist():
            t = START + int(log.rng.uniform(10, 80) * DAY)
            log.uses.append((a, ip, t, t + 600, bool(log.rng.random() < 0.03)))
    seen = {(a, c) for a, c, *_ in log.uses}
    for a in log.rng.choice(log.n, 300, replace=False).tolist():
        ip = ips[int(log.rng.integers(10))]
        if (a, ip) not in seen:
            t = START + int(50 * DAY + log.rng.uniform(0, 6 * 3600))
            log.uses.append((a, ip, t, t + 300, bool(log.rng.random() < 0.9)))


@pytest.mark.parametrize("lookalike", [_conference, _reset_wave, _renumbering, _app_update,
                                       _hotel, _forced_reset_through_a_carrier])
def test_honest_arrivals_at_new_entities_are_no_takeovers(lookalike):
    log = _Log()
    lookalike(log)
    assert log.groups() == []
    # the same log with a tool's 40 victims still finds them, and them alone
    victims = np.arange(0, 80, 2)
    log.arrive_tool(victims, 60, 3, failing=1.0)
    found = log.groups()
    assert [sorted(g.rows.tolist()) for g in found] == [victims.tolist()]


def test_an_office_ip_every_one_fails_on_first_but_stays_on_is_no_takeover():
    # a password-reset wave the morning staff move to the office's new NAT IP: all fail
    # first there, then use it for weeks
    log = _Log()
    log.arrive("IP:office", np.arange(100), 40, 1, failing=1.0, stay_s=20 * DAY)
    assert log.groups() == []


def test_new_accounts_failing_on_a_device_are_not_takeovers():
    # the accounts' first event is their arrival: no history of their own
    log = _Log()
    log.arrive_tool(np.arange(60), 30, 2, failing=1.0)
    row, col, first, last, failed = (np.array(c) for c in zip(*log.uses, strict=True))
    uses = pd.DataFrame({"row": row, "col": col, "first_ts": first, "last_ts": last})
    codes = np.array([0 if label.startswith("Device") else 1 for label in log.labels])
    # every account's first event is within AGE_S of its arrival
    account_first = np.full(log.n, START + 30 * DAY - AGE_S + 3 * 3600, dtype=np.int64)
    assert takeover_groups(uses, failed, account_first, codes, pd.Index(log.labels), 3, 1000,
                           2.0) == []


def test_no_failed_attempt_no_takeover():
    log = _Log()
    log.arrive("IP:tool", np.arange(60), 30, 3, failing=1.0)
    row, col, first, last, _ = (np.array(c) for c in zip(*log.uses, strict=True))
    uses = pd.DataFrame({"row": row, "col": col, "first_ts": first, "last_ts": last})
    assert takeover_groups(uses, np.zeros(len(row), dtype=bool), np.full(log.n, START),
                           np.ones(len(log.labels), dtype=np.int64), pd.Index(log.labels), 3,
                           1000, 2.0) == []


def test_a_use_longer_than_brief_does_not_qualify():
    log = _Log()
    log.arrive_tool(np.arange(60), 30, 3, failing=1.0, stay_s=BRIEF_USE_S + 60)
    assert log.groups() == []


def test_a_campaign_over_max_group_size_falls_back_to_each_entity_capped():
    # review R19: the tool's fingerprint ties every victim into one group; over the bound each
    # entity's first max_group_size victims are a group, the rest counted, never dropped
    log = _Log()
    victims = np.arange(60)
    log.arrive_tool(victims, 30, 3, failing=1.0)
    row, col, first, last, failed = (np.array(c) for c in zip(*log.uses, strict=True))
    uses = pd.DataFrame({"row": row, "col": col, "first_ts": first, "last_ts": last})
    codes = np.array([0 if label.startswith("Device") else 1 for label in log.labels])
    labels = pd.Index(log.labels)
    whole = takeover_groups(uses, failed, np.full(log.n, START), codes, labels, 3, 60, 2.0)
    assert [len(g.rows) for g in whole] == [60]
    capped = takeover_groups(uses, failed, np.full(log.n, START), codes, labels, 3, 50, 2.0)
    assert [len(g.rows) for g in capped] == [50, 50]
    assert all("10 more such accounts arrived there" in g.evidence[0] for g in capped)


def test_a_help_desk_over_weeks_is_no_takeover_but_the_same_in_one_day_is():
    # review R18: a desk where locked-out customers recover their account, a few a week, most
    # failing first: judged per day it is no tool; 40 of them within one day would be
    log = _Log()
    customers = np.arange(40)
    desk, pc = log.entity("IP:desk"), log.entity("Device:deskpc")
    for a in customers.tolist():
        t = START + int(log.rng.uniform(10, 80) * DAY)
        fails = bool(log.rng.random() < 0.8)
        log.uses += [(a, desk, t, t + 300, fails), (a, pc, t, t + 300, fails)]
    assert log.groups() == []
    log = _Log()
    log.arrive_tool(customers, 40, 6, 0.8, ip="IP:desk", device="Device:deskpc")
    assert len(log.groups()) == 1


def _event_store(tmp_path: Path, event_type: list[str], **columns: list) -> Path:
    """A one-segment event store of the given events, all at ``T0``."""
    events = tmp_path / "events"
    events.mkdir()
    table = pa.table({"account_id": columns.pop("account_id"),
                      "ts": pd.to_datetime([T0] * len(event_type)),
                      "event_type": event_type, **columns})
    pq.write_table(table, events / "part.parquet")
    return events


def test_event_failures_read_the_attempts_the_mapping_declared_failed(tmp_path):
    events = _event_store(tmp_path, ["login"] * 6,
                          account_id=["a", "a", "b", "c", "c", "d"],
                          device_id=["d1", "d1", None, "d2", "d3", "d4"],
                          ip=["i1", "i1", "i2", None, "i3", "i4"],
                          result=[1.0, 1.0, 2.0, 0.0, None, 3.0])
    # no declaration: the log says nothing of failed attempts
    assert event_failures(events) is None
    IngestState(attributes={"result": "float"}, failures={"result": [1.0, 2.0]}).save(events)
    found = event_failures(events)
    assert sorted(map(tuple, found[["account_id", "entity"]].to_numpy().tolist())) == [
        ("a", "Device:d1"), ("a", "IP:i1"), ("b", "IP:i2")]


def test_failed_uses_mark_the_uses_with_a_failed_attempt():
    uses = pd.DataFrame({"row": [0, 0, 1, 2], "col": [0, 1, 1, 0]})
    failures = pd.DataFrame({"account_id": ["a", "c", "x"],
                             "entity": ["IP:i1", "Device:d1", "IP:i1"]})
    marked = failed_uses(uses, pd.Index(["a", "b", "c"]), pd.Index(["Device:d1", "IP:i1"]),
                         failures)
    assert marked.tolist() == [False, True, False, True]


def test_a_takeover_is_a_candidate_judged_by_its_own_test():
    # 300 accounts living on their own devices for two months (half buy a new phone on a day
    # of their own); on day 40, 30 of them log in from a tool's device within an hour, each
    # after a failed attempt, and never again
    rng = np.random.default_rng(1)
    own = [(f"a{i}", f"dev{i}") for i in range(300)] + [(f"a{i}", f"phone{i}")
                                                       for i in range(1, 300, 2)]
    minutes = [0.0] * 300 + [60.0 * 24 * rng.uniform(20, 50) for _ in range(150)]
    own_last = [60.0 * 24 * 60] * 450
    tool = [(f"a{i}", "toolfp") for i in range(0, 60, 2)]
    at = [60.0 * 24 * 40 + rng.uniform(0, 60) for _ in tool]
    used = edges(own + tool, minutes + at)
    used["last_ts"] = [T0 + pd.Timedelta(minutes=m) for m in own_last + at]
    snap = snapshot(USED_DEVICE=used)
    failures = pd.DataFrame({"account_id": [a for a, _ in tool],
                             "entity": ["Device:toolfp"] * len(tool)})
    candidates = find_ring_candidates(snap, RingConfig(), failures=failures)
    found = next(c for c in candidates if "account_takeover" in c.kind)
    assert found.members == sorted(a for a, _ in tool)
    assert found.core == found.members
    assert found.evidence[0].startswith("Takeover:30 accounts with their own history")
    assert found.features["burst_surprise"] > 10.0
    assert not any("account_takeover" in c.kind for c in find_ring_candidates(snap, RingConfig()))


def test_the_accounts_the_tool_got_in_at_the_first_try_are_members_too():
    # review R22: most leaked passwords are wrong (failed, never in), the right ones get in at
    # the first try (no failure): both are the tool's arrivals on its day
    log = _Log()
    victims = np.arange(0, 200, 2)
    log.arrive_tool(victims, 30, 3, failing=0.85)
    found = log.groups()
    assert [sorted(g.rows.tolist()) for g in found] == [victims.tolist()]
    assert "without one (in at the first try)" in found[0].evidence[0]


@pytest.mark.parametrize("honest", [30, 90])
@pytest.mark.parametrize("private", [False, True])
def test_honest_arrivals_at_an_exit_the_tool_shares_are_not_members(honest, private):
    # review R26: the tool works through a VPN exit new that day (its own fingerprint, 90 %
    # failing); honest subscribers come out of the same exit that day on their own devices
    # (sessions up to half an hour, 3 % mistyping), half of them in a private window whose
    # fingerprint is new and theirs alone (review R27): the tool's victims alone are members
    log = _Log(accounts=600)
    victims = np.arange(100)
    log.arrive_tool(victims, 30, 3.6, failing=0.9, ip="IP:vpnexit")
    exit_ip = log.labels.index("IP:vpnexit")
    for a in range(300, 300 + honest):
        t = START + int((30 + log.rng.uniform(0, 0.5)) * DAY)
        fails = bool(log.rng.random() < 0.03)
        log.uses.append((a, exit_ip, t, t + 1800, fails))
        if private and a % 2:
            log.uses.append((a, log.entity(f"Device:private{a}"), t, t + 1800, fails))
    found = log.groups()
    assert [sorted(g.rows.tolist()) for g in found] == [victims.tolist()]


def test_a_tool_with_a_fresh_fingerprint_per_victim_through_its_own_ip_is_found():
    # review R32: every victim's login through the tool's IP carries a fingerprint new to it
    # and never seen again; nobody arrives at the IP with a device of their own
    log = _Log()
    victims = np.arange(0, 200, 2)
    tool = log.entity("IP:tool")
    for a in victims.tolist():
        t = START + 30 * DAY + int(log.rng.uniform(0, 3 * 3600))
        fails = bool(log.rng.random() < 0.9)
        log.uses += [(a, tool, t, t + 120, fails), (a, log.entity(f"Device:fresh{a}"), t,
                                                     t + 120, fails)]
    assert [sorted(g.rows.tolist()) for g in log.groups()] == [victims.tolist()]


def _fresh_tool(log: _Log, victims: np.ndarray, ips: list[str], hour: float,
                failing: float = 0.9) -> None:
    """A tool drawing a fresh fingerprint per victim through ``ips`` of its own (in turn) within
    three hours from ``hour`` of day 30, failing first on a share ``failing`` of each IP's."""
    tool = [log.entity(ip) for ip in ips]
    for i, a in enumerate(victims.tolist()):
        t = START + int((30 + hour / 24) * DAY + log.rng.uniform(0, 3 * 3600))
        fails = (i // len(tool)) % 10 < round(10 * failing)
        log.uses += [(a, tool[i % len(tool)], t, t + 120, fails),
                     (a, log.entity(f"Device:fresh{a}"), t, t + 120, fails)]


def test_a_fresh_fingerprint_tools_ips_are_one_group():
    # review R32 / session 27: through 4 IPs of its own and a fresh fingerprint per victim
    # nothing ties the tool's IPs together (one group per IP before); their arrivals interleave
    # and fail alike: one group. A second tool the same day, hours later, is a group of its own
    log = _Log(accounts=600)
    first, second = np.arange(0, 400, 2), np.arange(1, 400, 4)
    _fresh_tool(log, first, [f"IP:tool{i}" for i in range(4)], hour=9)
    _fresh_tool(log, second, [f"IP:late{i}" for i in range(4)], hour=15)
    found = sorted(log.groups(), key=lambda g: g.rows[0])
    assert [sorted(g.rows.tolist()) for g in found] == [first.tolist(), second.tolist()]
    assert all("4 groups of one type's entities sharing no account" in g.evidence[0]
               for g in found)


@pytest.mark.parametrize("patrons", [12, 60])
def test_a_group_joined_to_a_tool_is_judged_by_its_own_test(patrons):
    # a library IP where patrons log in in private windows (a fresh fingerprint each), 60 %
    # mistyping first, the hours the tool works (also 60 % failing): interleaved and failing
    # alike. A group far weaker than the tool's stays its own; one joined (as strong as a
    # tool's IP) makes the joined group no more surprising than the library alone: a tool's
    # surprise never carries honest accounts the library's own test would not
    patrons_ = np.arange(401, 401 + 2 * patrons, 2)
    victims = np.arange(0, 400, 2)

    def log_with(tool: bool) -> _Log:
        log = _Log(accounts=600)
        library = log.entity("IP:library")
        for a in patrons_.tolist():
            t = START + int((30 + 9 / 24) * DAY + log.rng.uniform(0, 3 * 3600))
            fails = bool(log.rng.random() < 0.6)
            log.uses += [(a, library, t, t + 600, fails),
                         (a, log.entity(f"Device:private{a}"), t, t + 600, fails)]
        if tool:
            _fresh_tool(log, victims, [f"IP:tool{i}" for i in range(4)], hour=9, failing=0.6)
        return log

    alone = log_with(tool=False).groups()
    assert len(alone) == 1 and set(alone[0].rows.tolist()) <= set(patrons_.tolist())
    found = log_with(tool=True).groups()
    held = [g for g in found if set(g.rows.tolist()) & set(patrons_.tolist())]
    assert held and all(g.log_chance >= alone[0].log_chance for g in held)
    # the weak library (12 patrons) stays a group of its own
    assert (patrons == 60) == any(set(g.rows.tolist()) & set(victims.tolist()) for g in held)


def test_a_tool_replaying_its_victims_own_fingerprints_is_not_found():
    # the tool's logins carry each victim's own fingerprint (no second side new to them): its
    # arrivals at the IP, failing or not, are not told from honest accounts arriving there on
    # their own devices (review R28: the failing ones were members, with the honest who
    # mistyped there, or not, as three new fingerprints at the IP happened to say)
    log = _Log()
    log.arrive("IP:tool", np.arange(0, 200, 2), 30, 3, failing=0.85)
    assert log.groups() == []


def test_a_log_naming_one_side_keeps_the_failing_arrivals():
    # the log's failures are on IPs alone (no device fingerprint in its logins): a takeover
    # IP keeps its arrivals with a failed attempt
    log = _Log()
    log.uses = [(a, c, first, last, f and log.labels[c].startswith("IP"))
                for a, c, first, last, f in log.uses]
    log.arrive("IP:tool", np.arange(0, 200, 2), 30, 3, failing=0.85)
    failing = sorted({a for a, c, _, _, f in log.uses if f and log.labels[c] == "IP:tool"})
    found = log.groups()
    assert [sorted(g.rows.tolist()) for g in found] == [failing]
    assert f"{len(failing)} with a failed attempt there and 0 without one" in found[0].evidence[0]


def test_a_tool_coming_back_to_each_account_hours_later_is_still_brief():
    # review R23: the tool logs in again on the same IP 1-3 h later
    log = _Log()
    log.arrive_tool(np.arange(60), 30, 3, failing=1.0, stay_s=3 * 3600)
    assert len(log.groups()) == 1


def test_a_tool_coming_back_to_each_account_the_next_day_is_still_brief():
    # hreview's stuff_return_day: the tool logs in again on the same IP 26-30 h later
    log = _Log()
    log.arrive_tool(np.arange(60), 30, 3, failing=1.0, stay_s=30 * 3600)
    assert len(log.groups()) == 1


def test_accounts_the_tool_never_got_into_are_counted_not_members():
    # the tool's wrong passwords fail and never get in (every attempt there refused): those
    # accounts' passwords held, they are honest; the first-try successes are the group
    log = _Log()
    victims = np.arange(0, 200, 2)
    log.arrive_tool(victims, 30, 3, failing=0.85)
    found = log.groups(refused=True)
    taken = sorted({a for a, c, _, _, f in log.uses
                    if not f and log.labels[c] == "IP:tool"})
    assert [sorted(g.rows.tolist()) for g in found] == [taken]
    assert f"{len(victims) - len(taken)} more accounts arrived there on those days and never " \
           "got in" in found[0].evidence[0]
    # failing at one of the tool's IPs and fingerprints, then in at another pair: a member
    log = _Log()
    log.arrive_tool(victims, 30, 3, failing=1.0)
    log.arrive_tool(np.concatenate([victims[:40], np.arange(201, 320, 2)]), 30, 3,
                    failing=np.arange(100) >= 40, ip="IP:tool2", device="Device:toolfp2")
    assert [sorted(g.rows.tolist()) for g in log.groups(refused=True)] == [
        victims[:40].tolist()]


def test_an_account_refused_at_the_tool_and_in_at_once_elsewhere_is_a_member():
    # the tool fails at its IP and fingerprint, then gets in 40 s later through a proxy IP and
    # a fingerprint used once (no takeover entity): taken over all the same
    log = _Log()
    victims = np.arange(0, 200, 2)
    log.arrive_tool(victims, 30, 3, failing=1.0)
    tool = log.labels.index("IP:tool")
    for a, _, t, _, _ in [u for u in log.uses if u[1] == tool][:40]:
        log.uses += [(a, log.entity(f"IP:proxy{a}"), t + 40, t + 40, False),
                     (a, log.entity(f"Device:once{a}"), t + 40, t + 40, False)]
    found = log.groups(refused=True)
    assert [sorted(g.rows.tolist()) for g in found] == [victims[:40].tolist()]


def test_entered_pairs_say_where_a_failing_account_got_in(tmp_path):
    events = _event_store(tmp_path, ["login"] * 5 + ["order"],
                          account_id=["a", "a", "b", "b", "c", "a"],
                          device_id=["d1", "d1", None, "d5", "d2", None],
                          ip=["i1", "i1", "i2", "i2", "i3", "i9"],
                          result=[1.0, 1.0, 2.0, 0.0, 1.0, None])
    IngestState(attributes={"result": "float"}, failures={"result": [1.0, 2.0]}).save(events)
    pairs = event_failures(events)
    # b got in at i2 after failing there; a failed at d1 / i1 and got in nowhere there (its
    # order was through i9); c failed at i3 and d2 only
    got_in = dict(zip(pairs["account_id"] + "@" + pairs["entity"],
                      entered_pairs(events, pairs).tolist(), strict=True))
    assert got_in == {"a@Device:d1": False, "a@IP:i1": False, "b@IP:i2": True,
                      "c@Device:d2": False, "c@IP:i3": False}
