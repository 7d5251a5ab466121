"""How surprising a group's sharing is by chance: a null model of account-entity edges.

The null is a permutation of account-entity edges within each entity type, account and entity
degrees kept (a configuration model): an account using ``k_a`` entities of type ``t`` touches an
entity ``e`` of that type used by ``d_e`` accounts with probability about
``p_e = min(1, k_a d_e / E_t)`` (``E_t``: account-entity edges of type ``t``), independently of
other entities; for a group, ``k_a`` is its members' mean degree in that type, so reviewers of a
hundred restaurants are expected to meet on some of them. Two accounts with ``c_a`` and ``c_b``
distinct counterparties transfer between them by chance with probability about
``c_a c_b / (2 P)`` (a configuration model of the ``P`` pairs of accounts with a transfer).

For a group of ``k`` accounts, the log10 chance of its structure is the sum of

* for each shared entity besides its *anchor* (the entity most members share; used by
  ``m_e >= 2`` members): the chance that any one of the ``k g`` entities of its type the
  members use (``g``: their mean degree in that type) is used by ``m_e`` of them,
  ``k g P(X >= m_e)`` with ``X`` ~ Binomial(``k``, ``p_e``), bounded above by
  ``k g C(k, m_e) p_e^m_e`` (union bounds, so the chance is overestimated and the surprise
  conservative), capped at 1;
* its internal pairs of accounts with a transfer either way (once, whatever the direction: trust
  and payment networks are reciprocal by nature) beyond the ``k - 1`` a spanning tree needs,
  as a count against the pairs a configuration model of the transfer pairs expects among its
  members (:func:`links_beyond_tree`; a pair's chance ``min(1, c_a c_b / (2 P))``,
  :func:`flow_log_chance`).

How the money moved between them (when, in which kind of pair, hops and fans) is judged by the
money-flow null of :mod:`graph.rings.flow_null`.

The group is picked from the anchor's users, which share it by definition, so the anchor counts
by the number of ways to pick them, not by its chance (:func:`selection_log_count`). Without
the ``k g`` factor a sum of many weak coincidences made groups look far too surprising: real
entities are correlated (prolific reviewers meet on the same popular restaurants). The group's
**surprise** is ``-(log10 chance) - log10(number of groups like it the search could pick)``:
about ``-log10`` of the number of groups this tight that chance alone would make. Under this
null one shared entity never surprises (the users of one device are a group by definition,
whatever their number): five of a restaurant's 240 reviewers score far below 0, and so does a
pair on one device; five accounts sharing a device and a card nobody else uses score far above
it, and so does a group of accounts transferring among themselves far more than to others; a
star of transfers (one account's counterparties) does not.

**Locality.** Honest accounts concentrate their uses on a neighbourhood of entities
(customers shop near home, diners eat in their city, staff log in from their office), so
neighbours meet on low-degree entities far more often than the type-wide null expects: on a
card world without any collusion it reported hundreds of groups of neighbours. With
localities (:mod:`graph.rings.localities`: Leiden communities of the account-entity graph
itself, no coordinates needed, one type each, used by more accounts than ``max_size``; a
group over it is judged by the localities it owns in one type only,
:func:`graph.rings.localities.home_types`) a
member using ``k_{a,C}`` entities of ``e``'s locality ``C`` touches ``e`` with probability about
``k_{a,C} d_e / E_C`` (``E_C``: uses of ``C``'s entities), and the *larger* of that and the
type-wide ``k_a d_e / E_t`` counts (a mixture bounded by its larger part, so the chance stays
overestimated); pairs likewise take the larger expected sharing. A block model rather than a
geometry: a group of neighbours expects to meet in its locality, while a ring's private
devices and cards (too few users to be a locality) and sharing far beyond what the locality
explains stay surprising.

A pair of accounts is judged by both accounts' activity instead (:func:`pair_log_chance`):
the Poisson tail of sharing more than one entity of a type, multiplied over the types and
union-bounded over the pairs that co-use entities of those types, so two customers meeting on
two of their thirty shops are no finding and two accounts on the same two devices are.

Everything is vectorised over the (group, entity) and (group, member) entries: no Python loop
per group or member.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import gammaln
from scipy.stats import poisson

_LN10 = np.log(10.0)
#: Most orders of magnitude one group-level statistic adds to :func:`robust_surprise`. Chosen
#: among 6, 8 and 10 on the seed-3 tuning worlds (unlabelled report, money-flow shapes at
#: ``gnn.ring_ranking.FLOW_REPORT_SURPRISE``): top-ring precision in the flows world 0.821 /
#: 0.839 / 0.821, default 20k 0.893 / 0.911 / 0.911, 200k 0.839 / 0.841 / 0.839
#: (benchmarks/README.md, session 13).
GROUP_TERM_CAP = 8.0


def log10_choose(n: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``log10 C(n, k)`` element-wise (``0 <= k <= n``)."""
    n, k = np.asarray(n, np.float64), np.asarray(k, np.float64)
    return (gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(n - k + 1.0)) / _LN10


