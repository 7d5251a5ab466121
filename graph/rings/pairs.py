"""Pairs: two accounts tied by rare entities (devices, cards, IPs few others use).

A pair is a candidate when the two accounts share at least ``min_shared`` entities, each used by
at most ``max_degree`` accounts, unless a candidate group holding both accounts shares each of
those entities through a third member too (then the group is the finding, and the pair adds no
tie of its own). A group that merely holds the pair does not hide it: components and
communities sweep colluding pairs in with the honest households they touch, and such a group is
often explained by chance or trimmed, while the pair's own tie is not; overlapping candidates are
ranked against each other when scored. One shared entity is
never enough under the null model (:mod:`graph.rings.null_model`): a pair picked from the users
of one entity is what chance makes of that entity, so pairs sharing one entity are not even
listed. Whether a listed pair is reported is the null model's call, as for any ring.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def rare_entity_pairs(
    uses: sp.csr_matrix,
    max_degree: int,
    min_shared: int = 2,
    groups: sp.csr_matrix | None = None,
) -> np.ndarray:
    """Account-row pairs ``(a, b)``, ``a < b``, sharing ``min_shared`` or more rare entities.

    Parameters
    ----------
    uses
        Accounts x entities incidence (any positive value = a use).
    max_degree
        Entities used by more accounts than this are not rare and do not tie a pair.
    min_shared
        Rare entities a pair must share.
    groups
        Optional groups x accounts membership; a pair is left out when a group holds both of its
        accounts and a third member of that group uses each rare entity the pair shares.

    Returns
    -------
    numpy.ndarray
        ``(n_pairs, 2)`` int64 array, sorted.
    """
    binary = (uses > 0).astype(np.float64).tocsc()
    degree = np.asarray(binary.getnnz(axis=0))
    rare = np.flatnonzero((degree >= 2) & (degree <= max_degree))
    if len(rare) == 0:
        return np.empty((0, 2), dtype=np.int64)
    restricted = binary[:, rare].tocsr()
    together = sp.triu(restricted @ restricted.T, k=1).tocoo()
    keep = together.data >= min_shared
    pairs = np.column_stack([together.row[keep], together.col[keep]]).astype(np.int64)
    if groups is not None and len(pairs) and groups.shape[0]:
        pairs = pairs[~_covered_by_group(pairs, restricted, groups.tocsr())]
    order = np.lexsort((pairs[:, 1], pairs[:, 0]))
    return pairs[order]


def _covered_by_group(pairs: np.ndarray, rare: sp.csr_matrix, groups: sp.csr_matrix) -> np.ndarray:
    """Per pair: whether some group holds both accounts and uses every rare entity the two
    share through at least three of its members (the pair and a third)."""
    membership = (groups > 0).astype(np.float64)
    by_account = membership.T.tocsr()
    both = by_account[pairs[:, 0]].multiply(by_account[pairs[:, 1]]).tocsr()
    shared = rare[pairs[:, 0]].multiply(rare[pairs[:, 1]]).tocsr()
    group_uses = (membership @ rare).tocsr()
    widely = (group_uses >= 3).astype(np.float64)
    # per (pair, group): the pair's shared entities that the group uses through a third member
    covered = both.multiply(shared @ widely.T).tocsr()
    n_shared = np.asarray(shared.getnnz(axis=1))
    coo = covered.tocoo()
    full = np.zeros(len(pairs), dtype=bool)
    full[coo.row[coo.data >= n_shared[coo.row]]] = True
    return full
