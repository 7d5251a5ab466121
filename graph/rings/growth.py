"""Growing found cores into their rings.

A pair of accounts sharing two rare cards is often one link of a larger ring: at a million
generated accounts 197 reported pairs were two-account pieces of planted payment rings (members
``2k`` and ``2k + 1`` pay with cards ``k`` and ``k + 1``, so each pair of members shares one card
with the pair on either side) whose other members no search had put in a candidate. Growing a
seed group adds the accounts tied to *several* of its members by rare entities, each addition
only when the null model finds its tie to the group surprising:

* an outside account ``x`` is a candidate when it shares a rare entity (used by 2 to
  ``max_degree`` accounts) with at least ``min_ties`` distinct members;
* under the configuration model each of ``x``'s ``k_t`` uses of type ``t`` lands on an entity
  with chance proportional to that entity's degree, so the number of the group's rare entities
  ``x`` uses is about Poisson with mean ``lambda = sum_t k_t W_t / E_t`` (``W_t``: the degrees of
  the group's rare entities of type ``t``, ``E_t``: every account-entity edge of that type);
* the tail ``P(X >= h)`` for the ``h`` entities seen is charged ``log10`` of the accounts the
  group reaches through its rare entities (the accounts it could have tested), and ``x`` joins
  when the charged chance is at most ``10^-min_surprise``.

Rounds repeat on the grown groups (a chain of pairs grows by its neighbours each round) until no
account joins, up to ``rounds`` rounds or ``max_size`` members. Members' scores play no part: a
grown group is a candidate like any other, judged afterwards by its own sharing's null
(:func:`graph.rings.candidates.find_ring_candidate_table`) and the report rules.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from scipy.special import pdtrc

from graph.rings.null_model import type_degrees

#: Rounds of growth: a chained payment ring of 30 members grows from one of its pairs by about
#: two pairs a round.
GROW_ROUNDS = 8

#: Distinct members an outside account must be tied to (one member's household is not the ring).
MIN_TIES = 2


def grow_groups(
    seeds: Sequence[np.ndarray],
    uses: sp.csr_matrix,
    codes: np.ndarray,
    max_degree: int,
    max_size: int,
    min_surprise: float,
    rounds: int = GROW_ROUNDS,
    min_ties: int = MIN_TIES,
) -> list[np.ndarray]:
    """The seed groups grown by the accounts the null model ties to several of their members.

    Parameters
    ----------
    seeds
        Account rows of each seed group (a pair, a small ring).
    uses
        Accounts x entities incidence (any positive value = a use).
    codes
        Type code of each entity column (``0 .. T - 1``).
    max_degree
        Entities used by more accounts than this tie nobody (hubs and popular entities).
    max_size
        A group grows to at most this many members (the most surprising additions first).
    min_surprise
        An addition needs ``-log10`` of its charged chance at least this.
    rounds
        Rounds of growth at most.
    min_ties
        Distinct members an added account must share a rare entity with.

    Returns
    -------
    list of numpy.ndarray
        Sorted rows of each group that grew (seeds that gained nobody are left out), in seed
        order; groups that grew alike are each returned (the caller deduplicates).

    Examples
    --------
    >>> grown = grow_groups([np.array([0, 1])], uses, codes, 10, 50, 2.0)   # doctest: +SKIP
    """
    binary = (uses > 0).astype(np.float64).tocsr()
    n_accounts = binary.shape[0]
    codes = np.asarray(codes, dtype=np.int64)
    n_types = int(codes.max()) + 1 if len(codes) else 1
    degree = np.asarray(binary.getnnz(axis=0))
    type_uses = type_degrees(binary, codes, n_types)
    type_edges = np.maximum(type_uses.sum(axis=0), 1.0)
    rare = np.flatnonzero((degree >= 2) & (degree <= max_degree))
    groups = [np.unique(np.asarray(s, dtype=np.int64)) for s in seeds]
    if not groups or len(rare) == 0:
        return []
    restricted = binary[:, rare].tocsr()
    transposed = restricted.T.tocsr()
    tied = ((restricted @ transposed) > 0).astype(np.float64).tocsr()
    weight = sp.csr_matrix((degree[rare].astype(np.float64), (np.arange(len(rare)), codes[rare])),
                           shape=(len(rare), n_types))
    grew = np.zeros(len(groups), dtype=bool)
    active = np.flatnonzero(np.fromiter((len(g) < max_size for g in groups), dtype=bool,
                                        count=len(groups)))
    for _ in range(rounds):
        if len(active) == 0:
            break
        added = _additions([groups[i] for i in active], restricted, transposed, tied, weight,
                           type_uses, type_edges, n_accounts, min_surprise, min_ties)
        still = []
        for i, extra in zip(active.tolist(), added, strict=True):
            room = max_size - len(groups[i])
            if len(extra) == 0 or room <= 0:
                continue
            groups[i] = np.union1d(groups[i], extra[:room])
            grew[i] = True
            if len(groups[i]) < max_size:
                still.append(i)
        active = np.asarray(still, dtype=np.int64)
    return [groups[i] for i in np.flatnonzero(grew)]


def _additions(
    groups: list[np.ndarray], restricted: sp.csr_matrix, transposed: sp.csr_matrix,
    tied: sp.csr_matrix, weight: sp.csr_matrix, type_uses: np.ndarray, type_edges: np.ndarray,
    n_accounts: int, min_surprise: float, min_ties: int,
) -> list[np.ndarray]:
    """One round of :func:`grow_groups`: per group, the outside accounts that join, the most
    surprising first."""
    sizes = np.fromiter((len(g) for g in groups), dtype=np.int64, count=len(groups))
    rows = np.repeat(np.arange(len(groups)), sizes)
    membership = sp.csr_matrix((np.ones(len(rows)), (rows, np.concatenate(groups))),
                               shape=(len(groups), n_accounts))
    held = ((membership @ restricted) > 0).astype(np.float64).tocsr()
    hits = (held @ transposed).tocsr()             # group's rare entities each account uses
    ties = (membership @ tied).tocsr()             # distinct members each account shares with
    reach = np.diff(hits.indptr) - sizes           # outside accounts the group reaches
    ties = ties.multiply(ties >= min_ties).tocsr()
    ties = ties - ties.multiply(membership)        # members are not additions
    ties.eliminate_zeros()
    # a tie is a rare entity of the group the account uses: the hits hold every tie's entry
    found = hits.multiply(ties > 0).tocsr()
    found.sort_indices()
    group = np.repeat(np.arange(len(groups)), np.diff(found.indptr))
    account, h = found.indices, found.data
    rate = np.asarray((held @ weight).todense()) / type_edges   # groups x types
    mean = np.einsum("it,it->i", type_uses[account], rate[group])
    log_chance = np.log10(np.clip(pdtrc(h - 1.0, mean), 1e-300, 1.0)) + np.log10(
        np.maximum(reach[group], 1))
    keep = log_chance <= -min_surprise
    group, account, log_chance = group[keep], account[keep], log_chance[keep]
    order = np.lexsort((account, log_chance, group))
    group, account = group[order], account[order]
    bounds = np.searchsorted(group, np.arange(len(groups) + 1))
    return [account[bounds[i]:bounds[i + 1]] for i in range(len(groups))]
