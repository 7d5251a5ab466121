"""Where each true ring is lost on its way to the reported rings (issue 19: AMLSim recovery).

Every true ring is followed through the steps a run with account scores takes (``abusenet
run``'s rings stage, :func:`gnn.rings.score_rings` then :func:`gnn.rings.calibrate_rings`)
and given the first step it does not pass, a *stage* (``reported`` first: a ring the rings
stage reports through a group that is no search candidate, the groups of high-scoring accounts or
a pair kept at a false discovery rate, is reported whatever its candidates' fate):

* ``none``: no candidate shares a member with it;
* ``merged``: no candidate matches it (member Jaccard >= ``threshold``, as
  :func:`graph.rings.metrics.rings_recovered` counts), but one holds at least ``threshold`` of
  its members: it sits inside a larger group (an SCC, a hub's fan of honest payees);
* ``split``: no candidate matches it and none holds that share: the search saw pieces of it;
* ``chance``: a candidate matches it, but every matching one is one the null model explains
  (``significant`` 0) and the anchored rule (:mod:`graph.rings.anchored`) does not keep:
  :func:`gnn.rings.trim_members` drops it with ``unsurprising="drop"``;
* ``trimmed``: a matching candidate passes the null, but what :func:`gnn.rings.trim_members`
  keeps of it no longer matches (members under the anchor bar cut, or under three kept);
* ``suppressed``: a trimmed candidate matches it, but a fragment's demotion and the overlap
  suppression of :func:`gnn.rings.score_rings` leave no scored ring that does;
* ``under_bar``: a scored ring matches it, but none scoring at least ``min_score`` after
  :func:`gnn.rings.calibrate_rings` (``abusenet run`` reports those only;
  ``benchmarks.rings`` counts every scored ring, ``benchmarks.realdata`` the reported);
* ``reported``: a reported ring matches it.

Beside the stage, each row gives what the best candidate was: its member Jaccard with the true
ring and the share of the true ring it holds (``held``), its ``kind`` (which search found it),
``surprise`` / ``flow_surprise``, how many of its members are anchors (account score at the
member bar), the anchored surprise where all are, and the best Jaccard after each step.

Two ways in:

* ``--amlsim-seeds 0 1 2`` (default): the ``benchmarks.rings`` protocol on AMLSim 10k (the
  pipeline's snapshot and candidates, a GNN trained per seed on the training rings), the
  evaluation rings followed, typed by AMLSim's ``alert_type`` (cycle / fan_in / fan_out);
  ``--cache DIR`` keeps the candidates and scores there for a rerun (``--reuse``);
* ``--run DIR --truth FILE``: a finished ``abusenet run`` output (its cached candidates,
  published account scores, training labels and reported ``rings.parquet``; the groups of
  high-scoring accounts are not recomputed, so ``suppressed`` / ``under_bar`` are judged on the
  default scoring settings) against a truth file: AMLSim's ``alert_accounts.csv(.gz)``
  (``alert_id, alert_type, acct_id``) or a generator's ``rings.parquet`` (``ring_id``,
  ``members``, ``kind``).

Prints one row per true ring and the table of stage by type. Run
``python -m benchmarks.ring_losses [--amlsim-seeds 0 1 2] [--cache DIR [--reuse]]`` or
``python -m benchmarks.ring_losses --run OUT --truth FILE``.
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gnn.rings import calibrate_rings, fit_ring_calibrator, score_rings, trim_members
from graph.rings.anchored import anchor_rate, anchored_candidates, anchored_surprise
from graph.rings.candidates import RingCandidate
from graph.rings.config import RingConfig
from graph.rings.metrics import jaccard_matrix

#: The stages, in the order a ring passes them (module docstring).
STAGES = ("none", "merged", "split", "chance", "trimmed", "suppressed", "under_bar", "reported")


@dataclass(frozen=True)
class TrueRing:
    """One true ring: an id, its type (an AMLSim ``alert_type``, a generator's ``kind``) and
    its member ids."""

    ring_id: str
    typology: str
    members: tuple[str, ...]


def _best(predicted: Sequence[Sequence[str]], truth: Sequence[TrueRing]
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per true ring: the index of the predicted group of highest member Jaccard (-1 where none
    overlaps), that Jaccard, and the largest share of the true ring one group holds."""
    n = len(truth)
    index, best, held = np.full(n, -1), np.zeros(n), np.zeros(n)
    if not len(predicted) or not n:
        return index, best, held
    jaccard = jaccard_matrix(predicted, [t.members for t in truth]).tocsc()
    sizes = np.array([len(set(p)) for p in predicted], np.float64)
    for t in range(n):
        rows = jaccard.indices[jaccard.indptr[t]:jaccard.indptr[t + 1]]
        values = jaccard.data[jaccard.indptr[t]:jaccard.indptr[t + 1]]
        if not len(rows):
            continue
        size = len(set(truth[t].members))
        # |A & B| from J = i / (|A| + |B| - i)
        common = values * (sizes[rows] + size) / (1.0 + values)
        order = np.lexsort((rows, -values))
        index[t], best[t] = rows[order[0]], values[order[0]]
        held[t] = float(np.max(common)) / size
    return index, best, held


def ring_losses(
    truth: Sequence[TrueRing],
    candidates: Sequence[RingCandidate],
    account_scores: pd.DataFrame,
    labels: pd.DataFrame,
    threshold: float = 0.5,
    min_member_score: float = 0.5,
    min_score: float = 0.5,
    min_surprise: float | None = None,
    reported: pd.DataFrame | None = None,
    **score_kwargs: object,
) -> pd.DataFrame:
    """The stage (:data:`STAGES`) at which each true ring is lost, with what its best candidate
    was (module docstring).

    Parameters
    ----------
    truth
        The true rings.
    candidates
        Every candidate of the run (the search's and any others the rings stage scores).
    account_scores
        ``account_id, score``: what the rings are built from.
    labels
        ``account_id, label``: the training labels the ring calibrator is fitted on.
    threshold
        Member Jaccard at which a group matches a true ring.
    min_member_score
        The anchor bar (:func:`gnn.rings.trim_members`).
    min_score
        The reporting bar on the calibrated ring score.
    min_surprise
        The anchored rule's bar (default: :class:`RingConfig`'s ``min_surprise``).
    reported
        The reported rings (``members``), e.g. a run's ``rings.parquet``; None: the calibrated
        rings scoring at least ``min_score``.
    score_kwargs
        Further keyword arguments of :func:`gnn.rings.score_rings` (as the run passed them).

    Returns
    -------
    pandas.DataFrame
        One row per true ring, in the order given: ``ring_id``, ``typology``, ``size``,
        ``stage``, ``jaccard`` and ``held`` (the best candidate's), ``kind``, ``surprise``,
        ``flow_surprise``, ``anchors`` (members at the bar), ``anchored`` (anchored surprise
        when every member is an anchor, else NaN), ``trimmed_j``, ``scored_j`` and
        ``reported_j`` (the best Jaccard after the trim, the suppression and the bar).
    """
    min_surprise = RingConfig().min_surprise if min_surprise is None else min_surprise
    lookup = dict(zip(account_scores["account_id"].astype(str),
                      account_scores["score"].astype(float), strict=False))
    rate = anchor_rate(account_scores["score"].to_numpy(np.float64), min_member_score)
    members = [c.members for c in candidates]
    index, best, held = _best(members, truth)
    kept = anchored_candidates(candidates, lookup, min_member_score, min_surprise)
    passing = [c for c in candidates
               if c.features.get("significant", 1.0) >= 1.0 or c.ring_id in kept]
    _, pass_best, _ = _best([c.members for c in passing], truth)
    trimmed = trim_members(candidates, account_scores, min_member_score, **{
        k: v for k, v in score_kwargs.items() if k in _TRIM_KWARGS})
    _, trim_best, _ = _best([c.members for c in trimmed], truth)
    scored = score_rings(candidates, None, account_scores, min_member_score=min_member_score,
                         **score_kwargs)
    _, scored_best, _ = _best(scored["members"].tolist(), truth)
    if reported is None:
        calibrated = calibrate_rings(scored, fit_ring_calibrator(scored, labels),
                                     account_scores)
        reported = calibrated[calibrated["score"] >= min_score]
    _, reported_best, _ = _best(reported["members"].tolist(), truth)
    rows = []
    for t, ring in enumerate(truth):
        if reported_best[t] >= threshold:  # also through a group that is no candidate
            stage = "reported"
        elif index[t] < 0:
            stage = "none"
        elif best[t] < threshold:
            stage = "merged" if held[t] >= threshold else "split"
        elif pass_best[t] < threshold:
            stage = "chance"
        elif trim_best[t] < threshold:
            stage = "trimmed"
        elif scored_best[t] < threshold:
            stage = "suppressed"
        else:
            stage = "under_bar"
        top = candidates[index[t]] if index[t] >= 0 else None
        features = top.features if top is not None else {}
        anchors = sum(lookup.get(m, 0.0) >= min_member_score for m in top.members) if top else 0
        size = len(top.members) if top else 0
        anchored = (float(anchored_surprise(np.array([size]),
                                            np.array([features.get("surprise", np.nan)]),
                                            rate)[0])
                    if top is not None and anchors == size else np.nan)
        rows.append({
            "ring_id": ring.ring_id, "typology": ring.typology, "size": len(ring.members),
            "stage": stage, "jaccard": round(float(best[t]), 3), "held": round(float(held[t]), 3),
            "kind": top.kind if top else "", "candidate_size": size,
            "surprise": features.get("surprise", np.nan),
            "flow_surprise": features.get("flow_surprise", np.nan),
            "anchors": anchors, "anchored": anchored,
            "trimmed_j": round(float(trim_best[t]), 3), "scored_j": round(float(scored_best[t]), 3),
            "reported_j": round(float(reported_best[t]), 3),
        })
    return pd.DataFrame(rows)


#: The keyword arguments of :func:`gnn.rings.score_rings` that reach its trim.
_TRIM_KWARGS = ("unsurprising", "core_min_surprise", "labelled_abusive", "pair_fdr",
                "labelled_honest", "pair_scores")


def stage_table(losses: pd.DataFrame) -> pd.DataFrame:
    """True rings by type (rows, with a total) and stage (columns, in :data:`STAGES` order;
    stages no ring reached left out)."""
    table = pd.crosstab(losses["typology"], losses["stage"], margins=True, margins_name="all")
    return table[[s for s in (*STAGES, "all") if s in table.columns]]


def amlsim_truth_rings(path: Path | None = None) -> list[TrueRing]:
    """AMLSim's alerts as true rings (``alert_accounts.csv.gz``: ``alert_id``,
    ``alert_type``, ``acct_id``), ordered by alert id as :func:`benchmarks.rings.amlsim_truth`."""
    from benchmarks.rings import AMLSIM

    alerts = pd.read_csv(path or AMLSIM / "alert_accounts.csv.gz",
                         usecols=["alert_id", "alert_type", "acct_id"])
    return [TrueRing(str(a), str(g["alert_type"].iloc[0]), tuple(sorted(g["acct_id"].astype(str))))
            for a, g in alerts.groupby("alert_id")]


def read_truth(path: Path) -> list[TrueRing]:
    """True rings from AMLSim's alert list (``.csv`` / ``.csv.gz``) or a generator's
    ``rings.parquet`` (``ring_id``, ``members``, ``kind`` or ``typology``)."""
    if path.suffix == ".parquet":
        table = pd.read_parquet(path)
        kind = next((c for c in ("typology", "kind") if c in table), None)
        return [TrueRing(str(r["ring_id"]), str(r[kind]) if kind else "ring",
                         tuple(sorted(map(str, r["members"]))))
                for _, r in table.iterrows()]
    return amlsim_truth_rings(path)


def amlsim_losses(seeds: Sequence[int], cache: Path | None = None, reuse: bool = False
                  ) -> pd.DataFrame:
    """:func:`ring_losses` of the evaluation rings of each seed of the ``benchmarks.rings``
    protocol on AMLSim (GNN scores), with a ``seed`` column. ``cache`` keeps the candidates and
    each seed's scores there; ``reuse`` reads them back where present."""
    from benchmarks.rings import AMLSIM, ROOT, _pipeline_snapshot, amlsim_labels, amlsim_truth
    from gnn.detector import AccountDetector
    from graph.rings.candidates import find_ring_candidates
    from graph.rings.off_routine import event_transfer_times
    from graph.rings.projection import account_index
    from graph.snapshot import read_snapshot

    truth = amlsim_truth_rings()
    by_members = {r.members: r for r in truth}
    frames = []
    with tempfile.TemporaryDirectory(prefix="ring-losses-") as tmp:
        work = cache or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if reuse and (work / "snapshot").exists():
            snapshot = read_snapshot(work / "snapshot")
        else:
            snapshot = _pipeline_snapshot(str(AMLSIM / "transactions.csv.gz"),
                                          ROOT / "configs" / "mappings" / "amlsim.yaml", work)
        stored = work / "candidates.pkl"
        if reuse and stored.exists():
            candidates = pickle.loads(stored.read_bytes())
        else:
            candidates = find_ring_candidates(
                snapshot, transfer_times=event_transfer_times(work / "events"))
            stored.write_bytes(pickle.dumps(candidates))
        accounts = account_index(snapshot).astype(str)
        for seed in seeds:
            labels, evaluation = amlsim_labels(amlsim_truth(), accounts, seed)
            path = work / f"scores_{seed}.parquet"
            if reuse and path.exists():
                scores = pd.read_parquet(path)
            else:
                scores = AccountDetector(random_state=0).fit(snapshot, labels).score_accounts(
                    snapshot)
                scores.to_parquet(path)
            rings = [by_members[tuple(m)] for m in evaluation]
            frames.append(ring_losses(rings, candidates, scores, labels).assign(seed=seed))
    return pd.concat(frames, ignore_index=True)


def run_losses(run: Path, truth: Path) -> pd.DataFrame:
    """:func:`ring_losses` of a finished ``abusenet run`` output ``run`` against ``truth``
    (:func:`read_truth`): its cached candidates, published account scores (the challenger's
    when there is one), training labels and reported ``rings.parquet``."""
    from abusenet.pipeline.config import RingScoringConfig
    from abusenet.pipeline.stages.data import read_candidates

    work = run / ".work"
    scores_path = next(p for p in (work / "challenger" / "account_scores.parquet",
                                   work / "score" / "account_scores.parquet") if p.exists())
    labels = pd.read_parquet(work / "labels" / "train_labels.parquet",
                             columns=["account_id", "label"])
    labels["account_id"] = labels["account_id"].astype(str)
    scoring = RingScoringConfig()
    kwargs = {**scoring.score_rings_kwargs(), "pair_fdr": None,
              "core_min_surprise": scoring.unlabelled_min_surprise,
              "labelled_abusive": frozenset(labels.loc[labels["label"] == 1, "account_id"]),
              "labelled_honest": frozenset(labels.loc[labels["label"] == 0, "account_id"])}
    kwargs.pop("min_member_score", None)
    candidates = read_candidates(work / "candidates" / "candidates.parquet")
    return ring_losses(read_truth(truth), candidates,
                       pd.read_parquet(scores_path, columns=["account_id", "score"]), labels,
                       min_member_score=scoring.min_member_score or 0.5,
                       min_score=scoring.min_score, reported=pd.read_parquet(run / "rings.parquet"),
                       **kwargs)


def _print(losses: pd.DataFrame, by: Collection[str] = ()) -> None:
    """The per-ring rows of the lost rings and the stage tables."""
    pd.set_option("display.width", 220)
    pd.set_option("display.max_rows", 500)
    lost = losses[losses["stage"] != "reported"]
    print(lost.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    for key, group in (losses.groupby(list(by)) if by else [((), losses)]):
        name = ", ".join(f"{k} {v}" for k, v in zip(by, key, strict=True)) or "all"
        print(f"\n{name}:\n{stage_table(group).to_string()}")
    if by:
        print(f"\nall:\n{stage_table(losses).to_string()}")


def main(argv: list[str] | None = None) -> None:
    """Print where each true ring is lost."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--amlsim-seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="benchmarks.rings label draws to follow (default 0 1 2)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="keep AMLSim's snapshot, candidates and scores here")
    parser.add_argument("--reuse", action="store_true",
                        help="read the candidates and scores back from --cache where present")
    parser.add_argument("--run", type=Path, default=None, help="an abusenet run's output")
    parser.add_argument("--truth", type=Path, default=None,
                        help="with --run: alert_accounts.csv(.gz) or a generator's rings.parquet")
    parser.add_argument("--csv", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    if args.run is not None:
        if args.truth is None:
            parser.error("--run needs --truth")
        losses = run_losses(args.run, args.truth)
        by: tuple[str, ...] = ()
    else:
        losses = amlsim_losses(args.amlsim_seeds, args.cache, args.reuse)
        by = ("seed",)
    if args.csv is not None:
        losses.to_csv(args.csv, index=False)
    _print(losses, by)


if __name__ == "__main__":
    main()
