"""Planted money-mule groups beside honest ones: rings found per world through ``abusenet run``.

Usage::

    python -m benchmarks.mule_flows [--worlds mule_bills mule_weekly ...] [--seeds 0 1]
                                    [--out DIR] [--set SECTION.KEY=VALUE ...]

Each world is :func:`benchmarks.honest_flows.base`'s honest population (2,000 accounts buying at
60 shops) and a few planted mule groups whose money moves the way the honest look-alikes of
:mod:`benchmarks.honest_flows` (``gift_pool``, ``lunch_club``, ``coop_weekly``) do, so a rule
that clears those must still find these (:data:`WORLDS`). Mules live thin lives (a signup 60 days
before the scheme, logins and shopping) unless a world gives them a salary and rent:

* ``mule_bills``: 5 groups of 8 mules each paid 200-900 by one or two outside accounts (victims
  paying "bills", 0-6 h into the week's day) every week for 12 weeks; each passes 95-99 % on to
  the group's collector 7-12 h into the day, who pays the group's cash-out account the sum 13-24 h
  into it;
* ``mule_weekly``: the same, the collector turning each week (in turn);
* ``mule_group_shop``: the collector (fixed) spends each sum by card at the group's own shop;
* ``mule_shops``: the collector (fixed) spends each sum by card at one of the log's shops;
* ``mule_kitty_tx``: victims' money, the collector turning each week, the sum spent at one
  gift-card shop every group of the world uses;
* ``mule_kitty_cash``: the same, the mules' money coming in as cash the log does not show;
* ``mule_kitty_smurf``: ``mule_kitty_cash`` with salaried mules paying rent (R51's evasion);
* ``mule_chain``: 10 chains of 5 mules: each round (8, 10 days apart) a victim pays the first
  200-900 and each passes 95-99 % to the next within 1-6 h, the last to a cash-out account;
* ``mule_chain_float``: the same, two middle mules of each round paying on 6 h before they are
  paid, 95-98 % of what they will receive (review R49).

hreview's session-28/29 scripts (hf28.py, hf29.py) that built worlds of these names were lost;
these rebuild them from their descriptions, so figures differ from theirs. Every world is run
without labels and scored: a planted group is *found* when one reported ring holds at least half
of its members; *victims in rings* counts the reported outside accounts that paid a mule (honest,
but tied to the ring by its money), *honest in rings* the other reported accounts of no planted
group (look-alikes: false alarms). The table is printed and ``OUT/mule_flows.json`` written.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

import pandas as pd

from benchmarks.honest_flows import DAY, SPAN, Log, base, person, write
from benchmarks.shapes.__main__ import run_abusenet, world_parser
from ingest.files import write_text_atomic

#: Days into the log the schemes start (the mules sign up 60 days before).
START = 400


class MuleLog(Log):
    """A world's log and the outside accounts that paid its mules (``victims``)."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.victims: set[str] = set()


