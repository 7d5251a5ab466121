"""The reviewer's probe of money-flow rules: mule groups dressed as honest weekly collections.

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

Run without labels (``python -m benchmarks.probes_flows [--worlds ...] [--seeds 0 1] [--set
SECTION.KEY=VALUE ...]``); printed per world and seed as :mod:`benchmarks.mule_flows` prints:
groups found (a ring holding half a group), rings, the victims (outside accounts that paid a
mule) and the other honest accounts in rings, CPU s.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from benchmarks import mule_flows
from benchmarks.honest_flows import DAY, SPAN, Log
from benchmarks.mule_flows import START, MuleLog, _kitty, run_worlds
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


#: The worlds: name -> the mule groups it plants (given the log's shops and honest accounts).
WORLDS: dict[str, Callable[[Log, list[str], list[str]], None]] = {
    "mule_bills_rich": _rich,
    "mule_bills_spender": _spender(False),
    "mule_weekly_spender": _spender(True),
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
