"""The shapes worlds: which population and which abuse each holds, and how it is written.

Every world holds the honest base population and every honest look-alike
(:mod:`benchmarks.shapes.population`); the abuse worlds add their shapes
(:mod:`benchmarks.shapes.abuse`). :func:`write_world` writes what a user would bring to
``abusenet run``: four logs in the user's own schema under ``logs/`` (``signups.csv``,
``logins.csv.gz`` with epoch-second times and a text ``result``, ``orders.parquet``,
``reviews.csv``), ``mapping.yaml`` (a ``sources:`` mapping; sellers and promo codes are
entities, ``result`` mapped by ``values:``, ``bad_password`` declared a failed attempt),
``labels.csv`` (``user_id,is_abuser`` for every account) and ``groups.json`` (each planted
group and look-alike: id, kind, members).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from benchmarks.shapes import abuse
from benchmarks.shapes.population import (
    PROMOS,
    T0,
    Group,
    World,
    base_population,
    carrier_nat,
    computer_lab,
    corporate_vpn,
    families,
    flash_sale,
    kiosk,
    new_families,
    record_hubs,
    store_opening,
    university_nat,
    viral_seller,
    vpn_exit,
)
from ingest.files import write_parquet_atomic, write_text_atomic

WORLDS = ("lookalikes", "farms", "proxyfarms", "onedevice", "stuffing", "stuffing_real",
          "reviews", "mixed")
#: The abuse each world plants (``mixed``: all of them but ``stuffing_real``, which came later
#: and is left out so ``mixed`` stays comparable across sessions); ``lookalikes`` plants none.
SHAPES = {"farms": ("farms",), "proxyfarms": ("proxyfarms",), "onedevice": ("onedevice",),
          "stuffing": ("stuffing",), "stuffing_real": ("stuffing_real",), "reviews": ("reviews",),
          "mixed": ("farms", "proxyfarms", "onedevice", "stuffing", "reviews"),
          "lookalikes": ()}

MAPPING = """\
# A marketplace's four logs in its own schema (written by benchmarks.shapes).
sources:
  signups:
    files: "signups.csv"
    columns: {account_id: user_id, ts: created_at, device_id: device, ip: ip_address}
    constants: {event_type: signup}
  logins:
    files: "logins.csv.gz"
    columns: {account_id: user, ts: login_time, ip: ip, device_id: device_fp}
    constants: {event_type: login}
    attributes:
      result: {values: {success: 0, bad_password: 1}, failed: [bad_password]}
  orders:
    files: "orders.parquet"
    columns: {event_id: order_id, account_id: buyer, ts: paid_at, payment_id: card,
              amount: amount, ip: client_ip}
    entities: {Seller: seller, Promo: promo_code}
    constants: {event_type: order}
  reviews:
    files: "reviews.csv"
    columns: {event_id: review_id, account_id: reviewer, ts: reviewed_at}
    entities: {Seller: seller}
    attributes: {stars: float}
    constants: {event_type: review}
labels:
  account_id: user_id
  label: is_abuser
