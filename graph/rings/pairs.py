"""Pairs: two accounts tied by rare entities (devices, cards, IPs few others use).

A pair is a candidate when the two accounts share at least ``min_shared`` entities, each used by
at most ``max_degree`` accounts, and no other candidate group holds both. One shared entity is
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
        Optional groups x accounts membership; pairs both of whose accounts are in one group are
        left out (the group already reports them).

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
        by_account = groups.T.tocsr()
        both = by_account[pairs[:, 0]].multiply(by_account[pairs[:, 1]])
        pairs = pairs[np.asarray(both.getnnz(axis=1)) == 0]
    order = np.lexsort((pairs[:, 1], pairs[:, 0]))
    return pairs[order]
