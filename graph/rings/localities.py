"""Localities: the neighbourhoods of entities an account-entity graph holds, learnt from it.

Customers shop near home, diners eat in their city, staff log in from their office: honest
accounts concentrate their uses on a *locality* of entities, so neighbours meet on low-degree
entities far more often than a degree-preserving null over the whole entity type expects.
Logs rarely carry coordinates, so localities are learnt from the graph alone: the Leiden
communities (modularity, seeded; :func:`graph.rings.communities.leiden_labels`) of the
account + entity bipartite graph, hubs left out (they tie everyone and are judged by the type
null anyway). A locality is one community's entities of one type (a town's terminals, not its
devices), kept only when at least ``min_users`` distinct accounts use them: a ring's private
devices, used only by its members, can never be a locality of their own (``min_users`` above
``max_size``), so what a ring shares beyond its neighbourhood stays surprising. A group judged
whole over ``max_size`` (a farm of 200) can make localities of its own, one per type it
shares; it may be a neighbourhood of one kind of type, its *home kind* (a town at its
terminals; a hostel at its PCs and the Wi-Fi IPs behind them, two types one place's events carry
together: :func:`type_kinds`), and its own localities of any other kind explain none of its
sharing (:func:`home_types`).

The cost is one Leiden run on a graph with one node per account and entity and one edge per
account-entity use (linear in the uses), plus sparse products; no Python loop per entity. Several
scales (:func:`find_locality_scales`) are nested: only the finest partitions that big graph, each
coarser one partitions the graph of the finer one's communities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from graph.rings.communities import leiden_labels


@dataclass(frozen=True)
class Localities:
    """Entity localities of one account x entity graph (:func:`find_localities`).

    Attributes
    ----------
    of_entity
        Per entity column: its locality (``0 .. L - 1``), or -1 (a hub, or a community whose
        entities of that type too few accounts use: the type-wide null judges it).
    edges
        Per locality: account-entity uses of its entities (``E_C``).
    pairs
        Per locality: ``sum_e d_e (d_e - 1)`` over its entities (``d_e``: users of ``e``).
    type_code
        Per locality: the type code of its entities.
    account_degree
        Accounts x localities (CSR): distinct entities of each locality each account uses
        (``k_{a,C}``).
    """

    of_entity: np.ndarray
    edges: np.ndarray
    pairs: np.ndarray
    type_code: np.ndarray
    account_degree: sp.csr_matrix

    @property
    def users(self) -> np.ndarray:
        """Per locality: the distinct accounts using its entities."""
        return np.asarray(self.account_degree.getnnz(axis=0), np.float64)

    @property
    def count(self) -> int:
        """Number of localities."""
        return len(self.edges)


def find_localities(
    uses: sp.csr_matrix,
    codes: np.ndarray,
    max_degree: int,
    min_users: int,
    resolution: float = 1.0,
    seed: int = 0,
) -> Localities:
    """Learn entity localities from the account x entity graph (module docstring).

    Parameters
    ----------
    uses
        Accounts x entities incidence (any positive value = a use).
    codes
        Type code of each entity column (``0 .. T - 1``).
    max_degree
        Entities used by more accounts than this are hubs: left out of every locality.
    min_users
        Fewest distinct accounts using a locality's entities.
    resolution
        Leiden resolution (higher: smaller localities).
    seed
        Leiden seed.

    Returns
    -------
    Localities
        Empty (no locality) when the graph has no entity below ``max_degree`` with two users.
    """
    return find_locality_scales(uses, codes, max_degree, min_users, (resolution,), seed)[0]


def find_locality_scales(
    uses: sp.csr_matrix,
    codes: np.ndarray,
    max_degree: int,
    min_users: int,
    resolutions: tuple[float, ...],
    seed: int = 0,
) -> list[Localities]:
    """:func:`find_localities` at each of ``resolutions`` (same order), nested: one Leiden run
    on the whole account + entity graph at the highest resolution, then each lower one on the
    graph of the previous scale's communities (their blocks of ``P.T @ A @ P``, self-loops
    kept, so the modularity optimised is the whole graph's). Each scale's localities are unions
    of the next finer scale's communities; the big graph is partitioned once, not once per
    resolution.
    """
    binary = (uses > 0).astype(np.float64).tocsr()
    n_accounts, n_entities = binary.shape
    codes = np.asarray(codes, dtype=np.int64)
    if len(codes) != n_entities:
        raise ValueError(f"localities: {len(codes)} type codes for {n_entities} entity columns")
    degree = np.asarray(binary.getnnz(axis=0), np.float64)
    kept = (degree >= 2) & (degree <= max_degree)
    order = sorted(range(len(resolutions)), key=lambda i: -resolutions[i])
    found: list[Localities | None] = [None] * len(resolutions)
    if not kept.any():
        none = np.full(n_entities, -1, dtype=np.int64)
        return [_localities(binary, codes, degree, none)] * len(resolutions)
    part = binary @ sp.diags(kept.astype(np.float64))
    part.eliminate_zeros()
    coo = part.tocoo()
    size = n_accounts + n_entities
    upper = sp.csr_matrix((np.ones(coo.nnz), (coo.row, n_accounts + coo.col)),
                          shape=(size, size))
    graph = (upper + upper.T).tocsr()
    community = np.arange(size, dtype=np.int64)
    for step, i in enumerate(order):
        blocks = int(community.max()) + 1
        member = sp.csr_matrix((np.ones(size), (np.arange(size), community)),
                               shape=(size, blocks))
        coarse = (member.T @ graph @ member).tocsr() if step else graph
        community = leiden_labels(coarse, resolutions[i], seed, loops=step > 0)[community]
        key = np.where(kept, community[n_accounts:] * (int(codes.max()) + 1) + codes, -1)
        found[i] = _localities(binary, codes, degree, _small_ones_dropped(binary, key, min_users))
    return [scale for scale in found if scale is not None]


def _localities(
    binary: sp.csr_matrix, codes: np.ndarray, degree: np.ndarray, of_entity: np.ndarray
) -> Localities:
    """The :class:`Localities` of the entity labelling ``of_entity`` (``-1``: none)."""
    n_entities = binary.shape[1]
    n_loc = int(of_entity.max()) + 1 if n_entities else 0
    located = of_entity >= 0
    type_code = np.zeros(n_loc, dtype=np.int64)
    type_code[of_entity[located]] = codes[located]
    member = sp.csr_matrix((np.ones(int(located.sum())),
                            (np.flatnonzero(located), of_entity[located])),
                           shape=(n_entities, n_loc))
    return Localities(
        of_entity=of_entity,
        edges=np.bincount(of_entity[located], weights=degree[located], minlength=n_loc),
        pairs=np.bincount(of_entity[located], weights=(degree * (degree - 1.0))[located],
                          minlength=n_loc),
        type_code=type_code,
        account_degree=(binary @ member).tocsr(),
    )


def _small_ones_dropped(binary: sp.csr_matrix, key: np.ndarray, min_users: int) -> np.ndarray:
    """Relabel ``key`` (per entity; -1 none) to ``0 .. L - 1`` over the keys whose entities at
    least ``min_users`` distinct accounts use; the others become -1."""
    keyed = key >= 0
    labels, dense = np.unique(key[keyed], return_inverse=True)
    member = sp.csr_matrix((np.ones(len(dense)), (np.flatnonzero(keyed), dense)),
                           shape=(len(key), len(labels)))
    users = np.asarray(((binary @ member) > 0).getnnz(axis=0))
    big = np.flatnonzero(users >= min_users)
    relabel = np.full(len(labels), -1, dtype=np.int64)
    relabel[big] = np.arange(len(big))
    out = np.full(len(key), -1, dtype=np.int64)
    out[keyed] = relabel[dense]
    return out


def entry_locality_rate(
    membership: sp.csr_matrix,
    shared: sp.csr_matrix,
    localities: Localities,
    home: np.ndarray | None = None,
    kinds: np.ndarray | None = None,
) -> np.ndarray:
    """Per stored entry ``(g, e)`` of ``shared`` (CSR order): ``g_C / E_C``, the members' mean
    number of entities of ``e``'s locality ``C`` over its uses; 0 where ``e`` has none.

    Under the locality null a member using ``k_{a,C}`` entities of ``C`` touches ``e`` with
    probability about ``k_{a,C} d_e / E_C``; this is that rate without ``d_e``, averaged over
    the members as :func:`graph.rings.null_model.sharing_log_chance` averages the type degree.

    With ``home`` (per group, its home kind or -1: :func:`home_types`; ``kinds``: the kind of
    each type code, :func:`type_kinds`, default each type its own), a locality the group's
    members are more than half the users of (the group's own) explains its sharing only when
    its type is of the group's home kind; otherwise the rate is 0.
    """
    shared = shared.tocsr()
    out = np.zeros(shared.nnz)
    if localities.count == 0 or shared.nnz == 0:
        return out
    sizes = np.maximum(np.asarray(membership.sum(axis=1)).ravel(), 1.0)
    per_group = (membership @ localities.account_degree).tocoo()
    values = per_group.data / sizes[per_group.row]
    if home is not None:
        kind = _kind_of(localities.type_code, kinds)
        # only a group with a home kind owns a locality (home_types)
        at = np.flatnonzero((home[per_group.row] >= 0)
                            & (kind[per_group.col] != home[per_group.row]))
        own = _own_localities(membership, localities, per_group.row[at], per_group.col[at])
        values[at[own]] = 0.0
    n_loc = localities.count
    keys = per_group.row.astype(np.int64) * n_loc + per_group.col
    order = np.argsort(keys)
    keys, values = keys[order], values[order]
    row = np.repeat(np.arange(shared.shape[0], dtype=np.int64), np.diff(shared.indptr))
    loc = localities.of_entity[shared.indices]
    known = loc >= 0
    wanted = row[known] * n_loc + loc[known]
    # every member of a group sharing e uses e, so (g, C) is always among the keys
    at = np.searchsorted(keys, wanted)
    out[known] = values[at] / np.maximum(localities.edges[loc[known]], 1.0)
    return out


def type_kinds(type_names: np.ndarray, together: tuple[str, ...]) -> np.ndarray:
    """Per type code (rank in ``type_names``): its kind, the type's own code, or for every
    type named in ``together`` the code of the first of them present (one kind: the types one
    place's events carry together, a building's PCs and the Wi-Fi IPs they sit behind)."""
    kinds = np.arange(len(type_names), dtype=np.int64)
    joined = np.flatnonzero(np.isin(np.asarray(type_names, dtype=object),
                                    np.asarray(together, dtype=object)))
    if len(joined):
        kinds[joined] = joined[0]
    return kinds


def _kind_of(type_code: np.ndarray, kinds: np.ndarray | None) -> np.ndarray:
    """The kind of each of ``type_code`` (``kinds`` None: each type its own)."""
    return type_code if kinds is None else kinds[type_code]


def _own_localities(membership: sp.csr_matrix, localities: Localities, group: np.ndarray,
                    locality: np.ndarray) -> np.ndarray:
    """Per pair ``(group[i], locality[i])``: whether the group's members (rows of
    ``membership``) are more than half of the locality's users."""
    if len(group) == 0:
        return np.zeros(0, dtype=bool)
    wanted, local = np.unique(group, return_inverse=True)
    users = (membership[wanted] @ (localities.account_degree > 0).astype(np.float64)).tocsr()
    return 2.0 * np.asarray(users[local, locality]).ravel() > localities.users[locality]


