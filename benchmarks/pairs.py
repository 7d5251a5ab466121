"""Pair benchmark: planted abusive pairs (rings of two) recovered, and honest pairs reported.

Protocol
--------
A world of ``--accounts`` (20k) generated with ``configs/synth-pairs.yaml`` (2 % of the accounts
in planted pairs next to the default rings; households sharing a device or a card are the
honest look-alikes) goes through the pipeline's ring part as ``benchmarks.realdata`` runs it:
``ingest_logs`` + ``build_snapshot``, the ring candidates (:class:`graph.rings.config.RingConfig`
defaults; a pair's time coincidence read from every event, as the pipeline's candidate stage
reads it, or from first and last uses only with ``--first-last``), then

* without labels: the candidates :func:`abusenet.pipeline.stages.detect.unlabelled_rings`
  reports (significant, surprising enough);
* with labels, ``--scores xgb`` (the default): XGBoost on the accounts' own features trained on
  a random half of the generator's truth, then the rings stage of ``abusenet run`` itself
  (:func:`abusenet.pipeline.stages.detect.rings_stage`: the groups of high-scoring accounts,
  the trim, the calibration on that half, rings reported at ``min_score``);
* with labels, ``--scores gnn``: ``abusenet run`` itself (a child process of this tree's code,
  default config: its labels stage's holdout split of the generator's ``labels.csv``, the GNN
  detector, the challenger's published scores, the rings stage),

each twice: as by default (``ring_scoring.pair_fdr`` null, mode ``with labels``) and with
``pair_fdr`` set (``--pair-fdr``, 0.05; mode ``with labels, pairs``), where the candidates hold
the pairs chance explains too (``RingConfig.chance_pairs``), kept when both accounts are anchors
at that false discovery rate (:func:`graph.rings.anchored.paired_candidates`; an account the
training labels call honest anchors none).

Per mode (:func:`graph.rings.metrics.pair_metrics`): ``recovered`` (planted pairs matched at
member Jaccard >= 0.5 by a reported ring: the pair itself, or a ring of three or four holding
it), ``exact`` (reported as a pair of their own), the reported pairs, the share of them whose two
accounts are both abusive and the number of which neither is (honest pairs), and every planted
ring's recovery. Then the planted pairs by what they share (ring devices and cards) with the
median null-model surprise of their pair candidate, and why the missed ones were missed:
``not listed`` (no pair candidate, even with the null off: fewer than two rare entities shared,
or a candidate group ties them as well), ``chance`` (the null model's surprise under
``min_surprise``: sharing one entity of each type is what a household does), ``not reported``
(surprising, but not reported in that mode). Last, the planted pairs by the moments their two
accounts met on what they share (the pair test's ``Together`` evidence; 0 where none is stated or
the pair is not listed), with their median surprise and recovery.

The world also holds honest couples living alone (the config's ``couple_alone_share``: a
household of two sharing a device and a card that also shares a second device, a second card or
both, no third account using them; ``couple_turns_share``: at home together they take turns on
those devices, minutes apart): honest pairs that share what planted pairs share. The
``look-alikes`` table counts the pairs (planted, honest) sharing one or more devices and cards
that no third account uses, by how many of each, and the share of them each mode reports
(``mixed``: one account abusive, one not, e.g. a fraudster and an honest partner); a
reported honest pair counts against ``precision`` and in ``honest`` (``modes``).

With ``--couples SHARE`` (the generator's ``household_couple_share``) the world also holds
honest couples in families: in that share of the households of three or more sharing a device
and a card, two members share a second device and card (every reported one is an honest pair).

Run ``python -m benchmarks.pairs [--accounts 20000] [--seed 7] [--scores xgb|gnn]
[--pair-fdr 0.05] [--first-last] [--couples 0.5]``; tune on seed 3, not 7.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from abusenet.pipeline.config import RingScoringConfig
from abusenet.pipeline.stages.detect import unlabelled_rings
from benchmarks.realdata import _halves, _xgb_scores, own_features
from benchmarks.rings import ROOT, _pipeline_snapshot
from graph.rings.anchored import PAIR_FDR
from graph.rings.candidates import CHANCE_PAIR_FEATURE, find_ring_candidates
from graph.rings.config import RingConfig
from graph.rings.metrics import pair_metrics, rings_recovered
from graph.rings.pairs import event_use_times

PAIRS_CONFIG = ROOT / "configs" / "synth-pairs.yaml"


def pairs_world(out: Path, n_accounts: int, seed: int, couples: float = 0.0) -> None:
    """Generate the pairs world into ``out`` (with ``couples`` as the generator's
    ``household_couple_share``) and build its snapshot under ``out / "work"``."""
    from ingest.synth import generate, load_config

    generate(out / "synth", n_accounts=n_accounts, seed=seed, progress=False,
             **{**load_config(PAIRS_CONFIG).to_dict(), "household_couple_share": couples})
    _pipeline_snapshot(str(out / "synth" / "events"), ROOT / "configs" / "mappings" /
                       "synth.yaml", out / "work")


def shared_by_pairs(events: pd.DataFrame, column: str, pairs: list[list[str]]) -> np.ndarray:
    """Per pair: the distinct values of ``column`` (devices, cards) both accounts used."""
    pair_of = pd.Series(np.repeat(np.arange(len(pairs)), 2),
                        index=[a for pair in pairs for a in pair])
    used = events.loc[events["account_id"].isin(pair_of.index), ["account_id", column]]
    used = used.dropna().drop_duplicates()
    used["pair"] = pair_of.reindex(used["account_id"]).to_numpy()
    users = used.groupby(["pair", column]).size()
    both = users[users == 2].groupby(level="pair").size()
    return both.reindex(range(len(pairs)), fill_value=0).to_numpy()


def exclusive_pairs(events: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Account pairs sharing one or more values of every one of ``columns`` (devices, cards)
    that no third account uses, with how many of each (a column per ``columns``; the index the
    sorted pair of account ids)."""
    counts = []
    for column in columns:
        used = events[["account_id", column]].dropna().drop_duplicates()
        two = used[used.groupby(column)["account_id"].transform("size") == 2]
        pairs = two.sort_values([column, "account_id"]).groupby(column)["account_id"].agg(tuple)
        counts.append(pairs.value_counts().rename(column))
    table = pd.concat(counts, axis=1).fillna(0).astype(int)
    return table[(table > 0).all(axis=1)]


