"""The reviewer's probe of place rules: farms at a hostel that stay as a guest stays.

Session 30's review world (issue 19, R56). A rule that explains a non-living account's uses of a
public place (a hostel's PCs and Wi-Fi) once they span a day (a stay, not a burst farm's hours)
is also what a farm can aim at: one more login a day or two later costs it nothing. World
``HR`` on the shapes base population (2,000 accounts, 40 carrier IPs; :mod:`benchmarks.hostels`'
helpers): two families' hostels (:func:`benchmarks.hostels.hostel`, the look-alike) and six
farms of 40 on the PCs and Wi-Fi of a hostel of their own, each with its hostel's families
beside it:

* ``farm_burst``: :func:`benchmarks.hostels.burst_farm` as it is (signup, login, the welcome code
  within the hour; the control);
* ``farm_burst_back``: the same, each account logging in once more 1-3 days later on the
  hostel's PCs and Wi-Fi;
* ``farm_burst_back2``: the same with two more logins, 1-3 and 4-6 days later;
* ``farm_burst_back_card3``: ``farm_burst_back`` paying with a card per 3 accounts;
* ``farm_trickle`` / ``farm_trickle_back``: ``farm_burst`` / ``farm_burst_back`` with the signups
  spread over 6 days (~7 a day, under a place's crowd of ``rings.place_min_users``), each
  account's login and welcome order within its hour.

World ``DR`` (review R52, session 31): how many scripted logins through the carrier pool buy a
sign-up-desk farm its report. :mod:`benchmarks.hostels`' ``gym_january`` (honest: 40 members
signing up on the gym's 2 tablets, then on phones of their own) beside four
``farm_desk_first`` farms (:func:`benchmarks.hostels.desk_farm`: 40 accounts signing up on 2
desk devices, then each on a profile of its own behind the farm's 3 IPs for 4-6 weeks, the
welcome code on its only order) whose accounts each log in 0, 1, 2 or 3 times through a carrier
IP (``farm_desk_first_mixN``, 24-38 days apart; ``hostels``' DESK world has N = 0 and 2).

Run without labels (``python -m benchmarks.probes_places [--worlds HR DR] --seeds 0 1 [--set
...]``; one full run a world and seed, ~40 CPU s); printed per world and seed as
:mod:`benchmarks.hostels` prints (honest guests in rings per hostel, per farm the most of it one
ring holds, its accounts in rings, honest beside).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.hostels import burst_farm, desk_farm, gym_january, hostel, score
from benchmarks.shapes.__main__ import run_abusenet, world_parser
from benchmarks.shapes.population import DAY, World, base_population, record_hubs
from benchmarks.shapes.worlds import write_world

#: The farms: name -> (days after the signup of each later login, accounts per card, days
#: the signups spread over: 0 a burst within a day).
FARMS = {"farm_burst": ((), 1, 0), "farm_burst_back": (((1, 3),), 1, 0),
         "farm_burst_back2": (((1, 3), (4, 6)), 1, 0),
         "farm_burst_back_card3": (((1, 3),), 3, 0),
         "farm_trickle": ((), 1, 6), "farm_trickle_back": (((1, 3),), 1, 6)}
#: World ``DR``'s desk farms: logins through a carrier IP each account makes.
DESK_LOGINS = (0, 1, 2, 3)


def returning_farm(world: World, name: str, day: float, machines: tuple[np.ndarray, np.ndarray],
                   later: tuple[tuple[float, float], ...], per_card: int,
                   spread: float = 0.0) -> None:
    """A burst farm (:func:`benchmarks.hostels.burst_farm`) on ``machines`` whose accounts each
    log in again once per ``later`` interval (days after its signup) on them; with ``per_card``
    above 1 its orders are paid with a card per ``per_card`` accounts instead of one each; with
    ``spread`` the signups are spread over that many days from ``day`` (fewer a day than a
    place's crowd), each account's login and welcome order within its hour as in a burst."""
    rng = world.rng
    group = burst_farm(world, name, day, machines)
    users = group.members
    if spread:
        shift = np.floor(rng.uniform(0, spread, len(users))) * DAY
        for log in ("signups", "logins", "orders"):
            world.rows[log]["ts"][-1] = world.rows[log]["ts"][-1] + shift
    signed = world.rows["signups"]["ts"][-1]
    if per_card > 1:
        orders = world.rows["orders"]
        last = len(orders["user"]) - 1  # burst_farm's orders: the last block added
        cards = world.new("card", -(-len(users) // per_card))[np.arange(len(users)) // per_card]
        orders["card"][last] = cards
    devices, ips = machines
    for lo, hi in later:
        world.add("logins", user=users, ts=signed + rng.uniform(lo, hi, len(users)) * DAY,
                  ip=rng.choice(ips, len(users)), device=rng.choice(devices, len(users)),
                  failed=0)


def world_hr(seed: int, base: int = 2000) -> World:
    """World ``HR`` of the module docstring, drawn with ``seed``."""
    world = World(seed)
    carrier = world.new("ip", 40)
    base_population(world, base, carrier)
    hostel(world, 5)
    hostel(world, 30, welcome_all=True, name="hostel_families_wc")
    for i, (name, (later, per_card, spread)) in enumerate(FARMS.items()):
        machines = hostel(world, 10 + 5 * i, name=f"{name}_guests")
        returning_farm(world, name, 20 + 5 * i, machines, later, per_card, spread)
    record_hubs(world)
    return world


def measure(seed: int, out: Path, overrides: list[str], name: str = "HR",
            build: Callable[[int], World] = world_hr) -> dict:
    """Generate world ``name`` (drawn by ``build``) for ``seed`` under ``out``, run it without
    labels, score it (:func:`benchmarks.hostels.score`)."""
    folder = out / f"{name}-{seed}"
    write_world(build(seed), name, folder, seed)
    groups = json.loads((folder / "groups.json").read_text())
    ran = run_abusenet(folder, folder / "run", None, overrides)
    rings = pd.read_parquet(folder / "run" / "rings.parquet")
    return {"world": name, "seed": seed, **score(rings, groups), "cpu_s": round(ran["cpu_s"], 1)}


def world_dr(seed: int, base: int = 2000) -> World:
    """World ``DR`` of the module docstring, drawn with ``seed``."""
    world = World(seed)
    carrier = world.new("ip", 40)
    base_population(world, base, carrier)
    gym_january(world, 5, carrier)
    for i, logins in enumerate(DESK_LOGINS):
        desk_farm(world, f"farm_desk_first_mix{logins}", 7 + 4 * i, carrier, mobile=False,
                  first=True, carrier_logins=logins)
    record_hubs(world)
    return world


#: The worlds: name -> its generator (given the seed).
WORLDS: dict[str, Callable[[int], World]] = {"HR": world_hr, "DR": world_dr}


def run_seeds(argv: list[str] | None, doc: str | None, module: str,
              worlds: dict[str, Callable[[int], World]]) -> None:
    """The command line of a probe of shapes worlds: one JSON line of figures per world and
    seed."""
    args = world_parser(doc, module, list(worlds)).parse_args(argv)
    for name in args.worlds:
        for seed in args.seeds:
            print(json.dumps(measure(seed, args.out, args.overrides, name, worlds[name])),
                  flush=True)


def main(argv: list[str] | None = None) -> None:
    """Command line: one JSON line of figures per world and seed."""
    run_seeds(argv, __doc__, "probes_places", WORLDS)


if __name__ == "__main__":
    main()