def home_types(membership: sp.csr_matrix, scales: list[Localities], n_types: int,
               kinds: np.ndarray | None = None) -> np.ndarray:
    """Per group (rows of ``membership``): its *home kind*, the kind of type (``kinds``: per
    type code, :func:`type_kinds`; None: each type its own) whose own localities (more than
    half of whose users are its members) its members use most over all ``scales``; -1 for a
    group that owns no locality.

    A group may be one neighbourhood, as it may be one entity's users (the null model's
    anchor): a town's customers at its terminals, an office at its machines, a campus at its
    lab devices; its own localities of that kind explain its sharing
    (:func:`entry_locality_rate`). A place is one kind whatever types its events carry
    together: a hostel's travellers on its 3 PCs behind its 2 Wi-Fi IPs own localities of
    both types, one place (review R6, session 23: with a type each they were a ring at
    surprise 92-131). A group that makes its own neighbourhood of a second kind too (a farm's
    few devices and its few cards, used by nobody else) is not explained by those: learnt
    from the same graph, the localities of a group's own entities would explain any group.
    The property used: travellers and patrons pay with their own cards (they have lives
    outside the place), a farm's accounts share its cards too. The evasion it opens: a farm
    sharing only machines and networks (each account its own card or none) is explained as a
    place when judged whole (its pieces of up to ``max_size`` are judged as before). Groups of
    up to ``max_size`` accounts own no locality (every locality has more users than twice
    that: ``locality_min_users``), so only bigger groups have a home kind.
    """
    home = np.full(membership.shape[0], -1, dtype=np.int64)
    scales = [scale for scale in scales if scale.count]
    if not scales:
        return home
    # only a group of more than half the users of some locality can own one
    sizes = np.asarray(membership.sum(axis=1)).ravel()
    able = np.flatnonzero(2.0 * sizes > min(scale.users.min() for scale in scales))
    if len(able) == 0:
        return home
    candidates = membership[able]
    total = np.zeros((len(able), max(n_types, 1)))
    for scale in scales:
        per_group = (candidates @ scale.account_degree).tocoo()
        own = _own_localities(candidates, scale, per_group.row, per_group.col)
        kind = _kind_of(scale.type_code, kinds)
        np.add.at(total, (per_group.row[own], kind[per_group.col[own]]), per_group.data[own])
    home[able] = np.where(total.max(axis=1) > 0, np.argmax(total, axis=1), -1)
    return home


