"""Honest flows shaped like laundering: salary runs, rent splits and marketplace payouts.

A detector that flags every fan-out or fan-in flags these: an employer pays its staff on payday
(a fan-out), flatmates pay their landlord their share of the rent (a fan-in), a marketplace
collects buyers' payments and pays its sellers weekly (gather-scatter). Unlike mules, staff,
landlords and sellers do not pass the money on within hours in amounts that add up.
Members are ordinary accounts that are in no ring; position 0 of each group is its employer,
landlord or marketplace.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ingest.synth.config import HONEST_FLOW_KINDS, SynthConfig
from ingest.synth.events import NO_STATUS, TRANSFER, EventBatch
from ingest.synth.world import DAY, Population

KIND_NAMES = tuple(HONEST_FLOW_KINDS)
SALARY, RENT_SPLIT, MARKETPLACE = range(len(KIND_NAMES))
#: Median, smallest and largest group size of each kind (the hub included).
_SIZES = np.array([[12, 6, 40], [3, 3, 5], [20, 10, 60]])


@dataclass
class HonestFlows:
    """The honest flow groups of one chunk: kinds, sizes and members (local account indices,
    group after group from ``offset``)."""

    kind: np.ndarray
    size: np.ndarray
    offset: np.ndarray
    member_local: np.ndarray

    def __len__(self) -> int:
        return len(self.kind)


def plan_honest_flows(rng: np.random.Generator, pop: Population, in_ring: np.ndarray,
                      config: SynthConfig) -> HonestFlows:
    """Groups of ordinary accounts (not in ``in_ring``) covering ``honest_flow_fraction``."""
    free = np.flatnonzero(~in_ring)
    target = int(round(config.honest_flow_fraction * pop.size))
    kind = rng.integers(0, len(KIND_NAMES), target // 3 + 1)
    median, low, high = _SIZES[kind].T
    size = np.clip(np.rint(rng.lognormal(np.log(median), 0.4)), low, high).astype(np.int64)
    keep = np.cumsum(size) <= min(target, len(free))
    kind, size = kind[keep], size[keep]
    return HonestFlows(kind=kind, size=size, offset=np.cumsum(size) - size,
                       member_local=rng.permutation(free)[: size.sum()])


def _monthly(rng: np.random.Generator, n: int, start: int, end: int) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    """Group index and time of every monthly due date of ``n`` groups inside the window."""
    first = start + rng.integers(0, 30 * DAY, n)
    months = np.maximum(0, (end - 1 - first) // (30 * DAY) + 1)
    group = np.repeat(np.arange(n), months)
    month = np.arange(len(group)) - np.repeat(np.cumsum(months) - months, months)
    return group, first[group] + month * 30 * DAY


def honest_flow_events(rng: np.random.Generator, pop: Population, flows: HonestFlows,
                       start: int, end: int) -> EventBatch:
    """The transfers of every honest flow group."""
    src, dst, ts, amount = [], [], [], []
    member = flows.member_local
    # a person's salary, or share of the rent, is the same every month
    level = rng.normal(0.0, 0.3, len(member))
    hub = member[flows.offset]
    # the employer pays its staff on payday within two hours; flatmates pay within three days
    for kind, mu in ((SALARY, 7.8), (RENT_SPLIT, 6.6)):
        groups = np.flatnonzero(flows.kind == kind)
        due_group, due = _monthly(rng, len(groups), start, end)
        others = flows.size[groups[due_group]] - 1
        owner = np.repeat(np.arange(len(due_group)), others)
        pos = 1 + np.arange(len(owner)) - np.repeat(np.cumsum(others) - others, others)
        g = groups[due_group[owner]]
        slot = flows.offset[g] + pos
        pays, paid = (hub[g], member[slot]) if kind == SALARY else (member[slot], hub[g])
        src.append(pays)
        dst.append(paid)
        late = 2 * 3600 if kind == SALARY else 3 * DAY
        ts.append(due[owner] + rng.integers(0, late, len(owner)))
        amount.append(np.round(np.exp(mu + level[slot]), 0))
    # marketplaces: buyers pay at any time; each week the marketplace pays each seller 90 %
    groups = np.flatnonzero(flows.kind == MARKETPLACE)
    if len(groups):
        buyers = (flows.size[groups] - 1) // 2
        sellers = flows.size[groups] - 1 - buyers
        per_buyer = rng.poisson(3.0, buyers.sum()) + 1
        buyer_group = np.repeat(np.repeat(groups, buyers), per_buyer)
        buyer_pos = 1 + np.repeat(np.arange(buyers.sum()) - np.repeat(
            np.cumsum(buyers) - buyers, buyers), per_buyer)
        n = len(buyer_group)
        sale_ts = start + rng.integers(0, end - start, n)
        price = np.round(rng.lognormal(3.8, 0.6, n), 2)
        seller_pos = 1 + buyers[np.searchsorted(groups, buyer_group)] + (
            rng.random(n) * sellers[np.searchsorted(groups, buyer_group)]).astype(np.int64)
        src.append(member[flows.offset[buyer_group] + buyer_pos])
        dst.append(hub[buyer_group])
        ts.append(sale_ts)
        amount.append(price)
        payday = start + 7 * DAY * ((sale_ts - start) // (7 * DAY) + 1)
        seller = flows.offset[buyer_group] + seller_pos
        key = seller * (end // DAY + 10) + payday // DAY
        _, first, codes = np.unique(key, return_index=True, return_inverse=True)
        due = payday[first] < end
        total = np.bincount(codes, weights=price)[due]
        src.append(hub[buyer_group[first[due]]])
        dst.append(member[seller[first[due]]])
        ts.append(payday[first[due]] + rng.integers(0, 3600, int(due.sum())))
        amount.append(np.round(0.9 * total, 2))
    actor = np.concatenate(src)
    batch = EventBatch.empty_like(pop.account[actor], np.minimum(np.concatenate(ts), end - 1),
                                  np.full(len(actor), TRANSFER))
    batch.counterparty = pop.account[np.concatenate(dst)]
    batch.device = pop.personal_device_key(actor)
    batch.ip = pop.home_ip_key(actor)
    batch.amount = np.concatenate(amount).astype(np.float64)
    batch.status = np.full(len(actor), NO_STATUS, dtype=np.int8)
    return batch
