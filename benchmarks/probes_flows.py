"""The reviewer's probe of money-flow rules: mule groups dressed as honest ones, and back.

Session 30's review worlds (issue 19, R55's co-ops). A rule that clears a weekly collection when
each member's share is no more than the member's everyday payments (``graph.rings.flow_null.
contributions``) is also what a mule group can aim at: a mule's everyday payments are the mule's
own to choose. Each world is :mod:`benchmarks.mule_flows`' ``mule_bills`` (5 groups of 8 mules
paid 200-900 by outside accounts each week for 12 weeks, passing 95-99 % on to a fixed collector
who pays the group's cash-out account) on :func:`benchmarks.honest_flows.base`'s population, the
mules' lives changed (:data:`WORLDS`):

* ``mule_bills_rich``: each mule is paid a monthly salary (1,800-3,000) by an own employer and
  pays an own landlord rent (500-700): large payments of its own;
* ``mule_bills_spender``: each mule also buys at the log's shops every ~5 days from 60 days
  before the scheme, amounts lognormal (median 150, log-sd 0.8: a quarter above 260), as a mule
  spending its cut would;
* ``mule_weekly_spender``: the same with the collector turning each week (``mule_weekly``).

Session 31's worlds for the open reviews R17, R48 and R51:

* ``launder_week`` (R17): 20 loops of 8 fresh mules alive one week (:func:`benchmarks.
  honest_flows.person`); a victim pays the first 200-900 and the money goes once round the
  loop, each transfer 96-99 % of the previous, at random times over the week (few are hops:
  found only by the amounts' chain, the opt-in ``rings.flow_chain_amounts``);
* ``launder_week_order``: the same in loop order, each transfer 1-1.5 h after the one before
  (the control: hops);
* ``santa_forward`` (R48, honest): 20 offices of 12 colleagues whose Secret Santa goes round
  in its drawn order each December (each sends the next the agreed 20.00 1-6 h after being
  paid): an equal-amount relay by nature, the open leftover of R48's order rule (reported
  colleagues count as other honest accounts in rings);
* ``mule_kitty_smurf_shops`` (R51): :mod:`benchmarks.mule_flows`' ``mule_kitty_smurf``
  (salaried mules paying rent, their money paid in as cash the log does not show, the
  collector turning weekly) spending each sum at one of the log's shops, not at one gift-card
  shop every group uses (what R51 found still tells them apart);
* ``couriers_cod`` (honest; hflow's session-31 ``flow_null.routed_log_chance`` reads a member
  passing on what one-off payers paid it along one repeated route): 10 shops of 6
  cash-on-delivery couriers for 20 weeks; each week 3-8 customers of the base population pay a
  courier 15-60 each for their delivery (one-off payers), and on Sunday the courier pays the
  shop the week's takings less a 3 % fee; the shop (an account with a life of its own) pays its
  wholesaler 60-80 % of the week's takings on Monday (reported accounts count as other honest);
  ``couriers_daily``: the same for 8 weeks, each courier paid by 1-4 customers 10:00-19:00 on
  each of 6 days a week and paying the shop that day's takings less 3 % 20:00-22:00;
* ``mule_kitty_smurf_long`` / ``mule_kitty_smurf_small`` (review R66): ``mule_kitty_smurf`` run
  for 30 weeks, or with groups of 4 mules, so that each mule pays each collector three times or
  more (hflow's session-31 "the circle meets again" reads a co-op there);
  ``mule_kitty_smurf_shops_long``: ``mule_kitty_smurf_shops`` for 30 weeks (no shop shared
  between the groups either);
* ``mule_bills_whole`` (review R74): ``mule_bills`` whose mules pass on all that came in (their
  cut paid elsewhere): each route's mean is its share of what came in, to the cent.

Run without labels (``python -m benchmarks.probes_flows [--worlds ...] [--seeds 0 1] [--set
SECTION.KEY=VALUE ...]``); printed per world and seed as :mod:`benchmarks.mule_flows` prints:
groups found (a ring holding half a group), rings, the victims (outside accounts that paid a
mule) and the other honest accounts in rings, CPU s.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from benchmarks import mule_flows
from benchmarks.honest_flows import DAY, SPAN, Log, person
from benchmarks.mule_flows import START, MuleLog, _kitty, _world, run_worlds
from benchmarks.shapes.__main__ import world_parser


def _big_spending(log: Log, shops: list[str]) -> None:
    """Every planted mule (each group's members but its cash-out account, the last) buys at
    ``shops`` every ~5 days from 60 days before the schemes' start, lognormal amounts (median
    150, log-sd 0.8), with a card of its own."""
    rng = log.rng
    for members in log.groups.values():
        for mule in members[:-1]:
            card = log.new("c")
            begin = (START - 60) * DAY
            for t in np.sort(rng.uniform(begin, SPAN * DAY, int((SPAN - START + 60) / 5))):
                log.event(mule, t, "purchase", card=card, peer=shops[rng.integers(len(shops))],
                          amount=round(float(rng.lognormal(np.log(150), 0.8)), 2))


def _spender(turn: bool) -> Callable[[Log, list[str], list[str]], None]:
    def make(log: Log, shops: list[str], users: list[str]) -> None:
        _kitty(log, shops, users, 5, turn=turn, spend="cashout")
        _big_spending(log, shops)
    return make


def _rich(log: Log, shops: list[str], users: list[str]) -> None:
    _kitty(log, shops, users, 5, turn=False, spend="cashout", rich=True)


def _launder_week(in_order: bool) -> Callable[[MuleLog, list[str], list[str]], None]:
    def make(log: MuleLog, shops: list[str], users: list[str]) -> None:
        rng = log.rng
        for g in range(20):
            start = (START + rng.uniform(0, 300)) * DAY
            mules = [log.new("u") for _ in range(8)]
            log.groups[f"loop{g}"] = mules
            for m in mules:
                person(log, m, start + rng.uniform(0, 0.5) * DAY, start + 7 * DAY, shops=shops)
            victim = str(rng.choice(users))
            log.victims.add(victim)
            paid = round(float(rng.uniform(200, 900)), 2)
            log.event(victim, start + 0.6 * DAY, "transfer", peer=mules[0], amount=paid)
            times = (start + 0.6 * DAY + np.cumsum(rng.uniform(1, 1.5, 8)) * 3600 if in_order
                     else start + rng.uniform(0.6, 7, 8) * DAY)
            for i in range(8):
                paid = round(paid * float(rng.uniform(0.96, 0.99)), 2)
                log.event(mules[i], float(times[i]), "transfer", peer=mules[(i + 1) % 8],
                          amount=paid)
    return make


def _santa_forward(log: MuleLog, shops: list[str], users: list[str]) -> None:
    rng = log.rng
    for _ in range(20):
        team = [log.new("u") for _ in range(12)]
        for m in team:
            person(log, m, rng.uniform(0, 60) * DAY, SPAN * DAY, shops=shops)
        for year in (0, 1):
            t = (100 + 365 * year + rng.uniform(0, 10)) * DAY
            order = rng.permutation(12)
            for i in range(12):
                log.event(team[order[i]], t, "transfer", peer=team[order[(i + 1) % 12]],
                          amount=20.0)
                t += rng.uniform(1, 6) * 3600


def _couriers(daily: bool) -> Callable[[MuleLog, list[str], list[str]], None]:
    def make(log: MuleLog, shops: list[str], users: list[str]) -> None:
        rng = log.rng
        wholesaler = log.new("u")
        person(log, wholesaler, 0, SPAN * DAY, shops=shops)
        for _ in range(10):
            shop, team = log.new("u"), [log.new("u") for _ in range(6)]
            for account in (shop, *team):
                person(log, account, rng.uniform(0, 60) * DAY, SPAN * DAY, shops=shops)
            start = (START + rng.uniform(0, 200)) * DAY
            for week in range(8 if daily else 20):
                sunday = start + (7 * week + 6) * DAY
                takings = 0.0
                for courier in team:
                    for day in range(6) if daily else [None]:
                        takings += _takings(log, users, courier, shop, sunday, day)
                log.event(shop, sunday + rng.uniform(1.3, 1.7) * DAY, "transfer",
                          peer=wholesaler, amount=round(takings * float(rng.uniform(0.6, 0.8)), 2))
    return make


def _takings(log: MuleLog, users: list[str], courier: str, shop: str, sunday: float,
             day: int | None) -> float:
    """One remittance of ``courier`` to ``shop``: with ``day`` None, 3-8 customers paid it
    15-60 each over the 6 days before ``sunday`` and it pays the shop 97 % of it on Sunday
    evening; with ``day`` (0-5, Monday on), 1-4 customers paid it 10:00-19:00 that day and it
    pays the shop 97 % of it 20:00-22:00. The sum remitted."""
    rng = log.rng
    if day is None:
        paid = [round(float(rng.uniform(15, 60)), 2) for _ in range(rng.integers(3, 9))]
        for amount in paid:
            log.event(str(rng.choice(users)), sunday - rng.uniform(0.2, 6) * DAY,
                      "transfer", peer=courier, amount=amount)
        at = sunday + rng.uniform(18, 22) * 3600
    else:
        begin = sunday - (6 - day) * DAY
        paid = [round(float(rng.uniform(15, 60)), 2) for _ in range(rng.integers(1, 5))]
        for amount in paid:
            log.event(str(rng.choice(users)), begin + rng.uniform(10, 19) * 3600, "transfer",
                      peer=courier, amount=amount)
        at = begin + rng.uniform(20, 22) * 3600
    log.event(courier, at, "transfer", peer=shop, amount=round(0.97 * sum(paid), 2))
    return 0.97 * sum(paid)


def _smurf_shops(log: MuleLog, shops: list[str], users: list[str]) -> None:
    _kitty(log, shops, users, 5, turn=True, spend="shops", cash=True, rich=True)


#: The worlds: name -> the mule groups it plants (given the log's shops and honest accounts).
WORLDS: dict[str, Callable[[MuleLog, list[str], list[str]], None]] = {
    "mule_bills_rich": _rich,
    "mule_bills_spender": _spender(False),
    "mule_weekly_spender": _spender(True),
    "launder_week": _launder_week(False),
    "launder_week_order": _launder_week(True),
    "santa_forward": _santa_forward,
    "mule_kitty_smurf_shops": _smurf_shops,
    "couriers_cod": _couriers(False),
    "couriers_daily": _couriers(True),
    "mule_kitty_smurf_long": _world(turn=True, spend="giftcard", cash=True, rich=True, weeks=30),
    "mule_kitty_smurf_small": _world(turn=True, spend="giftcard", cash=True, rich=True, size=4),
    "mule_kitty_smurf_shops_long": _world(turn=True, spend="shops", cash=True, rich=True,
                                          weeks=30),
    "mule_bills_whole": _world(turn=False, spend="cashout", keep=(1.0, 1.0)),
}


def build(name: str, seed: int, n_base: int = 2000) -> MuleLog:
    """The world ``name`` (one of :data:`WORLDS`) drawn with ``seed``."""
    return mule_flows.build(name, seed, n_base, WORLDS)


def main(argv: list[str] | None = None) -> None:
    """Command line: generate, run and score the chosen worlds and seeds; print the table."""
    run_worlds(world_parser(__doc__, "probes_flows", list(WORLDS)).parse_args(argv), build,
               "probes_flows")


if __name__ == "__main__":
    main()
