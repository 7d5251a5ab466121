"""Honest money-flow look-alikes: rings reported per world through ``abusenet run``.

Usage::

    python -m benchmarks.honest_flows [--worlds flatmates trips ...] [--seeds 0 1 2]
                                      [--out DIR] [--set SECTION.KEY=VALUE ...]

Every world is honest: a base population (accounts with an own device, home IP and card,
buying from shops and now and then paying a friend) and one kind of honest group whose money
moves in a shape a ring detector may mistake for laundering (:data:`WORLDS`):

* ``flatmates``: households of 4 on one home Wi-Fi IP each paying their landlord the same rent
  every 30 days, each on its own day within +-2 days, and paying back the flatmate who paid
  the month's bill;
* ``trips``: groups of 8 new accounts that appear for one week's trip and settle up in a loop
  (each pays the next once), in a two-year log;
* ``couples``: two accounts on one laptop, card and home IP paying each other back and forth;
* ``salaries``: employers paying their staff a fixed salary on the same day every month from
  the office IP;
* ``payouts``: marketplace platforms paying a third of their sellers every week;
* ``rosca``: savings circles of 10 paying an organiser one contribution each month, the pot
  going to one member in turn;
* ``gift_pool``: offices of 12 colleagues on their office IP; 12 times in two years one of them
  collects 5-20 from the others within 2 days for a gift, then buys it;
* ``refunds``: shops refunding a recalled batch's 40 buyers the same price within a day;
* ``remit``: families where 6 relatives abroad send one member money monthly, who passes shares
  to 4 at home;
* ``secret_santa``: offices of 12 colleagues drawn into one loop each December, each sending the
  next exactly 20 within two days in no order (not a relay);
* ``lunch_club``: offices of 10 whose Friday organiser (in turn) collects 8-18 from colleagues
  each week for 40 weeks and pays the office's restaurant;
* ``lunch_caterer``: the same, every office paying one caterer;
* ``coop_weekly``: food co-ops of 10 whose buyer (in turn) collects 40-140 from each member
  weekly for 40 weeks and pays one wholesaler; the members' only other life is shopping;
* ``football``: teams of 12 whose fixed captain collects 5-10 weekly for a season and pays the
  pitch.

``rosca``, ``gift_pool``, ``refunds``, ``remit`` and ``secret_santa`` are hreview's (session 27);
``lunch_club``, ``lunch_caterer``, ``coop_weekly`` and ``football`` rebuild hreview's session-29
worlds (its script was lost) from their descriptions: the draws differ.

Each world is written as a user would bring it (``logs/events.csv`` in the user's own column
names, ``mapping.yaml``), run without labels through ``python -m abusenet run`` (the runner of
:mod:`benchmarks.shapes`), and scored: rings reported and honest accounts inside them (every
account is honest, so each reported ring is a false one an analyst would chase). The table is
printed and ``OUT/honest_flows.json`` written. Session 23's review found the landlord of one
``flatmates`` household reported (off-routine receipts) on two seeds of three.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.shapes.__main__ import run_abusenet, world_parser
from ingest.files import write_text_atomic

DAY = 86_400.0
#: The log's first instant and length (days).
T0 = pd.Timestamp("2024-09-01", tz="UTC")
SPAN = 730
MAPPING = """\
# An honest payments log in its own schema (written by benchmarks.honest_flows).
columns: {account_id: user, ts: when, event_type: action, device_id: dev, ip: ipaddr,
          payment_id: card, counterparty_id: peer, amount: amt}