def _mules(log: Log, shops: list[str], n: int, start: float, *, rich: bool = False) -> list[str]:
    """``n`` mule accounts signing up 60 days before ``start``, shopping; with ``rich`` each is
    paid a monthly salary by its own employer and pays its own landlord rent."""
    rng = log.rng
    mules = [log.new("u") for _ in range(n)]
    for m in mules:
        person(log, m, start - rng.uniform(50, 60) * DAY, SPAN * DAY, shops=shops)
        if rich:
            boss, landlord = log.new("u"), log.new("u")
            pay = round(float(rng.uniform(1800, 3000)), 2)
            rent = float(rng.choice([500, 600, 700]))
            for month in range(int(start / DAY / 30) - 2, SPAN // 30):
                log.event(boss, (month * 30 + 25) * DAY, "transfer", peer=m, amount=pay)
                log.event(m, (month * 30 + 27) * DAY, "transfer", peer=landlord, amount=rent)
    return mules


def _victims(log: MuleLog, users: list[str], mule: str, t: float) -> float:
    """One or two outside accounts pay ``mule`` 200-900 each 0-6 h after ``t``; the total."""
    rng = log.rng
    total = 0.0
    for _ in range(int(rng.integers(1, 3))):
        a = round(float(rng.uniform(200, 900)), 2)
        total += a
        victim = str(rng.choice(users))
        log.victims.add(victim)
        log.event(victim, t + rng.uniform(0, 6) * 3600, "transfer", peer=mule, amount=a)
    return total


def _kitty(log: Log, shops: list[str], users: list[str], groups: int, *, turn: bool,
           spend: str, cash: bool = False, rich: bool = False, weeks: int = 12,
           size: int = 8, keep: tuple[float, float] = (0.95, 0.99)) -> None:
    """``groups`` groups of ``size`` mules sending a collector their money every week for
    ``weeks`` weeks; the collector (fixed, or turning with ``turn``) then spends the sum:
    ``spend`` is
    ``cashout`` (a transfer to the group's cash-out account), ``own_shop`` (a card purchase at
    the group's own shop), ``shops`` (at one of the log's shops) or ``giftcard`` (at one shop
    every group uses). With ``cash`` the mules' money comes in unseen (cash deposits), else
    from victims (:func:`_victims`); each mule passes on a share drawn from ``keep``."""
    rng = log.rng
    gift = log.new("u")
    if spend == "giftcard":
        person(log, gift, 0, SPAN * DAY)
    for g in range(groups):
        start = (START + rng.uniform(0, 60)) * DAY
        mules = _mules(log, shops, size, start, rich=rich)
        sink = log.new("u")
        person(log, sink, start - 60 * DAY, SPAN * DAY)
        log.groups[f"mules{g}"] = mules + ([sink] if spend in ("cashout", "own_shop") else [])
        card = log.new("c")
        for week in range(weeks):
            t = start + week * 7 * DAY
            who = mules[week % size] if turn else mules[0]
            total = 0.0
            for m in mules:
                if m == who:
                    continue
                got = (round(float(rng.uniform(200, 900)), 2) if cash
                       else _victims(log, users, m, t))
                a = round(got * float(rng.uniform(*keep)), 2)
                total += a
                log.event(m, t + rng.uniform(7, 12) * 3600, "transfer", peer=who, amount=a)
            done = t + rng.uniform(13, 24) * 3600
            if spend == "cashout":
                log.event(who, done, "transfer", peer=sink, amount=round(total, 2))
            else:
                shop = {"own_shop": sink, "giftcard": gift,
                        "shops": shops[int(rng.integers(len(shops)))]}[spend]
                log.event(who, done, "purchase", card=card if not turn else log.new("c"),
                          peer=shop, amount=round(total, 2))


def _chains(log: Log, shops: list[str], users: list[str], chains: int, *, float_: bool) -> None:
    """``chains`` relays of 5 mules and a cash-out account, 8 rounds 10 days apart: a victim
    pays the first 200-900 and each passes 95-99 % on within 1-6 h; with ``float_`` two middle
    mules pay on 6 h before they are paid, 95-98 % of what they will receive."""
    rng = log.rng
    for c in range(chains):
        start = (START + rng.uniform(0, 60)) * DAY
        mules = _mules(log, shops, 5, start)
        sink = log.new("u")
        person(log, sink, start - 60 * DAY, SPAN * DAY)
        log.groups[f"chain{c}"] = [*mules, sink]
        path = [*mules, sink]
        for r in range(8):
            t = start + r * 10 * DAY
            amount = round(float(rng.uniform(200, 900)), 2)
            victim = str(rng.choice(users))
            log.victims.add(victim)
            log.event(victim, t, "transfer", peer=path[0], amount=amount)
            paid, clock = amount, t
            for i in range(len(path) - 1):
                if float_ and i in (1, 2):
                    paid = round(paid * float(rng.uniform(0.95, 0.98)), 2)
                    at = clock = clock - 6 * 3600
                else:
                    paid = round(paid * float(rng.uniform(0.95, 0.99)), 2)
                    at = clock = clock + rng.uniform(1, 6) * 3600
                log.event(path[i], at, "transfer", peer=path[i + 1], amount=paid)


def _world(**kwargs) -> Callable[[Log, list[str], list[str]], None]:
    def make(log: Log, shops: list[str], users: list[str]) -> None:
        _kitty(log, shops, users, 5, **kwargs)
    return make


def _chain_world(float_: bool) -> Callable[[Log, list[str], list[str]], None]:
    def make(log: Log, shops: list[str], users: list[str]) -> None:
        _chains(log, shops, users, 10, float_=float_)
    return make


#: The worlds: name -> the mule groups it plants (given the log's shops and honest accounts).
WORLDS: dict[str, Callable[[Log, list[str], list[str]], None]] = {
    "mule_bills": _world(turn=False, spend="cashout"),
    "mule_weekly": _world(turn=True, spend="cashout"),
    "mule_group_shop": _world(turn=False, spend="own_shop"),
    "mule_shops": _world(turn=False, spend="shops"),
    "mule_kitty_tx": _world(turn=True, spend="giftcard"),
    "mule_kitty_cash": _world(turn=True, spend="giftcard", cash=True),
    "mule_kitty_smurf": _world(turn=True, spend="giftcard", cash=True, rich=True),
    "mule_chain": _chain_world(False),
    "mule_chain_float": _chain_world(True),
}


def build(name: str, seed: int, n_base: int = 2000,
          worlds: dict[str, Callable[[Log, list[str], list[str]], None]] | None = None
          ) -> MuleLog:
    """The world ``name`` of ``worlds`` (default :data:`WORLDS`) drawn with ``seed``."""
    worlds = WORLDS if worlds is None else worlds
    if name not in worlds:
        raise ValueError(f"unknown world {name!r}; the worlds are {', '.join(worlds)}")
    log = MuleLog(seed)
    shops = base(log, n_base)
    users = sorted({row[0] for row in log.rows} - set(shops))
    worlds[name](log, shops, users)
    return log


def score(rings: pd.DataFrame, groups: dict[str, list[str]], victims: set[str] | None = None
          ) -> dict:
    """Planted groups found (a ring holding at least half of the group's members), rings
    reported, and the reported accounts of no planted group: ``victims`` (outside accounts
    that paid a mule) apart from the other honest ones."""
    ringsets = [set(m) for m in rings["members"]] if len(rings) else []
    planted = set().union(*map(set, groups.values())) if groups else set()
    found = sorted(g for g, members in groups.items()
                   if any(2 * len(r.intersection(members)) >= len(members) for r in ringsets))
    inside = set().union(*ringsets) if ringsets else set()
    return {"rings": len(ringsets), "groups": len(groups), "found": len(found),
            "found_groups": found, "victims_in_rings": len((inside - planted) & (victims or set())),
            "honest_in_rings": len(inside - planted - (victims or set()))}


def run_worlds(args: argparse.Namespace, build: Callable[[str, int], MuleLog],
               name: str) -> None:
    """Generate, run and score ``args.worlds`` x ``args.seeds`` (each world drawn by ``build``)
    into ``args.out``; print the table and keep the figures in ``args.out / NAME.json``."""
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    lines = ["| world | seed | found | rings | victims in rings | other honest in rings | CPU s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for world in args.worlds:
        for seed in args.seeds:
            log = build(world, seed)
            folder = write(log, args.out / f"{world}-{seed}")
            write_text_atomic(folder / "victims.json", json.dumps(sorted(log.victims)))
            ran = run_abusenet(folder, folder / "run", None, args.overrides)
            groups = json.loads((folder / "groups.json").read_text())
            figures = {**score(pd.read_parquet(folder / "run" / "rings.parquet"), groups,
                               log.victims), "cpu_s": ran["cpu_s"]}
            results[f"{world}-{seed}"] = figures
            write_text_atomic(args.out / f"{name}.json", json.dumps(results, indent=1))
            lines.append(f"| {world} | {seed} | {figures['found']} / {figures['groups']} "
                         f"| {figures['rings']} | {figures['victims_in_rings']} "
                         f"| {figures['honest_in_rings']} "
                         f"| {figures['cpu_s']:.1f} |")
            print(f"{world} seed {seed}: done", file=sys.stderr)
    print("\n".join(lines))
    print(f"\n(details: {args.out / f'{name}.json'})")


def main(argv: list[str] | None = None) -> None:
    """Command line: generate, run and score the chosen worlds and seeds; print the table."""
    run_worlds(world_parser(__doc__, "mule_flows", list(WORLDS)).parse_args(argv), build,
               "mule_flows")


if __name__ == "__main__":
    main()