def together_moments(evidence: list[str]) -> int:
    """The moments a pair's two accounts met on what they share, as its evidence states them
    (``"Together:<n> moments within ..."``); 0 where it states none."""
    for item in evidence:
        if item.startswith("Together:"):
            return int(item.split(":", 1)[1].split(" ", 1)[0])
    return 0


def labelled_rings(work: Path, candidates: list, scores: pd.DataFrame, train: pd.DataFrame,
                   pair_fdr: float | None) -> pd.DataFrame:
    """The rings ``abusenet run`` reports with labels
    (:func:`abusenet.pipeline.stages.detect.rings_stage`, default ring scoring but ``pair_fdr``)
    from ``candidates``, the account ``scores`` (``account_id, score``) and the training labels
    ``train``, for the snapshot under ``work / "snapshot"``; the stage's files are written under
    ``work / "rings"``."""
    from abusenet.pipeline.stages.data import write_candidates
    from abusenet.pipeline.stages.detect import rings_stage

    out = work / "rings"
    out.mkdir(exist_ok=True)
    write_candidates(candidates, out / "candidates.parquet")
    scores.assign(score_kind="probability").to_parquet(out / "scores.parquet", index=False)
    train.to_parquet(out / "train.parquet", index=False)
    rings_stage(out / "candidates.parquet", out / "scores.parquet",
                RingScoringConfig(pair_fdr=pair_fdr), out, out / "train.parquet",
                work / "snapshot", RingConfig())
    return pd.read_parquet(out / "rings.parquet")


