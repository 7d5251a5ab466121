"""The reviewer's probe of pairs with labels: honest couples and flatmates next to planted pairs.

Session 30's review world (issue 19, item 3: pairs judged at a stated false discovery rate,
``ring_scoring.pair_fdr``). The shapes base population (900 accounts, 40 carrier IPs) and, each
pair with its own phones:

* ``couple``: 40 honest couples sharing a laptop, a card and a home IP (no third account uses
  them), ordinary lives (:func:`benchmarks.shapes.population.honest_activity`);
* ``couple_two``: 20 honest couples sharing two devices (laptop, tablet) and two cards;
* ``flatmates``: 20 pairs of honest flatmates sharing the flat's PC and Wi-Fi, each paying
  with an own card;
* ``fresh_couple``: 20 couples as ``couple`` who sign up during the log on their laptop at home
  within 3 days of each other, 80 % redeeming the welcome code on a first order (a household's
  first week reads like a farm's);
* ``partner_of_fraudster``: 20 couples as ``couple`` of whom one is a fraudster (labelled:
  ``fraudster``) who also buys with 3 stolen cards, one order each, a seasonal promo on each;
  the partner is honest;
* ``planted_pair``: 20 abusive pairs: two fresh accounts signed up within the hour on one
  device behind one IP, one card between them, each redeeming the welcome code and placing 2-4
  more orders over the next two weeks (a promo on each);
* two promo farms (30, 40) to learn from.

Each seed's world is run twice: without labels (``none``) and with labels (``given``): the base
population's and the fraudsters' labels, half of the farm and planted-pair accounts' (drawn
per account with the seed) and the honest label of both accounts of half the couples and
flatmates (drawn per pair: an operator's labels hold honest households too), never a
fraudster's partner's. Printed per seed, mode and kind: of the pairs whose labels the run did
not get, those whose two accounts sit in one reported ring (``together``), of them in a ring of
at most four (``small``), and their accounts in reported rings (``accounts``: of a fraudster's
pair the partner alone); the rings, the
rings of two, the farms' accounts in rings. Run ``python -m benchmarks.probes_pairs --seeds 0 1
[--set ring_scoring.pair_fdr=0.05]`` (about 60 CPU s a seed); compare with
``ring_scoring.pair_fdr=null``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.shapes import abuse
from benchmarks.shapes.__main__ import run_abusenet, world_parser
from benchmarks.shapes.population import (
    DAY,
    HOUR,
    Group,
    World,
    base_population,
    honest_activity,
    record_hubs,
)
from benchmarks.shapes.worlds import write_world
from ingest.files import write_text_atomic

#: Pairs per kind.
PAIRS = {"couple": 40, "couple_two": 20, "flatmates": 20, "fresh_couple": 20,
         "partner_of_fraudster": 20, "planted_pair": 20}
#: The honest look-alike kinds.
HIDDEN = ("couple", "couple_two", "flatmates", "fresh_couple", "partner_of_fraudster")


def _couples(world: World, n: int, carrier: np.ndarray, devices: int, cards: int,
             own_cards: bool = False, fresh: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``n`` honest pairs (an ``(n, 2)`` array) sharing ``devices`` devices, a home IP and
    ``cards`` cards (each an own card instead with ``own_cards``), each with an own phone;
    and each pair's home IP. With ``fresh`` the two sign up on the first shared device within
    3 days of each other during the log (its last week left out), most redeeming the welcome
    code on a first order."""
    users = world.new("account", 2 * n).reshape(n, 2)
    pair = np.repeat(np.arange(n), 2)
    home = world.new("ip", n)[pair]
    phone = world.new("device", 2 * n)
    shared_devices = [world.new("device", n)[pair] for _ in range(devices)]
    start = np.zeros(2 * n)
    if fresh:
        first = world.at_daytime(np.zeros(n), np.full(n, world.end - 10 * DAY))[pair]
        start = first + np.where(np.arange(2 * n) % 2, world.rng.uniform(0, 3 * DAY, 2 * n), 0)
        world.signup(users.ravel(), start, shared_devices[0], home)
    shared_cards = ([world.new("card", 2 * n)] if own_cards else
                    [world.new("card", n)[pair] for _ in range(cards)])
    for i, device in enumerate(shared_devices):
        for j, card in enumerate(shared_cards):
            # the shared devices and cards each carry a share of the pair's life
            first = i == j == 0  # the reviews and the welcome orders come once
            honest_activity(world, users.ravel(), start, device, home, card,
                            phone=phone, mobile_pool=carrier, mobile_share=0.3,
                            logins=8.0 / (devices * len(shared_cards)),
                            orders=3.0 / (devices * len(shared_cards)),
                            review_share=0.3 if first else 0.0,
                            welcome_share=0.8 if first else 0.0)
    # each shared device and card used by both at least once
    for device in shared_devices:
        world.add("logins", user=users.ravel(), ts=world.at_daytime(start, world.end),
                  ip=home, device=device, failed=0)
    for card in shared_cards:
        world.add("orders", user=users.ravel(), ts=world.at_daytime(start, world.end),
                  seller=world.sellers_drawn(2 * n), card=card, promo=-1,
                  amount=np.round(world.rng.lognormal(3.3, 0.8, 2 * n), 2), ip=home)
    return users, home[::2]


