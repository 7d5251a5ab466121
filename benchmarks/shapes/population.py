"""The event rows of a shapes world and its honest population, look-alikes included.

A :class:`World` holds integer ids (accounts, devices, IPs, cards, sellers) and the rows of
the four logs a marketplace keeps (signups, logins, orders, reviews), all times in seconds
after :data:`T0`. :func:`honest_activity` gives a set of accounts a life: logins in a daily
rhythm, orders to sellers of a long-tailed popularity (promo codes on some), reviews of some of
them. The honest look-alikes (:func:`university_nat`, :func:`families`, :func:`corporate_vpn`,
:func:`carrier_nat`, :func:`kiosk`, :func:`flash_sale`, :func:`computer_lab`,
:func:`store_opening`, :func:`viral_seller`, :func:`new_families`; :func:`drive_by` accounts
that sign up, maybe redeem or review once and leave, as the abuse shapes' accounts do) are honest
accounts
that share an entity or a behaviour by nature, the shapes a detector must not report; each is
recorded in ``World.lookalikes`` with its members. The popular seller's reviewers and each promo
code's redeemers are recorded the same way (:func:`record_hubs`). :func:`vpn_exit` (a VPN's
honest subscribers out of the exit a credential-stuffing tool works through) is the
``stuffing_real`` world's alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: The log's first instant; every time of a world is seconds after it.
T0 = pd.Timestamp("2026-03-02", tz="UTC")
DAY = 86_400.0
HOUR = 3_600.0
#: The signup promo code new accounts redeem on their first order (a hub by nature).
WELCOME = "WELCOME10"
SEASONAL = ("SPRING5", "FREESHIP", "APP15")
PROMOS = (WELCOME, *SEASONAL)
#: Share of an hour's activity in each hour of the day (UTC): quiet nights, busy evenings.
_HOURLY = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 3.5, 3.5, 3.5,
                    4, 3.5, 3.5, 3.5, 3.5, 4, 5, 6, 6, 5, 3.5, 2], dtype=float)
_HOURLY /= _HOURLY.sum()
_COLUMNS = {
    "signups": ("user", "ts", "device", "ip"),
    "logins": ("user", "ts", "ip", "device", "failed"),
    "orders": ("user", "ts", "seller", "card", "promo", "amount", "ip"),
    "reviews": ("user", "ts", "seller", "stars"),
}


@dataclass
class Group:
    """Accounts planted together: an abuse shape (``abusive``) or an honest look-alike."""

    id: str
    kind: str
    members: np.ndarray
    abusive: bool
    info: dict = field(default_factory=dict)


class World:
    """Integer ids, log rows and recorded groups of one generated world.

    Parameters
    ----------
    seed:
        Seed of every random draw made through :attr:`rng`.
    days:
        Length of the log; every event falls in ``[0, days * DAY)`` seconds after :data:`T0`.
    sellers:
        Number of base sellers; seller ``0`` is the most popular (Zipf weights, exponent 1.1).
    """

    def __init__(self, seed: int, days: int = 84, sellers: int = 250) -> None:
        self.rng = np.random.default_rng(seed)
        self.days = days
        self.end = days * DAY
        self.counts = {"account": 0, "device": 0, "ip": 0, "card": 0, "seller": sellers}
        weights = 1.0 / np.arange(1, sellers + 1) ** 1.1
        self.seller_weights = weights / weights.sum()
        self.rows: dict[str, dict[str, list[np.ndarray]]] = {
            log: {column: [] for column in columns} for log, columns in _COLUMNS.items()}
        self.groups: list[Group] = []
        self.lookalikes: list[Group] = []
        self.fresh = np.zeros(0, dtype=bool)

    def new(self, kind: str, n: int) -> np.ndarray:
        """``n`` new ids of ``kind`` (account, device, ip, card, seller)."""
        start = self.counts[kind]
        self.counts[kind] += n
        if kind == "account":
            self.fresh = np.concatenate([self.fresh, np.zeros(n, dtype=bool)])
        return np.arange(start, start + n)

    def add(self, log: str, **columns: np.ndarray | float | int) -> None:
        """Append rows to ``log``; scalars are repeated to the length of the array columns."""
        n = max(np.size(v) for v in columns.values() if np.ndim(v) > 0)
        wanted = set(_COLUMNS[log])
        if set(columns) - wanted:
            raise ValueError(f"{log}: unknown columns {sorted(set(columns) - wanted)}")
        for column in _COLUMNS[log]:
            value = columns.get(column, -1)
            array = np.broadcast_to(np.asarray(value), (n,)).copy()
            self.rows[log][column].append(array)

    def signup(self, users: np.ndarray, ts: np.ndarray, device: np.ndarray | int,
               ip: np.ndarray | int) -> None:
        """Signup rows; the accounts count as fresh (their life starts in the log)."""
        self.add("signups", user=users, ts=ts, device=device, ip=ip)
        self.fresh[users] = True

    def table(self, log: str) -> pd.DataFrame:
        """The rows of ``log`` so far, time-ordered (integer ids, -1 for none)."""
        columns = self.rows[log]
        frame = pd.DataFrame({c: np.concatenate(v) if v else np.zeros(0)
                              for c, v in columns.items()})
        return frame.sort_values("ts", kind="stable").reset_index(drop=True)

    def sellers_drawn(self, n: int) -> np.ndarray:
        """``n`` sellers drawn by popularity."""
        return self.rng.choice(len(self.seller_weights), size=n, p=self.seller_weights)

    def at_daytime(self, lo: np.ndarray | float, hi: np.ndarray | float) -> np.ndarray:
        """One time per element in ``[lo, hi)``, on a random day between them at an hour of
        the daily rhythm (clipped into the interval)."""
        lo, hi = np.broadcast_arrays(np.asarray(lo, dtype=float), np.asarray(hi, dtype=float))
        day = np.floor(lo / DAY + self.rng.random(lo.shape) * np.maximum(hi - lo, 1) / DAY)
        hour = self.rng.choice(24, size=lo.shape, p=_HOURLY)
        t = day * DAY + (hour + self.rng.random(lo.shape)) * HOUR
        inside = (t >= lo) & (t < hi)
        return np.where(inside, t, lo + self.rng.random(lo.shape) * np.maximum(hi - lo, 1))


def _per_user(rng: np.random.Generator, users: np.ndarray, mean: float,
              minimum: int = 0) -> np.ndarray:
    """Each user repeated a Poisson(``mean``) number of times (at least ``minimum``)."""
    counts = np.maximum(rng.poisson(mean, size=len(users)), minimum)
    return np.repeat(np.arange(len(users)), counts)


def honest_activity(world: World, users: np.ndarray, start: np.ndarray, device: np.ndarray,
                    home_ip: np.ndarray, card: np.ndarray, *, phone: np.ndarray | None = None,
                    mobile_pool: np.ndarray | None = None, mobile_share: float = 0.0,
                    work_pool: np.ndarray | None = None, logins: float = 8.0,
                    orders: float = 3.0, review_share: float = 0.3, welcome_share: float = 0.5,
                    end: float | None = None) -> None:
    """Logins, orders and reviews of honest ``users`` from ``start`` (per user) to ``end``.

    Logins come from the user's ``device`` at ``home_ip``; a share ``mobile_share`` from their
    ``phone`` (when they have one, else the device) through an IP of ``mobile_pool``; logins
    on weekdays 9-17 from a ``work_pool`` IP when one is given. 3 % of logins fail
    (``bad_password``) and are followed by a success a minute later. Orders go to sellers by
    popularity, paid with ``card``, 10 % with a seasonal promo code; a fresh user's first order
    (within 3 days of ``start``, for a share ``welcome_share``) redeems :data:`WELCOME`. A share
    ``review_share`` of orders is reviewed 1-10 days later.
    """
    rng, n = world.rng, len(users)
    end = world.end if end is None else end
    phone = device if phone is None else np.where(phone >= 0, phone, device)
    idx = _per_user(rng, users, logins, minimum=1)
    ts = world.at_daytime(start[idx], end)
    dev = device[idx].copy()
    ip = home_ip[idx].copy()
    if mobile_pool is not None and mobile_share > 0:
        mobile = rng.random(len(idx)) < mobile_share
        dev[mobile] = phone[idx][mobile]
        ip[mobile] = rng.choice(mobile_pool, size=int(mobile.sum()))
    if work_pool is not None:
        hour, weekday = (ts % DAY) / HOUR, (ts // DAY) % 7
        work = (weekday < 5) & (hour >= 9) & (hour < 17)
        dev[work] = device[idx][work]
        ip[work] = rng.choice(work_pool, size=int(work.sum()))
    failed = rng.random(len(idx)) < 0.03
    world.add("logins", user=users[idx], ts=ts, ip=ip, device=dev, failed=failed.astype(int))
    world.add("logins", user=users[idx][failed], ts=ts[failed] + rng.uniform(20, 90, failed.sum()),
              ip=ip[failed], device=dev[failed], failed=0)

    idx = _per_user(rng, users, orders)
    ts = world.at_daytime(start[idx], end)
    promo = np.where(rng.random(len(idx)) < 0.1, rng.integers(1, len(PROMOS), len(idx)), -1)
    first = np.flatnonzero(world.fresh[users] & (rng.random(n) < welcome_share))
    first_ts = start[first] + rng.uniform(0.05, 3.0, len(first)) * DAY
    first, first_ts = first[first_ts < end], first_ts[first_ts < end]
    idx = np.concatenate([idx, first])
    ts = np.concatenate([ts, first_ts])
    promo = np.concatenate([promo, np.zeros(len(first), dtype=int)])
    order_ip = np.where(rng.random(len(idx)) < mobile_share,
                        rng.choice(mobile_pool, len(idx)) if mobile_pool is not None else -1,
                        home_ip[idx])
    order_ip = np.where(order_ip >= 0, order_ip, home_ip[idx])
    sellers = world.sellers_drawn(len(idx))
    world.add("orders", user=users[idx], ts=ts, seller=sellers, card=card[idx], promo=promo,
              amount=np.round(rng.lognormal(3.3, 0.8, len(idx)), 2), ip=order_ip)
    reviewed = rng.random(len(idx)) < review_share
    review_ts = ts[reviewed] + rng.uniform(1, 10, reviewed.sum()) * DAY
    keep = review_ts < end
    world.add("reviews", user=users[idx][reviewed][keep], ts=review_ts[keep],
              seller=sellers[reviewed][keep],
              stars=rng.choice([1, 2, 3, 4, 5], size=int(keep.sum()),
                               p=[0.05, 0.05, 0.1, 0.3, 0.5]))


def base_population(world: World, n: int, carrier: np.ndarray) -> np.ndarray:
    """``n`` ordinary honest accounts: 70 % existing before the log, 30 % signing up during it;
    each with an own device (a phone too for 40 %), home IP and card (households of one); 30 %
    of their logins from the phone through the big ``carrier`` pool. A third of those signing
    up are drive-bys (:func:`drive_by`), recorded as a look-alike."""
    rng = world.rng
    users = world.new("account", n)
    device, home, card = world.new("device", n), world.new("ip", n), world.new("card", n)
    phone = np.where(rng.random(n) < 0.4, world.new("device", n), -1)
    start = np.zeros(n)
    fresh = rng.random(n) < 0.3
    start[fresh] = world.at_daytime(np.zeros(fresh.sum()), world.end - 7 * DAY)
    world.signup(users[fresh], start[fresh], device[fresh], home[fresh])
    once = fresh & (rng.random(n) < 1 / 3)
    drive_by(world, users[once], start[once], device[once], home[once], card[once])
    honest_activity(world, users[~once], start[~once], device[~once], home[~once],
                    card[~once], phone=phone[~once], mobile_pool=carrier, mobile_share=0.3)
    world.lookalikes.append(Group("drive_by", "drive_by", users[once], False))
    return users


def drive_by(world: World, users: np.ndarray, start: np.ndarray, device: np.ndarray,
             ip: np.ndarray, card: np.ndarray) -> None:
    """Honest accounts that sign up (at ``start``) and leave: half log in once in that
    session, half redeem the welcome code on one order within the hour, a quarter review a
    seller once within a day; nothing after."""
    rng, n = world.rng, len(users)
    login = rng.random(n) < 0.5
    world.add("logins", user=users[login], ts=start[login] + rng.uniform(30, 600, login.sum()),
              ip=ip[login], device=device[login], failed=0)
    buy = rng.random(n) < 0.5
    world.add("orders", user=users[buy], ts=start[buy] + rng.uniform(300, 3600, buy.sum()),
              seller=world.sellers_drawn(int(buy.sum())), card=card[buy], promo=0,
              amount=np.round(rng.lognormal(3.0, 0.6, buy.sum()), 2), ip=ip[buy])
    review = rng.random(n) < 0.25
    world.add("reviews", user=users[review],
              ts=start[review] + rng.uniform(600, DAY, review.sum()),
              seller=world.sellers_drawn(int(review.sum())),
              stars=rng.choice([1, 2, 3, 4, 5], size=int(review.sum()),
                               p=[0.15, 0.05, 0.1, 0.2, 0.5]))


def record_hubs(world: World) -> None:
    """The popular seller's reviewers and each promo code's redeemers as look-alike groups."""
    reviews, orders = world.table("reviews"), world.table("orders")
    top = reviews.loc[reviews["seller"] == 0, "user"].unique()
    world.lookalikes.append(Group("popular_seller", "popular_seller", np.sort(top), False,
                                  {"reviews": int((reviews["seller"] == 0).sum())}))
    for code, name in enumerate(PROMOS):
        users = orders.loc[orders["promo"] == code, "user"].unique()
        world.lookalikes.append(Group(f"promo_{name}", "promo_hub", np.sort(users), False,
                                      {"code": name}))


def university_nat(world: World, n: int, carrier: np.ndarray, week: int = 14) -> None:
    """``n`` fresh students signing up within an orientation week (days ``week`` to ``week +
    7``, front-loaded: days after its start exponential with mean 1.2, so about 56 % on the
    first day and 81 % within two) behind the campus's 2 NAT IPs, each with an own device and
    card, active afterwards (most logins from campus)."""
    rng = world.rng
    users = world.new("account", n)
    nat = world.new("ip", 2)
    device, card = world.new("device", n), world.new("card", n)
    campus = rng.choice(nat, n)
    day = week + np.floor(np.minimum(rng.exponential(1.2, n), 6.99))
    start = world.at_daytime(day * DAY, (day + 1) * DAY)
    world.signup(users, start, device, campus)
    honest_activity(world, users, start, device, campus, card, mobile_pool=carrier,
                    mobile_share=0.2, logins=6.0, orders=2.0)
    world.lookalikes.append(Group("university_nat", "university_nat", users, False,
                                  {"ips": nat.tolist(), "week": week}))


def families(world: World, n_families: int, carrier: np.ndarray) -> None:
    """``n_families`` families of 4 sharing a laptop, a card and a home IP; each member has
    an own phone too; members join at their own times (most existed before the log)."""
    rng = world.rng
    n = 4 * n_families
    users = world.new("account", n)
    family = np.repeat(np.arange(n_families), 4)
    laptop = world.new("device", n_families)[family]
    card = world.new("card", n_families)[family]
    home = world.new("ip", n_families)[family]
    phone = world.new("device", n)
    start = np.zeros(n)
    fresh = rng.random(n) < 0.25
    start[fresh] = world.at_daytime(np.zeros(fresh.sum()), world.end - 7 * DAY)
    world.signup(users[fresh], start[fresh], laptop[fresh], home[fresh])
    honest_activity(world, users, start, laptop, home, card, phone=phone, mobile_pool=carrier,
                    mobile_share=0.4)
    world.lookalikes.append(Group("families", "family", users, False,
                                  {"families": n_families, "size": 4}))


def corporate_vpn(world: World, n: int, carrier: np.ndarray) -> None:
    """``n`` employees (existing accounts, own devices and cards) whose weekday office-hour
    logins come through the company's 3 VPN IPs, the rest from home."""
    users = world.new("account", n)
    vpn = world.new("ip", 3)
    device, home, card = world.new("device", n), world.new("ip", n), world.new("card", n)
    honest_activity(world, users, np.zeros(n), device, home, card, mobile_pool=carrier,
                    mobile_share=0.1, work_pool=vpn, logins=12.0)
    world.lookalikes.append(Group("corporate_vpn", "corporate_vpn", users, False,
                                  {"ips": vpn.tolist()}))