def home_anchors(membership: sp.csr_matrix, scales: list[Localities], home: np.ndarray,
                 kinds: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group (rows of ``membership``; ``home``: its home kind, :func:`home_types`): the
    members using its own localities of its home kind, those localities' distinct users and
    the number of localities of that kind, at the scale where those members are most (fewest
    users among equals); 0, 0, 0 for a group without a home kind.

    What the null model picks such a group by (:func:`graph.rings.null_model.selection_log_count`):
    most of one place's or neighbourhood's users, ``C(users, members)`` ways times the places
    of its kind, as a small group is picked as most of one entity's users. Counted member by
    member through their co-users instead, a group of 200 on its own 4 devices and 5 IPs paid
    about 2.6 orders a member for choices that are its own members (its 6 shared cards, 35-46
    orders each, could not show it); a hostel's travellers on its PCs and Wi-Fi IPs are one
    place's users, as likely as any place's, and sharing nothing else stay unsurprising.
    """
    n_groups = membership.shape[0]
    members, users, peers = np.zeros(n_groups), np.zeros(n_groups), np.zeros(n_groups)
    homed = np.flatnonzero(home >= 0)
    if len(homed) == 0:
        return members, users, peers
    groups = membership[homed].tocsr()
    for scale in (scale for scale in scales if scale.count):
        kind = _kind_of(scale.type_code, kinds)
        per_group = (groups @ scale.account_degree).tocoo()
        at = np.flatnonzero(kind[per_group.col] == home[homed][per_group.row])
        at = at[_own_localities(groups, scale, per_group.row[at], per_group.col[at])]
        own = sp.csr_matrix((np.ones(len(at)), (per_group.col[at], per_group.row[at])),
                            shape=(scale.count, len(homed)))
        # accounts x groups: whether the account uses one of the group's own home localities
        on = ((scale.account_degree > 0).astype(np.float64) @ own).tocsc() > 0
        found_users = np.asarray(on.getnnz(axis=0), np.float64)
        found_members = np.asarray(groups.multiply(on.T).getnnz(axis=1), np.float64)
        better = (found_members > members[homed]) | (
            (found_members == members[homed]) & (found_members > 0)
            & (found_users < users[homed]))
        members[homed[better]] = found_members[better]
        users[homed[better]] = found_users[better]
        count = np.bincount(kind, minlength=int(max(kind.max(), home.max())) + 1)
        peers[homed[better]] = count[home[homed[better]]]
    return members, users, peers


def home_entries(membership: sp.csr_matrix, shared: sp.csr_matrix, scales: list[Localities],
                 home: np.ndarray, kinds: np.ndarray | None = None) -> np.ndarray:
    """Per stored entry ``(g, e)`` of ``shared`` (CSR order): whether ``e`` is in one of group
    ``g``'s own localities (:func:`home_types`) of its home kind ``home[g]`` at some scale: the
    entities that make the group one place's users."""
    shared = shared.tocsr()
    out = np.zeros(shared.nnz, dtype=bool)
    row = np.repeat(np.arange(shared.shape[0], dtype=np.int64), np.diff(shared.indptr))
    for scale in (scale for scale in scales if scale.count):
        loc = scale.of_entity[shared.indices]
        at = np.flatnonzero((loc >= 0) & (home[row] >= 0) & ~out)
        at = at[_kind_of(scale.type_code, kinds)[loc[at]] == home[row[at]]]
        out[at[_own_localities(membership, scale, row[at], loc[at])]] = True
    return out


def pair_locality_mean(
    a: np.ndarray, b: np.ndarray, localities: Localities, n_types: int,
) -> np.ndarray:
    """Pairs x types: the expected number of entities of each type accounts ``a`` and ``b``
    (rows) share under the locality null, ``sum_C k_{a,C} k_{b,C} S_C / E_C^2`` over the
    localities ``C`` of the type (``S_C``: :attr:`Localities.pairs`)."""
    if localities.count == 0 or len(a) == 0:
        return np.zeros((len(a), n_types))
    weight = localities.pairs / np.maximum(localities.edges, 1.0) ** 2
    both = localities.account_degree[a].multiply(localities.account_degree[b]).tocsr()
    to_type = sp.csr_matrix((weight, (np.arange(localities.count), localities.type_code)),
                            shape=(localities.count, n_types))
    return np.asarray((both @ to_type).todense())

