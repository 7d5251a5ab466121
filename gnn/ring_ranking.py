"""Ranking ring candidates without labels: by the null-model surprise their members carry.

Without account scores a ring's only evidence is its null-model ``surprise``
(:mod:`graph.rings.null_model`: about ``-log10`` of the number of groups this tight chance would
make), so rings are ranked by it, not by it per square root of their size as before: with
candidates trimmed to their cores (:func:`gnn.rings.trim_to_core`) the padding that size
normalisation held back is mostly gone, and what it let rise were small groups of two to five
honest accounts (a household's devices, a few colleagues) at surprises just above the bar.

A core trimmed from a larger group keeps the surprise of the whole group, most of which its
dropped members may have held (four honest accounts cut from a group of 27 carried all of its
surprise, 109): it is credited the share of it its members make up, ``surprise * kept_share``
(:func:`member_surprise`).

Which rings are reported is :func:`reportable`: significant, and at least the bar
(``ring_scoring.unlabelled_min_surprise``) surprising, or, for a money-flow shape (a ``flow_``
kind), with a ``flow_robust_surprise`` of at least :data:`FLOW_REPORT_SURPRISE`: the surprise
of its money alone with each group-level statistic (window, class of its pairs, links beyond a
tree) held to :data:`graph.rings.null_model.GROUP_TERM_CAP` orders
(:func:`graph.rings.null_model.robust_surprise`). The bar is no look-elsewhere charge: the
surprise already pays for the groups like it the search could pick, and charging every group
searched (log10 of 1,614 flow groups on AMLSim, 10,684 on the seed-3 flows world, ~10^5 at
200k: 3 to 5 orders) would let through any group a calibrated null gives a surprise of 5. What
the bar of 25 paid for is the null's misspecification, and it is per evidence family: honest
groups sharing entities (households, colleagues) reach 20-25 (seed-3 200k world: 2 of 406
candidates at surprise 20-25 match a planted ring), honest money flows reach 27 on one
statistic alone (a payroll run's window), and AMLSim's rings, where the flow null is
calibrated (no mostly honest flow group at 2), stay under 15 on two or three moderate ones.
Capping each statistic and charging the whole bar of 5 (a Bonferroni count of ~10^5 groups)
on what is left lets a flow shape through on several independent tests and not on one.
Candidates written before ``flow_robust_surprise`` (NaN) keep the bar of session 12 on their
whole surprise, :data:`FLOW_REPORT_SURPRISE_UNCAPPED`.

A pair's own candidate (:mod:`graph.rings.pairs`, a ``kind`` holding ``"pair"``: two accounts
sharing rare entities, never a core trimmed from a larger group) is reported at
:data:`PAIR_REPORT_SURPRISE`, the significance bar itself (``RingConfig.min_surprise``), unless
both of its accounts are in a ring reported by the other rules (a fragment of that ring, not a
pair). Two accounts can share only so much: a pair's surprise tops out near 10 and never met
the bar of 25, so without labels pairs came only as cores trimmed from larger groups. The bar
of 25 pays for a misspecification the pair null does not have: with one entity of each type
free (a household's device and card), the most surprising honest pair candidate of the seed-3
worlds scores -2.09 (1,270 honest pairs, 20k pairs world ``configs/synth-pairs.yaml``) and
-1.48 (13,249, default 200k world), 3.5 to 4 orders under the significance bar, and every
significant pair candidate there is two abusive accounts (39 and 85). Trimmed cores of size two
keep the surprise of the group they were cut from and are judged as groups: 243 of the 319
that reach 2 on the 20k pairs world are honest.

The ranking was chosen on the generated seed-3 worlds (20k and 200k accounts; rings reported at
``unlabelled_min_surprise``; top-ring precision, k = planted rings): surprise per square root of
the size 0.661 / 0.610, surprise 0.661 / 0.693, surprise times kept share 0.661 / 0.720 (at
bar 20: 0.714 / 0.758). Demoting a group that holds a smaller significant candidate more
surprising per member than the members it adds (a padded ring) was tried and left out: 0.696 /
0.729 at bar 20 (benchmarks/README.md, session 10).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from graph.rings.candidates import PAIR_KIND, RingCandidate

#: Ranking surprise at which a ring's score is 0.5 (:func:`unlabelled_ranking`).
SURPRISE_HALF = 10.0
#: ``flow_robust_surprise`` from which a money-flow shape is reported without labels when the
#: bar is higher (:func:`reportable`; module docstring): about log10 of the groups a search at
#: 200k accounts describes.
FLOW_REPORT_SURPRISE = 5.0
#: Surprise from which a money-flow shape without ``flow_robust_surprise`` is reported.
FLOW_REPORT_SURPRISE_UNCAPPED = 15.0
#: Feature of a money-flow shape: its robust surprise (module docstring).
ROBUST = "flow_robust_surprise"
#: Kinds of money-flow shapes (``flow_cycle``, ``flow_fan_in``, ...).
FLOW_KIND = "flow_"
#: Kind of an entity burst's candidate (:mod:`graph.rings.bursts`).
BURST_KIND = "entity_burst"
#: Kind of an account takeover's candidate (:mod:`graph.rings.takeovers`), reported as an
#: entity burst is, from the surprise of its own test.
TAKEOVER_KIND = "account_takeover"
#: Feature of an entity burst or account takeover: the surprise of its own test
#: (:mod:`graph.rings.bursts`, :mod:`graph.rings.takeovers`).
BURST = "burst_surprise"
#: ``burst_surprise`` from which an entity burst is reported without labels when the bar is
#: higher (:func:`reportable`): the money-flow shapes' bar, :data:`FLOW_REPORT_SURPRISE`. The
#: test is one per window, already charged for every window it looked at, and allows each
#: entity twice its type's concentration, its own rhythm and a household's arrivals.
BURST_REPORT_SURPRISE = FLOW_REPORT_SURPRISE
#: Surprise from which a pair's own candidate is reported without labels when the bar is higher
#: (:func:`reportable`; module docstring): the significance bar, ``RingConfig.min_surprise``.
PAIR_REPORT_SURPRISE = 2.0


def member_surprise(candidates: Sequence[RingCandidate]) -> np.ndarray:
    """Per candidate: its ``surprise`` (at least 0) times its ``kept_share`` (1 when untrimmed).

    A core trimmed from a larger group (:func:`gnn.rings.trim_to_core`) carries that group's
    surprise; it is credited only the share of it its members make up.
    """
    surprise = np.array([c.features.get("surprise", 0.0) for c in candidates], np.float64)
    kept = np.array([c.features.get("kept_share", 1.0) for c in candidates], np.float64)
    return np.maximum(surprise, 0.0) * np.clip(kept, 0.0, 1.0)


def unlabelled_ranking(candidates: Sequence[RingCandidate],
                       surprise_half: float = SURPRISE_HALF) -> np.ndarray:
    """Ranking score in [0, 1) of each candidate without labels: ``x / (x + surprise_half)``,
    ``x`` its :func:`member_surprise`. A ranking, not a probability.

    Parameters
    ----------
    candidates
        Ring candidates, trimmed to their cores or not.
    surprise_half
        Surprise at which the score is 0.5.

    Returns
    -------
    numpy.ndarray
        One score per candidate; higher ranks first.

    Examples
    --------
    >>> unlabelled_ranking(trim_to_core(find_ring_candidates(snap)))   # doctest: +SKIP
    """
    surprise = member_surprise(candidates)
    return surprise / (surprise + surprise_half)


def held_surprise(rings: pd.DataFrame) -> np.ndarray:
    """Per ring: its ``surprise`` with a money-flow shape's money held to its robust surprise:
    less the part of its ``flow_surprise`` that only an uncapped group-level test gives
    (``flow_surprise`` less its ``flow_robust_surprise`` held at 0 or more, at least 0): at
    most the money's whole part, never what its shared entities give; ``surprise`` where
    either is unknown (NaN, or no such column).

    What :func:`reportable` holds to the bar: an honest payroll fan's money alone reached a
    surprise of 26-54 on its run's window (robust surprise -11 to 9), and was reported on it;
    a ring of accounts sharing rare entities keeps what its entities give.
    """
    surprise = rings["surprise"].to_numpy(np.float64)
    if "flow_surprise" not in rings or ROBUST not in rings:
        return surprise
    money = rings["flow_surprise"].to_numpy(np.float64)
    robust = rings[ROBUST].to_numpy(np.float64)
    # a negative robust surprise (the flow search's selection charge) takes away the money's
    # part, not what the shape's shared entities give (session 17's review)
    excess = np.maximum(money - np.maximum(np.fmin(robust, money), 0.0), 0.0)
    return np.where(np.isnan(excess), surprise, surprise - np.nan_to_num(excess))


def reportable(rings: pd.DataFrame, min_surprise: float,
               flow_min_surprise: float = FLOW_REPORT_SURPRISE,
               pair_min_surprise: float = PAIR_REPORT_SURPRISE) -> np.ndarray:
    """Mask of the rings reported without labels: significant (``significant``), and with a
    ``surprise`` of at least ``min_surprise`` (a money-flow shape's money held to its robust
    surprise: :func:`held_surprise`), or, for a money-flow shape (``kind`` holding
    ``"flow_"``), a ``flow_robust_surprise`` (at most its ``surprise``) of at least the lower
    of ``min_surprise`` and ``flow_min_surprise``; a flow shape without one (NaN, or no such
    column) needs a ``surprise`` of the lower of ``min_surprise`` and
    :data:`FLOW_REPORT_SURPRISE_UNCAPPED`. A pair's own candidate (``kind`` holding
    :data:`PAIR_KIND`, not trimmed: ``kept_share`` 1 or NaN) needs a ``surprise`` of the lower
    of ``min_surprise`` and ``pair_min_surprise``, and is not reported when both its members
    are in a ring reported by the other rules. An entity burst or account takeover (``kind``
    holding :data:`BURST_KIND` or :data:`TAKEOVER_KIND`) is reported from a ``burst_surprise``
    of the lower of ``min_surprise`` and :data:`BURST_REPORT_SURPRISE`.

    Parameters
    ----------
    rings
        A :func:`gnn.rings.score_rings` table (``kind``, ``surprise``, ``significant``,
        optionally ``flow_robust_surprise``, ``kept_share``, and ``members`` when it holds
        pairs).
    min_surprise
        The bar (``ring_scoring.unlabelled_min_surprise``).
    flow_min_surprise
        The bar of money-flow shapes' robust surprise (:data:`FLOW_REPORT_SURPRISE`).
    pair_min_surprise
        The bar of pairs' own candidates (:data:`PAIR_REPORT_SURPRISE`).

    Returns
    -------
    numpy.ndarray
        Boolean, one per ring.

    Examples
    --------
    >>> rings = pd.DataFrame({"kind": ["shared_entities", "pair", "pair"],
    ...                       "surprise": [30.0, 3.0, 3.0], "significant": [1.0, 1.0, 1.0],
    ...                       "members": [["a", "b", "c"], ["a", "b"], ["d", "e"]]})
    >>> reportable(rings, 25.0).tolist()
    [True, False, True]
    """
    surprise = rings["surprise"].to_numpy(np.float64)
    kind = rings["kind"].astype(str)
    flow = kind.str.contains(FLOW_KIND, regex=False).to_numpy()
    robust = (rings[ROBUST].to_numpy(np.float64) if ROBUST in rings
              else np.full(len(rings), np.nan))
    known = ~np.isnan(robust)
    by_flow = flow & np.where(
        known, np.fmin(robust, surprise) >= min(min_surprise, flow_min_surprise),
        surprise >= min(min_surprise, FLOW_REPORT_SURPRISE_UNCAPPED))
    significant = rings["significant"].to_numpy(np.float64) >= 1.0
    burst = (kind.str.contains(BURST_KIND, regex=False)
             | kind.str.contains(TAKEOVER_KIND, regex=False)).to_numpy()
    by_burst = (burst & (
        rings[BURST].to_numpy(np.float64) >= min(min_surprise, BURST_REPORT_SURPRISE))
        if BURST in rings else np.zeros(len(rings), dtype=bool))
    reported = significant & ((held_surprise(rings) >= min_surprise) | by_flow | by_burst)
    kept = (rings["kept_share"].to_numpy(np.float64) if "kept_share" in rings
            else np.full(len(rings), np.nan))
    pair = (significant & ~reported & kind.str.contains(PAIR_KIND, regex=False).to_numpy()
            & (np.isnan(kept) | (kept >= 1.0))
            & (surprise >= min(min_surprise, pair_min_surprise)))
    if pair.any():
        held = {str(m) for members in rings["members"].to_numpy()[reported] for m in members}
        pair[pair] = [not {str(m) for m in members} <= held
                      for members in rings["members"].to_numpy()[pair]]
    return reported | pair