def _stolen_card_orders(world: World, users: np.ndarray, home: np.ndarray) -> None:
    """Each of ``users`` buys with 3 stolen cards, one order each with a seasonal promo."""
    rng = world.rng
    idx = np.repeat(np.arange(len(users)), 3)
    ts = world.at_daytime(np.full(len(idx), 10 * DAY), np.full(len(idx), world.end))
    world.add("orders", user=users[idx], ts=ts, seller=world.sellers_drawn(len(idx)),
              card=world.new("card", len(idx)), promo=rng.integers(1, 4, len(idx)),
              amount=np.round(rng.uniform(80, 300, len(idx)), 2), ip=home[idx])


def _planted_pairs(world: World, n: int) -> np.ndarray:
    """``n`` abusive pairs of the module docstring (an ``(n, 2)`` array)."""
    rng = world.rng
    users = world.new("account", 2 * n).reshape(n, 2)
    device, ip, card = (world.new(kind, n) for kind in ("device", "ip", "card"))
    start = world.at_daytime(np.full(n, 3 * DAY), np.full(n, world.end - 20 * DAY))
    for k in range(2):
        ts = start + rng.uniform(0, HOUR, n)
        abuse._signup_and_redeem(world, users[:, k], ts, device, ip, card)
        more = rng.integers(2, 5, n)
        idx = np.repeat(np.arange(n), more)
        order_ts = start[idx] + rng.uniform(DAY, 14 * DAY, len(idx))
        world.add("logins", user=users[idx, k], ts=order_ts - rng.uniform(60, 600, len(idx)),
                  ip=ip[idx], device=device[idx], failed=0)
        world.add("orders", user=users[idx, k], ts=order_ts,
                  seller=world.sellers_drawn(len(idx)), card=card[idx],
                  promo=rng.integers(1, 4, len(idx)),
                  amount=np.round(rng.uniform(20, 60, len(idx)), 2), ip=ip[idx])
    return users


def couples_world(seed: int) -> World:
    """The world of the module docstring, drawn with ``seed``; each kind's pairs recorded as
    one group (``info["pairs"]``: its pairs of account ids)."""
    world = World(seed)
    carrier = world.new("ip", 40)
    base_population(world, 900, carrier)
    kinds = {"couple": _couples(world, PAIRS["couple"], carrier, 1, 1)[0],
             "couple_two": _couples(world, PAIRS["couple_two"], carrier, 2, 2)[0],
             "flatmates": _couples(world, PAIRS["flatmates"], carrier, 1, 0, own_cards=True)[0],
             "fresh_couple": _couples(world, PAIRS["fresh_couple"], carrier, 1, 1, fresh=True)[0]}
    mixed, homes = _couples(world, PAIRS["partner_of_fraudster"], carrier, 1, 1)
    _stolen_card_orders(world, mixed[:, 0], homes)
    world.groups.append(Group("fraudsters", "fraudster", mixed[:, 0], True, {}))
    kinds["partner_of_fraudster"] = mixed
    for kind in HIDDEN:
        # a fraudster's partner alone is the look-alike (the fraudster is labelled)
        honest = kinds[kind][:, 1] if kind == "partner_of_fraudster" else kinds[kind].ravel()
        world.lookalikes.append(Group(kind, kind, np.sort(honest), False,
                                      {"pairs": kinds[kind].tolist()}))
    planted = _planted_pairs(world, PAIRS["planted_pair"])
    world.groups.append(Group("planted_pair", "planted_pair", np.sort(planted.ravel()), True,
                              {"pairs": planted.tolist()}))
    abuse.promo_farm(world, 30, 20)
    abuse.promo_farm(world, 40, 40)
    record_hubs(world)
    return world


