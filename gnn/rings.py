"""Ring scoring: each candidate's members' account scores pooled with its structure.

A ring's ``structure_score`` (no labels needed) is a weighted mean of its structure features
(:data:`STRUCTURE_WEIGHTS`). With account scores, ``member_score`` pools the members' scores
(half their mean, half the mean of the top ``top_k``), and the ring score is
``account_weight * member_score + (1 - account_weight) * structure_score``, raised for a
money-flow shape by its significance (:func:`flow_significance`); members without an
account score count as 0. Without account scores (no labels) the ring score is a *structure
score*, not a probability: the ring's null-model surprise ``s`` (:mod:`graph.rings.null_model`;
a trimmed core's times its ``kept_share``) as ``s / (s + SURPRISE_HALF)``, 0 for ``s <= 0``
(:func:`unlabelled_scores`, :mod:`gnn.ring_ranking`).

Then, best first, two passes make the ranking list each group of accounts once and whole:

* a *fragment*, a ring with at least ``fragment_share`` of its members inside one better ring
  that is not itself a fragment, has its score multiplied by ``fragment_factor`` (so a dense
  core of six cards-testing accounts ranks below the 15-account ring it belongs to, and a
  repeated sub-cycle below its cycle); it is demoted, not dropped, so it stays in the table.
  With account scores a ring is also a fragment of a *larger* ring ranked below it that holds
  that share of it when the two scores differ by less than the larger ring's uncertainty
  (:data:`NEST_TOLERANCE`): a piece made of a ring's best-scored members outscores the ring
  only by leaving its other implicated members out, so the larger ring takes the piece's
  score (its evidence says so: ``"Nested:..."``) and its place;
* a ring overlapping a better one at Jaccard >= ``nms_jaccard`` is dropped (non-maximum
  suppression).

With account scores, candidates are first *trimmed* (:func:`trim_members`): a member stays only
when implicated, by its own score or by transfers with kept members, so that a ring is not a few
bad accounts padded with the honest customers of the same merchants; candidates the null model
does not find significant are dropped (:data:`UNSURPRISING`), and so are those whose members'
pooled score is under :data:`MIN_MEMBER_POOL` (honest accounts whose money looks surprising).
Ring scores become the probability that a ring is collusive with :func:`fit_ring_calibrator`
(fitted on the run's training labels) and :func:`calibrate_rings`: the higher of what its
members' pooled score makes likely and what that score with its null-model surprise
(:func:`structural_evidence`) makes likely, each fitted on the training labels' rings
(:class:`RingCalibrator`). A money-flow shape under the member floor is not zeroed when its
members' own score and its money's robust surprise make it more likely collusive than not among
the training labels' flow shapes (:meth:`RingCalibrator.flow_estimate`): the floor guards
against the flow boost of one surprising statistic (a payroll run's window), which the robust
surprise caps.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from gnn.calibration import ScoreCalibrator
from gnn.ring_ranking import PAIR_KIND, PAIR_REPORT_SURPRISE, member_surprise, unlabelled_ranking
from graph.rings.anchored import (
    ANCHORED_FEATURE,
    PAIR_FDR,
    anchored_candidates,
    paired_candidates,
)
from graph.rings.candidates import STRUCTURE_FEATURES, RingCandidate, ring_id_for
from graph.rings.config import RingConfig
from graph.rings.metrics import ring_label_outcomes
from graph.rings.pairs import HOUSEHOLD_MAX

#: Weights of the structure features in ``structure_score`` (they sum to 1). ``size_prior`` is
#: ``log(size) / log(SIZE_REFERENCE)`` clipped to [0, 1]. Chosen among 0/1 weights of every
#: feature by the top-ring precision on training rings only (the labelled rings of a generated
#: 10k world and the training half of AMLSim, seed 0); density, sharing, exclusivity and
#: synchrony did not help there and are reported, not scored.
STRUCTURE_WEIGHTS: dict[str, float] = {
    "internal_flow": 1 / 3,
    "depth": 1 / 3,
    "size_prior": 1 / 3,
}
#: Ring size at which ``size_prior`` reaches 1 (the default ``RingConfig.max_size``).
SIZE_REFERENCE = 50
#: Surprise (:func:`unlabelled_scores`; per square root of the ring's size before session 10)
#: at which a ring's significance is 0.5. Ranking by significance alone was chosen over
#: the weighted structure features, density, and their means on training rings only (a generated
#: 20k world, seed 7: top-65 precision 0.80 against 0.45 for the structure features and 0.31
#: with density; the AMLSim training rings, seed 0, where nothing ranked flow rings without
#: labels: 0.00-0.06). See benchmarks/README.md, "Rings on real data".
SURPRISE_HALF = 10.0

#: Columns of the ring table, in order (the first five are the ``rings.parquet`` contract).
RING_COLUMNS = (
    "ring_id",
    "score",
    "size",
    "members",
    "evidence",
    "kind",
    "structure_score",
    "member_score",
    *(f for f in STRUCTURE_FEATURES if f != "size"),
    "pooled_score",
    "flow_surprise",
    "flow_robust_surprise",
    "flow_boost",
    "burst_surprise",
)
#: Flow surprise (per square root of the size) at which a flow shape's labelled score gets half
#: its way to 1 (:func:`flow_significance`). Chosen among 0.6, 1.25, 2.5, 5, 10 and 20 on the
#: seed-3 20k worlds (default and with the laundering typologies; XGBoost account scores
#: trained on half the labels): recovery / top-ring precision 0.946 / 0.857 and 0.893 / 0.839
#: at 2.5, against 0.911 / 0.804 and 0.839 / 0.714 at 10 (benchmarks/README.md, session 8).
FLOW_SURPRISE_HALF = 2.5
#: A money-flow shape whose robust surprise (``flow_robust_surprise``) is under this per square
#: root of its size and under :data:`FLOW_ROBUST_SHARE` of its ``surprise`` gets no flow boost
#: where the ring calibrator reads it (:func:`robust_pooled`): the boost's half point
#: (:data:`FLOW_SURPRISE_HALF`). Honest payroll / payout fans (seed-5 flows world, ``abusenet
#: run``: 6-17 accounts, 1.1-2.25 per square root of their size, 0.20-0.60 of their surprise,
#: one statistic, a run's window, far out) had a boost of 0.3-0.47 from it, pooled 0.57-0.66.
#: The bar alone lost small planted fans (4-5 accounts at 1.9-2.1, 0.8-1.0 of their surprise):
#: figures in benchmarks/README.md, session 16 (hpayroll).
FLOW_ROBUST_BAR = 2.5
#: See :data:`FLOW_ROBUST_BAR`: a share of the surprise the robust surprise keeps under which
#: one capped statistic carried the shape (honest fans 0.20-0.60, small planted flows under the
#: bar 0.58-1.0). Chosen after seeing the seed-3 and seed-7 worlds' planted flows, not only the
#: tuning world's.
FLOW_ROBUST_SHARE = 0.5
#: A flow shape whose money alone is at least this surprising (``flow_surprise``, the default
#: ``RingConfig.min_surprise``) implicates every member it ties when none of its members is
#: implicated by its own score, and a laundering path (:data:`CHAIN_KIND`) always
#: (:func:`trim_members`).
FLOW_MIN_SURPRISE = 2.0
#: Kinds whose members a money path ties together (chains, fans, cycles): in them transfers
#: with the members implicated by their own scores (*anchors*) implicate a member
#: (:func:`trim_members`).
FLOW_KIND = "flow_"
#: A laundering path: link by link, one transfer with a kept member implicates a member.
CHAIN_KIND = "flow_chain"
#: A money loop: every member of it has two partners on it, so a member needs transfers with
#: two anchors (one transfer ties an honest customer of a looping account).
CYCLE_KIND = "flow_cycle"
#: In a fan (a flow shape neither chain nor cycle), a kept member with transfers with at least
#: this many members is a hub: one transfer with it implicates a member (a fan's leaves, whose
#: hub may score low itself).
HUB_DEGREE = 3
#: A candidate trimmed to fewer members than this is dropped: one risky account and a partner
#: are no ring. Chosen on the generated 200k world (seed 3, session 10) with the anchored
#: trim: 3 against 2, rings per planted ring 1.12 / 1.17, member precision by the truth
#: 0.928 / 0.924, recovery 0.941 / 0.944, top precision 0.932 / 0.929 (the pairs dropped were
#: 43 false rings and 122 fragments of planted rings; 2 matched one). A candidate found as a
#: pair and not trimmed stays.
MIN_TRIMMED_SIZE = 3
#: With account scores, a candidate sharing entities (no money-flow shape) whose null-model
#: ``surprise`` is at least this keeps its ``core`` (the members its rare entities or transfers
#: tie) beside its implicated members (:func:`trim_members`): its structure implicates them
#: without their account scores, as it would be reported without labels (the default
#: ``ring_scoring.unlabelled_min_surprise``; ``abusenet run`` passes the configured one).
#: Planted payment rings of the flows world (seed 11) whose members score 0.08-0.52 (three
#: with no labelled member) were trimmed to nothing or to 3-4 of their 7-22 members, and none
#: was reported with labels, while the run without labels reported them (surprise 28-76).
#: A core member must still score at least the mean account score (:func:`_structural_core`).
CORE_MIN_SURPRISE = 25.0
#: What becomes, with account scores, of a candidate the null model does not find significant
#: (``significant`` 0: chance explains its sharing and flows; only money-flow groups are kept
#: that way by the search): ``"drop"`` (default) -- never reported, whatever its members'
#: scores (issue 19); ``"members"`` -- its members' own scores must carry it: no flow boost
#: (:func:`flow_significance`) and ``min_ties`` transfers to stay, as in a group sharing
#: entities; ``"flows"`` -- scored as a flow shape whatever its surprise (before session 9).
#: Chosen on a generated 200k world (seed 3, XGBoost account scores on the run's training
#: labels): rings per planted ring 4.60 / 3.83 / 1.41 and member precision 0.19 / 0.62 / 0.77
#: for flows / members / drop, recovery 0.951 / 0.944 / 0.942 (benchmarks/README.md, session 9).
UNSURPRISING = ("drop", "members", "flows")
#: With ``unsurprising="drop"``, a candidate chance explains whose members all score at the
#: anchor bar stays when its structure and its anchors together reach this surprise
#: (:mod:`graph.rings.anchored`): the bar the search calls a candidate significant at. AMLSim
#: (benchmarks.rings, seeds 0 1 2, GNN) recovery 0.60 / 0.62 / 0.62 -> 0.66 / 0.76 / 0.74 at
#: top precision 0.94-0.97 -> 0.92-0.93; the generated 20k worlds of seeds 3 and 7 kept their
#: rings (helper hamlsim, session 18).
ANCHORED_MIN_SURPRISE = RingConfig().min_surprise
#: With account scores, a ring whose pooled member score (``member_score``, before any flow
#: boost) is below this is not a ring: honest accounts whose money the null model happens to
#: find surprising. Chosen on the same 200k world among 0, 0.1, 0.2 and 0.3: member precision
#: 0.765 / 0.802 / 0.806 / 0.822 at recovery 0.942 / 0.939 / 0.929 / 0.914.
MIN_MEMBER_POOL = 0.1
#: With account scores, a ring ranked above a larger ring holding ``labelled_fragment_share`` of
#: its members is that ring's fragment (:func:`score_rings`) when its score exceeds the larger
#: ring's by less than this many standard errors of the larger ring's score: ``account_weight
#: * 0.5 * std / sqrt(size)`` of its members' account scores, the share of the pooled score's
#: uncertainty its members' mean carries (:func:`member_scores`). A piece of a ring holding its
#: best-scored members has a higher mean only by leaving the others out; within the
#: uncertainty the whole ring, its extra members implicated too (:func:`trim_members`), is the
#: finding, and it takes the piece's score (the two are the same within it). Seed-3 tuning
#: worlds with labels (XGBoost on own features trained on half the labels, as
#: ``benchmarks.realdata``), recovery / top precision: at 20k 0.982 / 0.946 -> 0.982 / 1.000
#: (three pieces of 3-4 members, 0.001-0.005 above their 7-11-member rings, had held three of
#: the top 56 places), at 200k 0.951 / 0.966 -> 0.953 / 0.972; member precision 0.979 ->
#: 0.976 / 0.977. Demoting the piece without the larger ring taking its score lost a planted
#: ring at 200k (its holder, one member more, calibrated to 0.496 against the piece's 0.593):
#: 0.951 / 0.972. Half a standard error: 0.982 / 1.000 and 0.953 / 0.967. 0 turns it off.
NEST_TOLERANCE = 1.0
#: L2 penalty (its inverse) of the ring calibrator's structural estimate
#: (:func:`fit_ring_calibrator`). Regularised as sklearn's default: on AMLSim's training rings
#: (benchmarks.rings' seed-0 half, the other half's members unlabelled) 31 rings have an
#: outcome, 29 collusive, and unpenalised the two classes separate (weights 52 and -64). The
#: structural estimate alone (no higher-of-two) was more precise and less complete: seed-3
#: 200k recovery 0.953 -> 0.946, member precision 0.977 -> 0.987; the higher of the two,
#: 0.958 / 0.976, AMLSim's training rings 0.58 -> 0.60 at member precision 0.995, seed-3 20k
#: unchanged (benchmarks/README.md, session 14).
STRUCTURE_C = 1.0
#: The fewest training flow shapes of each outcome (collusive or not) that the flow estimate
#: (:meth:`RingCalibrator.flow_estimate`) is fitted on; with fewer the floor
#: (:data:`MIN_MEMBER_POOL`) holds every flow shape. Not tuned: a logistic on two features
#: needs a few rings of each class (the seed-5 flows world's training half holds 91 honest and
#: 44 collusive flow shapes; AMLSim's 2 honest rings of 31 fit none).
MIN_FLOW_OUTCOMES = 5
#: With ``unsurprising="members"``, the pooled member score a ring the null model explains by
#: chance needs (instead of :data:`MIN_MEMBER_POOL`): its members, pooled, are more likely
#: abusive than not, so the ring only groups accounts the scores already implicate.
CHANCE_MIN_POOL = 0.5


def size_prior(size: np.ndarray | float) -> np.ndarray:
    """``log(size) / log(SIZE_REFERENCE)`` clipped to [0, 1]: larger groups are less likely to
    be a household or a few colleagues."""
    return np.clip(np.log(np.maximum(size, 1.0)) / np.log(SIZE_REFERENCE), 0.0, 1.0)


def structure_scores(candidates: Sequence[RingCandidate]) -> np.ndarray:
    """Label-free score in [0, 1] of each candidate from its structure features."""
    features = {
        "size_prior": size_prior(np.array([len(c.members) for c in candidates], np.float64)),
        **{
            f: np.array([c.features.get(f, 0.0) for c in candidates], np.float64)
            for f in STRUCTURE_WEIGHTS
            if f != "size_prior"
        },
    }
    return sum(w * features[f] for f, w in STRUCTURE_WEIGHTS.items())


def significance(surprise: np.ndarray) -> np.ndarray:
    """Significance in [0, 1) of a null-model surprise ``s``: ``s / (s + SURPRISE_HALF)``."""
    s = np.maximum(np.asarray(surprise, np.float64), 0.0)
    return s / (s + SURPRISE_HALF)


def unlabelled_scores(candidates: Sequence[RingCandidate]) -> np.ndarray:
    """Structure score of each candidate without labels: its null-model surprise, a trimmed
    core credited the share of it its members make up
    (:func:`gnn.ring_ranking.unlabelled_ranking`: ``x / (x + SURPRISE_HALF)``, ``x`` the
    surprise times ``kept_share``).

    Ranked per square root of the size before session 10 (padded groups then ranked below their
    ring); with cores trimmed that favoured small honest groups (top-ring precision on the
    seed-3 worlds 0.661 / 0.610 at 20k / 200k accounts, now 0.661 / 0.720).
    """
    return unlabelled_ranking(candidates, SURPRISE_HALF)


def flow_significance(candidates: Sequence[RingCandidate], unsurprising: str = "drop"
                      ) -> np.ndarray:
    """Per candidate: ``x / (x + FLOW_SURPRISE_HALF)``, ``x`` its flows' surprise
    (``flow_surprise``) per square root of its size, for a money-flow shape
    (:data:`FLOW_KIND`) the null model finds significant (any flow shape with
    ``unsurprising="flows"``, :data:`UNSURPRISING`), else 0.

    With account scores a flow shape's ring score is ``1 - (1 - s)(1 - f)``, ``s`` the pooled
    score and ``f`` this: mules look ordinary one by one (their account scores are low), and
    their timing and amounts, which the null model judges, are what gives them away. Groups
    sharing entities get nothing from it: their members' sharing already shows in their scores.
    """
    flow = np.array([FLOW_KIND in c.kind and (unsurprising == "flows" or not _by_chance(c))
                     for c in candidates], dtype=bool)
    if not len(candidates):
        return np.zeros(0)
    surprise = np.array([_flow_surprise(c) for c in candidates], np.float64)
    sizes = np.array([max(len(c.members), 1) for c in candidates], np.float64)
    x = np.maximum(surprise / np.sqrt(sizes), 0.0)
    return np.where(flow, x / (x + FLOW_SURPRISE_HALF), 0.0)


def _flow_surprise(candidate: RingCandidate) -> float:
    """The surprise of a candidate's money flows alone (``flow_surprise``; its whole
    ``surprise`` for candidates found before that feature)."""
    features = candidate.features
    return float(features.get("flow_surprise", features.get("surprise", 0.0)))


def _by_chance(candidate: RingCandidate) -> bool:
    """Whether the null model explains ``candidate`` by chance (``significant`` 0; candidates
    found before the null model count as significant)."""
    return candidate.features.get("significant", 1.0) < 1.0


def _transfer_ties(evidence: Sequence[str]) -> list[tuple[str, str]]:
    """Member pairs a candidate's evidence shows transferring (``Transfer:`` and ``Path:``)."""
    ties: list[tuple[str, str]] = []
    for item in evidence:
        if item.startswith("Transfer:"):
            src, _, dst = item.removeprefix("Transfer:").partition("->")
            ties.append((src, dst))
        elif item.startswith("Path:"):
            path = item.removeprefix("Path:").split("->")
            ties.extend(zip(path[:-1], path[1:], strict=False))
    return ties


