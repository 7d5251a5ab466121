"""The abuse shapes planted in shapes worlds, each recorded as a :class:`Group` of its accounts.

* :func:`promo_farm`: fresh accounts on a few devices, cards and IPs, each redeeming the
  signup promo code once, then quiet;
* :func:`proxy_farm`: the same behind residential proxies: every account its own IP (shared
  with nobody), one card per 8-13 accounts, a few devices rotating;
* :func:`one_device`: fresh accounts created on one device in three 15-minute bursts, each
  through its own IP;
* :func:`credential_stuffing`: logins to existing honest accounts from a few IPs and device
  fingerprints within hours, failed passwords first; the compromised accounts are the group;
* :func:`credential_stuffing_real`: stuffing as a real tool does it: each leaked password
  tried once or twice, most wrong (never in: the attacked accounts, honest, recorded as a
  look-alike), the right ones in at the first try (the group), the tool logging in again
  hours later;
* :func:`review_burst`: history-less accounts rating one seller 5 stars within a day.
"""

from __future__ import annotations

import numpy as np

from benchmarks.shapes.population import DAY, HOUR, Group, World


def _signup_and_redeem(world: World, users: np.ndarray, ts: np.ndarray, device: np.ndarray,
                       ip: np.ndarray, card: np.ndarray) -> None:
    """Signup, one login and one order with the welcome code minutes later (then nothing)."""
    rng = world.rng
    world.signup(users, ts, device, ip)
    login = ts + rng.uniform(30, 300, len(users))
    world.add("logins", user=users, ts=login, ip=ip, device=device, failed=0)
    world.add("orders", user=users, ts=login + rng.uniform(60, 900, len(users)),
              seller=world.sellers_drawn(len(users)), card=card, promo=0,
              amount=np.round(rng.uniform(10, 30, len(users)), 2), ip=ip)


def _work_sessions(world: World, n: int, day: float, days: float) -> np.ndarray:
    """``n`` creation times in a few sessions of 1-3 hours over ``days`` days from ``day``."""
    rng = world.rng
    sessions = max(1, int(np.ceil(n / 25)))
    begin = (day + rng.uniform(0, days, sessions)) * DAY
    length = rng.uniform(1, 3, sessions) * HOUR
    which = rng.integers(0, sessions, n)
    return np.sort(begin[which] + rng.random(n) * length[which])


