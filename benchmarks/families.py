"""Guilt by association in a labelled run: a fraudster's family on the family laptop.

The reviewer's world of session 23 (issue 19; ``/tmp/hreview/bla.py fraudfam``), kept here:
the shapes base population (900 accounts, 40 carrier IPs), 25 families of 5 existing accounts
sharing a laptop, a card and a home IP (each member also with an own phone), living ordinary
lives (:func:`benchmarks.shapes.population.honest_activity`); one member of each family is a
fraudster (labelled) who also signs up 6 throwaway accounts on the family laptop behind the
home IP (each redeeming the welcome code, then quiet); two ordinary promo farms (30, 40) to learn
from. The fraudster's own log is like his relatives': only the label tells them apart.

``abusenet run`` gets every label but the relatives' (hidden: the honest look-alike) and half the
farm and throwaway accounts' (drawn with the seed). Printed per seed: the relatives' mean
score and how many score at least 0.5, relatives in reported rings, the rings, and of the hidden
throwaways how many are in a reported ring and their mean score; the run's held-back account
AUPRC. Run ``python -m benchmarks.families --seeds 0 1 [--set SECTION.KEY=VALUE ...]`` (about
100 CPU s a seed).
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

#: Families, members per family, throwaway accounts per fraudster.
FAMILIES, MEMBERS, THROWAWAYS = 25, 5, 6


def fraud_families(seed: int) -> World:
    """The world of the module docstring, drawn with ``seed``."""
    world = World(seed)
    rng = world.rng
    carrier = world.new("ip", 40)
    base_population(world, 900, carrier)
    users = world.new("account", FAMILIES * MEMBERS)
    family = np.repeat(np.arange(FAMILIES), MEMBERS)
    laptops, homes, cards = (world.new(kind, FAMILIES) for kind in ("device", "ip", "card"))
    honest_activity(world, users, np.zeros(len(users)), laptops[family], homes[family],
                    cards[family], phone=world.new("device", len(users)), mobile_pool=carrier,
                    mobile_share=0.4)
    fraudsters = users[::MEMBERS]
    world.groups.append(Group("fraudsters", "fraudster", fraudsters, True, {}))
    world.lookalikes.append(Group("relatives", "family_of_fraudster",
                                  np.setdiff1d(users, fraudsters), False, {}))
    for i in range(FAMILIES):
        throw = world.new("account", THROWAWAYS)
        ts = (5 + i * 2) * DAY + 20 * HOUR + np.sort(rng.uniform(0, 3, THROWAWAYS)) * DAY
        abuse._signup_and_redeem(world, throw, ts, np.full(THROWAWAYS, laptops[i]),
                                 np.full(THROWAWAYS, homes[i]), world.new("card", THROWAWAYS))
        world.groups.append(Group(f"throwaways{i}", "throwaways", throw, True, {}))
    abuse.promo_farm(world, 30, 20)
    abuse.promo_farm(world, 40, 40)
    record_hubs(world)
    return world


def given_labels(labels: pd.DataFrame, groups: dict, seed: int) -> tuple[pd.DataFrame, set]:
    """The labels ``abusenet run`` gets (every label but the relatives' and half of each farm's
    and the throwaways', drawn with ``seed``) and the relatives' ids."""
    relatives = {str(m) for g in groups["lookalikes"] if g["kind"] == "family_of_fraudster"
                 for m in g["members"]}
    rng = np.random.default_rng(seed)
    halved = [str(m) for g in groups["groups"] if g["kind"] in ("promo_farm", "throwaways")
              for m in g["members"]]
    hidden = relatives | {m for m in halved if rng.random() < 0.5}
    return labels[~labels["user_id"].isin(hidden)], relatives


def measure(seed: int, out: Path, overrides: list[str], positives_only: bool = False) -> dict:
    """Generate the world of ``seed`` under ``out``, run it, and score the run; with
    ``positives_only`` the run gets the given labels of abusive accounts only (a chargeback
    list: the labels stage then fills negatives, ``labels.unlabelled_as_negative``)."""
    folder = out / f"families-{seed}"
    write_world(fraud_families(seed), "families", folder, seed)
    groups = json.loads((folder / "groups.json").read_text())
    labels = pd.read_csv(folder / "labels.csv", dtype={"user_id": str})
    given, relatives = given_labels(labels, groups, seed)
    if positives_only:
        given = given[given["is_abuser"] == 1]
    write_text_atomic(folder / "labels_given.csv", given.to_csv(index=False))
    ran = run_abusenet(folder, folder / "run", folder / "labels_given.csv", overrides)
    rings = pd.read_parquet(folder / "run" / "rings.parquet")
    scores = pd.read_parquet(folder / "run" / "account_scores.parquet")
    scores = scores.set_index(scores["account_id"].astype(str))["score"]
    metrics = json.loads((folder / "run" / "metrics.json").read_text())
    in_rings = {str(m) for members in rings["members"] for m in members}
    throwaways = {str(m) for g in groups["groups"] if g["kind"] == "throwaways"
                  for m in g["members"]} - set(given["user_id"])
    relative_scores = scores.reindex(sorted(relatives))
    return {
        "seed": seed,
        "relatives_mean_score": round(float(relative_scores.mean()), 3),
        "relatives_at_0_5": int((relative_scores >= 0.5).sum()),
        "relatives_in_rings": len(relatives & in_rings),
        "relatives": len(relatives),
        "rings": len(rings),
        "hidden_throwaways_in_rings": len(throwaways & in_rings),
        "hidden_throwaways": len(throwaways),
        "hidden_throwaways_mean_score": round(float(scores.reindex(sorted(throwaways)).mean()),
                                              3),
        "held_back_auprc": metrics.get("accounts", {}).get("auprc"),
        "cpu_s": round(ran["cpu_s"], 1),
    }


def main(argv: list[str] | None = None) -> None:
    """Command line: one line of figures per seed."""
    parser = world_parser(__doc__, "families")
    parser.add_argument("--positives-only", action="store_true",
                        help="give the run the abusive accounts' labels only")
    args = parser.parse_args(argv)
    for seed in args.seeds:
        print(json.dumps(measure(seed, args.out, args.overrides, args.positives_only)),
              flush=True)


if __name__ == "__main__":
    main()