def trim_members(
    candidates: Sequence[RingCandidate],
    account_scores: pd.DataFrame,
    min_member_score: float = 0.5,
    min_ties: int = 2,
    flow_min_ties: int = 1,
    unsurprising: str = "drop",
    hub_degree: int = HUB_DEGREE,
    min_trimmed_size: int = MIN_TRIMMED_SIZE,
    core_min_surprise: float | None = CORE_MIN_SURPRISE,
    anchored_min_surprise: float | None = ANCHORED_MIN_SURPRISE,
    labelled_abusive: Collection[str] = frozenset(),
    pair_fdr: float | None = PAIR_FDR,
    labelled_honest: Collection[str] = frozenset(),
    pair_scores: pd.DataFrame | None = None,
) -> list[RingCandidate]:
    """Each candidate with only its implicated members.

    A member stays when its own account score is at least ``min_member_score`` (a calibrated
    probability: more likely abusive than not; such members are the *anchors*), or when it
    transferred with at least ``min_ties`` kept members, repeated until nothing changes (in a
    group sharing entities a household's transfers are no pattern). In a money-flow shape
    (:data:`FLOW_KIND`) the transfers are the pattern, but only near the anchors: a member
    stays with ``flow_min_ties`` transfers with anchors (``min_ties`` in a cycle,
    :data:`CYCLE_KIND`, whose members each have two partners on the loop), or with one
    transfer with a kept hub of a fan (``hub_degree`` partners inside it); the honest
    customers of the customers of a ring, which the flow searches sweep in as paths through
    it, stay out. A laundering path (:data:`CHAIN_KIND`) is implicated link by link (one
    transfer with any kept member, repeated), and in a chain, or in any flow shape without
    an anchor, whose money alone the null model finds significant (``flow_surprise >=``
    :data:`FLOW_MIN_SURPRISE`), every member with a transfer inside it stays: the shape is
    the evidence (mules look ordinary one by one; with weak account scores, a small world's,
    nobody is an anchor). A candidate the null model does not find significant at all is
    handled as ``unsurprising`` says (:data:`UNSURPRISING`): dropped by default (unless every
    member is an anchor and the anchors with its structure reach ``anchored_min_surprise``,
    :mod:`graph.rings.anchored`; its evidence says so: ``"Anchored:..."``; a chance pair
    listed for it, when both its accounts are anchors and the pairs test keeps it at false
    discovery rate ``pair_fdr``: :func:`graph.rings.anchored.paired_candidates`,
    ``"Paired:..."``; one that already carries the anchored feature was judged so before and
    stays), or
    (``"members"``) trimmed as a group sharing entities whatever its kind (chance explains its
    transfers: one risky account and its payees are no ring). Transfers are the candidate's
    ``ties`` (all its internal transfers) and the ``Transfer:`` and ``Path:`` items of its
    evidence (which alone list at most ``max_evidence`` transfers: candidates read back
    without ties). A trimmed candidate gets the id of its kept members, ``kept_share`` among
    its features and the reason in its evidence (``"Trimmed:<k> members scored below
    <bar>"``); one keeping fewer than two members, or trimmed to fewer than
    ``min_trimmed_size``, is dropped, and of several trimmed to the same members the first
    stays. A candidate sharing entities (no flow shape) that the null model finds at least
    ``core_min_surprise`` surprising also keeps the members of its ``core`` that score at
    least the mean account score (:data:`CORE_MIN_SURPRISE`; its evidence says so:
    ``"Core:..."``): a ring whose structure alone would be reported without labels is not
    dropped for its members' scores with them, but a member the model finds less likely
    abusive than the average account is not kept on the group's structure, unless the run's
    labels call it abusive (``labelled_abusive``: a taken-over account's score reads its
    honest history; the label is the stronger evidence, and it adds no member the core
    lacks); the calibrator
    (:func:`calibrate_rings`) reads its surprise. So does a pair's own candidate at the bar a
    run without labels reports it at (:data:`gnn.ring_ranking.PAIR_REPORT_SURPRISE`): both its
    accounts stay (a planted pair is often one risky account and a partner that scores low on
    its own; seed-3 pairs world with labels, recovery 0.745 -> 0.785, every pair kept this way
    two abusive accounts, calibrated 0.31-0.82).

    Chosen on a generated 200k world (seed 3, session 10; before, a flow shape's transfers
    implicated members link by link from any kept member, so a planted loop came with the
    honest accounts its members paid and theirs): rings 857 -> 659 for 590 planted, member
    precision by the truth 0.784 -> 0.928 (held-back labels 0.879 -> 0.918), recovery 0.944
    -> 0.941, top precision 0.890 -> 0.932, with ``labelled_fragment_share`` 0.5
    (:func:`score_rings`).

    Parameters
    ----------
    candidates
        From :func:`graph.rings.candidates.find_ring_candidates`.
    account_scores
        ``account_id, score``; accounts without a score count as 0.
    min_member_score
        The account score that implicates a member on its own.
    min_ties, flow_min_ties
        Transfers with kept members that implicate a member; with anchors in a flow shape
        that is neither chain nor cycle.
    unsurprising
        One of :data:`UNSURPRISING`.
    hub_degree
        Partners inside a fan that make a kept member its hub.
    min_trimmed_size
        The fewest members a trimmed candidate keeps to stay.
    core_min_surprise
        The surprise from which a candidate sharing entities keeps its core (a pair's own
        candidate: the lower of it and :data:`gnn.ring_ranking.PAIR_REPORT_SURPRISE`); None
        keeps none.
    anchored_min_surprise
        With ``unsurprising="drop"``, the anchored surprise from which a candidate chance
        explains stays (:data:`ANCHORED_MIN_SURPRISE`); None keeps none.
    labelled_abusive
        Accounts the run's (training) labels call abusive: a core member among them is kept
        whatever its score (the floor does not apply to it) in a candidate that stays without
        them (``min_trimmed_size`` counts the others: review R39); nothing else changes.
    pair_fdr
        With ``unsurprising="drop"``, the false discovery rate at which chance pairs of two
        anchors stay (:data:`graph.rings.anchored.PAIR_FDR`); None keeps none.
    labelled_honest
        Accounts the run's (training) labels call honest: no anchor of a chance pair, whatever
        their score (:func:`graph.rings.anchored.paired_candidates`); nothing else changes.
    pair_scores
        ``account_id, score``: the scores chance pairs are judged by (their anchors and anchor
        rate) instead of ``account_scores``, e.g. each account's own evidence
        (:func:`gnn.association.own_evidence`): a model that reads what a pair shares scores a
        fraudster's partner through the very device and card the pair is judged on. A pair
        kept by them is then trimmed with ``account_scores`` as any candidate is (both its
        accounts anchors by both). None judges them by ``account_scores``.

    Returns
    -------
    list of RingCandidate
        In the order given.
    """
    if unsurprising not in UNSURPRISING:
        raise ValueError(f"trim_members: unsurprising must be one of {UNSURPRISING}, "
                         f"got {unsurprising!r}")
    lookup = _score_lookup(account_scores)
    anchored = (anchored_candidates(candidates, lookup, min_member_score, anchored_min_surprise)
                if unsurprising == "drop" and anchored_min_surprise is not None else {})
    if unsurprising == "drop" and pair_fdr is not None:
        anchored |= paired_candidates(
            candidates, lookup if pair_scores is None else _score_lookup(pair_scores),
            min_member_score, pair_fdr, labelled_honest)
    core_floor = float(account_scores["score"].mean()) if len(account_scores) else 0.0
    labelled = frozenset(map(str, labelled_abusive))
    kept_candidates: list[RingCandidate] = []
    seen: set[str] = set()
    for candidate in candidates:
        chance = unsurprising != "flows" and _by_chance(candidate)
        if (chance and unsurprising == "drop" and candidate.ring_id not in anchored
                and ANCHORED_FEATURE not in candidate.features):
            continue
        candidate = anchored.get(candidate.ring_id, candidate)
        core = _structural_core(candidate, core_min_surprise, lookup, min_member_score,
                                core_floor, labelled)
        # the members only the label keeps join a ring that stands without them (review R39)
        by_label = core - _structural_core(candidate, core_min_surprise, lookup,
                                           min_member_score, core_floor) if labelled else set()
        trimmed = _trimmed(candidate, lookup, min_member_score, min_ties,
                           None if chance else flow_min_ties, hub_degree, core)
        if trimmed is None or trimmed.ring_id in seen or (
                (trimmed is not candidate or by_label)
                and len(set(trimmed.members) - by_label)
                < min(min_trimmed_size, len(candidate.members))):
            continue
        seen.add(trimmed.ring_id)
        kept_candidates.append(trimmed)
    return kept_candidates


