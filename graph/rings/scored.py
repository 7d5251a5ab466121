"""Groups of high-scoring accounts tied by an entity most of whose users they are (issue 19).

The candidate search runs before any account is scored, and keeps a group only where its
structure is surprising or money ties it. A promo farm on one device is one entity's accounts:
the null model explains that sharing (40 accounts on a device nobody else uses score a surprise
of -2.9 among 2,000 accounts in families), so no candidate holds the farm however well a model
scores its members. Once accounts are scored, :func:`scored_candidates` asks of every entity
that is no hub (at most ``hub_degree_cap`` users: a university NAT or a carrier's IP is never
asked) and of every account's set of transfer counterparties whether its users are implicated:
``a`` of its ``d`` users score at the anchor bar where a share ``pi`` of the scored accounts do,
with chance ``P(Binomial(d, pi) >= a)`` (``pi ** d`` when every user does: the anchored
surprise's ``-k log10 pi`` of :mod:`graph.rings.anchored`), charged ``log10 m`` for the ``m``
entities that could have reached the bar had all their users been anchors. An entity is
implicated when that surprise reaches ``min_surprise``, at least ``min_size`` of its users are
anchors, and they are at least half of its users (a ring's outcome in the held-back labels is
decided at the same half: :data:`abusenet.pipeline.stages.detect.RING_OUTCOME`); the anchors of
implicated entities that share one are a group (Leiden-split above ``max_group_size`` where
the links allow: groups the search judges whole are whole here too), described as the search
describes its candidates (:func:`graph.rings.candidates.describe_groups`) with its reason:
``"Scored:48 of the 50 users of Device:x score at least 0.5 ..."``.

Why entities, not the linked groups of high-scoring accounts judged as the anchored rule judges
a search candidate (structure surprise plus ``-k log10 pi``, charged for the groups judged): that
rule is sound for groups the search finds without the scores, but a group *formed* from the
anchors is picked by the very scores it is then tested on. On a world of 2,000 accounts in
families on home IPs, with the scores permuted across accounts (every group false), it kept
2.35 groups a run (47 in 20 permutations: families chained through a home IP, structure surprise
about 0, 3-7 members at 1.2 orders each). The entities are fixed before the scores, so ``m``
counts every test made.

Leakage: a training positive is an anchor because the model was fitted to its label. Only users
outside the training labels (``known``) count: ``a`` and ``d`` are theirs and ``pi`` is taken over
the scored accounts outside them, so an entity the training labels alone implicate is never
implicated (its training positives still join the group of an entity implicated without them).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import binom

from graph.rings.anchored import ANCHORED_FEATURE
from graph.rings.candidates import (
    RingCandidate,
    RingInputs,
    candidates_from_table,
    describe_groups,
    ring_id_for,
)
from graph.rings.communities import components, split_communities
from graph.rings.config import RingConfig
from graph.rings.projection import Incidence, stack_incidences

#: The kind of the groups :func:`scored_candidates` finds.
SCORED_KIND = "scored_component"
#: An entity implicates its anchors only when they are at least this share of its users counted.
MIN_ANCHOR_SHARE = 0.5


def entity_surprise(users: np.ndarray, anchors: np.ndarray, rate: float) -> np.ndarray:
    """Per entity, ``-log10 P(Binomial(users, rate) >= anchors)``: how unlikely that many of
    its users are anchors where a share ``rate`` of accounts are; 0 where ``rate`` is 0 or 1
    (the scores tell nothing) or the entity has no anchor."""
    users = np.asarray(users, np.float64)
    anchors = np.asarray(anchors, np.float64)
    if not 0.0 < rate < 1.0:
        return np.zeros(len(users))
    return np.where(anchors > 0, -binom.logsf(anchors - 1, users, rate) / np.log(10.0), 0.0)


def implicated_entities(
    incidence: Incidence, anchor: np.ndarray, counted: np.ndarray, min_surprise: float,
    config: RingConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The entities whose users are implicated (module docstring).

    Parameters
    ----------
    incidence
        Accounts x entities (counterparty sets as ``Account:id`` columns too).
    anchor
        Per account row, whether it scores at the anchor bar.
    counted
        Per account row, whether it counts (scored, outside the training labels).
    min_surprise
        The charged surprise an entity needs.
    config
        ``hub_degree_cap`` (larger entities are not asked) and ``min_size`` (the fewest
        anchors counted).

    Returns
    -------
    tuple
        The implicated columns, their charged surprise, their counted users and anchors (as
        one ``2 x len`` array), and ``m``, the entities charged for.
    """
    degree = np.asarray(incidence.matrix.getnnz(axis=0))
    users = np.asarray(incidence.matrix.T @ counted.astype(np.float64)).ravel()
    anchors = np.asarray(incidence.matrix.T @ (anchor & counted).astype(np.float64)).ravel()
    rate = float(anchor[counted].mean()) if counted.any() else 0.0
    asked = (degree <= config.hub_degree_cap) & (users >= config.min_size)
    could = entity_surprise(users[asked], users[asked], rate) >= min_surprise
    m = max(int(could.sum()), 1)
    value = entity_surprise(users, anchors, rate) - np.log10(m)
    chosen = np.flatnonzero(asked & (anchors >= config.min_size)
                            & (anchors >= MIN_ANCHOR_SHARE * users) & (value >= min_surprise))
    return chosen, value[chosen], np.vstack([users[chosen], anchors[chosen]]), m


