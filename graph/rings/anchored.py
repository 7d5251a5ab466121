"""Groups chance explains by their structure but not together with their members' scores.

With labels, a candidate the null model finds no more surprising than chance (``significant``
0) is dropped whatever its members' scores (issue 19: a device shared by a few fraudsters is a
``GROUP BY``, not a ring). On AMLSim that rule is what loses its alerts with labels (session
18, seed-0 split, the 50 evaluation alerts): 12 of the 42 whose candidate the search found
(member Jaccard >= 0.5) were dropped this way and no other step lost one; none was trimmed to
nothing by the anchor bar, dropped by the calibrator or merged into a larger ring. Their
transfers are a handful of one-off payments with ordinary amounts spread over months (fans) or
a loop of 6-10 one-off payments among an SCC of ordinary ones (cycles): the honest log holds
thousands of such loops in any 30-day window, so no money null can single them out; what does
is that *every* member is one the account scores implicate.

The test asks the question the structure null leaves open: how likely is a group that chance
explains to be made of anchors only? With a share ``pi`` of all scored accounts at the anchor
bar (``score >= min_member_score``), ``k`` members drawn at random are all anchors with chance
``pi ** k``. The group's *anchored surprise* is its structure surprise plus ``-k log10 pi``
(independent chances multiply: a bound that ignores how the scores of neighbours lean on each
other, so it is optimistic where scores are smoothed over the graph), and a group is kept when
it reaches ``min_surprise``, the bar the search calls a candidate significant at (no new
threshold). Groups with a member under the bar are not judged: a chance group *trimmed* to the
anchors it happens to hold is what the drop rule is for. The test is charged for the groups it
could have kept: ``log10 m``, ``m`` the chance-explained candidates whose anchored surprise would
reach the bar were all their members anchors (session 18 review: uncharged, Bitcoin-OTC with its
scores permuted across accounts, so that every kept group is false, kept 3.2 groups a run, up to
7, over 30 permutations; charged, 0 in 100).

Since session 31 the family is judged at a false discovery rate instead of family-wise: the
Benjamini-Hochberg procedure over those ``m`` groups (p-value ``10 ** -`` the anchored surprise;
``1`` for a group in the family with a member under the bar) at rate ``10 ** -min_surprise``. Its
first step is the charge above (a group alone is kept exactly when its anchored surprise less
``log10 m`` reaches the bar), so it keeps every group the charge kept, and more where many groups
of anchors pass: ``K`` of them at p-value ``p`` are kept when ``p <= K 10 ** -min_surprise / m``;
among the groups kept, the share chance made is then at most ``10 ** -min_surprise`` (1 %), not the
chance of one. That bound assumes the p-values independent or positively dependent (BH holds under
positive regression dependence): overlapping candidates are dependent, and nested pieces of one
group, which pass or fail together, plausibly are positively so; scores smoothed over neighbours (a
GNN) break the independence the anchored surprise itself assumes (above), family-wise or not.
AMLSim (``benchmarks.rings`` protocol, GNN, cached scores; chosen on seeds 3 and 4: recovery 0.82 /
0.78 -> 0.84 / 0.78, no group kept holding an account outside the alerts): the seeds reported, 0 /
1 / 2, recovery 0.76 / 0.80 / 0.82 -> 0.78 / 0.84 / 0.84 (alert 77, a loop of 8 at anchored
surprise 3.96-4.00 against 4.27 charged; fan-in 10 at 4.00), top precision 0.950 / 0.952 / 0.953 ->
0.929 / 0.933 / 0.933 (the cost: all-anchor pieces of 4 of alerts, J 0.40, ranked in among the 50),
member precision the same (benchmarks/README.md, session 31).

Where anchors are common the test keeps little: Bitcoin-OTC's XGBoost scores put 66 % of its
accounts at the bar, so a group of 5 gains 0.9 orders; AMLSim's GNN scores put 14 % there (a
group of 6 gains 5.1). Figures in benchmarks/README.md (session 18).

**Pairs** (:func:`paired_candidates`). Two accounts sharing a device and a card nobody else
uses are what a couple living alone shares, so the pair null explains most colluding pairs too
(the pairs world, seed 7: 173 of 200 planted pairs), and the charge above can never keep one:
two anchors are ``-2 log10 pi`` (about 2.7 orders at ``pi`` 0.043) against ``log10 m`` (3.3 for
the world's 1,844 chance pairs). What tells them apart is how *many* chance pairs have both
accounts at the bar: 130 of the planted ones, 1 of the 160 honest couples sharing as much.
So the pairs chance explains (listed with ``RingConfig.chance_pairs``, feature
:data:`graph.rings.candidates.CHANCE_PAIR_FEATURE`) are judged together, at a stated false
discovery rate instead of a family-wise one: pair ``i`` with ``a_i`` anchors has p-value
``P(Binomial(2, pi) >= a_i)``, and the Benjamini-Hochberg procedure over the ``m`` pairs keeps
those whose p-value is at most ``k q / m`` (``k`` the largest rank where that holds, ``q`` the
rate): with ``K`` pairs of two anchors, all of them when chance's ``m pi^2`` is at most ``q K``,
else none: the test keeps pairs only where ``K >= m pi^2 / q``.
Among the pairs kept, the expected share chance made is then at most ``q`` (independent
pairs). ``pi`` is read from the paired accounts only (review R59: with all scored accounts'
rate as a floor, ``benchmarks.probes_pairs``'s two farms and fraudsters, ~10 % of its accounts,
far from any pair, kept every pair out), two ways, each an upper estimate, the lower taken: the
rate among the pairs' accounts whose partner is no anchor (``(n1 + 1) / (n1 + 1 + 2 n0)`` of
the pairs with one and no anchor: pairs of two anchors, which the planted ones are, do not
count), which pairs holding one abusive account inflate (a planted pair with a partner under
the bar, a fraudster beside an honest partner, two members of a larger ring), and the upper
end of the 95 % (Clopper-Pearson) interval of the rate among the accounts whose partner the
training labels call honest, wide where they are few.
A pair of two anchors whose scores lean on each other is what the test cannot see: it assumes
the two accounts' scores independent under the null. A model's scores are not: the nodes a
pair shares say they are used by two (their ``n_accounts``, their events the two accounts'
together), and a model fitted on planted pairs reads that as abuse, an honest couple's as a
ring's. So the rings stage judges the pairs by the saved detector's scores of each account
with what the pair shares made its own
(:func:`abusenet.pipeline.stages.detect.unshared_pair_scores`,
:func:`gnn.association.unshared`), or, without a detector, by its own evidence
(:func:`abusenet.pipeline.stages.detect.own_evidence_scores`). Session 31, the pairs world seed
3 (``abusenet run``'s GNN, its 1,828 chance pairs; benchmarks/README.md): pairs of two anchors
by the GNN's scores 169 of the 183 planted, 25 of the 1,302 honest and 5 of the 82 mixed ones;
with the shared nodes copied but their features kept 159 / 20 / 5; with the copies' features
the account's own 80 / 1 / 0 (setting only ``n_accounts`` and ``events_per_account`` 86 / 2 /
0; own evidence 114 / 14 / 4). The rate read from the pairs is then 0.0865 (one-anchor pairs:
203 of 256 hold an abusive account) and none of the 215 pairs of two anchors is kept at 0.05
(chance's 13.7 over 0.05 of 215); seeds 7 and 11 keep none either.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np
from scipy.stats import beta, false_discovery_control

from graph.rings.candidates import CHANCE_PAIR_FEATURE, RingCandidate

#: The feature holding a candidate's anchored surprise (:func:`anchored_candidates`; for a pair
#: :func:`paired_candidates` keeps, ``-log10`` of its Benjamini-Hochberg adjusted p-value).
ANCHORED_FEATURE = "anchored_surprise"
#: The false discovery rate at which :func:`paired_candidates` keeps chance pairs of two anchors
#: (``ring_scoring.pair_fdr``). Conventional, not tuned: 1 in 20 pairs kept may be chance's.
PAIR_FDR = 0.05


def anchor_rate(scores: np.ndarray, min_member_score: float) -> float:
    """The share of ``scores`` at least ``min_member_score`` (0 when there are none)."""
    scores = np.asarray(scores, np.float64)
    return float((scores >= min_member_score).mean()) if len(scores) else 0.0


def anchored_surprise(sizes: np.ndarray, surprise: np.ndarray, rate: float) -> np.ndarray:
    """Structure ``surprise`` plus ``-size log10 rate``: about ``-log10`` of the groups as
    tight whose every member is an anchor that chance would make (module docstring); NaN where
    ``rate`` is 0 or 1 (no anchors, or nothing else: the scores tell nothing)."""
    sizes = np.asarray(sizes, np.float64)
    surprise = np.asarray(surprise, np.float64)
    if not 0.0 < rate < 1.0:
        return np.full(len(sizes), np.nan)
    return surprise - sizes * np.log10(rate)


def anchored_candidates(
    candidates: Sequence[RingCandidate],
    scores: Mapping[str, float],
    min_member_score: float,
    min_surprise: float,
) -> dict[str, RingCandidate]:
    """The candidates chance explains (``significant`` 0) whose members all score at least
    ``min_member_score`` and that the Benjamini-Hochberg procedure keeps at false discovery rate
    ``10 ** -min_surprise`` over the chance-explained candidates that could reach the bar
    (module docstring), by ring id: each with the feature :data:`ANCHORED_FEATURE` (``-log10``
    of its adjusted p-value: its :func:`anchored_surprise` less ``log10`` of the family's size
    when it is the only one kept) and an ``"Anchored:..."`` evidence item saying why it stays.
    A group's p-value is ``10 ** -`` its :func:`anchored_surprise`. ``scores`` maps every
    scored account to its score (the anchor rate is taken over them; members without one count
    as 0). A candidate that already carries :data:`ANCHORED_FEATURE` was judged before
    (:func:`graph.rings.scored.scored_candidates`): it is neither judged again nor charged for;
    nor is a chance pair listed for :func:`paired_candidates`."""
    rate = anchor_rate(np.fromiter(scores.values(), np.float64, len(scores)), min_member_score)
    explained = [c for c in candidates if c.features.get("significant", 1.0) < 1.0
                 and ANCHORED_FEATURE not in c.features
                 and CHANCE_PAIR_FEATURE not in c.features]
    chance = [c for c in explained
              if all(scores.get(m, 0.0) >= min_member_score for m in c.members)]
    if not chance:
        return {}
    could = anchored_surprise(np.array([len(c.members) for c in explained]),
                              np.array([c.features.get("surprise", 0.0) for c in explained]), rate)
    joint = anchored_surprise(np.array([len(c.members) for c in chance]),
                              np.array([c.features.get("surprise", 0.0) for c in chance]), rate)
    judged = joint >= min_surprise  # the chance groups in the family (all NaN: none)
    if not judged.any():
        return {}
    # the family: every group that could reach the bar were its members all anchors
    p_values = np.ones(int(np.sum(could >= min_surprise)))
    p_values[:int(judged.sum())] = 10.0 ** -joint[judged]
    fdr = 10.0 ** -min_surprise
    rejected, adjusted = benjamini_hochberg(p_values, fdr)
    kept: dict[str, RingCandidate] = {}
    for i, keep, value in zip(np.flatnonzero(judged), rejected, adjusted, strict=False):
        if not keep:
            continue
        candidate = chance[i]
        kept[candidate.ring_id] = _kept_as(
            candidate,
            f"Anchored:all {len(candidate.members)} members score at least "
            f"{min_member_score:g}, as {rate:.1%} of accounts do; with its structure's "
            f"surprise {candidate.features.get('surprise', 0.0):.1f}, chance would make "
            f"{10.0 ** -joint[i]:.1e} such groups: kept at a false discovery rate of {fdr:g} "
            f"among the {len(p_values):,} groups that could be (Benjamini-Hochberg)",
            float(-np.log10(value)))
    return kept


def _kept_as(candidate: RingCandidate, reason: str, surprise: float) -> RingCandidate:
    """``candidate`` kept by an anchored reading: ``reason`` added to its evidence and
    ``surprise`` as its :data:`ANCHORED_FEATURE`."""
    return RingCandidate(
        candidate.ring_id, candidate.members, candidate.kind, [*candidate.evidence, reason],
        {**candidate.features, ANCHORED_FEATURE: surprise},
        list(candidate.ties), list(candidate.core),
    )


#: The one-sided confidence of the upper bound on the anchor rate among accounts paired with a
#: labelled honest partner (:func:`pair_anchor_rate`). Conventional, not tuned.
PAIR_RATE_CONFIDENCE = 0.95


def pair_anchor_rate(anchors: np.ndarray, beside_honest: np.ndarray | None = None) -> float:
    """The anchor rate a chance pair is judged at (module docstring), read from the paired
    accounts only: ``(n1 + 1) / (n1 + 1 + 2 n0)``, ``n1`` and ``n0`` the pairs with one and
    with no anchor (``anchors`` per pair, 0-2; pairs of two anchors, which the planted ones
    are, say nothing of it; one pair of one anchor added, so that no rate is 0), and, with
    ``beside_honest`` (per account whose partner the training labels call honest, whether it
    is an anchor), the lower of it and the upper :data:`PAIR_RATE_CONFIDENCE` bound of their
    anchor rate (Clopper-Pearson). 1 when every pair has two anchors (nothing to tell chance
    by)."""
    anchors = np.asarray(anchors)
    one, none = int(np.sum(anchors == 1)), int(np.sum(anchors == 0))
    if not one + none:
        return 1.0
    paired = (one + 1) / (one + 1 + 2 * none)
    if beside_honest is not None and len(beside_honest):
        k, n = int(np.sum(beside_honest)), len(beside_honest)
        upper = 1.0 if k == n else float(beta.ppf(PAIR_RATE_CONFIDENCE, k + 1, n - k))
        paired = min(paired, upper)
    return paired


def benjamini_hochberg(p_values: np.ndarray, fdr: float) -> tuple[np.ndarray, np.ndarray]:
    """Which of ``p_values`` the Benjamini-Hochberg procedure rejects at false discovery rate
    ``fdr``, and each one's adjusted p-value (the least rate at which it would be rejected)."""
    p = np.asarray(p_values, np.float64)
    if not len(p):
        return np.zeros(0, dtype=bool), np.zeros(0)
    adjusted = false_discovery_control(p, method="bh")
    return adjusted <= fdr, adjusted