def trim_to_core(candidates: Sequence[RingCandidate]) -> list[RingCandidate]:
    """Each candidate cut down to its ``core`` (the members tied by rare entities or
    transfers): the label-free trim.

    Without account scores :func:`trim_members` has nothing to trim by, and a ring found as a
    community or component comes padded with honest neighbours who share none of what makes it
    surprising. A trimmed candidate gets the id of its core, ``size`` and ``kept_share`` among
    its features (its ``surprise`` stays that of the whole group) and the reason in its
    evidence (``"Trimmed:<k> members share none of its rare entities or transfers"``). A
    candidate sharing nothing rare (core under two members) that is no money-flow shape loses
    the members whose only tie to it is transfers with one member, its members' counterparties
    (:func:`_tied_core`; ``"Trimmed:<k> members are tied to it by transfers with one member
    only"``); any other candidate whose core is unknown or under two members stays as it is;
    of several with the
    same members (trimmed or not) the one credited the most surprise
    (:func:`gnn.ring_ranking.member_surprise`) stays, in the place of the first: a core cut from
    a large group must not shadow the ring's own candidate (before session 11 the first in
    ring-id order stayed, an arbitrary choice). Seed-3 worlds without labels, 20k / 200k, with
    the candidates of 7733f1e: rings 79 / 905 -> 84 / 974, recall 0.804 / 0.824 -> 0.821 /
    0.836, top precision 0.804 / 0.807 -> 0.786 / 0.810, member precision by the truth
    0.735 / 0.752 -> 0.735 / 0.740.

    A core of 3 to ``HOUSEHOLD_MAX`` accounts (more than a pair, whose own candidate is judged
    as a pair; at most a household) is judged by its share of the group's surprise, ``surprise
    x kept_share`` (what :func:`gnn.ring_ranking.member_surprise` credited it for the ranking
    only), with ``kept_share`` 1 (credited once) and the reason in its evidence
    (``"HouseholdCore:..."``). Review R56: a hostel's 14 families, each on its own card, are
    surprising together (14 cards of 3), and the core the search gives is one family on its
    card, which was reported with the whole group's 32-46 (``python -m benchmarks.hostels``,
    world H); the same held for a farm's 3-account fragment. A small ring padded by a few
    neighbours loses the padding's share (3 of 5 at 40: 24, under the bar of 25) unless its own
    candidate (its own surprise) reports it.

    Parameters
    ----------
    candidates
        From :func:`graph.rings.candidates.find_ring_candidates`.

    Returns
    -------
    list of RingCandidate
        In the order given.
    """
    kept_candidates: list[RingCandidate] = []
    seen: dict[str, int] = {}
    for candidate in candidates:
        trimmed = candidate
        core = set(candidate.core) & set(candidate.members)
        reason = "share none of its rare entities or transfers"
        if len(core) < 2 and FLOW_KIND not in candidate.kind:
            core = _tied_core(candidate)
            reason = "are tied to it by transfers with one member only (counterparties)"
        if 2 <= len(core) < len(candidate.members):
            members = sorted(core)
            dropped = len(candidate.members) - len(members)
            evidence = [e for e in candidate.evidence if not e.startswith("Transfer:")
                        or all(end in core for end in e.removeprefix("Transfer:").split("->"))]
            share = len(members) / len(candidate.members)
            features = {**candidate.features, "size": float(len(members)), "kept_share": share}
            evidence.append(f"Trimmed:{dropped} members {reason}")
            if _household_core(len(members)):
                # judged, not only ranked, by the share gnn.ring_ranking.member_surprise
                # credits it (credited once: kept_share 1)
                features["surprise"] = share * candidate.features.get("surprise", 0.0)
                features["kept_share"] = 1.0
                evidence.append(f"HouseholdCore:{len(members)} of {len(candidate.members)} "
                                f"credited their share of the group's surprise")
            trimmed = RingCandidate(ring_id_for(members), members, candidate.kind, evidence,
                                    features, list(candidate.ties), members)
        at = seen.get(trimmed.ring_id)
        if at is None:
            seen[trimmed.ring_id] = len(kept_candidates)
            kept_candidates.append(trimmed)
        elif _replaces(trimmed, kept_candidates[at]):
            kept_candidates[at] = trimmed
    return kept_candidates