def scored_candidates(
    inputs: RingInputs,
    account_scores: pd.DataFrame,
    min_member_score: float,
    min_surprise: float,
    config: RingConfig | None = None,
    known: Collection[str] = frozenset(),
    candidates: Sequence[RingCandidate] = (),
) -> list[RingCandidate]:
    """The groups of anchors tied by implicated entities (module docstring), as candidates of
    kind :data:`SCORED_KIND`.

    Parameters
    ----------
    inputs
        What the search reads of the snapshot the accounts were scored on
        (:func:`graph.rings.candidates.ring_inputs`).
    account_scores
        ``account_id, score`` (calibrated probabilities); accounts without one count as 0 and
        are not counted in the anchor rate.
    min_member_score
        The anchor bar (a member's score).
    min_surprise
        The charged surprise an entity needs to implicate its anchors.
    config
        The search's settings (``hub_degree_cap``, ``min_size``, ``max_group_size``, the null
        model's); defaults when None.
    known
        Account ids of the training labels: they are not counted (module docstring).
    candidates
        The search's candidates: a group with the same members as one of them is left to it.

    Returns
    -------
    list of RingCandidate
        Sorted by ring id; each with the feature :data:`graph.rings.anchored.ANCHORED_FEATURE`
        (the charged surprise of its most implicated entity: the rings stage then keeps it
        whatever its structure's surprise) and, last in its evidence, a ``"Scored:..."`` item
        naming that entity, how many of its users are anchors and what chance makes of it.
    """
    cfg = config or RingConfig()
    unique = account_scores.drop_duplicates("account_id")
    lookup = pd.Series(unique["score"].to_numpy(np.float64),
                       index=unique["account_id"].astype(str))
    if int((lookup >= min_member_score).sum()) < cfg.min_size:
        return []
    accounts = inputs.accounts.astype(str)
    score = lookup.reindex(accounts)
    anchor = (score >= min_member_score).to_numpy()
    counted = (score.notna() & ~accounts.isin(list(known))).to_numpy()
    incidence = stack_incidences(inputs.entities, inputs.counterparties)
    chosen, value, counts, tested = implicated_entities(incidence, anchor, counted,
                                                        min_surprise, cfg)
    if not len(chosen):
        return []
    # anchors x implicated entities: the anchors an entity implicates, linked through them
    ties = sp.csr_matrix(incidence.matrix[:, chosen].multiply(anchor[:, None]))
    held = np.flatnonzero(ties.getnnz(axis=1))
    ties = ties[held]
    linked = (ties @ ties.T).tocsr()
    groups = _bounded(linked, cfg)
    ids = np.asarray(inputs.accounts, dtype=object)
    have = {c.ring_id for c in candidates}
    rows = [held[g] for g in groups if ring_id_for(ids[held[g]]) not in have]
    if not rows:
        return []
    found = candidates_from_table(describe_groups(inputs, rows, SCORED_KIND, cfg))
    rate = float(anchor[counted].mean())
    degree = np.asarray(incidence.matrix[:, chosen].getnnz(axis=0))
    best = _best_entity(ties, groups, value)
    by_members = {ring_id_for(ids[held[g]]): b for g, b in zip(groups, best, strict=True)}
    kept = []
    for candidate in found:
        at = by_members[candidate.ring_id]
        users, anchors = (int(x) for x in counts[:, at])
        entity = str(incidence.entities[chosen[at]])
        whose = "counterparties" if entity.startswith("Account:") else "users"
        outside = (f" outside the training labels (of {degree[at]} in all)"
                   if users < degree[at] else "")
        kept.append(RingCandidate(
            candidate.ring_id, candidate.members, candidate.kind,
            [*candidate.evidence,
             f"Scored:{anchors} of the {users} {whose} of {entity}{outside} score at least "
             f"{min_member_score:g}, as {rate:.1%} of such accounts do; chance would make "
             f"{10.0 ** -value[at]:.1e} such entities among the {tested:,} asked"],
            {**candidate.features, ANCHORED_FEATURE: float(value[at])},
            list(candidate.ties), list(candidate.core)))
    return kept


def _bounded(linked: sp.csr_matrix, cfg: RingConfig) -> list[np.ndarray]:
    """Connected groups of ``linked`` of at least ``cfg.min_size`` rows, those above
    ``cfg.max_group_size`` Leiden-split (kept whole where Leiden finds no split: one entity's
    users are one clique)."""
    groups = []
    for rows in components(linked):
        if len(rows) < cfg.min_size:
            continue
        if len(rows) <= cfg.max_group_size:
            groups.append(rows)
            continue
        local = linked[rows][:, rows]
        parts = split_communities(local, cfg.min_size, cfg.max_group_size,
                                  resolution=cfg.resolution, seed=cfg.seed)
        groups += [rows[part] for part in parts] or [rows]
    return groups


def _best_entity(ties: sp.csr_matrix, groups: list[np.ndarray], value: np.ndarray
                 ) -> list[int]:
    """Per group (rows of ``ties``), the implicated entity among its members' with the highest
    charged surprise."""
    best = []
    for rows in groups:
        used = np.unique(ties[rows].indices)
        best.append(int(used[np.argmax(value[used])]))
    return best