def vpn_exit(world: World, n: int, exit_ip: int, day: float) -> None:
    """``n`` subscribers of a commercial VPN (existing accounts, own devices, home IPs and
    cards) whom the VPN puts out of its exit ``exit_ip`` on ``day``: each logs in through it
    on its own device between 08:00 and 20:00 and again within 2 hours (the VPN rotates it
    on after); a credential-stuffing tool may work through the same exit that day."""
    rng = world.rng
    users = world.new("account", n)
    device, home, card = world.new("device", n), world.new("ip", n), world.new("card", n)
    honest_activity(world, users, np.zeros(n), device, home, card)
    ts = (day + rng.uniform(8, 20, n) / 24) * DAY
    world.add("logins", user=np.concatenate([users, users]),
              ts=np.concatenate([ts, ts + rng.uniform(600, 2 * HOUR, n)]), ip=exit_ip,
              device=np.tile(device, 2), failed=0)
    world.lookalikes.append(Group("vpn_exit", "vpn_exit", users, False,
                                  {"ip": int(exit_ip), "day": day}))


def carrier_nat(world: World, n: int) -> None:
    """``n`` mobile-only accounts of a small carrier: every login and order through one of its
    6 NAT IPs, each account on its own phone with its own card (a fifth sign up in the log)."""
    rng = world.rng
    users = world.new("account", n)
    nat = world.new("ip", 6)
    phone, card = world.new("device", n), world.new("card", n)
    ip = rng.choice(nat, n)
    start = np.zeros(n)
    fresh = rng.random(n) < 0.2
    start[fresh] = world.at_daytime(np.zeros(fresh.sum()), world.end - 7 * DAY)
    world.signup(users[fresh], start[fresh], phone[fresh], ip[fresh])
    honest_activity(world, users, start, phone, ip, card, mobile_pool=nat, mobile_share=0.8)
    world.lookalikes.append(Group("carrier_nat", "carrier_nat", users, False,
                                  {"ips": nat.tolist()}))