def _tied_core(candidate: RingCandidate) -> set[str]:
    """The members of ``candidate`` (no money-flow shape, sharing nothing rare) less those whose
    only tie to it is transfers with one member (:func:`trim_to_core`): an employer or a landlord
    paid by one member month after month is that member's counterparty, not the group's (review
    R71: ``benchmarks.mule_flows`` world ``mule_kitty_smurf``, 5 groups of 8 mules found with
    their 16 employers and landlords each). Members without a transfer inside stay (their
    lockstep or sharing put them in); empty when no member has a single partner (nothing to
    trim) or without ties."""
    members = set(candidate.members)
    partners: dict[str, set[str]] = {}
    for a, b in candidate.ties:
        if a != b and a in members and b in members:
            partners.setdefault(a, set()).add(b)
            partners.setdefault(b, set()).add(a)
    pendant = {m for m, p in partners.items() if len(p) == 1}
    return members - pendant if pendant else set()


def _household_core(size: int) -> bool:
    """Whether a core of ``size`` accounts trimmed from a larger group is judged by its share
    of the group's surprise (:func:`trim_to_core`): more than a pair (a pair's own candidate is
    judged as a pair) and at most a household (:data:`graph.rings.pairs.HOUSEHOLD_MAX`)."""
    return 2 < size <= HOUSEHOLD_MAX


def _replaces(candidate: RingCandidate, kept: RingCandidate) -> bool:
    """Whether ``candidate`` takes the place of ``kept`` (the same members) in
    :func:`trim_to_core`: a pair's own candidate (untrimmed, ``kind`` holding ``"pair"``) wins
    over a core trimmed to the same two accounts, whose surprise is its group's
    (:func:`gnn.ring_ranking.reportable` judges the pair at the significance bar, the core as a
    group); otherwise the one credited the most surprise."""
    own = ["pair" in c.kind and "kept_share" not in c.features for c in (candidate, kept)]
    if own[0] != own[1]:
        return own[0]
    return bool(member_surprise([candidate])[0] > member_surprise([kept])[0])


def _score_lookup(account_scores: pd.DataFrame) -> dict[str, float]:
    """``account_id -> score`` (the first of duplicates), ids as str."""
    table = account_scores.drop_duplicates("account_id")
    return dict(zip(table["account_id"].astype(str), table["score"].astype(float), strict=True))


