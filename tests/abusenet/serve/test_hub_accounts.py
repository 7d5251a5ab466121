"""abusenet.serve.state._HubAccounts: the kept entities' account counts, lowest ring ranks and
score totals follow the edges added since, along one relation or several into the type."""

from __future__ import annotations

import numpy as np
import pytest

from abusenet.serve.state import _distinct_accounts, _HubAccounts
from gnn.local_scoring import GrowingAdjacency


@pytest.mark.parametrize("relations", [1, 2])
def test_kept_entities_equal_their_accounts_gathered_afresh(relations):
    rng = np.random.default_rng(relations)
    accounts, entities = 60, 8
    into = []
    for _ in range(relations):
        pairs = np.unique(rng.integers(0, accounts, 90) * entities
                          + rng.integers(0, entities, 90))
        into.append(GrowingAdjacency(pairs // entities, pairs % entities, entities))
    hubs = _HubAccounts()
    hubs.units = rng.integers(0, 1 << 40, accounts)
    rank = rng.integers(0, 100, accounts)
    every = np.arange(entities)
    for _ in range(4):
        for asked in (every, every[::-2]):
            count, lowest, total = hubs.accounts("T", asked, into, rank)
            for k, entity in enumerate(asked.tolist()):
                held = _distinct_accounts(into, np.array([entity]), accounts)[1]
                assert count[k] == len(held)
                assert total[k] == hubs.units[held].sum()
                assert lowest[k] == (rank[held].min() if len(held)
                                     else np.iinfo(np.int64).max)
        for adjacency in into:  # new pairs along each relation, some already along another
            for _ in range(12):
                src, dst = int(rng.integers(accounts)), int(rng.integers(entities))
                if src not in adjacency.neighbours(dst).tolist():
                    adjacency.add(src, dst)