def entity_types(labels: np.ndarray) -> np.ndarray:
    """Type of each ``"Type:id"`` entity label (the text before the first ``:``)."""
    return np.asarray([str(label).split(":", 1)[0] for label in labels], dtype=object)


def type_degrees(uses: sp.csr_matrix, codes: np.ndarray, n_types: int) -> np.ndarray:
    """Accounts x entity types: distinct entities of each type each account uses."""
    binary = (uses > 0).astype(np.float64).tocsr()
    by_type = sp.csr_matrix((np.ones(len(codes)), (np.arange(len(codes)), codes)),
                            shape=(len(codes), n_types))
    return np.asarray((binary @ by_type).todense())


def sharing_log_chance(
    shared: sp.csr_matrix,
    sizes: np.ndarray,
    entity_degree: np.ndarray,
    codes: np.ndarray,
    group_degree: np.ndarray,
    type_edges: np.ndarray,
    locality_rate: np.ndarray | None = None,
) -> sp.csr_matrix:
    """Per (group, shared entity): the log10 chance (<= 0) that ``m_e`` of ``k`` members use it.

    Parameters
    ----------
    shared
        Groups x entities, entry = ``m_e`` (members using the entity), only entries >= 2.
    sizes
        Members per group (``k``).
    entity_degree
        Accounts using each entity (``d_e``).
    codes
        Type code of each entity (``0 .. T - 1``).
    group_degree
        Groups x types: the members' mean number of distinct entities of each type.
    type_edges
        Account-entity edges of each type (``E_t``).
    locality_rate
        Optional, per stored entry of ``shared`` (CSR order): ``g_C / E_C``, the members' mean
        degree in the entity's locality over the locality's uses
        (:func:`graph.rings.localities.entry_locality_rate`; 0 without a locality). The
        larger of the two rates counts: ``p_e = min(1, d_e max(g / E_t, g_C / E_C))``.

    Returns
    -------
    scipy.sparse.csr_matrix
        Same pattern as ``shared`` (explicit zeros kept); values
        ``min(0, log10(k g) + log10 C(k, m_e) + m_e log10 p_e)``, ``p_e = min(1, g d_e / E_t)``,
        ``g`` = the group degree: the chance that any one of the ``k g`` entities of that type
        the members use is shared this much (a union bound over which entity).
    """
    out = shared.tocsr().astype(np.float64, copy=True)
    row = np.repeat(np.arange(out.shape[0]), np.diff(out.indptr))
    col = out.indices
    m = out.data
    k = np.asarray(sizes, np.float64)[row]
    code = np.asarray(codes)[col]
    rate = (np.asarray(group_degree, np.float64)[row, code]
            / np.maximum(np.asarray(type_edges, np.float64)[code], 1.0))
    if locality_rate is not None:
        rate = np.maximum(rate, np.asarray(locality_rate, np.float64))
    p = rate * np.asarray(entity_degree, np.float64)[col]
    uses = np.maximum(k * np.asarray(group_degree, np.float64)[row, code], 1.0)
    value = (np.log10(uses) + log10_choose(k, np.minimum(m, k))
             + m * np.log10(np.clip(p, 1e-300, 1.0)))
    out.data = np.minimum(value, 0.0)
    return out


def flow_log_chance(flows: sp.csr_matrix) -> sp.csr_matrix:
    """Per pair of accounts with a transfer either way (upper triangle, each pair once):
    ``log10 min(1, c_a * c_b / (2 P))``, ``c`` = distinct counterparties, ``P`` = such pairs."""
    linked = ((flows + flows.T) > 0).astype(np.float64).tocsr()
    pairs = sp.triu(linked, k=1).tocsr()
    pairs.eliminate_zeros()
    total = pairs.nnz
    if total == 0:
        return pairs
    degree = np.asarray(linked.getnnz(axis=1), np.float64)
    coo = pairs.tocoo()
    value = np.minimum(np.log10(degree[coo.row] * degree[coo.col] / (2.0 * total)), 0.0)
    return sp.csr_matrix((value, (coo.row, coo.col)), shape=pairs.shape)