def _structural_core(candidate: RingCandidate, min_surprise: float | None,
                     lookup: dict[str, float], min_member_score: float,
                     floor: float = 0.0, labelled: frozenset[str] = frozenset()) -> set[str]:
    """The members of ``candidate``'s core its structure implicates (:func:`trim_members`):
    for a significant candidate sharing entities (no money-flow shape) at least
    ``min_surprise`` surprising, those scoring at least ``floor`` (the mean account score:
    no more likely abusive than the average account, the model clears a member the group's
    structure does not implicate on its own; a member in ``labelled``, which the run's labels
    call abusive, whatever its score), and both accounts of a pair's own candidate (``kind``
    holding :data:`graph.rings.candidates.PAIR_KIND`, untrimmed) at the bar a run without labels
    reports it at (the lower of ``min_surprise`` and
    :data:`gnn.ring_ranking.PAIR_REPORT_SURPRISE`) when one of the two scores at least
    ``min_member_score``, else none. The pair null alone does not tell every household from
    collusion (two members of a household sharing a second device and card reach surprise 3.6),
    so a pair of two low-scored accounts is not kept on it (session 17's review).

    The floor (session 18): a group at the bar holds its anchors and the ordinary accounts
    around them that share its entities (default 20k seed 3, XGBoost on half the truth: a
    group of 9 at surprise 28.4 held 4 honest members scored 0.00-0.21 beside its 4 abusive
    anchors). In the candidates at the bar of that world the honest members the core held
    scored 0.00-0.01 (mean account score 0.03; one 0.21), with `abusenet run`'s published
    scores 0.02-0.10 (mean 0.08); the members of flows seed 11's planted payment rings that
    no labelled member implicates score 0.08-0.5. Rings stage with labels rerun on each run's
    inputs: member precision default seed 3 0.971 -> 0.973, flows seed 3 0.934 -> 0.935,
    flows seed 11 0.934 -> 0.936 (payment rings 1.0 both), XGBoost protocol 0.974 -> 0.976;
    rings, recovery and top precision unchanged."""
    features = candidate.features
    if min_surprise is None or FLOW_KIND in candidate.kind or _by_chance(candidate):
        return set()
    surprise = features.get("surprise", 0.0)
    if (PAIR_KIND in candidate.kind and features.get("kept_share", 1.0) >= 1.0
            and surprise >= min(min_surprise, PAIR_REPORT_SURPRISE)
            and max(lookup.get(m, 0.0) for m in candidate.members) >= min_member_score):
        return set(candidate.members)
    if surprise < min_surprise:
        return set()
    return {m for m in set(candidate.core) & set(candidate.members)
            if lookup.get(m, 0.0) >= floor or m in labelled}


def _trimmed(candidate: RingCandidate, lookup: dict[str, float], min_member_score: float,
             min_ties: int, flow_min_ties: int | None, hub_degree: int,
             core: set[str] | None = None) -> RingCandidate | None:
    """``candidate`` with its implicated members (:func:`trim_members`) and ``core``, None
    under two; ``flow_min_ties`` None trims a flow shape as a group sharing entities."""
    anchors = {m for m in candidate.members if lookup.get(m, 0.0) >= min_member_score}
    partners: dict[str, set[str]] = {}
    for a, b in {*candidate.ties, *_transfer_ties(candidate.evidence)}:
        if a != b:
            partners.setdefault(a, set()).add(b)
            partners.setdefault(b, set()).add(a)
    flow = flow_min_ties is not None and FLOW_KIND in candidate.kind
    chain = flow and CHAIN_KIND in candidate.kind
    kept = set(anchors)
    if flow and (chain or not anchors) and _flow_surprise(candidate) >= FLOW_MIN_SURPRISE:
        kept |= {m for m in candidate.members if m in partners}
    ties = flow_min_ties if chain else min_ties
    fan = flow and not chain and CYCLE_KIND not in candidate.kind
    if flow and not chain:
        near = flow_min_ties if fan else min_ties
        kept |= {m for m in candidate.members if len(partners.get(m, set()) & anchors) >= near}
    grown = True
    while grown:
        hubs = {h for h in kept if len(partners.get(h, ())) >= hub_degree} if fan else set()
        tied = {m for m in candidate.members if m not in kept
                and (len(partners.get(m, set()) & kept) >= ties or partners.get(m, set()) & hubs)}
        kept |= tied
        grown = bool(tied)
    held = (core or set()) - kept
    kept |= held
    if len(kept) < 2:
        return None
    if len(kept) == len(candidate.members) and not held:
        return candidate
    members = sorted(kept)
    dropped = len(candidate.members) - len(members)
    evidence = [e for e in candidate.evidence if not e.startswith("Transfer:")
                or all(end in kept for end in e.removeprefix("Transfer:").split("->"))]
    if held:
        evidence.append(f"Core:{len(held)} members scored below {min_member_score:g} are in "
                        f"its core, which its surprise "
                        f"{candidate.features.get('surprise', 0.0):.1f} implicates")
    if dropped:
        evidence.append(f"Trimmed:{dropped} members scored below {min_member_score:g}")
    return RingCandidate(
        ring_id_for(members), members, candidate.kind, evidence,
        {**candidate.features, "size": float(len(members)),
         "kept_share": len(members) / len(candidate.members)},
        [(a, b) for a, b in candidate.ties if a in kept and b in kept],
    )


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 1e-4, 1.0 - 1e-4)
    return np.log(p / (1.0 - p))


