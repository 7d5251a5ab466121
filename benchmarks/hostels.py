"""Hostel guests and farms that live like them, and sign-up-desk farms (reviews R52, R56).

Two worlds on the shapes base population (:func:`benchmarks.shapes.population.base_population`,
``--base`` accounts, 2,000 by default as in the shapes worlds, 40 carrier IPs, 84 days), kept
here after the probe scripts of sessions 28-29 (``/tmp/hplace/s28/la28.py``, ``s29/la29.py``,
``r52.py``) were lost:

* ``H`` (session 29's world H): six hostels, each 14 families of 3 fresh accounts arriving over
  three weeks and staying 14-35 days, every guest on the hostel's 3 PCs and 2 Wi-Fi IPs with
  nothing of its own but its family's card (:func:`hostel`; ``hostel_families``, and
  ``hostel_families_wc`` whose every first order redeems the welcome code); farms paying with
  a card per 3 accounts on their own 4 devices / 3 IPs, aged 15-20 days (:func:`aged_farm`):
  ``farm_cards3`` (an ordinary order, then the welcome code late), ``farm_cards3_first`` (the
  welcome code on its only order), ``farm_cards3_first_fp`` (that, plus a fingerprint of its
  own seen once); and four farms on the PCs and Wi-Fi of a families' hostel of their own:
  ``hostel_farm_burst`` (40 accounts in one day, a card each, the welcome code at once),
  ``hostel_farm_aged`` (a card each, an ordinary order, the welcome code late),
  ``hostel_farm_cheap`` (la25's aged_farm_cheap: a fingerprint seen once, one of 3 cards on its
  only order) and ``hostel_farm_cards3_first`` (a card per 3 on its only order).
* ``DESK`` (session 28's desk farms, review R52): ``gym_january`` (honest: 40 members signing
  up in one week on the gym's 2 tablets, then on phones of their own through the gym's Wi-Fi
  and the carrier pool, a card each) and five farms signing up on 2 desk devices, then each
  account on a profile of its own for 4-6 weeks (:func:`desk_farm`): ``farm_desk`` (behind the
  farm's 3 IPs, the welcome code late), ``farm_desk_first`` (the same, the welcome code on its
  only order), ``farm_desk_mobile`` / ``farm_desk_mobile_first`` (behind carrier IPs as mobile
  proxies) and ``farm_desk_first_mix2`` (``farm_desk_first`` plus two logins through a carrier
  IP 24-38 days apart: R52's evasion).

Each world is written like a shapes world (:func:`benchmarks.shapes.worlds.write_world`) and run
without labels (``abusenet run``, :func:`benchmarks.shapes.__main__.run_abusenet`). Printed per
world and seed: honest accounts in rings (the look-alikes': hostel guests, gym members, and the
others), and per farm the most of its accounts one reported ring holds, its accounts in rings,
and the honest accounts in the rings that hold it. Run ``python -m benchmarks.hostels --worlds H
DESK --seeds 0 1`` (one full run a world and seed).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.shapes.__main__ import run_abusenet, world_parser
from benchmarks.shapes.population import (
    DAY,
    HOUR,
    Group,
    World,
    base_population,
    record_hubs,
)
from benchmarks.shapes.worlds import write_world

WORLDS = ("H", "DESK")
#: Accounts a farm plants.
FARM = 40
#: Families per hostel and members per family.
FAMILIES, MEMBERS = 14, 3


def _orders(world: World, users: np.ndarray, ts: np.ndarray, card: np.ndarray, ip: np.ndarray,
            promo: np.ndarray | int) -> None:
    """One order per user at ``ts`` with ``card`` through ``ip`` (``promo`` 0: the welcome
    code, -1 none)."""
    world.add("orders", user=users, ts=ts, seller=world.sellers_drawn(len(users)), card=card,
              promo=promo, amount=np.round(world.rng.lognormal(3.2, 0.6, len(users)), 2), ip=ip)


def _logins(world: World, users: np.ndarray, lo: np.ndarray, hi: np.ndarray,
            devices: np.ndarray, ips: np.ndarray, mean: float) -> None:
    """Poisson(``mean``) logins (at least one) per user at daytime in ``[lo, hi)`` (per user),
    each on a device and through an IP drawn from ``devices`` and ``ips``."""
    rng = world.rng
    idx = np.repeat(np.arange(len(users)), np.maximum(rng.poisson(mean, len(users)), 1))
    world.add("logins", user=users[idx], ts=world.at_daytime(lo[idx], hi[idx]),
              ip=rng.choice(ips, len(idx)), device=rng.choice(devices, len(idx)), failed=0)


def hostel(world: World, day: float, welcome_all: bool = False,
           name: str = "hostel_families") -> tuple[np.ndarray, np.ndarray]:
    """A hostel's :data:`FAMILIES` families of :data:`MEMBERS` fresh accounts, each family
    arriving on a day drawn over ``day`` .. ``day + 21`` and staying 14-35 days. Every guest
    signs up on one of the hostel's 3 PCs through one of its 2 Wi-Fi IPs, logs in there over
    its stay and orders 1-4 times on its family's card; half its first orders (all with
    ``welcome_all``) redeem the welcome code within 3 days of arriving. Recorded as the
    look-alike ``name``; returns the hostel's PCs and Wi-Fi IPs."""
    rng = world.rng
    pcs, wifi = world.new("device", 3), world.new("ip", 2)
    users = world.new("account", FAMILIES * MEMBERS)
    family = np.repeat(np.arange(FAMILIES), MEMBERS)
    arrive = ((day + rng.uniform(0, 21, FAMILIES))[family] * DAY
              + rng.uniform(0, 3, len(users)) * HOUR)
    leave = arrive + rng.uniform(14, 35, FAMILIES)[family] * DAY
    leave = np.minimum(leave, world.end - HOUR)
    world.signup(users, arrive, rng.choice(pcs, len(users)), rng.choice(wifi, len(users)))
    _logins(world, users, arrive + 600, leave, pcs, wifi, 8.0)
    card = world.new("card", FAMILIES)[family]
    first = arrive + rng.uniform(0.05, 3.0, len(users)) * DAY
    welcome = np.where(welcome_all | (rng.random(len(users)) < 0.5), 0, -1)
    _orders(world, users, first, card, rng.choice(wifi, len(users)), welcome)
    more = np.repeat(np.arange(len(users)), rng.integers(0, 4, len(users)))
    _orders(world, users[more], world.at_daytime(first[more], leave[more]), card[more],
            rng.choice(wifi, len(more)), np.where(rng.random(len(more)) < 0.1, 2, -1))
    world.lookalikes.append(Group(name, "hostel_guest", users, False,
                                  {"day": day, "pcs": pcs.tolist(), "wifi": wifi.tolist()}))
    return pcs, wifi