def paired_candidates(
    candidates: Sequence[RingCandidate],
    scores: Mapping[str, float],
    min_member_score: float,
    fdr: float = PAIR_FDR,
    labelled_honest: Collection[str] = frozenset(),
) -> dict[str, RingCandidate]:
    """The chance pairs (:data:`graph.rings.candidates.CHANCE_PAIR_FEATURE`) of two anchors that
    the Benjamini-Hochberg procedure keeps at false discovery rate ``fdr`` over all of them
    (module docstring), by ring id: each with the feature :data:`ANCHORED_FEATURE` (``-log10``
    of its adjusted p-value) and a ``"Paired:..."`` evidence item saying why it stays.
    ``scores`` maps every scored account to its score (members without one count as 0); an
    account in ``labelled_honest`` (the run's training labels call it honest) is no anchor
    whatever its score: the label is the stronger evidence."""
    family = [c for c in candidates if CHANCE_PAIR_FEATURE in c.features]
    if not family:
        return {}
    honest = frozenset(map(str, labelled_honest))
    anchors = np.array([sum(scores.get(m, 0.0) >= min_member_score and m not in honest
                            for m in c.members) for c in family])
    beside = np.array([scores.get(m, 0.0) >= min_member_score for c in family
                       if len(c.members) == 2 for m, partner in (c.members, c.members[::-1])
                       if partner in honest and m not in honest], dtype=bool)
    pi = pair_anchor_rate(anchors, beside)
    if not 0.0 < pi < 1.0:
        return {}
    p_values = np.where(anchors >= 2, pi ** 2, np.where(anchors == 1, 1.0 - (1.0 - pi) ** 2, 1.0))
    rejected, adjusted = benjamini_hochberg(p_values, fdr)
    both = int(np.sum(anchors >= 2))
    expected = len(family) * pi ** 2
    kept: dict[str, RingCandidate] = {}
    for candidate, keep, two, value in zip(family, rejected, anchors >= 2, adjusted,
                                           strict=True):
        if not (keep and two):
            continue
        kept[candidate.ring_id] = _kept_as(
            candidate,
            f"Paired:both accounts score at least {min_member_score:g}, as {pi:.1%} of paired "
            f"accounts do; {both} of the {len(family):,} pairs chance explains are so where "
            f"chance would make {expected:.1f}: kept at a false discovery rate of {fdr:g} "
            f"(Benjamini-Hochberg)",
            float(-np.log10(value)))
    return kept