"""
_COLUMNS = ("user", "when", "action", "dev", "ipaddr", "card", "peer", "amt")


class Log:
    """The event rows of one world, with fresh ids for accounts, devices, IPs and cards."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.rows: list[tuple] = []
        self.count = 0
        self.groups: dict[str, list[str]] = {}

    def new(self, kind: str) -> str:
        """A new id of ``kind`` (``u`` account, ``d`` device, ``c`` card, ``ip`` an IPv4)."""
        self.count += 1
        n = self.count
        if kind == "ip":
            return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
        return f"{kind}{n:06d}"

    def event(self, user: str, t: float, action: str, dev: str | None = None,
              ip: str | None = None, card: str | None = None, peer: str | None = None,
              amount: float | None = None) -> None:
        """One event of ``user`` at ``t`` seconds after :data:`T0`."""
        self.rows.append((user, t, action, dev, ip, card, peer, amount))

    def frame(self) -> pd.DataFrame:
        """The events, time-ordered, times as ``%Y-%m-%d %H:%M:%S`` text."""
        frame = pd.DataFrame(self.rows, columns=list(_COLUMNS)).sort_values("when",
                                                                           kind="stable")
        frame["when"] = (T0 + pd.to_timedelta(frame["when"], unit="s")).dt.strftime(
            "%Y-%m-%d %H:%M:%S")
        return frame.reset_index(drop=True)


def person(log: Log, user: str, start: float, end: float, *, dev: str | None = None,
           ip: str | None = None, card: str | None = None,
           shops: list[str] | None = None) -> None:
    """An honest account's life from ``start`` to ``end``: a signup, a login every ~20 days
    (a fifth from another IP), after most of them a purchase at a shop with ``card``."""
    rng = log.rng
    dev, ip, card = dev or log.new("d"), ip or log.new("ip"), card or log.new("c")
    log.event(user, start, "signup", dev, ip)
    for t in np.sort(rng.uniform(start, end, max(1, int((end - start) / DAY / 20)))):
        log.event(user, t, "login", dev, ip if rng.random() < 0.8 else log.new("ip"))
        if shops and rng.random() < 0.7:
            log.event(user, t + 60, "purchase", dev, ip, card, shops[rng.integers(len(shops))],
                      round(float(rng.lognormal(3.5, 1.0)), 2))