def kiosk(world: World, n: int, carrier: np.ndarray) -> None:
    """A shop's demo device on the shop's IP where ``n`` fresh customers sign up, spread over
    business hours (10-18) on the log's days; afterwards each uses an own device, home IP and
    card."""
    rng = world.rng
    users = world.new("account", n)
    device, shop_ip = world.new("device", 1)[0], world.new("ip", 1)[0]
    own, home, card = world.new("device", n), world.new("ip", n), world.new("card", n)
    day = rng.integers(0, world.days - 7, n)
    start = day * DAY + rng.uniform(10, 18, n) * HOUR
    world.signup(users, start, device, shop_ip)
    honest_activity(world, users, start + 600, own, home, card, mobile_pool=carrier,
                    mobile_share=0.3)
    world.lookalikes.append(Group("kiosk", "kiosk", users, False,
                                  {"device": int(device), "ip": int(shop_ip)}))


def flash_sale(world: World, n_fresh: int, existing: np.ndarray, carrier: np.ndarray,
               day: int = 40) -> None:
    """A flash-sale seller: ``n_fresh`` fresh accounts (signed up in the 6 hours before, own
    devices, IPs and cards) and the ``existing`` customers given all buy from it between 12:00
    and 13:00 on ``day``; the fresh ones are mostly quiet afterwards."""
    rng = world.rng
    seller = world.new("seller", 1)[0]
    noon = day * DAY + 12 * HOUR
    users = world.new("account", n_fresh)
    device, home, card = world.new("device", n_fresh), world.new("ip", n_fresh), world.new(
        "card", n_fresh)
    signed = noon - rng.uniform(0.02, 6, n_fresh) * HOUR
    world.signup(users, signed, device, home)
    bought = noon + rng.uniform(0, 1, n_fresh) * HOUR
    world.add("orders", user=users, ts=bought, seller=seller, card=card,
              amount=np.round(rng.uniform(20, 60, n_fresh), 2), ip=home)
    honest_activity(world, users, bought + HOUR, device, home, card, mobile_pool=carrier,
                    mobile_share=0.3, logins=1.5, orders=0.5, welcome_share=0.0)
    orders = world.table("orders")
    own = orders.drop_duplicates("user").set_index("user")
    buyers = existing[np.isin(existing, own.index)]
    world.add("orders", user=buyers, ts=noon + rng.uniform(0, 1, len(buyers)) * HOUR,
              seller=seller, card=own.loc[buyers, "card"].to_numpy(),
              amount=np.round(rng.uniform(20, 60, len(buyers)), 2),
              ip=own.loc[buyers, "ip"].to_numpy())
    world.lookalikes.append(Group("flash_sale", "flash_sale", np.concatenate([users, buyers]),
                                  False, {"seller": int(seller), "fresh": n_fresh,
                                          "existing": len(buyers), "day": day}))