def pipeline_rings(synth: Path, out: Path, pair_fdr: float | None) -> pd.DataFrame:
    """The rings ``abusenet run`` (this tree's code, default config, ``ring_scoring.pair_fdr``
    set to ``pair_fdr``) reports on the generated world ``synth`` with its ``labels.csv``;
    ``out`` is the run's output directory (a second run there reuses the stages it can)."""
    done = subprocess.run(
        [sys.executable, "-m", "abusenet", "run", "--input", str(synth / "events"),
         "--mapping", str(ROOT / "configs" / "mappings" / "synth.yaml"),
         "--labels", str(synth / "labels.csv"), "--out", str(out), "--quiet",
         f"ring_scoring.pair_fdr={'null' if pair_fdr is None else pair_fdr}"],
        capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode:
        raise RuntimeError(f"abusenet run failed (exit {done.returncode}):\n"
                           f"{(done.stdout + done.stderr)[-4000:]}")
    return pd.read_parquet(out / "rings.parquet")


#: The judges of :func:`judged_pairs`: the scores a chance pair's two accounts are read by.
JUDGES = ("published", "gnn", "unshared", "own")


def judged_pairs(work: Path, truth: pd.DataFrame, planted: list[list[str]]) -> pd.DataFrame:
    """The pairs chance explains in the ``abusenet run`` whose stage outputs are under ``work``
    (its ``.work``) by what they are (``planted``, ``honest``: neither account abusive,
    ``mixed``: one, ``abusive``: both, in another planted ring; ``truth`` the generator's
    ``truth_accounts``) and how many of their accounts are anchors (score at least the default
    ``min_member_score``; an account the run's training labels call honest never is) by each
    of :data:`JUDGES`: the run's published scores, the GNN's, the GNN's with what each pair
    shares made its own (:func:`abusenet.pipeline.stages.detect.unshared_pair_scores`) and own
    evidence (:func:`abusenet.pipeline.stages.detect.own_evidence_scores`); per judge also the
    rate the pairs test reads (:func:`graph.rings.anchored.pair_anchor_rate`) and the pairs of
    two anchors chance makes at it (``m pi^2``), over ``pair_fdr`` of which none is kept."""
    from abusenet.pipeline.stages.data import read_candidates
    from abusenet.pipeline.stages.detect import own_evidence_scores, unshared_pair_scores
    from gnn.association import PAIR_OWN_DEPTH
    from graph.rings.anchored import pair_anchor_rate

    candidates = read_candidates(work / "candidates" / "candidates.parquet")
    pairs = [sorted(map(str, c.members)) for c in candidates
             if CHANCE_PAIR_FEATURE in c.features and len(c.members) == 2]
    abusive = set(truth.loc[truth["is_abusive"].astype(bool), "account_id"].astype(str))
    sown = {tuple(p) for p in planted}
    who = ["planted" if tuple(p) in sown else "honest" if not set(p) & abusive
           else "abusive" if set(p) <= abusive else "mixed" for p in pairs]
    train = pd.read_parquet(work / "labels" / "train_labels.parquet")
    honest = set(train.loc[train["label"] == 0, "account_id"].astype(str))
    published = work / "challenger" / "account_scores.parquet"
    own = own_evidence_scores(work / "snapshot" / "snapshot", train, PAIR_OWN_DEPTH)
    judges = {
        "published": pd.read_parquet(published if published.exists()
                                     else work / "score" / "account_scores.parquet"),
        "gnn": pd.read_parquet(work / "score" / "account_scores.parquet"),
        "unshared": unshared_pair_scores(work / "snapshot" / "snapshot",
                                         work / "train" / "model", candidates),
        "own": None if own is None else pd.DataFrame({"account_id": own.index,
                                                      "score": own.to_numpy()})}
    bar = RingScoringConfig().min_member_score
    rows = []
    for judge, scores in judges.items():
        if scores is None:
            continue
        lookup = scores.set_index(scores["account_id"].astype(str))["score"]
        anchor = [[lookup.get(a, 0.0) >= bar and a not in honest for a in p] for p in pairs]
        count = np.array([sum(a) for a in anchor])
        beside = np.array([anchor[i][k] for i, p in enumerate(pairs) for k in (0, 1)
                           if p[1 - k] in honest and p[k] not in honest], dtype=bool)
        rate = pair_anchor_rate(count, beside)
        table = pd.crosstab(pd.Series(who, name="who"), pd.Series(count, name="anchors"))
        for kind, line in table.reindex(columns=[0, 1, 2], fill_value=0).iterrows():
            rows.append({"judge": judge, "who": kind, **{f"anchors {k}": int(line[k])
                                                        for k in (0, 1, 2)},
                         "rate": rate, "chance": len(pairs) * rate ** 2})
    return pd.DataFrame(rows)


def run(n_accounts: int = 20_000, seed: int = 7, times: bool = True,
        couples: float = 0.0, scores: str = "xgb",
        pair_fdr: float = PAIR_FDR) -> dict[str, pd.DataFrame]:
    """The benchmark's tables (module docstring): ``modes``, ``sharing``, ``missed``,
    ``moments``, ``look-alikes`` and, with ``scores`` ``gnn``, ``judges``
    (:func:`judged_pairs`); pairs' time coincidence from every event with ``times``,
    else from first and last uses; ``couples``: the world's share of households with a couple
    (module docstring); ``scores``: the account scores of the labelled modes (``xgb`` or
    ``gnn``); ``pair_fdr``: the pairs test's false discovery rate in mode ``with labels,
    pairs``."""
    from graph.snapshot import read_snapshot

    scoring = RingScoringConfig()
    with tempfile.TemporaryDirectory(prefix="pairs-bench-") as tmp:
        began = time.perf_counter()
        pairs_world(Path(tmp), n_accounts, seed, couples)
        snapshot = read_snapshot(Path(tmp) / "work" / "snapshot")
        truth = pd.read_parquet(Path(tmp) / "synth" / "rings.parquet")
        accounts = pd.read_parquet(Path(tmp) / "synth" / "truth_accounts.parquet")
        events = pd.read_parquet(Path(tmp) / "synth" / "events",
                                 columns=["account_id", "device_id", "payment_id"])
        built = time.perf_counter() - began
        use_times = event_use_times(Path(tmp) / "work" / "events") if times else None
        began = time.perf_counter()
        # as abusenet run with a model and pair_fdr set: the pairs chance explains listed too
        scored_candidates = find_ring_candidates(snapshot, RingConfig(chance_pairs=True),
                                                 use_times=use_times)
        search = time.perf_counter() - began
        candidates = [c for c in scored_candidates if CHANCE_PAIR_FEATURE not in c.features]
        # what the null model makes of every listed pair, reported or not
        listed = {tuple(sorted(map(str, c.members))): (c.features.get("surprise", np.nan),
                                                       together_moments(c.evidence))
                  for c in find_ring_candidates(snapshot, RingConfig(min_surprise=-np.inf),
                                                use_times=use_times)
                  if c.kind == "pair"}
        labels = pd.DataFrame({"account_id": accounts["account_id"].astype(str),
                               "label": accounts["is_abusive"].astype(int)})
        began = time.perf_counter()
        if scores == "xgb":
            train, _ = _halves(labels)
            scored = _xgb_scores(own_features(snapshot), train)
            as_table = pd.DataFrame({"account_id": scored.index.astype(str),
                                     "score": scored.to_numpy()})
            work = Path(tmp) / "work"
            by_default = labelled_rings(work, candidates, as_table, train, None)
            with_pairs = labelled_rings(work, scored_candidates, as_table, train, pair_fdr)
        else:
            by_default = pipeline_rings(Path(tmp) / "synth", Path(tmp) / "run", None)
            with_pairs = pipeline_rings(Path(tmp) / "synth", Path(tmp) / "run", pair_fdr)
            judged = judged_pairs(Path(tmp) / "run" / ".work", accounts,
                                  [sorted(map(str, m)) for m in
                                   truth.loc[truth["kind"] == "pair", "members"]])
        scored_s = time.perf_counter() - began
    abusive = set(labels.loc[labels["label"] == 1, "account_id"])
    planted = [sorted(map(str, m)) for m in truth.loc[truth["kind"] == "pair", "members"]]
    every = [sorted(map(str, m)) for m in truth["members"]]

    unlabelled = unlabelled_rings(candidates, scoring.unlabelled_min_surprise)
    reported = {"without labels": [sorted(map(str, m)) for m in unlabelled["members"]],
                "with labels": [sorted(map(str, m)) for m in by_default["members"]],
                "with labels, pairs": [sorted(map(str, m)) for m in with_pairs["members"]]}
    modes = pd.DataFrame([
        {"mode": mode, **pair_metrics(rings, planted, abusive), "rings": len(rings),
         "all_recovered": rings_recovered(rings, every)}
        for mode, rings in reported.items()])
    modes["world_s"], modes["search_s"] = round(built, 1), round(search, 1)
    modes["scores"], modes["labelled_s"] = scores, round(scored_s, 1)

    per_pair = pd.DataFrame({
        "devices": shared_by_pairs(events, "device_id", planted),
        "cards": shared_by_pairs(events, "payment_id", planted),
        "surprise": [listed.get(tuple(p), (np.nan, 0))[0] for p in planted],
        "moments": [listed.get(tuple(p), (np.nan, 0))[1] for p in planted],
    })
    for mode, rings in reported.items():
        per_pair[mode] = [rings_recovered(rings, [p]) == 1.0 for p in planted]
    sharing = per_pair.groupby(["devices", "cards"]).agg(
        pairs=("surprise", "size"), median_surprise=("surprise", "median"),
        **{f"recovered {mode}": (mode, "mean") for mode in reported}).reset_index()
    why = np.select([per_pair["surprise"].isna(),
                     per_pair["surprise"] < RingConfig().min_surprise],
                    ["not listed", "chance"], "not reported")
    missed = pd.DataFrame({mode: pd.Series(why[~per_pair[mode].to_numpy()]).value_counts()
                           for mode in reported}).fillna(0).astype(int)
    events["account_id"] = events["account_id"].astype(str)
    alike = exclusive_pairs(events, ("device_id", "payment_id"))
    alike["who"] = ["planted" if set(p) <= abusive else "honest" if not set(p) & abusive
                    else "mixed" for p in alike.index]
    for mode, rings in reported.items():
        two = {tuple(sorted(m)) for m in rings if len(set(m)) == 2}
        alike[mode] = [p in two for p in alike.index]
    lookalikes = alike.groupby(["who", "device_id", "payment_id"]).agg(
        pairs=("who", "size"), **{f"reported {mode}": (mode, "mean") for mode in reported})
    by_moments = per_pair.groupby("moments").agg(
        pairs=("surprise", "size"), median_surprise=("surprise", "median"),
        **{f"recovered {mode}": (mode, "mean") for mode in reported}).reset_index()
    return {"modes": modes, "sharing": sharing, "missed": missed, "moments": by_moments,
            "look-alikes": lookalikes.reset_index(),
            **({"judges": judged} if scores == "gnn" else {})}


def main(argv: list[str] | None = None) -> None:
    """Print the benchmark's tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--first-last", action="store_true",
                        help="pairs' time coincidence from first and last uses only")
    parser.add_argument("--couples", type=float, default=0.0,
                        help="share of households of 3+ with a couple sharing a second device "
                             "and card (honest look-alikes of pairs)")
    parser.add_argument("--scores", choices=("xgb", "gnn"), default="xgb",
                        help="with labels: XGBoost on own features and the rings stage, or "
                             "abusenet run itself (the GNN detector)")
    parser.add_argument("--pair-fdr", type=float, default=PAIR_FDR,
                        help="ring_scoring.pair_fdr of mode 'with labels, pairs'")
    args = parser.parse_args(argv)
    if not 0.0 < args.pair_fdr < 1.0:
        parser.error(f"--pair-fdr must be in (0, 1), not {args.pair_fdr}")
    tables = run(args.accounts, args.seed, times=not args.first_last, couples=args.couples,
                 scores=args.scores, pair_fdr=args.pair_fdr)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        for name, table in tables.items():
            print(f"\n{name}:\n{table.round(3).to_string(index=name != 'modes')}")


if __name__ == "__main__":
    main()