def promo_farm(world: World, size: int, day: float) -> Group:
    """``size`` fresh accounts created in work sessions over 2 days from ``day`` on
    ``max(2, size // 25)`` devices, ``max(2, size // 15)`` cards and ``max(2, size // 20)``
    IPs, each redeeming the welcome code once."""
    rng = world.rng
    users = world.new("account", size)
    devices = world.new("device", max(2, size // 25))
    cards = world.new("card", max(2, size // 15))
    ips = world.new("ip", max(2, size // 20))
    _signup_and_redeem(world, users, _work_sessions(world, size, day, 2.0),
                       rng.choice(devices, size), rng.choice(ips, size), rng.choice(cards, size))
    group = Group(f"promo_farm_{size}", "promo_farm", users, True,
                  {"devices": len(devices), "cards": len(cards), "ips": len(ips), "day": day})
    world.groups.append(group)
    return group


def proxy_farm(world: World, size: int, day: float) -> Group:
    """``size`` fresh accounts over 2 days from ``day``, each through its own residential
    proxy IP, one card per 8-13 accounts, on ``max(3, size // 30)`` devices rotating."""
    rng = world.rng
    users = world.new("account", size)
    per_card = rng.integers(8, 14, size=size)
    card_of = np.repeat(np.arange(size), per_card)[:size]
    _, card_of = np.unique(card_of, return_inverse=True)
    cards = world.new("card", int(card_of.max()) + 1)
    devices = world.new("device", max(3, size // 30))
    _signup_and_redeem(world, users, _work_sessions(world, size, day, 2.0),
                       devices[np.arange(size) % len(devices)], world.new("ip", size),
                       cards[card_of])
    group = Group(f"proxy_farm_{size}", "proxy_farm", users, True,
                  {"devices": len(devices), "cards": len(cards), "ips": size, "day": day})
    world.groups.append(group)
    return group


def one_device(world: World, size: int, day: float) -> Group:
    """``size`` fresh accounts created on one device in three 15-minute bursts (one a day from
    ``day``), each through its own IP; each logs in twice that hour and half redeem the
    welcome code with an own card."""
    rng = world.rng
    users = world.new("account", size)
    device = world.new("device", 1)[0]
    ips = world.new("ip", size)
    burst = np.arange(size) % 3
    begin = (day + burst + rng.uniform(0.3, 0.9, 3)[burst]) * DAY
    ts = np.sort(begin + rng.uniform(0, 15 * 60, size))
    world.signup(users, ts, device, ips)
    for lag in (rng.uniform(60, 900, size), rng.uniform(1200, 3600, size)):
        world.add("logins", user=users, ts=ts + lag, ip=ips, device=device, failed=0)
    buys = rng.random(size) < 0.5
    world.add("orders", user=users[buys], ts=ts[buys] + rng.uniform(300, 1800, buys.sum()),
              seller=world.sellers_drawn(int(buys.sum())), card=world.new("card", int(buys.sum())),
              promo=0, amount=np.round(rng.uniform(10, 30, buys.sum()), 2), ip=ips[buys])
    group = Group(f"one_device_{size}", "one_device", users, True,
                  {"device": int(device), "bursts": 3, "burst_minutes": 15, "day": day})
    world.groups.append(group)
    return group


def failed_then_success(tries: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The attempt rows of accounts each failing ``tries[i]`` times and then getting in: per
    row the account's index, 1 where it failed (0 on its last, the success) and its place
    among the account's attempts (0, 1, ...)."""
    who = np.repeat(np.arange(len(tries)), tries + 1)
    last = np.cumsum(tries + 1) - 1
    failed = np.ones(len(who), dtype=int)
    failed[last] = 0
    return who, failed, np.arange(len(who)) - np.repeat(last - tries, tries + 1)


def credential_stuffing(world: World, targets: np.ndarray, day: float) -> Group:
    """Logins to the existing accounts ``targets`` from ``max(3, len // 50)`` attacker IPs and
    ``max(2, len // 100)`` device fingerprints (the tool's), each attempt from one of each at
    random, within 2-5 hours from a random hour of ``day``: 1-3 failed passwords, then a
    success."""
    rng = world.rng
    n = len(targets)
    ips = world.new("ip", max(3, n // 50))
    devices = world.new("device", max(2, n // 100))
    begin = (day + rng.uniform(0, 0.7)) * DAY
    span = rng.uniform(2, 5) * HOUR
    who, failed, position = failed_then_success(rng.integers(1, 4, n))
    ts = (begin + rng.random(n) * span)[who] + position * 40 + rng.uniform(0, 30, len(who))
    world.add("logins", user=targets[who], ts=ts, ip=rng.choice(ips, len(who)),
              device=rng.choice(devices, len(who)), failed=failed)
    group = Group(f"stuffing_{n}", "credential_stuffing", np.sort(targets), True,
                  {"ips": ips.tolist(), "devices": devices.tolist(), "day": day,
                   "hours": round(span / HOUR, 2)})
    world.groups.append(group)
    return group


def credential_stuffing_real(world: World, targets: np.ndarray, day: float, ips: np.ndarray,
                             hit_rate: float = 0.15) -> Group:
    """A tool trying the leaked passwords of the existing accounts ``targets`` through ``ips``
    and 2 device fingerprints of its own, each attempt from one of each at random, within 3
    hours from a random hour of ``day``: a share ``hit_rate`` of the passwords are right and
    get in at the first try, and the tool logs in to them again 1-3 hours later on the same IP
    and fingerprint (the group: the accounts taken over); the others fail once or twice and
    never get in (recorded as a look-alike ``attacked_only``: honest accounts whose password
    held)."""
    rng = world.rng
    n = len(targets)
    devices = world.new("device", 2)
    begin = (day + rng.uniform(0, 0.7)) * DAY
    ts = begin + rng.random(n) * 3 * HOUR
    hit = rng.random(n) < hit_rate
    ip, device = rng.choice(ips, n), rng.choice(devices, n)
    again = ts[hit] + rng.uniform(1, 3, int(hit.sum())) * HOUR
    world.add("logins", user=np.concatenate([targets[hit], targets[hit]]),
              ts=np.concatenate([ts[hit], again]), ip=np.tile(ip[hit], 2),
              device=np.tile(device[hit], 2), failed=0)
    tries = rng.integers(1, 3, n)
    for attempt in range(2):
        wrong = ~hit & (tries > attempt)
        world.add("logins", user=targets[wrong], ts=ts[wrong] + attempt * 40.0,
                  ip=rng.choice(ips, int(wrong.sum())),
                  device=rng.choice(devices, int(wrong.sum())), failed=1)
    info = {"ips": ips.tolist(), "devices": devices.tolist(), "day": day, "tried": n}
    group = Group(f"stuffing_real_{n}", "credential_stuffing_real", np.sort(targets[hit]), True,
                  info)
    world.groups.append(group)
    world.lookalikes.append(Group(f"stuffing_real_{n}_attacked", "attacked_only",
                                  np.sort(targets[~hit]), False, info))
    return group


def review_burst(world: World, seller: int, size: int, day: float) -> Group:
    """``size`` history-less accounts (a signup, own device and IP) rating ``seller`` 5 stars
    within one day from ``day``."""
    rng = world.rng
    users = world.new("account", size)
    ip, device = world.new("ip", size), world.new("device", size)
    begin = (day + rng.uniform(0, 0.5)) * DAY
    ts = begin + rng.uniform(0, rng.uniform(6, 20) * HOUR, size)
    world.signup(users, ts, device, ip)
    world.add("reviews", user=users, ts=ts + rng.uniform(120, 1800, size), seller=seller,
              stars=5)
    group = Group(f"review_burst_{seller}", "review_burst", users, True,
                  {"seller": int(seller), "day": day})
    world.groups.append(group)
    return group
