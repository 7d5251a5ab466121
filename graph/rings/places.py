"""Places: public machines and networks that people with lives of their own share.

The ring null (:mod:`graph.rings.null_model`) judges each entity a group shares against the
entity's type: 68 of a group's 69 members on one IP and 48 of them on one PC are, entity by
entity, tens of orders of magnitude beyond chance. An office's hot desks (70 staff on 8 PCs
behind 3 IPs), a hostel's or a library's public PCs and Wi-Fi are such entities: one place many
unrelated people visit. A place of more than ``locality_min_users`` users is a locality
(:mod:`graph.rings.localities`) and explains itself; a smaller one (25-70 users: review R15,
reported by a plain run at surprise 55-261) owns none, since a ring's private devices must never
be a locality of their own.

What tells a place's users from a farm's accounts is not how they share (a farm's few devices
and IPs carry 15-50 of its accounts each, as a place's PCs do) but their lives:

* a place's users live on for weeks and have entities of their own (an own phone, home IP or
  card: an entity nobody else uses, or only their household: a hostel's families, each on its
  card, ``household``); a farm's accounts act once and go quiet (the shapes battery's farms:
  signup, one order minutes later, nothing after);
* a place serves its users over weeks; a farm's devices are used in its work sessions, an
  account takeover's IPs within hours;
* a place's users come to it each in their own time (an office's staff were there before the
  log began, a hostel's travellers arrive over months); a farm's accounts are created together.

So a place-type entity (``rings.place_types``: Device, IP) whose uses spread over at least
``rings.place_life_s`` and that at least ``rings.place_min_users`` *living* accounts use (each
active over at least ``place_life_s`` and owning an entity, alone or with at most a household:
la28's hostel_families, 14 families of 3 on a hostel's PCs with nothing but a card per family,
were reported whole at surprise 202) is a place (:func:`place_users`):
a group's living members' sharing of it is no evidence (:func:`place_explained`; the group's
other members on it, and everything else it shares, are judged as before), whatever piece of
the place's users the group is. Members with a home of their own (a phone, laptop or home IP
nobody else uses, used over ``place_life_s``, beside another place-type entity that is no
place used as long: new hires or a class arriving in one week) are explained however they
arrived; the others (a hostel's travellers seen only on its PCs) only unless they are a farm's
cohort (the caller's test, :func:`graph.rings.candidates._arrived_together`, below). The count
is more than a household's (a family's laptop) and than the 2-9 members the planted rings of
the generated 20k world (30 days, members alive 4-26 days) carry per shared entity; what of
their sharing such places hold is on hubs and busy networks (99-5,500 users), where 2-9
members' sharing was hardly evidence anyway.

A sign-up desk (review R45) is the other public machine: a gym's, shop's or fair's tablet that
40 new members each touch once, on arriving, in the one week of an intake, then never again. It
is no place (its uses span days), so two of them, 20 members each, were a ring at surprise ~30
(hreview's gym_january). What tells it from a farm's signup devices is where the accounts live
after: a member goes on to a phone of its own, kept for weeks, seen through networks the log's
older population uses too (a carrier's pool: a place-type entity ``place_min_users`` accounts
there before the log's settle time use), or to a home of its own; a farm's accounts, signed up
on its devices, live on its own networks, which only its fresh accounts use. So a fresh
account's use of a place-type entity that is no place, ending within ``arrival_s`` (the
candidates' ``burst_fresh_s``: a day) of its first use, is a desk's (``PlaceUsers.desks``) when
the account has a home, or keeps a device of its own over ``place_life_s`` and used a public
network over ``place_life_s`` after arriving (one login through a mobile proxy is none);
:func:`place_explained` counts the desk's members with a home as a place's users always, the
others unless the group arrived together (as at a place). The evasion it opens: a farm signing
up on a few devices, then living each account on a profile of its own behind mobile or other
public proxies (la28 farm_desk_mobile: not found before either), or logging each in through
one twice, ``place_life_s`` apart; behind its own IPs (farm_desk_first) it is still found on
the desks.

A cohort's coming, waiting, converging and going tells a farm from a place's users (reviews
R25, R33): a farm created within days or over two weeks with a card (or a fingerprint seen
once) per account and aged for weeks on its machines is all alive at one time, then every
account makes the payoff it was aged for (the welcome code redeemed: a first use of one promo
code weeks into its life) and goes quiet well before the log ends. A place's users arriving
over months each stay their own time (a hostel's travellers: arrivals over ~60 days, lives
~30); a cohort at a lasting place stays on (a new care home's residents, a library course); one
that leaves again (a shelter's, a seasonal dorm's) orders where each chooses, the welcome code
first. So a group's members without a home are explained unless most are fresh and arrived
within ``whole_group_arrival_s`` or their median life, at least half of them first used one
entity of a payoff type (``rings.payoff_types``: promo codes; a seller is none, review R38)
only ``place_life_s`` into their lives and after an earlier order of their own
(:attr:`PlaceUsers.late`: an honest account's welcome code is on its first order however late
that comes, review R44), far beyond that entity's usual course among ordinary new users
(:func:`converged`: the welcome code is redeemed at a first order, a sale code whenever the
sale runs), and at least half went quiet ``place_life_s`` before the log's last use. Measured
(reviews s25 / s26 worlds, no labels): farms created over 16 or 10 days, alive 2-4 weeks, 0 and
18 of 40 found -> 39 and 40; farms with an antidetect profile per account 0 -> 38 and 40;
honest cohorts (care home, library course, shelter) 20, 16 and 25 reported -> none. Session 27
(reviews R40, R44, benchmarks/README.md): cohorts redeeming a platform sale code weeks in (its
usual course), or the welcome code on a first order that came weeks in, are no farm.

The evasions left: a farm whose accounts each keep a device and an IP of their own for
``place_life_s`` (a home: an antidetect profile behind a residential proxy per account, the
proxy farms' cost; a profile alone behind the farm's networks is none, review R31); one that
pays off early (as every honest account does), over many entities, or on each account's first
order (its aging logins only; la25's aged_farm_cheap, found before review R44, is found again
on the 3 cards it pays with, the machines only its accounts use making its core whole,
:func:`graph.rings.candidates._own_places`; with a card per account, or per 3 accounts as a
family's, it is not: a farm lives for free anyway, seen once on a fingerprint of its own); one
that keeps
its accounts alive to the log's end (an ever-longer cost as the log moves on); one created over
longer than each account lives (never most of it alive at once: a stream whose course is the
late welcome code then nothing is also a hostel's backpackers buying once on their last day,
hreview's s27 hostel_welcome); and any farm in a log too short for a life and a quiet span
after it (``2 place_life_s`` past the log's first week), or whose payoff has no entity of a
payoff type (a log without a promo code entity: name its type in ``rings.payoff_types``). The
honest look-alike it gives up (reviews R38, R40): a cohort without a home of its own (no
devices of their own, or phones seen only through a carrier's pool or a place's Wi-Fi: students
abroad, seasonal workers) arriving within weeks at a place, half of them redeeming after orders
of their own, weeks in, a code the platform's ordinary new users redeem early, and gone again
within the log, is judged as before the place rule.

A place's users beside a farm at the place (a farm on a hostel's PCs, review s28 of 050d14a):
a use a place explains ties nobody into a group's core (:func:`explained_uses`,
:func:`graph.rings.candidates._core_entries`), and a place only the group's members use brings
into the core only those also sharing a rare entity beyond a household's (the farm's other
cards, not a family's). In a group that arrived together (a farm aged at the hostel, paying off
late), the place explains the uses of the members living there who made no late payoff (the
guests) as well as those of members with a home. What that gives up: a group that arrived
together is judged by its late payers' sharing only, so accounts of another kind in it go with
the guests (a farm paying off by a review, no payoff type, in one group with a promo farm
through a shared IP: found at 80.1 before, not after, s26 review_farm_aged probe); and a farm
aged at a hostel whose accounts pay off on their first order, or with a card per 3 accounts on
its own machines, is judged as a place's users (la29 hostel_farm_cards3_first,
farm_cards3_first: 24-40 of 40 found before, a 3-account fragment after; hreview's s29
farm_hostel_cards, a card per 3 at a hostel: 42 -> 3, its fast variant 42 -> 14-19). The honest
guests left reported: a group of a hostel's families is surprising on its family cards alone (14
cards of 3, log10 -2.2 to -2.5 each) and is reported on its trimmed core, the families whose own
uses there span under ``place_life_s`` (not living, their Wi-Fi sharing counted) or a family's
triple: la28 hostel_families 9 @ 31.3 (full run, seed 0) / 3 (seed 1), la29 hostel_families_wc 3
@ 29.9 / 34.8; hreview's hostel_families_welcome 8 @ 29.0 / 3 @ 32.6 (probe): 3-9 of 42, down
from 40-42.

A hostel's short-stay guests (review R56): a family there for days, not ``place_life_s``, is not
living, so its members' uses of the hostel's PCs and Wi-Fi tied them into a core (world H,
``python -m benchmarks.hostels``: 4-10 guests per families' hostel reported). A non-living
member whose uses of places spread over at least ``arrival_s`` (a day: a stay, not a burst
farm's minutes there) is a place's user too (:attr:`PlaceUsers.stayed`, :func:`explained_uses`):
in a group that did not arrive together, and in one that did when it made no late payoff (a
hostel's guests in the group of a farm aged at their hostel). With the household core's share
(:func:`gnn.rings.trim_to_core`: a family on its card, trimmed from a group of 13-20 family
cards, no longer carries the group's surprise), world H s0 / s1 (base 2,000, full runs without
labels): honest guests in rings 33 / 18 -> 7 / 3 (all in hostel_farm_aged's ring, 38 / 40 of its
40), every farm found as before (farm_cards3 40 / 39, hostel_farm_burst 40 / 40, _cheap 40 / 40,
_aged 38 / 40); the 3-account fragments of farm_cards3_first and _fp (3 of 40) go; DESK
unchanged. What it gives up: a farm at a public place created over more than a week (not
together) whose accounts each stay days there without living (no entity of their own beyond a
household's, under ``place_life_s`` of activity) is judged by what it shares beyond the place;
such a stream was already the documented evasion of a farm created over longer than each account
lives. Not won back: a farm with a card per <= 5 accounts paying off on its first order
(farm_cards3_first): its aging on logins alone before a first order that redeems the welcome code
is hreview's s27 hostel_welcome too (backpackers buying once, on their last day).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from graph.rings.activity import near_counts, spans, use_bounds
from graph.rings.null_model import log10_choose


@dataclass(frozen=True)
class PlaceUsers:
    """Who can be a place's user and what can be a place (:func:`place_users`).

    Attributes
    ----------
    living
        Per account row: active over at least the life span and using an entity nobody else
        uses.
    places
        Per entity column: of a place type, its uses spread over at least the life span and
        used by at least the least number of living accounts.
    first
        Per account row: its first known use (epoch s; -1 unknown).
    fresh
        Per account row: first seen at least the settling time after the log's first known
        use (created within the log, not there before it began: an arrival the log shows).
    homed
        Per account row: has a home of its own, a place-type entity nobody else uses that it
        used over at least the life span (a phone, laptop or home IP kept for weeks; a
        fingerprint seen once is none), and uses another place-type entity that is no place
        over the life span too (a phone seen beside its home IP or a household's laptop; a
        farm's antidetect profile per account, kept for weeks but seen only with the farm's
        machines and networks, or beside a proxy IP used once, is none: reviews R31, R37).
    life
        Per account row: seconds from its first to its last known use (-1 unknown).
    gone
        Per account row: its last known use at least the life span before the log's last (an
        account that went quiet within the log, as a farm's does after its payoff).
    late
        Accounts x entities: 1 where an account first used an entity of a payoff type (a
        promo code) at least the life span after its own first use and after a first use of
        an entity of neither a place nor a payoff type (a card, a seller: an earlier order),
        a farm's payoff after its aging; the welcome code on an account's first order, as
        every honest account redeems it however late that order comes, is none (review R44).
    ordinary
        Per account row: fresh, living and with a home of its own (``homed``): a new user
        living its own life, whose first uses show a payoff entity's usual course
        (:func:`converged`); a farm's accounts and a place's cohorts have no home.
    paid
        Accounts x entities: 1 where an account used an entity of a payoff type at all.
    settled
        Per account row: living and keeping a place-type entity of its own over the life span
        (a phone used for weeks), whatever networks it is seen through (``homed`` asks more).
    desks
        Accounts x entities: 1 where a fresh account used a place-type entity that is no
        place only within the arrival time of its own first use and never after (a gym's or
        shop's tablet it signed up on: review R45), and has a home of its own or is settled
        and used public networks over the life span after its arrival (place-type entities
        at least the least number of a place's users use who were there before the log's
        settle time: a carrier's pool; a farm's own networks hold its fresh accounts only).
    """

    living: np.ndarray
    places: np.ndarray
    first: np.ndarray
    fresh: np.ndarray
    homed: np.ndarray
    life: np.ndarray
    gone: np.ndarray
    late: sp.csr_matrix
    ordinary: np.ndarray
    paid: sp.csr_matrix
    settled: np.ndarray
    desks: sp.csr_matrix
    stayed: np.ndarray | None = None


def place_users(edges: pd.DataFrame, uses: sp.csr_matrix, place_type: np.ndarray,
                activity: tuple[np.ndarray, np.ndarray], life_s: float, min_users: int,
                settle_s: float, payoff_type: np.ndarray | None = None,
                arrival_s: float = 0.0, household: int = 1) -> PlaceUsers:
    """The living accounts and the places (module docstring) of an account x entity graph:
    ``edges`` its uses (``row, col, first_ts, last_ts``; ``-1`` unknown, never a life),
    ``uses`` its incidence, ``place_type`` per entity column whether its type is a place
    type, ``activity`` each account's first and last use
    (:func:`graph.rings.activity.account_activity` of ``edges``), ``life_s`` the life span in
    seconds, ``min_users`` the fewest living users of a place, ``settle_s`` how long after the
    log's first use an account first seen is fresh, ``payoff_type`` per entity column whether
    its type is a payoff's (``late`` uses; None: every type of no place), ``arrival_s`` how
    long after an account's first use a use of a sign-up desk may end (``desks``),
    ``household`` the most accounts an entity a living account owns may have (1: nobody else
    uses it; a family's card is its members' own); ``stayed`` accounts are not living and used
    places over at least ``arrival_s`` (none when it is 0)."""
    n_accounts, n_entities = uses.shape
    begun = edges["first_ts"].to_numpy(np.int64)
    ended = edges["last_ts"].to_numpy(np.int64)
    rows, cols = edges["row"].to_numpy(np.int64), edges["col"].to_numpy(np.int64)
    binary = (uses > 0).astype(np.float64).tocsr()
    users_per = binary.getnnz(axis=0)
    alone = users_per == 1
    owner = binary @ (users_per <= max(household, 1)).astype(np.float64) > 0
    first, last = activity
    living = owner & (spans(first, last) >= life_s)
    place_type = np.asarray(place_type, dtype=bool)
    lasting = place_type & (spans(*use_bounds(cols, begun, ended, n_entities)) >= life_s)
    living_users = binary.T @ living.astype(np.float64)
    seen = first <= last
    start, end = (first[seen].min(), last[seen].max()) if seen.any() else (0, 0)
    places = lasting & (living_users >= min_users)
    held = (begun >= 0) & (ended - begun >= life_s) & place_type[cols]
    kept = held & alone[cols]
    keeps = np.zeros(n_accounts, dtype=bool)
    keeps[rows[kept]] = True
    homed = keeps.copy()
    # a home is seen off the places: beside another place-type entity that is no place, used
    # over the life span too (a phone beside its home IP); a farm's per-account profile is
    # seen on its places only, or beside a proxy IP used once (review R37)
    off = held & ~places[cols]
    homed &= np.bincount(rows[off], minlength=n_accounts) >= 2
    payoff = ~place_type if payoff_type is None else np.asarray(payoff_type, dtype=bool)
    # a payoff after business of its own (a card or seller used before it): an honest
    # account's welcome code is on its first order, however late that comes (review R44)
    dealt = (begun >= 0) & ~place_type[cols] & ~payoff[cols]
    before = np.full(n_accounts, np.iinfo(np.int64).max)
    np.minimum.at(before, rows[dealt], begun[dealt])
    waited = ((begun >= 0) & payoff[cols] & seen[rows]
              & (begun >= np.where(seen, first, 0)[rows] + life_s) & (begun > before[rows]))
    late = sp.csr_matrix((np.ones(int(waited.sum())), (rows[waited], cols[waited])),
                         shape=uses.shape)
    paid = binary.multiply(payoff[None, :].astype(np.float64)).tocsr()
    fresh = seen & (first >= start + settle_s)
    homed &= living
    settled = keeps & living
    # a public network: one at least min_users accounts there before the log's settle time
    # use (a carrier's pool); a farm's own networks hold only its fresh accounts
    older = (seen & (first < start + settle_s)).astype(np.float64)
    public = place_type & (binary.T @ older >= min_users)
    arrived = np.where(seen, first, 0)[rows] + arrival_s
    # seen through them over the life span (a phone on a carrier's pool for weeks), not at one
    # login through a mobile proxy (review hreview s28)
    among = (begun >= 0) & public[cols] & (ended > arrived)
    mixes = spans(*use_bounds(rows[among], begun[among], ended[among], n_accounts)) >= life_s
    # a sign-up desk: a shared device or network a fresh account touched on arriving only,
    # then lived on its own (a gym's tablets, then a phone on a carrier's pool, review R45)
    signed = ((begun >= 0) & place_type[cols] & ~places[cols] & (ended <= arrived)
              & (fresh & (homed | (settled & mixes)))[rows])
    desks = sp.csr_matrix((np.ones(int(signed.sum())), (rows[signed], cols[signed])),
                          shape=uses.shape)
    at_place = (begun >= 0) & places[cols]
    stay = spans(*use_bounds(rows[at_place], begun[at_place], ended[at_place], n_accounts))
    crowd = np.zeros(n_accounts, dtype=np.int64)
    np.maximum.at(crowd, rows[at_place],
                  near_counts(cols[at_place], begun[at_place], cols[at_place], begun[at_place],
                              arrival_s))
    # a stay, not a farm's visit: over a day there, having come with fewer than a place's
    # least number of users (a family, not a burst farm's 40 in one day: review R63)
    stayed = ~living & (stay >= arrival_s) & (arrival_s > 0) & (crowd < min_users)
    return PlaceUsers(living, places, np.where(seen, first, -1).astype(np.int64), fresh,
                      homed, spans(first, last), seen & (last <= end - life_s), late,
                      fresh & homed, paid, settled, desks, stayed)


def converged(cohorts: sp.csr_matrix, membership: sp.csr_matrix, users: PlaceUsers,
              min_users: int, min_surprise: float) -> np.ndarray:
    """Per group: whether at least half of its ``cohorts`` row's accounts (groups x accounts: the
    fresh living members a group's course is judged by) first used one payoff-type entity
    late (``users.late``: weeks in, after an earlier order) and that many late first uses
    are beyond the entity's usual course. The usual course is the share of its ordinary new
    users (``users.ordinary``: with a home of their own, so neither farms nor place cohorts;
    outside the group's ``membership``) who first used it late, counted as if one more had
    (never 0); an entity fewer than ``min_users`` such others used has none and is no
    payoff. The chance bound ``C(n, m) p^m`` of ``m`` late of ``n`` at that share ``p``,
    times the number of entities judged, must be at most ``10^-min_surprise`` (the
    candidates' bar): the welcome code every new account redeems at its first order (a few
    percent late, after an earlier order) is a farm's payoff when its accounts all redeem it
    weeks in; a sale code anyone redeems whenever it runs (most of its users late) is none
    when a seasonal cohort redeems it weeks in."""
    cohorts, membership = cohorts.tocsr(), membership.tocsr()
    n_groups = cohorts.shape[0]
    out = np.zeros(n_groups, dtype=bool)
    waited = (cohorts @ users.late).tocoo()
    if waited.nnz == 0:
        return out
    ordinary = sp.diags(users.ordinary.astype(np.float64))
    late_own, paid_own = (ordinary @ users.late).tocsr(), (ordinary @ users.paid).tocsr()
    used = np.asarray(paid_own.sum(axis=0)).ravel()
    was_late = np.asarray(late_own.sum(axis=0)).ravel()
    g, e, m = waited.row, waited.col, waited.data
    inside_used = np.asarray((membership @ paid_own)[g, e]).ravel()
    inside_late = np.asarray((membership @ late_own)[g, e]).ravel()
    others = used[e] - inside_used
    share = (was_late[e] - inside_late + 1.0) / (others + 1.0)
    n = np.asarray(cohorts.sum(axis=1)).ravel()[g]
    judged = max(int((used >= min_users).sum()), 1)
    log_chance = (log10_choose(n, np.minimum(m, n)) + m * np.log10(np.minimum(share, 1.0))
                  + np.log10(judged))
    ok = (2 * m >= n) & (others >= min_users) & (log_chance <= -min_surprise)
    out[np.unique(g[ok])] = True
    return out


def explained_uses(uses: sp.csr_matrix, users: PlaceUsers) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Accounts x entities, 1 where a place explains an account's use of an entity
    (:func:`place_explained`) when the account is a member of a group that did not arrive
    together (its first matrix: a living or short-stay (``users.stayed``) account's use of a
    place, a settled one's of its sign-up desk) and of one that did (its second: a use of
    either by an account with a home of its own, and a living account's use of a place when it
    made no late payoff)."""
    at_places = (uses > 0).astype(np.float64).multiply(
        users.places[None, :].astype(np.float64)).tocsr()
    guests = users.living if users.stayed is None else users.living | users.stayed
    apart = (sp.diags(guests.astype(np.float64)) @ at_places
             + sp.diags(users.settled.astype(np.float64)) @ users.desks).tocsr()
    # in a cohort that arrived together, its members with a home, and those living or staying
    # at the place who made no late payoff (a hostel's families in a farm's group: review s29)
    stayed = users.homed | (guests & (users.late.getnnz(axis=1) == 0))
    together = (sp.diags(users.homed.astype(np.float64)) @ users.desks
                + sp.diags(stayed.astype(np.float64)) @ at_places).tocsr()
    return apart, together


def place_explained(membership: sp.csr_matrix, uses: sp.csr_matrix, shared: sp.csr_matrix,
                    users: PlaceUsers, together: np.ndarray) -> np.ndarray:
    """Per stored entry ``(g, e)`` of ``shared`` (groups x entities, CSR order): the members
    of group ``g`` whose use of ``e`` a place explains when ``e`` is a place: its living
    members with a home of their own, and its other living members unless the group arrived
    together (``together``, per group: those members created within the log at about one
    time; a farm aged for weeks on its own machines), when only those who made no late payoff
    (``users.late``: a hostel's guests in the group of a farm at the hostel). When ``e`` is a
    sign-up desk of some
    members (``users.desks``: touched on arriving only, then a device of their own kept for
    weeks), those of them with a home, and the others (``users.settled``) unless the group
    arrived together; else 0."""
    shared = shared.tocsr()
    out = np.zeros(shared.nnz)
    if not (users.places.any() or users.desks.nnz) or not users.living.any() or shared.nnz == 0:
        return out
    apart = (~np.asarray(together, dtype=bool)).astype(np.float64)
    # a desk is no place (its uses end within days), so no use is counted twice
    when_apart, when_together = explained_uses(uses, users)
    on = (sp.diags(apart) @ membership @ when_apart
          + sp.diags(1.0 - apart) @ membership @ when_together).tocoo()
    if on.nnz == 0:
        return out
    n_cols = shared.shape[1]
    keys = on.row.astype(np.int64) * n_cols + on.col
    order = np.argsort(keys)
    keys, counts = keys[order], on.data[order]
    row = np.repeat(np.arange(shared.shape[0], dtype=np.int64), np.diff(shared.indptr))
    wanted = row * n_cols + shared.indices
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    found = keys[at] == wanted
    out[found] = counts[at[found]]
    return out