class RingCalibrator:
    """The probability that a ring is collusive, the higher of two estimates fitted on the
    training labels' rings (:func:`fit_ring_calibrator`): ``members``, Platt scaling of its
    ``pooled_score``; and ``structure``, a logistic regression on the logit of its
    ``pooled_score`` and its structural evidence (:func:`structural_evidence`), or None when
    the training rings hold one outcome only or the same evidence. Both are fitted on
    ``pooled_score`` and read at :func:`robust_pooled`: a money-flow shape gets what its pooled
    score would be with its flow boost held to its robust surprise (the lower of the two).

    Each is calibrated on those rings; the higher is what the ring's members or its structure
    make likely (:data:`STRUCTURE_C`): a fan of mules whose own scores are low but whose money
    the null model finds surprising is found by the second, a ring of risky members sharing
    little by the first.
    """

    def __init__(self, members: ScoreCalibrator,
                 structure: tuple[float, float, float] | None = None,
                 flow: tuple[float, float, float] | None = None) -> None:
        self.members = members
        #: ``(pooled logit weight, evidence weight, intercept)``
        self.structure = structure
        #: ``(member logit weight, evidence weight, intercept)`` of :meth:`flow_estimate`
        self.flow = flow

    def transform(self, rings: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Per ring of a :func:`score_rings` table: the probability (the higher estimate) and
        the members' estimate alone."""
        logit = _logit(robust_pooled(rings))
        members = np.clip(self.members.transform(logit), 0.0, 1.0)
        if self.structure is None or rings.empty:
            return members, members
        a, b, c = self.structure
        both = 1.0 / (1.0 + np.exp(-(a * logit + b * structural_evidence(rings) + c)))
        return np.maximum(members, both), members

    def flow_estimate(self, rings: pd.DataFrame) -> np.ndarray:
        """Per ring of a :func:`score_rings` table: for a money-flow shape (:data:`FLOW_KIND`)
        the probability that it is collusive given its members' own pooled score
        (``member_score``, before any flow boost) and its :func:`structural_evidence`, the
        logistic fitted on the training labels' flow shapes (:func:`fit_ring_calibrator`); NaN
        for other rings, or for every ring when the training flow shapes did not support a fit.
        """
        out = np.full(len(rings), np.nan)
        if self.flow is None or rings.empty or "member_score" not in rings:
            return out
        flow = _kind_holds(rings, FLOW_KIND)
        a, b, c = self.flow
        z = a * _logit(rings["member_score"].to_numpy(np.float64)) + b * structural_evidence(
            rings) + c
        return np.where(flow, 1.0 / (1.0 + np.exp(-z)), np.nan)

    def to_dict(self) -> dict[str, object]:
        """A JSON-serialisable description."""
        return {**self.members.to_dict(),
                "structure": None if self.structure is None else dict(zip(
                    ("pooled_logit", "evidence", "intercept"), self.structure, strict=True)),
                "flow": None if self.flow is None else dict(zip(
                    ("member_logit", "evidence", "intercept"), self.flow, strict=True))}


def robust_pooled(rings: pd.DataFrame) -> np.ndarray:
    """Per ring of a :func:`score_rings` table: its ``pooled_score`` with a money-flow shape's
    flow boost (``flow_boost``, :func:`flow_significance` on its raw ``flow_surprise``) taken
    instead from the weaker of that surprise and its ``flow_robust_surprise`` (each group-level
    test capped), per square root of its size (none under :data:`FLOW_ROBUST_BAR` when the
    robust surprise is under :data:`FLOW_ROBUST_SHARE` of its ``surprise``); ``pooled_score``
    where either is unknown, and
    for a money loop (:data:`CYCLE_KIND`), whose evidence is its links beyond a tree, a
    group-level test the robust surprise caps (planted loops of the flows world have robust
    surprises under 0: one, a review ring of 13 at raw surprise 55, fell from 0.74 to 0.40).

    What :class:`RingCalibrator` reads (it is fitted on ``pooled_score``, what the rings are
    ranked and suppressed by): a payroll or payout fan's money reaches a high raw surprise on
    one statistic (a run's window) that its robust surprise does not support. Fitting the
    calibrator on this score too was measured worse (figures in benchmarks/README.md, session
    15, "honest payroll / payout fans").
    """
    pooled = rings["pooled_score"].to_numpy(np.float64)
    if rings.empty or "flow_boost" not in rings or "flow_robust_surprise" not in rings:
        return pooled
    boost = np.nan_to_num(rings["flow_boost"].to_numpy(np.float64), nan=0.0)
    robust = rings["flow_robust_surprise"].to_numpy(np.float64)
    sizes = np.sqrt(np.maximum(rings["size"].to_numpy(np.float64), 1.0))
    known = (boost > 0.0) & (boost < 1.0) & ~np.isnan(robust) & ~_kind_holds(rings, CYCLE_KIND)
    kept = np.where(known, 1.0 - boost, 1.0)
    raw = FLOW_SURPRISE_HALF * boost / kept
    per_root = np.maximum(robust, 0.0) / sizes
    weaker = np.fmin(raw, per_root)
    if "surprise" in rings:  # one capped statistic carried it: no boost under the bar
        weaker[(per_root < FLOW_ROBUST_BAR) & (robust < FLOW_ROBUST_SHARE * rings[
            "surprise"].to_numpy(np.float64))] = 0.0
    robust_boost = weaker / (weaker + FLOW_SURPRISE_HALF)
    return np.where(known, 1.0 - (1.0 - pooled) * (1.0 - robust_boost) / kept, pooled)


def _kind_holds(rings: pd.DataFrame, text: str) -> np.ndarray:
    """Mask of the rings of a table whose ``kind`` holds ``text`` (none without ``kind``)."""
    return (rings["kind"].astype(str).str.contains(text, regex=False).to_numpy()
            if "kind" in rings else np.zeros(len(rings), dtype=bool))


def structural_evidence(rings: pd.DataFrame) -> np.ndarray:
    """Per ring: ``log1p`` of its null-model surprise (at least 0), for a money-flow shape its
    ``flow_robust_surprise`` when known (each group-level test capped, at most its
    ``surprise``: :func:`gnn.ring_ranking.reportable`)."""
    missing = np.full(len(rings), np.nan)
    surprise = rings["surprise"].to_numpy(np.float64) if "surprise" in rings else missing
    robust = (rings["flow_robust_surprise"].to_numpy(np.float64)
              if "flow_robust_surprise" in rings else missing)
    flow = _kind_holds(rings, FLOW_KIND)
    evidence = np.where(flow & ~np.isnan(robust), np.fmin(robust, surprise), surprise)
    return np.log1p(np.maximum(np.nan_to_num(evidence, nan=0.0), 0.0))


def fit_ring_calibrator(rings: pd.DataFrame, labels: pd.DataFrame) -> RingCalibrator:
    """Ring scores to the probability that a ring is collusive (:class:`RingCalibrator`).

    A ring is collusive when at least half of its members labelled in ``labels`` are abusive
    (:func:`graph.rings.metrics.ring_label_outcomes`, the definition ``metrics.json`` checks on
    held-back labels); rings with no labelled member, and fragments (demoted by
    :func:`score_rings`: ``score < pooled_score``), are left out. The members' estimate is
    Platt scaling of ``pooled_score`` (the identity with one outcome among the rings); the
    structure's a logistic regression on its logit and :func:`structural_evidence`, with an L2
    penalty ``1 / STRUCTURE_C``. Fit it on the run's *training* labels only.

    Parameters
    ----------
    rings
        Every scored ring (:func:`score_rings` with account scores), not only reported ones.
    labels
        ``account_id, label``.

    Returns
    -------
    RingCalibrator
        Fitted on the training labels' rings.
    """
    from sklearn.linear_model import LogisticRegression

    whole = rings[rings["score"] >= rings["pooled_score"]]
    outcomes = ring_label_outcomes(whole.assign(score=whole["pooled_score"]), labels)
    known = outcomes["abusive"].notna().to_numpy()
    y = outcomes["abusive"].to_numpy()[known].astype(np.int64)
    logit = _logit(whole["pooled_score"].to_numpy())[known]
    members = ScoreCalibrator("platt").fit(logit, y)
    evidence = structural_evidence(whole)[known]
    if len(np.unique(y)) < 2 or len(np.unique(evidence)) < 2:
        return RingCalibrator(members)
    features = np.c_[logit, evidence]
    model = LogisticRegression(C=STRUCTURE_C).fit(features, y)
    structure = (float(model.coef_[0, 0]), float(model.coef_[0, 1]), float(model.intercept_[0]))
    flow = _kind_holds(whole, FLOW_KIND)[known]
    if "member_score" not in whole or min(np.bincount(y[flow], minlength=2)) < MIN_FLOW_OUTCOMES:
        return RingCalibrator(members, structure)  # no flow estimate to fit (or to apply)
    own = _logit(whole["member_score"].to_numpy(np.float64))[known]
    model = LogisticRegression(C=STRUCTURE_C).fit(np.c_[own[flow], evidence[flow]], y[flow])
    return RingCalibrator(members, structure, (
        float(model.coef_[0, 0]), float(model.coef_[0, 1]), float(model.intercept_[0])))


def calibrate_rings(rings: pd.DataFrame, calibrator: RingCalibrator,
                    account_scores: pd.DataFrame,
                    min_member_pool: float = MIN_MEMBER_POOL,
                    chance_min_pool: float = CHANCE_MIN_POOL) -> pd.DataFrame:
    """``rings`` with ``score`` the probability that each is collusive, best first.

    ``score`` becomes ``calibrator`` applied to the ring (the higher of its members' estimate,
    monotone in ``pooled_score``, and its structure's; when the structure's is the higher the
    evidence says so: ``"Structure:..."``), times the fragment factor for a fragment (a ring
    demoted by :func:`score_rings` because most of its members are in a better ring; its
    evidence says so: ``"Fragment:..."``). A ring whose
    score ends below every member's account score says why in its evidence
    (``"Calibrated:..."``: rings scored like it were collusive that often in the training
    labels). A ring whose members' pooled score (``member_score``, before any flow boost) is
    under ``min_member_pool`` scores 0 and says so (``"Honest:..."``): its members look
    honest, whatever its money flows (:data:`MIN_MEMBER_POOL`); a ring the null model explains
    by chance (``significant`` 0, kept by ``unsurprising="members"``) needs
    ``chance_min_pool`` (:data:`CHANCE_MIN_POOL`). The floor guards against a flow shape's boost
    (:func:`flow_significance`, on its raw ``flow_surprise``, which honest money reaches on one
    statistic: a payroll run's window); a significant flow shape under it scores
    :meth:`RingCalibrator.flow_estimate` instead when that is at least 0.5, and says so
    (``"Flow:..."``): its members' own score and its money's robust surprise, each group-level
    test capped, make it more likely collusive than not among the training labels' flow shapes
    (the floor held back planted gather-scatter and bipartite rings of robust surprise 15-24 as
    well as honest payroll runs of 3-8: figures in benchmarks/README.md, session 15).

    Parameters
    ----------
    rings
        A :func:`score_rings` table.
    calibrator
        From :func:`fit_ring_calibrator`.
    account_scores
        ``account_id, score``.
    min_member_pool
        The pooled member score a ring needs; 0 lets every ring through.
    chance_min_pool
        The pooled member score a ring explained by chance needs.
    """
    out = rings.copy()
    if out.empty:
        return out
    pooled = out["pooled_score"].to_numpy(np.float64)
    current = out["score"].to_numpy(np.float64)
    demotion = np.divide(current, pooled, out=np.ones_like(pooled), where=pooled > 0)
    fragment = demotion < 1.0
    probability, by_members = calibrator.transform(out)
    out["score"] = probability * np.minimum(demotion, 1.0)
    evidence_of = structural_evidence(out)
    out["evidence"] = [
        [*evidence, f"Structure:its surprise {np.expm1(x):.1f} makes it {p:.2f} likely "
                    f"collusive, {m:.2f} by its members alone"]
        if p > m else list(evidence)
        for evidence, x, p, m in zip(out["evidence"], evidence_of, probability, by_members,
                                     strict=True)
    ]
    out["evidence"] = [
        [*evidence, f"Fragment:most members are in a better ring; score x{factor:.2f}"]
        if flag else list(evidence)
        for evidence, factor, flag in zip(out["evidence"], demotion, fragment, strict=True)
    ]
    # tables without member scores (built by hand) have nothing to hold to the bar
    pool = out["member_score"].to_numpy(np.float64) if "member_score" in out else np.full(
        len(out), np.nan)
    chance = (out["significant"].to_numpy(np.float64) < 1.0 if "significant" in out
              else np.zeros(len(out), dtype=bool))
    bar = np.where(chance, max(chance_min_pool, min_member_pool), min_member_pool)
    honest = pool < bar
    flow_p = calibrator.flow_estimate(out)
    carried = honest & ~chance & (flow_p >= 0.5)
    out.loc[honest, "score"] = np.where(carried, flow_p * np.minimum(demotion, 1.0), 0.0)[honest]
    out["evidence"] = [
        [*evidence, f"Flow:its members' own score {p:.2f} is under {b:g}, but with its money's "
                    f"robust surprise {np.expm1(x):.1f} flow shapes were {f:.2f} likely "
                    f"collusive in the training labels"]
        if flag else list(evidence)
        for evidence, p, b, x, f, flag in zip(out["evidence"], pool, bar, evidence_of, flow_p,
                                              carried, strict=True)
    ]
    honest &= ~carried
    out["evidence"] = [
        [*evidence, f"Honest:its members' pooled score {p:.2f} is under {b:g}"
                    + (" (chance explains its sharing and flows)" if by_chance else "")]
        if flag else list(evidence)
        for evidence, p, b, by_chance, flag in zip(out["evidence"], pool, bar, chance, honest,
                                                   strict=True)
    ]
    fragment &= ~honest
    lookup = _score_lookup(account_scores)
    lowest = np.array([min(lookup.get(m, 0.0) for m in members) for members in out["members"]])
    below = (out["score"].to_numpy() < lowest) & ~fragment & ~honest
    out["evidence"] = [
        [*evidence, f"Calibrated:{score:.2f} below its least risky member ({low:.2f}): rings "
                    f"scored like it were collusive that often in the training labels"]
        if flag else list(evidence)
        for evidence, score, low, flag in zip(out["evidence"], out["score"], lowest, below,
                                              strict=True)
    ]
    return out.sort_values(["score", "ring_id"], ascending=[False, True],
                           kind="stable").reset_index(drop=True)


def member_scores(
    candidates: Sequence[RingCandidate], account_scores: pd.DataFrame, top_k: int = 3
) -> np.ndarray:
    """Pooled account score of each candidate: mean of (members' mean, mean of their top k)."""
    lookup = account_scores.drop_duplicates("account_id").set_index("account_id")["score"]
    sizes = np.array([len(c.members) for c in candidates], dtype=np.int64)
    members = pd.Index([m for c in candidates for m in c.members])
    table = pd.DataFrame(
        {
            "cand": np.repeat(np.arange(len(candidates)), sizes),
            "score": lookup.reindex(members).fillna(0.0).to_numpy(np.float64),
        }
    ).sort_values(["cand", "score"], ascending=[True, False], kind="stable")
    top = table[table.groupby("cand").cumcount().to_numpy() < top_k]
    mean = table.groupby("cand")["score"].mean().reindex(range(len(candidates)), fill_value=0.0)
    top_mean = top.groupby("cand")["score"].mean().reindex(range(len(candidates)), fill_value=0.0)
    return 0.5 * mean.to_numpy() + 0.5 * top_mean.to_numpy()


def score_rings(
    candidates: Sequence[RingCandidate],
    snapshot: object | None = None,
    account_scores: pd.DataFrame | None = None,
    account_weight: float = 0.7,
    top_k: int = 3,
    nms_jaccard: float = 0.5,
    fragment_share: float = 0.8,
    fragment_factor: float = 0.5,
    min_member_score: float | None = 0.5,
    trim_unlabelled: bool = True,
    unsurprising: str = "drop",
    labelled_fragment_share: float = 0.5,
    nest_tolerance: float = NEST_TOLERANCE,
    eligible: Callable[[pd.DataFrame], np.ndarray] | None = None,
    core_min_surprise: float | None = CORE_MIN_SURPRISE,
    labelled_abusive: Collection[str] = frozenset(),
    pair_fdr: float | None = PAIR_FDR,
    labelled_honest: Collection[str] = frozenset(),
    pair_scores: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Score and rank candidate rings.

    Parameters
    ----------
    candidates
        From :func:`graph.rings.candidates.find_ring_candidates`.
    snapshot
        The snapshot the candidates come from; the structure is already in the candidates'
        features, so it is accepted for interface stability and not read.
    account_scores
        ``account_id, score`` (higher = riskier, in [0, 1]); None ranks by structure alone
        (:func:`unlabelled_scores`: significance).
    account_weight
        Share of the pooled member score in the ring score.
    top_k
        How many of the highest member scores the pooling averages.
    nms_jaccard
        A ring overlapping a higher-scored one at least this much (member Jaccard) is dropped;
        1.0 keeps every candidate.
    fragment_share
        Without account scores, a ring with at least this share of its members inside one
        better, non-fragment ring is a fragment of it; above 1.0 nothing is.
    fragment_factor
        A fragment's score is multiplied by this (in [0, 1]).
    min_member_score
        With account scores, candidates are trimmed to their implicated members first
        (:func:`trim_members` with this bar); None keeps every member.
    trim_unlabelled
        Without account scores, candidates are cut down to their ``core`` first
        (:func:`trim_to_core`); False keeps every member.
    unsurprising
        With account scores, what becomes of a candidate the null model does not find
        significant (:data:`UNSURPRISING`; :func:`trim_members`, :func:`flow_significance`).
    labelled_fragment_share
        ``fragment_share`` with account scores. Half (``fragment_share`` before session 10):
        trimmed candidates of one planted ring differ by more than a fifth of their members
        (generated 200k world, seed 3: 766 -> 659 rings for 590 planted, recovery 0.942 ->
        0.941, top precision 0.908 -> 0.932, member precision by the truth 0.906 -> 0.928;
        without account scores half made the top precision worse there, 0.720 -> 0.707).
    nest_tolerance
        With account scores, a ring is also a fragment of a larger ring ranked below it that
        holds ``labelled_fragment_share`` of it when its score exceeds that ring's by less than
        this many of the larger ring's standard errors (:data:`NEST_TOLERANCE`); 0 turns it off.
    eligible
        The rings that may be reported, as a mask of the scored table (e.g.
        :func:`gnn.ring_ranking.reportable` without labels); the others are dropped before
        the overlap suppression, so that a ring that would not be reported does not shadow an
        overlapping one that would. None keeps every ring.
    core_min_surprise
        With account scores, the surprise from which a candidate sharing entities keeps its
        core in the trim (:data:`CORE_MIN_SURPRISE`, :func:`trim_members`); None keeps none.
    labelled_abusive
        With account scores, the accounts the run's training labels call abusive: core members
        among them stay whatever their score (:func:`trim_members`).
    pair_fdr
        With account scores, the false discovery rate at which chance pairs of two anchors stay
        (:func:`trim_members`, :func:`graph.rings.anchored.paired_candidates`); None keeps none.
    labelled_honest
        With account scores, the accounts the run's training labels call honest: none of them
        anchors a chance pair (:func:`trim_members`).
    pair_scores
        With account scores, the scores chance pairs are judged by instead of them
        (:func:`trim_members`); None: by ``account_scores``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`RING_COLUMNS`, best ring first: ``ring_id``, ``score`` in [0, 1],
        ``size``, ``members`` and ``evidence`` (lists of str), ``kind``, ``structure_score``,
        ``member_score`` (NaN without account scores), the structure features and
        ``pooled_score`` (the score before a fragment's demotion and before
        :func:`calibrate_rings`), ``flow_surprise``, ``flow_robust_surprise`` and
        ``flow_boost`` (the flow boost
        in it, :func:`flow_significance`; 0 without account scores) and ``burst_surprise``
        (an entity burst's own test, :mod:`graph.rings.bursts`; NaN for other rings).

    Examples
    --------
    >>> rings = score_rings(find_ring_candidates(snap), snap, scores)   # doctest: +SKIP
    >>> rings.head(10)[["ring_id", "score", "size", "evidence"]]        # doctest: +SKIP
    """
    if account_scores is not None and min_member_score is not None:
        candidates = trim_members(candidates, account_scores, min_member_score,
                                  unsurprising=unsurprising, core_min_surprise=core_min_surprise,
                                  labelled_abusive=labelled_abusive, pair_fdr=pair_fdr,
                                  labelled_honest=labelled_honest, pair_scores=pair_scores)
    elif account_scores is None and trim_unlabelled:
        candidates = trim_to_core(candidates)
    if not candidates:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in RING_COLUMNS})
    structure = structure_scores(candidates)
    if account_scores is None:
        pooled = np.full(len(candidates), np.nan)
        score = unlabelled_scores(candidates)
        boost = np.zeros(len(candidates))
    else:
        pooled = member_scores(candidates, account_scores, top_k)
        score = account_weight * pooled + (1.0 - account_weight) * structure
        boost = flow_significance(candidates, unsurprising)
        score = 1.0 - (1.0 - score) * (1.0 - boost)
    table = pd.DataFrame(
        {
            "ring_id": [c.ring_id for c in candidates],
            "score": np.clip(score, 0.0, 1.0),
            "size": [len(c.members) for c in candidates],
            "members": [list(c.members) for c in candidates],
            "evidence": [list(c.evidence) for c in candidates],
            "kind": [c.kind for c in candidates],
            "structure_score": structure,
            "member_score": pooled,
            "pooled_score": np.clip(score, 0.0, 1.0),
            **{
                f: [c.features.get(f, 0.0) for c in candidates]
                for f in STRUCTURE_FEATURES
                if f != "size"
            },
            # a money-flow shape's surprise from its money alone, and held to several tests
            # (gnn.ring_ranking), else NaN
            "flow_surprise": [c.features.get("flow_surprise", np.nan) for c in candidates],
            "flow_robust_surprise": [c.features.get("flow_robust_surprise", np.nan)
                                     for c in candidates],
            "flow_boost": boost,
            # an entity burst's surprise by its own test (graph.rings.bursts), else NaN
            "burst_surprise": [c.features.get("burst_surprise", np.nan) for c in candidates],
        }
    )
    if not 0.0 <= fragment_factor <= 1.0:
        raise ValueError(f"score_rings: fragment_factor must be in [0, 1], got {fragment_factor}")
    if eligible is not None:
        table = table[np.asarray(eligible(table), dtype=bool)]
        if table.empty:
            return table[list(RING_COLUMNS)].reset_index(drop=True)
    table = _ranked(table).reset_index(drop=True)
    if account_scores is not None:
        fragment_share = labelled_fragment_share
    if fragment_share > 1.0 and nms_jaccard >= 1.0:
        return table[list(RING_COLUMNS)]
    overlap, sizes = _overlaps(table["members"].tolist())
    if fragment_share <= 1.0:
        tolerance = None if account_scores is None else nest_tolerance * account_weight * 0.5 * (
            _mean_standard_error(table["members"].tolist(), account_scores))
        fragment, carried = _fragments(overlap, sizes, fragment_share,
                                       table["score"].to_numpy(np.float64), tolerance)
        lift = carried - table["score"].to_numpy(np.float64)
        lifted = lift > 0.0
        table.loc[lifted, "score"] = table.loc[lifted, "pooled_score"] = carried[lifted]
        table["evidence"] = [
            [*evidence, f"Nested:scored as a piece of it, {up:.3f} higher, within its "
                        f"uncertainty"] if up > 0.0 else evidence
            for evidence, up in zip(table["evidence"], lift, strict=True)]
        table.loc[fragment, "score"] *= fragment_factor
        order = _ranked(table).index.to_numpy()  # new ranking as positions in the old one
        table = table.iloc[order].reset_index(drop=True)
        overlap, sizes = overlap[order][:, order].tocsr(), sizes[order]
    if nms_jaccard < 1.0:
        table = table[_suppress_overlaps(overlap, sizes, nms_jaccard)]
    return table.reset_index(drop=True)[list(RING_COLUMNS)]


def _ranked(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` best first (ties by ring id), keeping its index."""
    return table.sort_values(["score", "ring_id"], ascending=[False, True], kind="stable")


def _overlaps(ranked: list[list[str]]) -> tuple[sp.csr_matrix, np.ndarray]:
    """Rings x rings shared-member counts and the ring sizes."""
    ids, codes = np.unique(
        np.concatenate([np.asarray(m, dtype=object) for m in ranked]), return_inverse=True
    )
    sizes = np.array([len(m) for m in ranked])
    rows = np.repeat(np.arange(len(ranked)), sizes)
    member = sp.csr_matrix((np.ones(len(codes)), (rows, codes)), shape=(len(ranked), len(ids)))
    return (member @ member.T).tocsr(), sizes


def _fragments(overlap: sp.csr_matrix, sizes: np.ndarray, share: float,
               scores: np.ndarray | None = None, tolerance: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Mask of rings (best first; ``overlap`` and ``sizes`` from :func:`_overlaps`) with at
    least ``share`` of their members, and two, inside one better ring that is not a fragment
    itself, or, given ``scores`` and ``tolerance`` (one per ring), inside one larger ring
    ranked below it whose score is within that larger ring's ``tolerance`` of its own (a piece
    of a ring scored like the ring: :data:`NEST_TOLERANCE`); and each ring's score carried: the
    highest of its own and those of the pieces it holds that way (``scores``; zeros without)."""
    fragment = np.zeros(len(sizes), dtype=bool)
    carried = np.zeros(len(sizes)) if scores is None else scores.copy()
    for i in range(len(sizes)):
        start, stop = overlap.indptr[i], overlap.indptr[i + 1]
        others, common = overlap.indices[start:stop], overlap.data[start:stop]
        near = np.zeros(len(others), dtype=bool)
        if scores is not None and tolerance is not None:
            near = (others > i) & (sizes[others] > sizes[i]) & (
                scores[others] >= scores[i] - tolerance[others])
        # two accounts at least: one account of a pair inside a better ring made the pair a
        # fragment (hsplit, session 18: 2 planted pairs of benchmarks.pairs seed 3)
        inside = ((others < i) | near) & ~fragment[others] & (
            common >= max(share * sizes[i], 2.0))
        fragment[i] = inside.any()
        if scores is not None:
            holders = others[inside & near]
            carried[holders] = np.maximum(carried[holders], scores[i])
    return fragment, carried


def _mean_standard_error(members: list[list[str]], account_scores: pd.DataFrame
                         ) -> np.ndarray:
    """Per ring: the standard error of its members' mean account score (0 for a member
    without one), ``std / sqrt(size)``."""
    lookup = _score_lookup(account_scores)
    return np.array([np.std([lookup.get(m, 0.0) for m in ms]) / np.sqrt(len(ms))
                     for ms in members])


def _suppress_overlaps(overlap: sp.csr_matrix, sizes: np.ndarray, nms_jaccard: float
                       ) -> np.ndarray:
    """Keep-mask of rings (best first; ``overlap`` and ``sizes`` from :func:`_overlaps`) not
    overlapping a kept better ring at ``nms_jaccard``."""
    keep = np.zeros(len(sizes), dtype=bool)
    for i in range(len(sizes)):
        start, stop = overlap.indptr[i], overlap.indptr[i + 1]
        others, common = overlap.indices[start:stop], overlap.data[start:stop]
        jaccard = common / (sizes[i] + sizes[others] - common)
        clash = (others < i) & keep[others] & (jaccard >= nms_jaccard)
        keep[i] = not clash.any()
    return keep


def assign_rings(account_scores: pd.DataFrame, rings: pd.DataFrame) -> pd.DataFrame:
    """Add ``ring_id``: each account's highest-scored ring, or null when it is in none.

    Parameters
    ----------
    account_scores
        ``account_id, score`` (any further columns are kept).
    rings
        A :func:`score_rings` table (``ring_id``, ``score``, ``members``).

    Returns
    -------
    pandas.DataFrame
        A copy of ``account_scores`` with a ``ring_id`` column (str or None).
    """
    out = account_scores.drop(columns=["ring_id"], errors="ignore").copy()
    if rings.empty:
        out["ring_id"] = None
        return out
    membership = (
        rings[["ring_id", "score", "members"]]
        .explode("members")
        .rename(columns={"members": "account_id"})
        .sort_values(["score", "ring_id"], ascending=[False, True])
        .drop_duplicates("account_id")
        .set_index("account_id")["ring_id"]
    )
    ring_id = out["account_id"].astype(str).map(membership)
    out["ring_id"] = ring_id.astype(object).where(ring_id.notna(), None)
    return out
