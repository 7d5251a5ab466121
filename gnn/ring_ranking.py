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

Chosen on the generated seed-3 worlds (20k and 200k accounts; rings reported at
``unlabelled_min_surprise``; top-ring precision, k = planted rings): surprise per square root of
the size 0.661 / 0.610, surprise 0.661 / 0.693, surprise times kept share 0.661 / 0.720 (at
bar 20: 0.714 / 0.758). Demoting a group that holds a smaller significant candidate more
surprising per member than the members it adds (a padded ring) was tried and left out: 0.696 /
0.729 at bar 20 (benchmarks/README.md, session 10).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graph.rings.candidates import RingCandidate

#: Ranking surprise at which a ring's score is 0.5 (:func:`unlabelled_ranking`).
SURPRISE_HALF = 10.0


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