def computer_lab(world: World, n: int, carrier: np.ndarray, day: int = 23) -> None:
    """A school's lab PC on the school's IP where ``n`` students create accounts within one
    hour (10:00-11:00 on ``day``, a weekday), then live on their own phones, home IPs and
    cards."""
    rng = world.rng
    users = world.new("account", n)
    pc, school = world.new("device", 1)[0], world.new("ip", 1)[0]
    phone, home, card = world.new("device", n), world.new("ip", n), world.new("card", n)
    start = day * DAY + rng.uniform(10, 11, n) * HOUR
    world.signup(users, start, pc, school)
    honest_activity(world, users, start + HOUR, phone, home, card, mobile_pool=carrier,
                    mobile_share=0.5, logins=5.0, orders=1.5)
    world.lookalikes.append(Group("computer_lab", "computer_lab", users, False,
                                  {"device": int(pc), "ip": int(school), "day": day}))


def store_opening(world: World, n_opening: int, n_later: int, carrier: np.ndarray,
                  day: int = 30) -> None:
    """A new store's kiosk: ``n_opening`` fresh customers sign up on it the morning it opens
    (9-12 on ``day``), ``n_later`` more in business hours on the following days; each then
    uses an own device, home IP and card."""
    rng = world.rng
    n = n_opening + n_later
    users = world.new("account", n)
    kiosk_device, shop_ip = world.new("device", 1)[0], world.new("ip", 1)[0]
    own, home, card = world.new("device", n), world.new("ip", n), world.new("card", n)
    later = rng.integers(day + 1, world.days - 7, n_later)
    start = np.concatenate([day * DAY + rng.uniform(9, 12, n_opening) * HOUR,
                            later * DAY + rng.uniform(10, 18, n_later) * HOUR])
    world.signup(users, start, kiosk_device, shop_ip)
    honest_activity(world, users, start + 600, own, home, card, mobile_pool=carrier,
                    mobile_share=0.3)
    world.lookalikes.append(Group("store_opening", "store_opening", users, False,
                                  {"device": int(kiosk_device), "opening": n_opening,
                                   "day": day}))