def aged_farm(world: World, name: str, day: float, *, per_card: int = 3,
              late: bool = False, fingerprint: bool = False,
              machines: tuple[np.ndarray, np.ndarray] | None = None) -> Group:
    """:data:`FARM` fresh accounts created in work sessions over ``day`` .. ``day + 10``,
    signing up and aged by Poisson(8) logins over 15-20 days on the farm's machines (its own 4
    devices and 3 IPs, or ``machines``: a hostel's PCs and Wi-Fi), then paying off: the welcome
    code on an order with the account's card (one per ``per_card`` accounts), after an ordinary
    order 2-6 days in with ``late`` (a late payoff), else on its only order; then quiet. With
    ``fingerprint`` each also logs in once on a fingerprint of its own."""
    rng = world.rng
    users = world.new("account", FARM)
    devices, ips = machines or (world.new("device", 4), world.new("ip", 3))
    begin = day * DAY + np.sort(rng.uniform(0, 10, FARM)) * DAY
    end = begin + rng.uniform(15, 20, FARM) * DAY
    world.signup(users, begin, rng.choice(devices, FARM), rng.choice(ips, FARM))
    _logins(world, users, begin + 600, end, devices, ips, 8.0)
    if fingerprint:
        world.add("logins", user=users, ts=world.at_daytime(begin + HOUR, end),
                  ip=rng.choice(ips, FARM), device=world.new("device", FARM), failed=0)
    cards = world.new("card", -(-FARM // per_card))[np.arange(FARM) // per_card]
    if late:
        _orders(world, users, begin + rng.uniform(2, 6, FARM) * DAY, cards,
                rng.choice(ips, FARM), -1)
    _orders(world, users, end + rng.uniform(60, 3600, FARM), cards, rng.choice(ips, FARM), 0)
    group = Group(name, name, users, True, {"day": day, "per_card": per_card, "late": late})
    world.groups.append(group)
    return group


def burst_farm(world: World, name: str, day: float,
               machines: tuple[np.ndarray, np.ndarray]) -> Group:
    """:data:`FARM` fresh accounts signing up on ``day`` on ``machines`` (devices, IPs), each
    logging in and redeeming the welcome code with a card of its own within the hour."""
    rng = world.rng
    users = world.new("account", FARM)
    devices, ips = machines
    ts = np.sort(day * DAY + rng.uniform(9, 21, FARM) * HOUR)
    device, ip = rng.choice(devices, FARM), rng.choice(ips, FARM)
    world.signup(users, ts, device, ip)
    world.add("logins", user=users, ts=ts + rng.uniform(30, 300, FARM), ip=ip, device=device,
              failed=0)
    _orders(world, users, ts + rng.uniform(400, 3000, FARM), world.new("card", FARM), ip, 0)
    group = Group(name, name, users, True, {"day": day})
    world.groups.append(group)
    return group


def desk_farm(world: World, name: str, day: float, carrier: np.ndarray, *, mobile: bool,
              first: bool, carrier_logins: int = 0) -> Group:
    """:data:`FARM` fresh accounts signing up over a week from ``day`` on the farm's 2 desk
    devices, then each on an antidetect profile of its own for 4-6 weeks (Poisson(10) logins)
    behind the farm's 3 IPs, or with ``mobile`` behind ``carrier`` IPs (mobile proxies), paying
    off at the end with a card each: the welcome code on its only order with ``first``, else
    after an ordinary order 3-7 days in. ``carrier_logins`` (2: R52's evasion) logins on the
    profile through a carrier IP, 24-38 days apart."""
    rng = world.rng
    users = world.new("account", FARM)
    desks, profiles = world.new("device", 2), world.new("device", FARM)
    ips = carrier if mobile else world.new("ip", 3)
    begin = day * DAY + np.sort(rng.uniform(0, 7, FARM)) * DAY
    end = begin + rng.uniform(28, 42, FARM) * DAY
    world.signup(users, begin, rng.choice(desks, FARM), rng.choice(ips, FARM))
    idx = np.repeat(np.arange(FARM), np.maximum(rng.poisson(10, FARM), 1))
    world.add("logins", user=users[idx],
              ts=world.at_daytime(begin[idx] + 1.5 * DAY, end[idx]),
              ip=rng.choice(ips, len(idx)), device=profiles[idx], failed=0)
    if carrier_logins:
        at = begin + 1.5 * DAY + rng.uniform(0, 2, FARM) * DAY
        for gap in (0.0, *rng.uniform(24, 38, carrier_logins - 1)):
            world.add("logins", user=users, ts=np.minimum(at + gap * DAY, end),
                      ip=rng.choice(carrier, FARM), device=profiles, failed=0)
    cards = world.new("card", FARM)
    if not first:
        _orders(world, users, begin + rng.uniform(3, 7, FARM) * DAY, cards,
                rng.choice(ips, FARM), -1)
    _orders(world, users, end + rng.uniform(60, 3600, FARM), cards, rng.choice(ips, FARM), 0)
    group = Group(name, name, users, True, {"day": day, "mobile": mobile, "first": first,
                                            "carrier_logins": carrier_logins})
    world.groups.append(group)
    return group


def gym_january(world: World, day: float, carrier: np.ndarray) -> None:
    """Review R45's gym intake: 40 fresh members signing up over a week from ``day`` on one of
    the gym's 2 kiosk tablets (never used again), then on a phone of their own to the log's
    end, through the gym's Wi-Fi or the ``carrier`` pool (no home line), a card each; an order
    within 3 days of joining (half redeem the welcome code) and 1-4 more."""
    rng = world.rng
    users = world.new("account", FARM)
    tablets, wifi = world.new("device", 2), world.new("ip", 1)
    phones, cards = world.new("device", FARM), world.new("card", FARM)
    begin = day * DAY + np.sort(rng.uniform(0, 7, FARM)) * DAY
    world.signup(users, begin, rng.choice(tablets, FARM), wifi[0])
    idx = np.repeat(np.arange(FARM), np.maximum(rng.poisson(20, FARM), 1))
    gym = rng.random(len(idx)) < 0.3
    world.add("logins", user=users[idx], ts=world.at_daytime(begin[idx] + HOUR, world.end),
              ip=np.where(gym, wifi[0], rng.choice(carrier, len(idx))), device=phones[idx],
              failed=0)
    first = begin + rng.uniform(0.1, 3, FARM) * DAY
    _orders(world, users, first, cards, rng.choice(carrier, FARM),
            np.where(rng.random(FARM) < 0.5, 0, -1))
    more = np.repeat(np.arange(FARM), rng.integers(1, 5, FARM))
    _orders(world, users[more], world.at_daytime(first[more], world.end), cards[more],
            rng.choice(carrier, len(more)), -1)
    world.lookalikes.append(Group("gym_january", "gym_member", users, False, {"day": day}))


def build(name: str, seed: int, base: int = 2000) -> World:
    """The world ``name`` (one of :data:`WORLDS`, module docstring) drawn with ``seed`` on
    ``base`` base-population accounts."""
    if name not in WORLDS:
        raise ValueError(f"unknown world {name!r}; the worlds are {', '.join(WORLDS)}")
    world = World(seed)
    carrier = world.new("ip", 40)
    base_population(world, base, carrier)
    if name == "H":
        hostel(world, 5)
        hostel(world, 30, welcome_all=True, name="hostel_families_wc")
        aged_farm(world, "farm_cards3", 10, late=True)
        aged_farm(world, "farm_cards3_first", 25)
        aged_farm(world, "farm_cards3_first_fp", 40, fingerprint=True)
        burst_farm(world, "hostel_farm_burst", 30,
                   hostel(world, 15, name="hostel_farm_burst_guests"))
        aged_farm(world, "hostel_farm_aged", 20, per_card=1, late=True,
                  machines=hostel(world, 12, name="hostel_farm_aged_guests"))
        aged_farm(world, "hostel_farm_cheap", 20, per_card=14, fingerprint=True,
                  machines=hostel(world, 12, name="hostel_farm_cheap_guests"))
        aged_farm(world, "hostel_farm_cards3_first", 20,
                  machines=hostel(world, 12, name="hostel_farm_cards3_first_guests"))
    else:
        gym_january(world, 5, carrier)
        desk_farm(world, "farm_desk", 5, carrier, mobile=False, first=False)
        desk_farm(world, "farm_desk_first", 9, carrier, mobile=False, first=True)
        desk_farm(world, "farm_desk_mobile", 12, carrier, mobile=True, first=False)
        desk_farm(world, "farm_desk_mobile_first", 15, carrier, mobile=True, first=True)
        desk_farm(world, "farm_desk_first_mix2", 7, carrier, mobile=False, first=True,
                  carrier_logins=2)
    record_hubs(world)
    return world


def score(rings: pd.DataFrame, groups: dict) -> dict:
    """Honest accounts in ``rings`` (by look-alike and in all) and per planted farm: the most
    of its accounts one ring holds (``best``), its accounts in rings (``in_rings``) and the
    honest accounts in the rings holding it (``honest_beside``)."""
    members = [set(map(str, m)) for m in rings["members"]] if len(rings) else []
    inside = set().union(*members) if members else set()
    abusive = {str(m) for g in groups["groups"] for m in g["members"]}
    honest = inside - abusive
    out = {"rings": len(members), "honest_in_rings": len(honest),
           "lookalikes": {g["id"]: len(honest & set(map(str, g["members"])))
                          for g in groups["lookalikes"]
                          if g["kind"] in ("hostel_guest", "gym_member")},
           "farms": {}}
    for group in groups["groups"]:
        farm = set(map(str, group["members"]))
        holding = [ring for ring in members if ring & farm]
        out["farms"][group["id"]] = {
            "planted": len(farm), "best": max((len(r & farm) for r in holding), default=0),
            "in_rings": len(farm & inside),
            "honest_beside": len(set().union(*holding) - abusive) if holding else 0}
    return out


def measure(name: str, seed: int, out: Path, base: int, overrides: list[str]) -> dict:
    """Generate world ``name`` for ``seed`` under ``out``, run it without labels, score it."""
    folder = out / f"{name}-{seed}"
    write_world(build(name, seed, base), name, folder, seed)
    groups = json.loads((folder / "groups.json").read_text())
    ran = run_abusenet(folder, folder / "run", None, overrides)
    rings = pd.read_parquet(folder / "run" / "rings.parquet")
    return {"world": name, "seed": seed, "accounts": groups["accounts"],
            **score(rings, groups), "cpu_s": round(ran["cpu_s"], 1)}


def main(argv: list[str] | None = None) -> None:
    """Command line: one JSON line of figures per world and seed."""
    parser = world_parser(__doc__, "hostels", list(WORLDS))
    parser.add_argument("--base", type=int, default=2000, help="base-population accounts")
    args = parser.parse_args(argv)
    for name in args.worlds:
        for seed in args.seeds:
            print(json.dumps(measure(name, seed, args.out, args.base, args.overrides)),
                  flush=True)


if __name__ == "__main__":
    main()