def links_beyond_tree(
    links: np.ndarray,
    degree_sum: np.ndarray,
    degree_square_sum: np.ndarray,
    sizes: np.ndarray,
    total_pairs: int,
) -> np.ndarray:
    """Per group: the log10 chance (<= 0) of at least its internal transfer pairs beyond a
    spanning tree's ``k - 1``, as a count: ``log10 P(Poisson(mu) >= L - (k - 1))``, ``L`` its
    linked pairs, ``mu = ((sum c)^2 - sum c^2) / (4 P)`` the pairs the configuration model of
    :func:`flow_log_chance` expects among its members (``c``: distinct counterparties, ``P``:
    linked pairs in the graph; the sum of ``c_a c_b / (2 P)`` over its member pairs, uncapped,
    so at least the capped expectation).

    A connected group needs ``k - 1`` links whatever it is, and the search's count of the groups
    it could grow (:func:`selection_log_count`) already pays for them, so only links beyond those
    are evidence: a star of one-off transfers has none, a cycle one. Multiplying the chances of
    the links present (and never those of the absent ones) would give the chance of these exact
    links, not a tail: a large group of busy accounts would gather about -1 per link although its
    degrees explain its density (AMLSim's 40 busiest accounts: 399 linked pairs where 368 are
    expected, -120.8 orders). The count's tail charges what is beyond the expectation only; a
    sparse loop keeps its evidence (a 6-cycle of degree-3 accounts expects 0.002 links: one
    beyond the tree is -2.7).

    Parameters
    ----------
    links
        Per group: internal pairs with a transfer either way (``L``).
    degree_sum, degree_square_sum
        Per group: the sum of its members' ``c`` and of ``c ** 2``.
    sizes
        Members per group (``k``).
    total_pairs
        ``P``.
    """
    links = np.asarray(links, np.float64)
    excess = links - (np.asarray(sizes, np.float64) - 1.0)
    mean = np.maximum((np.asarray(degree_sum, np.float64) ** 2
                       - np.asarray(degree_square_sum, np.float64))
                      / (4.0 * max(total_pairs, 1)), 1e-12)
    tail = poisson.logsf(np.maximum(excess, 1.0) - 1.0, mean) / _LN10
    return np.where(excess >= 1.0, np.minimum(tail, 0.0), 0.0)


def colocation_signatures(membership: sp.csr_matrix, uses: sp.csr_matrix,
                          shared: sp.csr_matrix, seed: int = 0) -> sp.csr_matrix:
    """Per (group, shared entity): a signature of *which* members use the entity, equal for
    two entities exactly when the same members use both (a household's device, IP and card).

    Each account gets a random integer below 2**40; the signature is the sum over the members
    using the entity (exact in float64 for groups below 2**12 members). Same pattern as
    ``shared``.
    """
    weights = np.random.default_rng(seed).integers(1, 1 << 40, size=uses.shape[0]).astype(
        np.float64)
    binary = (uses > 0).astype(np.float64).tocsr()
    full = (membership @ (sp.diags(weights) @ binary)).tocsr()
    pattern = (shared > 0).astype(np.float64).tocsr()
    out = pattern.multiply(full).tocsr()
    out.sort_indices()
    return out