def base(log: Log, n: int) -> list[str]:
    """60 shops and ``n`` ordinary accounts over the log; ``n / 2`` one-off payments between
    random pairs of them in its last tenth. Returns the shops."""
    rng = log.rng
    shops = [log.new("u") for _ in range(60)]
    for shop in shops:
        person(log, shop, 0, SPAN * DAY)
    users = [log.new("u") for _ in range(n)]
    for user in users:
        person(log, user, rng.uniform(0, 0.9 * SPAN * DAY), SPAN * DAY, shops=shops)
    for _ in range(n // 2):
        a, b = rng.choice(users, 2, replace=False)
        log.event(a, rng.uniform(0.9, 1.0) * SPAN * DAY, "transfer", peer=b,
                  amount=round(float(rng.lognormal(3, 1)), 2))
    return shops


def flatmates(log: Log, shops: list[str], households: int = 50, size: int = 4) -> None:
    """``households`` of ``size`` flatmates on one home IP: each pays the landlord the
    household's rent every 30 days within +-2 days of the due day; one flatmate a month pays a
    bill and the others pay back their share within 3 days."""
    rng = log.rng
    for h in range(households):
        landlord, wifi = log.new("u"), log.new("ip")
        person(log, landlord, 0, SPAN * DAY, shops=shops)
        mates = [log.new("u") for _ in range(size)]
        log.groups[f"flat{h}"] = [landlord, *mates]
        rent = float(rng.choice([450, 500, 550, 600, 650]))
        for mate in mates:
            person(log, mate, rng.uniform(0, 30 * DAY), SPAN * DAY, ip=wifi, shops=shops)
        for month in range(SPAN // 30):
            due = (month + 1) * 30 * DAY
            for mate in mates:
                log.event(mate, due + rng.uniform(-2, 2) * DAY, "transfer", ip=wifi,
                          peer=landlord, amount=rent)
            payer = mates[month % size]
            share = round(float(rng.uniform(60, 180)) / size, 2)
            for mate in mates:
                if mate != payer:
                    log.event(mate, due - 15 * DAY + rng.uniform(0, 3) * DAY, "transfer",
                              ip=wifi, peer=payer, amount=share)


def trips(log: Log, shops: list[str], groups: int = 20, size: int = 8) -> None:
    """``groups`` of ``size`` new accounts, each alive for one week of the log only (a trip),
    settling up in a loop in its last two days: each pays the next once."""
    rng = log.rng
    for g in range(groups):
        start = rng.uniform(30, SPAN - 30) * DAY
        mates = [log.new("u") for _ in range(size)]
        log.groups[f"trip{g}"] = mates
        for mate in mates:
            person(log, mate, start + rng.uniform(0, DAY), start + 7 * DAY, shops=shops)
        for i, mate in enumerate(mates):
            log.event(mate, start + rng.uniform(5, 7) * DAY, "transfer",
                      peer=mates[(i + 1) % size], amount=round(float(rng.uniform(20, 200)), 2))


def couples(log: Log, shops: list[str], pairs: int = 100) -> None:
    """``pairs`` couples sharing a laptop, a card and a home IP, paying each other 20 times."""
    rng = log.rng
    for p in range(pairs):
        a, b = log.new("u"), log.new("u")
        dev, ip, card = log.new("d"), log.new("ip"), log.new("c")
        log.groups[f"couple{p}"] = [a, b]
        start = rng.uniform(0, 0.5) * SPAN * DAY
        person(log, a, start, SPAN * DAY, dev=dev, ip=ip, card=card, shops=shops)
        person(log, b, start + DAY, SPAN * DAY, dev=dev, ip=ip, card=card, shops=shops)
        for t in np.sort(rng.uniform(start + DAY, SPAN * DAY, 20)):
            src, dst = (a, b) if rng.random() < 0.5 else (b, a)
            log.event(src, t, "transfer", dev, ip, peer=dst,
                      amount=round(float(rng.lognormal(3.5, 1)), 2))


def salaries(log: Log, shops: list[str], employers: int = 5, staff: int = 40) -> None:
    """``employers`` each paying ``staff`` employees their own fixed salary on day 25 of every
    30 from the office IP, where each employee logged in once."""
    rng = log.rng
    for e in range(employers):
        boss, office = log.new("u"), log.new("ip")
        person(log, boss, 0, SPAN * DAY, ip=office)
        team = [log.new("u") for _ in range(staff)]
        log.groups[f"employer{e}"] = [boss, *team]
        for member in team:
            person(log, member, rng.uniform(0, 60) * DAY, SPAN * DAY, shops=shops)
            log.event(member, rng.uniform(60, 90) * DAY, "login", log.new("d"), office)
        pay = {member: round(float(rng.uniform(1800, 4000)), 2) for member in team}
        for month in range(2, SPAN // 30):
            for member in team:
                log.event(boss, (month * 30 + 25) * DAY + rng.uniform(0, 3600), "transfer",
                          ip=office, peer=member, amount=pay[member])


def payouts(log: Log, shops: list[str], platforms: int = 3, sellers: int = 150) -> None:
    """``platforms`` each paying a third of its ``sellers`` (drawn anew) every week."""
    rng = log.rng
    for p in range(platforms):
        platform = log.new("u")
        person(log, platform, 0, SPAN * DAY)
        team = [log.new("u") for _ in range(sellers)]
        log.groups[f"platform{p}"] = [platform, *team]
        for seller in team:
            person(log, seller, rng.uniform(0, 0.8) * SPAN * DAY, SPAN * DAY, shops=shops)
        for week in range(SPAN // 7):
            for seller in rng.choice(team, size=sellers // 3, replace=False):
                log.event(platform, (week * 7 + 4) * DAY + rng.uniform(0, 600), "transfer",
                          peer=seller, amount=round(float(rng.lognormal(4, 1)), 2))


def rosca(log: Log, shops: list[str], circles: int = 15, size: int = 10) -> None:
    """Savings circles (ROSCA / tontine): ``size`` members each pay the organiser the same
    contribution within 2 days of the 1st of every month, and the organiser pays the whole
    pot to one member (in turn) on the 3rd; a circle runs ``size`` months, then starts again."""
    rng = log.rng
    for c in range(circles):
        org = log.new("u")
        person(log, org, 0, SPAN * DAY, shops=shops)
        members = [log.new("u") for _ in range(size)]
        log.groups[f"rosca{c}"] = [org, *members]
        for m in members:
            person(log, m, rng.uniform(0, 30) * DAY, SPAN * DAY, shops=shops)
        fee = float(rng.choice([50, 100, 200]))
        start = int(rng.integers(1, 6))
        for month in range(start, SPAN // 30):
            t = month * 30 * DAY
            for m in members:
                log.event(m, t + rng.uniform(0, 2) * DAY, "transfer", peer=org, amount=fee)
            log.event(org, t + 2 * DAY + rng.uniform(0, DAY), "transfer",
                      peer=members[month % size], amount=fee * size)


def gift_pool(log: Log, shops: list[str], offices: int = 20, size: int = 12) -> None:
    """Office collections: an office's ``size`` colleagues (office IP), 6 times a year one of
    them collects 5-20 from each other colleague within 2 days for a leaving / birthday gift,
    then pays a shop the total."""
    rng = log.rng
    for o in range(offices):
        office = log.new("ip")
        team = [log.new("u") for _ in range(size)]
        log.groups[f"office{o}"] = team
        for m in team:
            person(log, m, rng.uniform(0, 60) * DAY, SPAN * DAY, shops=shops)
            log.event(m, rng.uniform(60, 90) * DAY, "login", log.new("d"), office)
        for _ in range(12):
            t = rng.uniform(90, SPAN - 5) * DAY
            collector = team[int(rng.integers(size))]
            total = 0.0
            for m in team:
                if m != collector and rng.random() < 0.85:
                    a = round(float(rng.uniform(5, 20)), 2)
                    total += a
                    log.event(m, t + rng.uniform(0, 2) * DAY, "transfer", ip=office,
                              peer=collector, amount=a)
            log.event(collector, t + 2.5 * DAY, "purchase", card=log.new("c"),
                      peer=shops[int(rng.integers(len(shops)))], amount=round(total, 2))


def refunds(log: Log, shops: list[str], recalls: int = 8, buyers: int = 40) -> None:
    """Product recalls: a shop sells a batch to ``buyers`` customers over two weeks, then
    refunds every one of them the same price within a day."""
    rng = log.rng
    for r in range(recalls):
        shop = log.new("u")
        person(log, shop, 0, SPAN * DAY)
        custs = [log.new("u") for _ in range(buyers)]
        log.groups[f"recall{r}"] = [shop, *custs]
        t0 = rng.uniform(100, SPAN - 40) * DAY
        price = round(float(rng.uniform(30, 300)), 2)
        for c in custs:
            person(log, c, rng.uniform(0, t0 / DAY - 10) * DAY, SPAN * DAY, shops=shops)
            log.event(c, t0 + rng.uniform(0, 14) * DAY, "purchase", card=log.new("c"),
                      peer=shop, amount=price)
        for c in custs:
            log.event(shop, t0 + 20 * DAY + rng.uniform(0, DAY), "transfer", peer=c,
                      amount=price)


def remit(log: Log, shops: list[str], families: int = 15, abroad: int = 6,
          home: int = 4) -> None:
    """Family remittances: ``abroad`` relatives each send one family member at home money
    every month within a few days of payday, who passes shares on to ``home`` relatives
    within 2 days (scatter-gather over a month)."""
    rng = log.rng
    for f in range(families):
        hub = log.new("u")
        person(log, hub, 0, SPAN * DAY, shops=shops)
        out = [log.new("u") for _ in range(abroad)]
        kin = [log.new("u") for _ in range(home)]
        log.groups[f"family{f}"] = [hub, *out, *kin]
        for m in out + kin:
            person(log, m, rng.uniform(0, 60) * DAY, SPAN * DAY, shops=shops)
        for month in range(2, SPAN // 30):
            t = month * 30 * DAY
            got = 0.0
            for m in out:
                a = round(float(rng.uniform(100, 400)), 2)
                got += a
                log.event(m, t + rng.uniform(0, 4) * DAY, "transfer", peer=hub, amount=a)
            for k in kin:
                log.event(hub, t + 5 * DAY + rng.uniform(0, 2) * DAY, "transfer", peer=k,
                          amount=round(got / (home + 1), 2))


def secret_santa(log: Log, shops: list[str], offices: int = 20, size: int = 12) -> None:
    """Office Secret Santa paid in money: each December an office's ``size`` colleagues are
    drawn into one loop and each sends the next the agreed 20 within two days."""
    rng = log.rng
    for o in range(offices):
        team = [log.new("u") for _ in range(size)]
        log.groups[f"santa{o}"] = team
        for m in team:
            person(log, m, rng.uniform(0, 60) * DAY, SPAN * DAY, shops=shops)
        for year in (0, 1):
            t = (100 + 365 * year + rng.uniform(0, 10)) * DAY
            order = rng.permutation(size)
            for i in range(size):
                log.event(team[order[i]], t + rng.uniform(0, 2) * DAY, "transfer",
                          peer=team[order[(i + 1) % size]], amount=20.0)


def _collections(log: Log, team: list[str], payee: str, weeks: int, low: float, high: float,
                 *, start: float, collector: str | None = None, ip: str | None = None) -> None:
    """``weeks`` weekly collections among ``team``: each Friday (from ``start``) the week's
    collector (``collector`` every week, else the team in turn) is paid ``low``-``high`` by
    every other member within a day and pays ``payee`` the total within 2 days."""
    rng = log.rng
    for week in range(weeks):
        t = start + week * 7 * DAY
        who = collector or team[week % len(team)]
        total = 0.0
        for m in team:
            if m != who and rng.random() < 0.9:
                a = round(float(rng.uniform(low, high)), 2)
                total += a
                log.event(m, t + rng.uniform(0, DAY), "transfer", ip=ip, peer=who, amount=a)
        log.event(who, t + rng.uniform(1, 2) * DAY, "transfer", ip=ip, peer=payee,
                  amount=round(total, 2))


def lunch_club(log: Log, shops: list[str], offices: int = 20, size: int = 10) -> None:
    """Friday lunch clubs (hreview's hf29, session 29): an office's ``size`` colleagues
    (office IP); each week for 40 weeks the organiser (in turn) collects 8-18 from the others
    and pays the office's own restaurant (an account with a life of its own) the total."""
    _lunch_offices(log, shops, offices, size, None)


def lunch_caterer(log: Log, shops: list[str], offices: int = 20, size: int = 10) -> None:
    """As :func:`lunch_club`, every office paying one caterer (no one else pays it)."""
    caterer = log.new("u")
    person(log, caterer, 0, SPAN * DAY)
    _lunch_offices(log, shops, offices, size, caterer)


def _lunch_offices(log: Log, shops: list[str], offices: int, size: int,
                   caterer: str | None) -> None:
    """``offices`` lunch clubs of ``size`` colleagues paying ``caterer``, or each its own
    restaurant (a group member: it takes only its office's collections) when None."""
    rng = log.rng
    for o in range(offices):
        office = log.new("ip")
        payee = caterer
        if payee is None:
            payee = log.new("u")
            person(log, payee, 0, SPAN * DAY)
        team = [log.new("u") for _ in range(size)]
        log.groups[f"lunch{o}"] = team if caterer is not None else [*team, payee]
        for m in team:
            person(log, m, rng.uniform(0, 60) * DAY, SPAN * DAY, shops=shops)
            log.event(m, rng.uniform(60, 90) * DAY, "login", log.new("d"), office)
        _collections(log, team, payee, 40, 8, 18,
                     start=rng.uniform(100, SPAN - 300) * DAY, ip=office)


def coop_weekly(log: Log, shops: list[str], coops: int = 15, size: int = 10) -> None:
    """Food co-ops (hreview's hf29): ``size`` members whose only other life is shopping; each
    week for 40 weeks the buyer (in turn) collects 40-140 from every other member and pays one
    wholesaler (shared by every co-op, no one else pays it) the total. Members' shares exceed
    their everyday payments, as a smurf mule's do."""
    rng = log.rng
    wholesaler = log.new("u")
    person(log, wholesaler, 0, SPAN * DAY)
    for c in range(coops):
        team = [log.new("u") for _ in range(size)]
        log.groups[f"coop{c}"] = team
        for m in team:
            person(log, m, rng.uniform(0, 60) * DAY, SPAN * DAY, shops=shops)
        _collections(log, team, wholesaler, 40, 40, 140,
                     start=rng.uniform(100, SPAN - 300) * DAY)


def football(log: Log, shops: list[str], teams: int = 20, size: int = 12) -> None:
    """Five-a-side teams: the fixed captain collects 5-10 from every other player each week
    for a season of 30 weeks and pays the pitch (an account with a life of its own)."""
    rng = log.rng
    for f in range(teams):
        pitch = log.new("u")
        person(log, pitch, 0, SPAN * DAY)
        team = [log.new("u") for _ in range(size)]
        log.groups[f"team{f}"] = [*team, pitch]
        for m in team:
            person(log, m, rng.uniform(0, 60) * DAY, SPAN * DAY, shops=shops)
        _collections(log, team, pitch, 30, 5, 10, start=rng.uniform(100, SPAN - 250) * DAY,
                     collector=team[0])


#: The worlds: name -> the honest groups it adds to the base population.
WORLDS: dict[str, Callable[[Log, list[str]], None]] = {
    "flatmates": flatmates, "trips": trips, "couples": couples, "salaries": salaries,
    "payouts": payouts, "rosca": rosca, "gift_pool": gift_pool, "refunds": refunds,
    "remit": remit, "secret_santa": secret_santa, "lunch_club": lunch_club,
    "lunch_caterer": lunch_caterer, "coop_weekly": coop_weekly, "football": football,
}


def build(name: str, seed: int, n_base: int = 2000) -> Log:
    """The world ``name`` (one of :data:`WORLDS`) drawn with ``seed``."""
    if name not in WORLDS:
        raise ValueError(f"unknown world {name!r}; the worlds are {', '.join(WORLDS)}")
    log = Log(seed)
    shops = base(log, n_base)
    WORLDS[name](log, shops)
    return log


def write(log: Log, out: Path) -> Path:
    """``logs/events.csv``, ``mapping.yaml`` and ``groups.json`` of ``log`` under ``out``."""
    (out / "logs").mkdir(parents=True, exist_ok=True)
    log.frame().to_csv(out / "logs" / "events.csv", index=False)
    (out / "mapping.yaml").write_text(MAPPING)
    write_text_atomic(out / "groups.json", json.dumps(log.groups, indent=1))
    return out


def score(rings: pd.DataFrame, groups: dict[str, list[str]]) -> dict:
    """Rings reported, accounts inside them (all honest) and the look-alike groups touched."""
    inside = set().union(*map(set, rings["members"])) if len(rings) else set()
    touched = sorted(g for g, members in groups.items() if inside.intersection(members))
    return {"rings": int(len(rings)), "honest_in_rings": len(inside),
            "groups": len(groups), "groups_in_rings": len(touched), "touched": touched,
            "kinds": sorted(set(rings["kind"].astype(str))) if len(rings) else []}


def main(argv: list[str] | None = None) -> None:
    """Command line: generate, run and score the chosen worlds and seeds; print the table."""
    parser = world_parser(__doc__, "honest_flows", list(WORLDS))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    lines = ["| world | seed | rings | honest accounts in rings | groups touched | kinds "
             "| CPU s |", "|---|---:|---:|---:|---:|---|---:|"]
    for name in args.worlds:
        for seed in args.seeds:
            folder = write(build(name, seed), args.out / f"{name}-{seed}")
            ran = run_abusenet(folder, folder / "run", None, args.overrides)
            groups = json.loads((folder / "groups.json").read_text())
            figures = {**score(pd.read_parquet(folder / "run" / "rings.parquet"), groups),
                       "cpu_s": ran["cpu_s"]}
            results[f"{name}-{seed}"] = figures
            write_text_atomic(args.out / "honest_flows.json", json.dumps(results, indent=1))
            lines.append(f"| {name} | {seed} | {figures['rings']} "
                         f"| {figures['honest_in_rings']} | {figures['groups_in_rings']} / "
                         f"{figures['groups']} | {', '.join(figures['kinds']) or '-'} "
                         f"| {figures['cpu_s']:.1f} |")
            print(f"{name} seed {seed}: done", file=sys.stderr)
    print("\n".join(lines))
    print(f"\n(details: {args.out / 'honest_flows.json'})")


if __name__ == "__main__":
    main()