def given_labels(labels: pd.DataFrame, groups: dict, seed: int) -> pd.DataFrame:
    """The labels ``abusenet run`` gets with labels (module docstring), drawn with ``seed``;
    ``groups`` is ``groups.json``'s content with each kind's ``info["pairs"]`` named as
    ``labels`` names the accounts."""
    rng = np.random.default_rng(seed)
    hidden = set()
    for group in groups["lookalikes"]:
        if group["kind"] == "partner_of_fraudster":
            hidden |= set(map(str, group["members"]))
        elif group["kind"] in HIDDEN:
            hidden |= {str(m) for pair in group["info"]["pairs"] if rng.random() < 0.5
                       for m in pair}
    halved = [str(m) for g in groups["groups"] if g["kind"] in ("promo_farm", "planted_pair")
              for m in g["members"]]
    hidden |= {m for m in halved if rng.random() < 0.5}
    return labels[~labels["user_id"].isin(hidden)]


def pairs_in_rings(pairs: list[list[str]], rings: list[set[str]]) -> tuple[int, int]:
    """How many ``pairs`` have both accounts in one of ``rings``, and how many of those rings
    hold at most four accounts."""
    together = small = 0
    for a, b in pairs:
        holding = [ring for ring in rings if a in ring and b in ring]
        together += bool(holding)
        small += any(len(ring) <= 4 for ring in holding)
    return together, small


def measure(seed: int, out: Path, overrides: list[str]) -> list[dict]:
    """Generate the world of ``seed`` under ``out``, run it in both modes and score each run
    (a line per mode)."""
    folder = out / f"couples-{seed}"
    write_world(couples_world(seed), "couples", folder, seed)
    groups = json.loads((folder / "groups.json").read_text())
    labels = pd.read_csv(folder / "labels.csv", dtype={"user_id": str})
    names = labels["user_id"].to_numpy()  # by integer id
    for group in groups["lookalikes"] + groups["groups"]:
        if "pairs" in group["info"]:
            group["info"]["pairs"] = names[np.array(group["info"]["pairs"])].tolist()
    given = given_labels(labels, groups, seed)
    write_text_atomic(folder / "labels_given.csv", given.to_csv(index=False))
    recorded = {g["kind"]: g for g in groups["lookalikes"] + groups["groups"]}
    farms = {m for g in groups["groups"] if g["kind"] == "promo_farm" for m in g["members"]}
    lines = []
    for mode, labelled in (("none", None), ("given", folder / "labels_given.csv")):
        ran = run_abusenet(folder, folder / f"run-{mode}", labelled, overrides)
        rings = pd.read_parquet(folder / f"run-{mode}" / "rings.parquet")
        ring_sets = [set(map(str, m)) for m in rings["members"]]
        inside = set().union(*ring_sets) if ring_sets else set()
        known = set(given["user_id"]) if labelled else set()
        line: dict = {"seed": seed, "mode": mode, "rings": len(rings),
                      "rings_of_two": int((rings["members"].map(len) == 2).sum())}
        for kind in PAIRS:
            pairs = [p for p in recorded[kind]["info"]["pairs"] if not set(p) <= known]
            together, small = pairs_in_rings(pairs, ring_sets)
            # a fraudster's partner (the pair's second) alone is honest
            accounts = ({b for _, b in pairs} if kind == "partner_of_fraudster" else
                        {a for pair in pairs for a in pair})
            line[kind] = (f"{together}/{len(pairs)} together, {small} small, "
                          f"{len(accounts & inside)} accounts")
        line["farms"] = f"{len(farms & inside)}/{len(farms)}"
        line["cpu_s"] = round(ran["cpu_s"], 1)
        lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> None:
    """Command line: one line of figures per seed."""
    parser = world_parser(__doc__, "probes_pairs")
    args = parser.parse_args(argv)
    for seed in args.seeds:
        for line in measure(seed, args.out, args.overrides):
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
