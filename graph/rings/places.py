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
  card: an entity nobody else uses); a farm's accounts act once and go quiet (the shapes
  battery's farms: signup, one order minutes later, nothing after);
* a place serves its users over weeks; a farm's devices are used in its work sessions, an
  account takeover's IPs within hours;
* a place's users come to it each in their own time (an office's staff were there before the
  log began, a hostel's travellers arrive over months); a farm's accounts are created together.

So a place-type entity (``rings.place_types``: Device, IP) whose uses spread over at least
``rings.place_life_s`` and that at least ``rings.place_min_users`` *living* accounts use (each
active over at least ``place_life_s`` and owning an entity) is a place (:func:`place_users`):
a group's living members' sharing of it is no evidence (:func:`place_explained`; the group's
other members on it, and everything else it shares, are judged as before), whatever piece of
the place's users the group is. Members with a home of their own (a phone, laptop or home IP
nobody else uses, used over ``place_life_s``: new hires or a class arriving in one week) are
explained however they arrived; the others (a hostel's travellers seen only on its PCs) only
unless they arrived together (the caller's test,
:func:`graph.rings.candidates._arrived_together`: most of them created within the log, within
``whole_group_arrival_s`` of each other). The count is more than a household's (a family's
laptop) and than the 2-9 members the planted rings of the generated 20k world (30 days, members
alive 4-26 days) carry per shared entity; what of their sharing such places hold is on hubs and
busy networks (99-5,500 users), where 2-9 members' sharing was hardly evidence anyway.

The evasions it opens (review s25, R25): a farm whose accounts each keep a device or IP of
their own for ``place_life_s``; or one whose accounts each hold any entity of their own (a card,
or a fingerprint seen once), keep acting for ``place_life_s`` and are created over more than
``whole_group_arrival_s`` (or before the log's first week), on machines it uses for weeks: it is
read as a place in its machines and networks; its shared cards, its timing (lockstep, bursts)
and, with labels, its scores still count (measured by the reviewer: 40 accounts created over
16 days with a card each, 39 found at 282.0 before, none without labels, 40 with half the
labels; created over 10 days with a one-login fingerprint each and the farm's 3 cards, 40 ->
18 found). A farm created within a week without homes of its own is judged as before (40
created within 3 days, kept alive 5 weeks on its 4 devices and 3 IPs: 234.4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from graph.rings.activity import spans, use_bounds


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
        fingerprint seen once is none).
    """

    living: np.ndarray
    places: np.ndarray
    first: np.ndarray
    fresh: np.ndarray
    homed: np.ndarray


def place_users(edges: pd.DataFrame, uses: sp.csr_matrix, place_type: np.ndarray,
                activity: tuple[np.ndarray, np.ndarray], life_s: float, min_users: int,
                settle_s: float) -> PlaceUsers:
    """The living accounts and the places (module docstring) of an account x entity graph:
    ``edges`` its uses (``row, col, first_ts, last_ts``; ``-1`` unknown, never a life),
    ``uses`` its incidence, ``place_type`` per entity column whether its type is a place
    type, ``activity`` each account's first and last use
    (:func:`graph.rings.activity.account_activity` of ``edges``), ``life_s`` the life span in
    seconds, ``min_users`` the fewest living users of a place, ``settle_s`` how long after the
    log's first use an account first seen is fresh."""
    n_accounts, n_entities = uses.shape
    begun = edges["first_ts"].to_numpy(np.int64)
    ended = edges["last_ts"].to_numpy(np.int64)
    rows, cols = edges["row"].to_numpy(np.int64), edges["col"].to_numpy(np.int64)
    binary = (uses > 0).astype(np.float64).tocsr()
    alone = binary.getnnz(axis=0) == 1
    owner = binary @ alone.astype(np.float64) > 0
    first, last = activity
    living = owner & (spans(first, last) >= life_s)
    place_type = np.asarray(place_type, dtype=bool)
    lasting = place_type & (spans(*use_bounds(cols, begun, ended, n_entities)) >= life_s)
    living_users = binary.T @ living.astype(np.float64)
    seen = first <= last
    start = first[seen].min() if seen.any() else 0
    kept = (begun >= 0) & (ended - begun >= life_s) & place_type[cols] & alone[cols]
    homed = np.zeros(n_accounts, dtype=bool)
    homed[rows[kept]] = True
    return PlaceUsers(living, lasting & (living_users >= min_users),
                      np.where(seen, first, -1).astype(np.int64),
                      seen & (first - start >= settle_s), living & homed)


def place_explained(membership: sp.csr_matrix, uses: sp.csr_matrix, shared: sp.csr_matrix,
                    users: PlaceUsers, together: np.ndarray) -> np.ndarray:
    """Per stored entry ``(g, e)`` of ``shared`` (groups x entities, CSR order): the members
    of group ``g`` whose use of ``e`` a place explains when ``e`` is a place (else 0): its
    living members with a home of their own, and its other living members unless the group
    arrived together (``together``, per group: those members created within the log at about
    one time; a farm aged for weeks on its own machines)."""
    shared = shared.tocsr()
    out = np.zeros(shared.nnz)
    if not users.places.any() or not users.living.any() or shared.nnz == 0:
        return out
    apart = (~np.asarray(together, dtype=bool)).astype(np.float64)
    living = (sp.diags(apart) @ membership.multiply(users.living[None, :].astype(np.float64))
              + sp.diags(1.0 - apart) @ membership.multiply(
                  users.homed[None, :].astype(np.float64))).tocsr()
    on = (living @ (uses > 0).astype(np.float64).multiply(
        users.places[None, :].astype(np.float64)).tocsr()).tocoo()
    n_cols = shared.shape[1]
    keys = on.row.astype(np.int64) * n_cols + on.col
    order = np.argsort(keys)
    keys, counts = keys[order], on.data[order]
    row = np.repeat(np.arange(shared.shape[0], dtype=np.int64), np.diff(shared.indptr))
    wanted = row * n_cols + shared.indices
    if len(keys) == 0:
        return out
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    found = keys[at] == wanted
    out[found] = counts[at[found]]
    return out
