"""Each shapes world plants what it says, and a user's ingest reads the files it writes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.shapes.population import World
from benchmarks.shapes.worlds import SHAPES, WORLDS, build_world, write_world
from ingest.run import ingest_logs

from .conftest import TINY

LOOKALIKES = {"university_nat", "family", "corporate_vpn", "carrier_nat", "kiosk", "flash_sale",
              "popular_seller", "promo_hub", "drive_by", "computer_lab", "store_opening",
              "viral_seller", "new_family"}
KINDS = {"farms": {"promo_farm"}, "proxyfarms": {"proxy_farm"}, "onedevice": {"one_device"},
         "stuffing": {"credential_stuffing"}, "stuffing_real": {"credential_stuffing_real"},
         "reviews": {"review_burst"}}
#: The look-alikes a world's abuse brings with it: the accounts a tool failed on, a VPN's
#: subscribers out of the exit it works through.
WITH_ABUSE = {"stuffing_real": {"attacked_only", "vpn_exit"}}


@pytest.mark.parametrize("name", WORLDS)
def test_every_world_keeps_every_lookalike_and_plants_its_shapes(name: str) -> None:
    world = build_world(name, seed=5, sizes=TINY)
    assert {g.kind for g in world.lookalikes} == LOOKALIKES | WITH_ABUSE.get(name, set())
    wanted = set().union(*(KINDS[s] for s in SHAPES[name]))
    assert {g.kind for g in world.groups} == wanted
    planted = {g.kind: len(g.members) for g in world.groups}
    if "promo_farm" in wanted:
        assert sorted(len(g.members) for g in world.groups if g.kind == "promo_farm") == [30, 60]
    assert all(size > 0 for size in planted.values())


def test_same_seed_same_world_other_seed_other_world() -> None:
    one, two = (build_world("farms", seed=s, sizes=TINY) for s in (1, 1))
    other = build_world("farms", seed=2, sizes=TINY)
    assert one.table("logins").equals(two.table("logins"))
    assert not one.table("logins").equals(other.table("logins"))


def test_unknown_world_is_named() -> None:
    with pytest.raises(ValueError, match="unknown world 'farm'"):
        build_world("farm")


def test_written_world_is_ingested_whole_with_its_labels(mixed: World, tmp_path: Path) -> None:
    out = write_world(mixed, "mixed", tmp_path / "mixed", seed=3)
    groups = json.loads((out / "groups.json").read_text())
    labels = pd.read_csv(out / "labels.csv")
    assert len(labels) == groups["accounts"] == labels["user_id"].nunique()
    planted = {m for g in groups["groups"] for m in g["members"]}
    assert set(labels.loc[labels["is_abuser"] == 1, "user_id"]) == planted
    summary = ingest_logs(out / "logs", out / "mapping.yaml", tmp_path / "events",
                          labels=out / "labels.csv", progress=False)
    assert summary.rows_in == sum(groups["events"].values())
    assert summary.accepted == summary.rows_in and summary.quarantined == 0
    assert summary.labels == groups["accounts"]
    events = pd.concat(pd.read_parquet(day) for day in (tmp_path / "events").glob("day=*"))
    assert set(events["event_type"]) == {"signup", "login", "order", "review"}
    assert events["account_id"].nunique() == groups["accounts"]
    logins = events[events["event_type"] == "login"]
    assert set(logins["result"].dropna().unique()) == {0.0, 1.0}
    reviews = events[events["event_type"] == "review"]
    assert reviews["seller_id"].notna().all() and reviews["counterparty_id"].isna().all()
    orders = events[events["event_type"] == "order"]
    assert orders["promo_id"].notna().any() and orders["payment_id"].notna().all()