def anchors(shared: sp.csr_matrix, chance: sp.csr_matrix, eligible: np.ndarray | None = None,
            signature: sp.csr_matrix | None = None, codes: np.ndarray | None = None,
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group: its anchor entity (the shared entity most members use, the rarest among
    equals; -1 when it shares none), the members using it, and the summed log10 chance of the
    other shared entities (0 when there are none).
    Only ``eligible`` entities (by column; all when None) anchor a group: a hub is sampled, not
    searched through, so no group is picked from its users. With ``signature``
    (:func:`colocation_signatures`) and ``codes`` (type code of each entity column), entities
    used by exactly the same members are *co-located*: one household's device, IP and card
    come together by construction, so such a set counts only as many entities as it has of its
    most frequent type (its rarest ones; the anchor's set counts the anchor among them): a
    device, an IP and a card used by the same five accounts are one place, two devices and two
    cards are two. Groups whose most shared entity has two users are left as they are (every
    entity a pair shares has the same two users; :mod:`graph.rings.pairs` asks for two rare
    entities instead).

    ``shared``, ``chance`` and ``signature`` have the same pattern (:func:`sharing_log_chance`).
    """
    shared, chance = shared.tocsr(), chance.tocsr()
    shared.sort_indices()
    chance.sort_indices()
    n_groups = shared.shape[0]
    anchor, members = np.full(n_groups, -1, dtype=np.int64), np.zeros(n_groups)
    beyond = np.zeros(n_groups)
    if shared.nnz == 0:
        return anchor, members, beyond
    row = np.repeat(np.arange(n_groups), np.diff(shared.indptr))
    can = np.ones(shared.nnz, dtype=bool) if eligible is None else eligible[shared.indices]
    # per group: eligible first, then most members, then rarest
    order = np.lexsort((chance.data, -shared.data, ~can, row))
    first = order[np.r_[0, np.flatnonzero(np.diff(row[order])) + 1]]
    first = first[can[first]]
    anchor[row[first]] = shared.indices[first]
    members[row[first]] = shared.data[first]
    others = np.ones(shared.nnz, dtype=bool)
    others[first] = False
    if signature is not None and codes is not None:
        sig = signature.tocsr()
        sig.sort_indices()
        keys = pd.DataFrame({"row": row, "sig": sig.data, "type": np.asarray(codes)[
            shared.indices], "chance": np.where(others, chance.data, -np.inf)})
        per_type = keys.groupby(["row", "sig", "type"])["chance"].transform("size")
        allowed = per_type.groupby([keys["row"], keys["sig"]]).transform("max").to_numpy()
        # within each (group, member set), the anchor first, then the rarest
        ranked = keys.sort_values(["row", "sig", "chance"], kind="stable")
        rank = np.empty(shared.nnz, dtype=np.int64)
        rank[ranked.index.to_numpy()] = ranked.groupby(["row", "sig"]).cumcount().to_numpy()
        pair = np.bincount(row[first], weights=shared.data[first], minlength=n_groups) <= 2
        others &= (rank < allowed) | pair[row]
    np.add.at(beyond, row[others], chance.data[others])
    return anchor, members, beyond


def selection_log_count(
    link_degree: np.ndarray,
    rows: np.ndarray,
    group: np.ndarray,
    sizes: np.ndarray,
    anchor_members: np.ndarray,
    anchor_degree: np.ndarray,
    anchor_peers: np.ndarray,
    n_accounts: int,
) -> np.ndarray:
    """log10 of the number of groups like each one that its search could have picked.

    A group with an anchor entity (:func:`anchors`) is taken as ``m`` of the anchor's ``d``
    users (``C(d, m)`` ways, times the ``anchor_peers`` entities of the anchor's type it could
    have been) plus, for each of its other members, ``e * links_a`` choices. A group without one
    (money flows only) is a connected set grown from any of ``N`` accounts: ``N`` times
    ``e * links_a`` for every member but the best-linked one.

    Parameters
    ----------
    link_degree
        Per account: the accounts it could be grouped with (co-users, counterparties).
    rows, group
        Member entries: account row and group index of each.
    sizes
        Members per group.
    anchor_members, anchor_degree, anchor_peers
        Per group: members on the anchor (0 without one), the anchor's users and the number of
        entities of its type.
    n_accounts
        Accounts in the graph.
    """
    n_groups = len(sizes)
    term = np.log10(np.e * np.maximum(np.asarray(link_degree, np.float64)[rows], 1.0))
    total = np.bincount(group, weights=term, minlength=n_groups)
    best = np.zeros(n_groups)
    np.maximum.at(best, group, term)
    m = np.asarray(anchor_members, np.float64)
    sizes = np.asarray(sizes, np.float64)
    anchored = (np.log10(np.maximum(anchor_peers, 1.0))
                + log10_choose(np.maximum(anchor_degree, m), m)
                + total * (sizes - m) / sizes)
    return np.where(m > 0, anchored, np.log10(max(n_accounts, 1)) + total - best)


def surprise(
    beyond_anchor_log_chance: np.ndarray,
    internal_flow_log_chance: np.ndarray,
    selection: np.ndarray,
) -> np.ndarray:
    """Per group: ``-(log10 chance of its rarest sharing beyond the anchor and of its internal
    flows) - selection`` (module docstring)."""
    return -(beyond_anchor_log_chance + internal_flow_log_chance) - selection


def robust_surprise(
    group_log_chances: list[np.ndarray],
    member_log_chance: np.ndarray,
    selection: np.ndarray,
    cap: float = GROUP_TERM_CAP,
) -> np.ndarray:
    """Per group: its :func:`surprise` with each group-level statistic's evidence held to at
    most ``cap`` orders of magnitude: ``-(sum max(g, -cap) + member_log_chance) - selection``.

    A group-level statistic (the window of a money-flow group's links, the class of its pairs,
    its links beyond a spanning tree) is one test of the whole group, and where the null model
    misses how honest accounts behave it misses by any amount in that one test: a payroll run
    pays its staff within two hours (window -19 to -27 orders), a marketplace's buyers pay once
    each (pair class -15 to -38). On the generated seed-3 flows world 92 of 10,684 money-flow
    groups of mostly honest accounts reach a surprise of 5 (a calibrated null makes about 0.1),
    nearly all on one such statistic, everything else near 0; AMLSim's, where the null is
    calibrated (none of 1,614 mostly honest flow groups reaches 2), are several moderate ones
    (window -6 to -15, pair class -3 to -6, a link beyond the tree -2). Capping each statistic
    makes a group's evidence come from several independent tests, which one misspecified
    test cannot fake. ``member_log_chance`` (hops and fans: per member tests already combined
    by Fisher's method, :mod:`graph.rings.flow_null`) is not capped.

    Parameters
    ----------
    group_log_chances
        Per statistic, per group: its log10 chance (<= 0).
    member_log_chance
        Per group: the log10 chance of its members' own tests, combined.
    selection
        Per group: :func:`selection_log_count`.
    cap
        Most orders of magnitude one group-level statistic contributes.
    """
    held = sum((np.maximum(np.asarray(g, np.float64), -cap) for g in group_log_chances),
               np.zeros(len(np.atleast_1d(selection))))
    return surprise(np.zeros_like(held), held + np.asarray(member_log_chance, np.float64),
                    np.asarray(selection, np.float64))


def pair_log_chance(
    shared: np.ndarray,
    degree_a: np.ndarray,
    degree_b: np.ndarray,
    type_pairs: np.ndarray,
    type_edges: np.ndarray,
    local_mean: np.ndarray | None = None,
) -> np.ndarray:
    """Per pair of accounts: the log10 chance (<= 0) that they share what they share beyond
    one entity of each type, given both accounts' activity in each type.

    Under the configuration model an account using ``k_a`` entities of type ``t`` and one using
    ``k_b`` share an entity ``e`` with probability about ``k_a k_b d_e (d_e - 1) / E_t^2``, so
    the number they share is about Poisson with mean
    ``lambda_t = k_a k_b sum_e d_e (d_e - 1) / E_t^2``: customers who each visit thirty shops
    meet on some, two accounts with two devices each almost never do. The pair is picked
    because it shares something (the search's count of such pairs pays for that), and one
    entity of each type comes with being one place (a household's device, IP and card; see
    :func:`anchors`), so per type only sharing beyond one counts:
    ``P(X_t >= s_t | X_t >= 1)``, multiplied over the types.

    Parameters
    ----------
    shared
        Pairs x types: entities of each type both accounts use (``s_t``).
    degree_a, degree_b
        Pairs x types: entities of each type each account uses (``k_a``, ``k_b``).
    type_pairs
        Per type: ``sum_e d_e (d_e - 1)`` over its entities (``d_e``: users of ``e``).
    type_edges
        Per type: account-entity edges (``E_t``).
    local_mean
        Optional pairs x types: the expected sharing under the locality null
        (:func:`graph.rings.localities.pair_locality_mean`); the larger mean counts.

    Returns
    -------
    numpy.ndarray
        Per pair, ``sum_t log10 P(Poisson(lambda_t) >= s_t | >= 1)`` over the types with
        ``s_t >= 2``; 0 for a pair sharing at most one entity of each type.
    """
    shared = np.asarray(shared, np.float64)
    mean = np.maximum(np.asarray(degree_a, np.float64) * np.asarray(degree_b, np.float64)
                      * np.asarray(type_pairs, np.float64)
                      / np.maximum(np.asarray(type_edges, np.float64), 1.0) ** 2, 1e-300)
    if local_mean is not None:
        mean = np.maximum(mean, np.asarray(local_mean, np.float64))
    extra = shared >= 2
    tail = np.where(extra, (poisson.logsf(shared - 1.0, mean) - poisson.logsf(0.0, mean))
                    / _LN10, 0.0)
    return np.minimum(tail.sum(axis=1), 0.0)