"""


@dataclass(frozen=True)
class Sizes:
    """How many accounts each part of a world has (look-alikes are in every world)."""

    base: int = 2000
    university: int = 1500
    families: int = 40
    vpn: int = 400
    carrier: int = 300
    kiosk: int = 150
    flash_fresh: int = 300
    flash_existing: int = 100
    lab: int = 30
    store_opening: tuple[int, int] = (60, 40)
    viral: int = 200
    new_families: int = 5
    farms: tuple[int, ...] = (30, 50, 100, 200)
    proxyfarms: tuple[int, ...] = (40, 100)
    onedevice: tuple[int, ...] = (50,)
    stuffing: tuple[int, ...] = (60, 200, 400)
    #: accounts a realistic tool tries through its own IPs, and through a VPN's exit
    stuffing_real: tuple[int, int] = (400, 150)
    #: the VPN's honest subscribers out of that exit on the tool's day
    exit_subscribers: int = 80
    review_sellers: int = 5


FULL = Sizes()
#: The smallest setting with every shape: a farm under and over ``rings.max_size`` (50), both
#: kinds of stuffing, every look-alike still over ``max_size``.
QUICK = Sizes(base=900, university=500, families=15, vpn=150, carrier=120, kiosk=150,
              flash_fresh=120, flash_existing=40, farms=(30, 100), proxyfarms=(60,),
              stuffing=(60, 200), stuffing_real=(300, 100), exit_subscribers=60,
              review_sellers=4)


def build_world(name: str, seed: int = 0, sizes: Sizes = FULL) -> World:
    """The world ``name`` (one of :data:`WORLDS`) drawn with ``seed``."""
    if name not in SHAPES:
        raise ValueError(f"unknown world {name!r}; the worlds are {', '.join(WORLDS)}")
    world = World(seed)
    rng = world.rng
    carrier = world.new("ip", 40)
    base = base_population(world, sizes.base, carrier)
    existing = base[~world.fresh[base]]
    university_nat(world, sizes.university, carrier)
    families(world, sizes.families, carrier)
    corporate_vpn(world, sizes.vpn, carrier)
    carrier_nat(world, sizes.carrier)
    kiosk(world, sizes.kiosk, carrier)
    flash_sale(world, sizes.flash_fresh, rng.choice(existing, sizes.flash_existing,
                                                    replace=False), carrier)
    computer_lab(world, sizes.lab, carrier)
    store_opening(world, *sizes.store_opening, carrier)
    viral_seller(world, sizes.viral, carrier)
    new_families(world, sizes.new_families, carrier)
    record_hubs(world)
    shapes = SHAPES[name]
    if "farms" in shapes:
        for i, size in enumerate(sizes.farms):
            abuse.promo_farm(world, size, day=22 + 13 * i)
    if "proxyfarms" in shapes:
        for i, size in enumerate(sizes.proxyfarms):
            abuse.proxy_farm(world, size, day=33 + 19 * i)
    if "onedevice" in shapes:
        for i, size in enumerate(sizes.onedevice):
            abuse.one_device(world, size, day=50 + 9 * i)
    if "stuffing" in shapes:
        pool = rng.permutation(existing)
        used = np.cumsum((0, *sizes.stuffing))
        if used[-1] > len(pool):
            raise ValueError(f"stuffing needs {used[-1]} existing accounts, the base has "
                             f"{len(pool)}")
        for i in range(len(sizes.stuffing)):
            abuse.credential_stuffing(world, pool[used[i]:used[i + 1]], day=25 + 17 * i)
    if "stuffing_real" in shapes:
        tried, through_exit = sizes.stuffing_real
        pool = rng.permutation(existing)
        if tried + through_exit > len(pool):
            raise ValueError(f"stuffing_real needs {tried + through_exit} existing accounts, "
                             f"the base has {len(pool)}")
        abuse.credential_stuffing_real(world, pool[:tried], 30, world.new("ip", 6))
        exit_ip = world.new("ip", 1)
        abuse.credential_stuffing_real(world, pool[tried:tried + through_exit], 48, exit_ip)
        vpn_exit(world, sizes.exit_subscribers, int(exit_ip[0]), 48)
    if "reviews" in shapes:
        reviewed = world.table("reviews")["seller"].value_counts()
        # mid-ranked sellers that honest reviewers already rate (at least 3 reviews)
        mid = reviewed[(reviewed.index >= 10) & (reviewed.index < 120) & (reviewed >= 3)]
        if len(mid) < sizes.review_sellers:
            raise ValueError(f"review bursts need {sizes.review_sellers} sellers with honest "
                             f"reviews, the world has {len(mid)}")
        sellers = rng.choice(np.sort(mid.index.to_numpy()), sizes.review_sellers,
                             replace=False)
        for i, seller in enumerate(sellers):
            abuse.review_burst(world, int(seller), int(rng.integers(20, 26)),
                               day=20 + 11 * i)
    return world


def _ids(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    """``n`` distinct opaque ids of ``kind``, in no order that tells groups apart."""
    low, high = (16_777_216, 3_758_096_384) if kind == "ip" else (0, 16 ** 12)
    raw = np.unique(rng.integers(low, high, size=2 * n + 16))
    raw = rng.permutation(raw)[:n]
    if kind == "ip":
        octets = [(raw >> shift) & 255 for shift in (24, 16, 8, 0)]
        return np.array([f"{a}.{b}.{c}.{d}" for a, b, c, d in zip(*octets, strict=True)],
                        dtype=object)
    prefix = {"account": "u", "device": "fp", "card": "tok_", "seller": "shop"}[kind]
    return np.array([f"{prefix}{v:012x}" for v in raw], dtype=object)


def _named(values: pd.Series, names: np.ndarray) -> pd.Series:
    """Integer ids -> their names (``None`` for -1)."""
    ints = values.to_numpy(dtype=np.int64)
    return pd.Series(np.where(ints >= 0, names[np.maximum(ints, 0)], None), dtype=object)


def _times(ts: pd.Series) -> pd.Series:
    return T0 + pd.to_timedelta(ts.to_numpy(), unit="s").floor("s")


def _write_gzip_csv_atomic(frame: pd.DataFrame, path: Path) -> None:
    """``frame`` as a gzip CSV through a temporary sibling and a rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        frame.to_csv(tmp, index=False, compression="gzip")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_world(world: World, name: str, out: Path, seed: int) -> Path:
    """Write ``world`` under ``out`` (logs/, mapping.yaml, labels.csv, groups.json)."""
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 1])
    names = {kind: _ids(rng, world.counts[kind], kind) for kind in world.counts}
    user, device, ip, card, seller = (names[k] for k in
                                      ("account", "device", "ip", "card", "seller"))
    signups = world.table("signups")
    frame = pd.DataFrame({"user_id": _named(signups["user"], user),
                          "created_at": _times(signups["ts"]).strftime("%Y-%m-%d %H:%M:%S"),
                          "device": _named(signups["device"], device),
                          "ip_address": _named(signups["ip"], ip)})
    write_text_atomic(logs / "signups.csv", frame.to_csv(index=False))
    logins = world.table("logins")
    frame = pd.DataFrame({"user": _named(logins["user"], user),
                          "login_time": (T0.timestamp() + logins["ts"]).astype(np.int64),
                          "ip": _named(logins["ip"], ip),
                          "device_fp": _named(logins["device"], device),
                          "result": np.where(logins["failed"] > 0, "bad_password", "success")})
    _write_gzip_csv_atomic(frame, logs / "logins.csv.gz")
    orders = world.table("orders")
    promo = np.array(PROMOS, dtype=object)
    frame = pd.DataFrame({"order_id": [f"o{i:07d}" for i in range(len(orders))],
                          "buyer": _named(orders["user"], user),
                          "seller": _named(orders["seller"], seller),
                          "card": _named(orders["card"], card),
                          "promo_code": _named(orders["promo"], promo),
                          "amount": orders["amount"].astype(float),
                          "client_ip": _named(orders["ip"], ip),
                          "paid_at": _times(orders["ts"])})
    write_parquet_atomic(pa.Table.from_pandas(frame, preserve_index=False),
                         logs / "orders.parquet")
    reviews = world.table("reviews")
    frame = pd.DataFrame({"review_id": [f"r{i:07d}" for i in range(len(reviews))],
                          "reviewer": _named(reviews["user"], user),
                          "seller": _named(reviews["seller"], seller),
                          "stars": reviews["stars"].astype(int),
                          "reviewed_at": _times(reviews["ts"]).strftime("%Y-%m-%dT%H:%M:%SZ")})
    write_text_atomic(logs / "reviews.csv", frame.to_csv(index=False))
    write_text_atomic(out / "mapping.yaml", MAPPING)
    abusive = np.zeros(world.counts["account"], dtype=int)
    for group in world.groups:
        abusive[group.members] = 1
    labels = pd.DataFrame({"user_id": user, "is_abuser": abusive})
    write_text_atomic(out / "labels.csv", labels.to_csv(index=False))

    def entry(group: Group) -> dict:
        return {"id": group.id, "kind": group.kind, "size": len(group.members),
                "members": sorted(user[group.members].tolist()), "info": group.info}

    content = {"world": name, "seed": seed, "accounts": int(world.counts["account"]),
               "fresh": int(world.fresh.sum()),
               "events": {log: len(world.table(log)) for log in world.rows},
               "groups": [entry(g) for g in world.groups],
               "lookalikes": [entry(g) for g in world.lookalikes]}
    write_text_atomic(out / "groups.json", json.dumps(content, indent=1))
    return out