def viral_seller(world: World, n: int, carrier: np.ndarray, day: int = 57) -> None:
    """A seller featured on television: ``n`` fresh accounts (own devices, IPs and cards) sign
    up and review it within the day after the show (mostly 5 stars), and stay active."""
    rng = world.rng
    seller = world.new("seller", 1)[0]
    users = world.new("account", n)
    device, home, card = world.new("device", n), world.new("ip", n), world.new("card", n)
    start = (day + 0.8) * DAY + rng.exponential(3, n).clip(0, 23) * HOUR
    world.signup(users, start, device, home)
    world.add("reviews", user=users, ts=start + rng.uniform(300, 3600, n), seller=seller,
              stars=rng.choice([3, 4, 5], size=n, p=[0.1, 0.2, 0.7]))
    honest_activity(world, users, start + HOUR, device, home, card, mobile_pool=carrier,
                    mobile_share=0.3, logins=4.0, orders=1.5, welcome_share=0.3)
    world.lookalikes.append(Group("viral_seller", "viral_seller", users, False,
                                  {"seller": int(seller), "day": day}))


def new_families(world: World, n_families: int, carrier: np.ndarray, size: int = 5) -> None:
    """``n_families`` families of ``size`` all signing up on the family laptop within 15
    minutes of each other (one evening each), sharing it, a card and a home IP afterwards;
    each member has an own phone too."""
    rng = world.rng
    n = size * n_families
    users = world.new("account", n)
    family = np.repeat(np.arange(n_families), size)
    laptop = world.new("device", n_families)[family]
    card = world.new("card", n_families)[family]
    home = world.new("ip", n_families)[family]
    phone = world.new("device", n)
    evening = (rng.integers(3, world.days - 7, n_families) * DAY
               + rng.uniform(18, 21, n_families) * HOUR)
    start = evening[family] + rng.uniform(0, 15 * 60, n)
    world.signup(users, start, laptop, home)
    honest_activity(world, users, start + 600, laptop, home, card, phone=phone,
                    mobile_pool=carrier, mobile_share=0.4)
    world.lookalikes.append(Group("new_families", "new_family", users, False,
                                  {"families": n_families, "size": size}))
