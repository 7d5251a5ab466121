"""Run the shapes battery: each world through ``abusenet run``, without labels and with half.

Usage::

    python -m benchmarks.shapes [--worlds lookalikes farms ...] [--seed N] [--out DIR]
                                [--quick] [--modes none half] [--set SECTION.KEY=VALUE ...]

For each world (:data:`benchmarks.shapes.worlds.WORLDS`; ``--quick``: the smaller sizes of
:data:`benchmarks.shapes.worlds.QUICK` and, unless ``--worlds`` says otherwise, ``mixed`` alone,
which holds every look-alike and every shape) it writes the world under
``OUT/<world>/`` (:func:`benchmarks.shapes.worlds.write_world`), splits ``labels.csv`` in two
halves stratified by class (``--seed``): ``labels_half.csv`` is given to the run, the other
half is hidden and scored. It then runs ``python -m abusenet run -i logs -m mapping.yaml -o
OUT/<world>/run-<mode> --quiet`` in a child process from an empty output folder, once without
labels (``none``) and once with ``labels_half.csv`` (``half``; skipped where no account is
abusive, as in ``lookalikes``: nothing to train on), with ``registry.enabled=false``,
``serve.prepare_start=false`` and ``report.explain_members=0`` (no model registry, serve caches
or explanations: none changes what is detected or scored) and the ``--set`` overrides. Each
run is scored by :func:`benchmarks.shapes.score.score_run`; ``OUT/shapes.json`` is rewritten
after every run and a Markdown table is printed at the end. CPU seconds are the child's user +
system time (every thread and process it waited for).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.shapes.score import score_run
from benchmarks.shapes.worlds import FULL, QUICK, WORLDS, build_world, write_world
from ingest.files import write_text_atomic

MODES = ("none", "half")
FIXED = ("registry.enabled=false", "serve.prepare_start=false", "report.explain_members=0")


def chosen_worlds(worlds: list[str] | None, quick: bool) -> list[str]:
    """The worlds asked for; by default all of them, or ``mixed`` alone with ``--quick``."""
    return list(worlds) if worlds else ["mixed"] if quick else list(WORLDS)


def split_labels(labels: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``labels`` (``user_id``, ``is_abuser``) in two halves, each class split evenly
    (the given half takes the odd one of a class)."""
    rng = np.random.default_rng([seed, 2])
    given = np.zeros(len(labels), dtype=bool)
    for value in (0, 1):
        rows = np.flatnonzero(labels["is_abuser"].to_numpy() == value)
        given[rng.permutation(rows)[: math.ceil(len(rows) / 2)]] = True
    return labels[given].reset_index(drop=True), labels[~given].reset_index(drop=True)


def world_parser(doc: str | None, name: str,
                 worlds: list[str] | None = None) -> argparse.ArgumentParser:
    """The command line a probe world's benchmark takes: ``--worlds`` (when it has several),
    ``--seeds``, ``--out`` (default ``TMP/name``) and ``--set`` overrides for ``abusenet run``
    (:func:`run_abusenet`); described by the first paragraph of ``doc``."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    if worlds is not None:
        parser.add_argument("--worlds", nargs="+", choices=worlds, default=list(worlds))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / name)
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE", help="config override for abusenet run")
    return parser


def run_abusenet(world: Path, out: Path, labels: Path | None, overrides: list[str]) -> dict:
    """One ``abusenet run`` of ``world`` into an emptied ``out``: CPU s, the run's summary
    (its printed lines before the list of outputs) and each stage's wall seconds."""
    shutil.rmtree(out, ignore_errors=True)
    args = [sys.executable, "-m", "abusenet", "run", "-i", str(world / "logs"),
            "-m", str(world / "mapping.yaml"), "-o", str(out), "--quiet", *FIXED, *overrides]
    if labels is not None:
        args[6:6] = ["-l", str(labels)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode:
        raise RuntimeError(f"abusenet run failed on {world} (exit {proc.returncode}):\n"
                           f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    lines = proc.stdout.strip().splitlines()
    summary = lines[:next((i for i, line in enumerate(lines) if line.startswith("Outputs in")),
                          len(lines))]
    stages = {}
    for record in sorted((out / ".work" / "stages").glob("*.json")):
        raw = json.loads(record.read_text())
        stages[raw["stage"]] = round(raw["seconds"], 2)
    return {"cpu_s": cpu, "summary": summary, "stage_wall_s": stages}


def measure_world(name: str, seed: int, quick: bool, out: Path, modes: list[str],
                  overrides: list[str]) -> dict:
    """Generate ``name``, run it in every mode and score each run."""
    folder = out / name
    world = build_world(name, seed, QUICK if quick else FULL)
    write_world(world, name, folder, seed)
    groups = json.loads((folder / "groups.json").read_text())
    labels = pd.read_csv(folder / "labels.csv", dtype={"user_id": str})
    given, hidden = split_labels(labels, seed)
    write_text_atomic(folder / "labels_half.csv", given.to_csv(index=False))
    truth = labels.set_index("user_id")["is_abuser"]
    result = {"accounts": groups["accounts"], "events": groups["events"],
              "planted": {g["id"]: g["size"] for g in groups["groups"]},
              "lookalikes": {g["id"]: g["size"] for g in groups["lookalikes"]}, "runs": {}}
    for mode in modes:
        if mode == "half" and not given["is_abuser"].any():
            result["runs"][mode] = {"skipped": "no abusive account to label: nothing to train on"}
            continue
        run_out = folder / f"run-{mode}"
        ran = run_abusenet(folder, run_out,
                           folder / "labels_half.csv" if mode == "half" else None, overrides)
        rings = pd.read_parquet(run_out / "rings.parquet")
        scores = pd.read_parquet(run_out / "account_scores.parquet")
        scores = scores.set_index(scores["account_id"].astype(str))["score"]
        figures = score_run(rings, scores, truth, pd.Index(hidden["user_id"]),
                            groups["groups"], groups["lookalikes"])
        result["runs"][mode] = {**figures, **ran}
    return result


def _fmt(value: float, digits: int = 3) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.{digits}f}"


def markdown(results: dict) -> str:
    """The battery's tables: one row per world and mode, then one per planted group."""
    lines = ["| world | labels | rings (pairs) | member precision | groups found / planted "
             "| found whole | honest in rings | look-alike accounts in rings | AUROC | AUPRC "
             "| CPU s |", "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
    for name, world in results["worlds"].items():
        for mode, run in world["runs"].items():
            if "skipped" in run:
                lines.append(f"| {name} | {mode} | skipped: {run['skipped']} |")
                continue
            kinds = ", ".join(f"{k} {v}" for k, v in run["lookalikes_in_rings"].items() if v)
            lines.append(
                f"| {name} | {mode} | {run['rings']} ({run['pairs']}) "
                f"| {_fmt(run['member_precision'])} | {run['found']} / {run['groups']} "
                f"| {run['whole']} | {run['honest_in_rings']} | {kinds or 'none'} "
                f"| {_fmt(run['accounts']['auroc'])} | {_fmt(run['accounts']['auprc'])} "
                f"| {run['cpu_s']:.1f} |")
    lines += ["", "| world | group | kind | size | cover (none / half) | touched (none / half) "
              "| pieces (none / half) | in precise rings (none / half) |",
              "|---|---|---|---:|---|---|---|---|"]
    for name, world in results["worlds"].items():
        runs = world["runs"]
        for group, size in world["planted"].items():
            per = {mode: run["per_group"][group] for mode, run in runs.items()
                   if "per_group" in run}
            kind = next(iter(per.values()))["kind"] if per else ""
            cover = " / ".join(_fmt(p["cover"], 2) for p in per.values())
            touched = " / ".join(_fmt(p["touched"], 2) for p in per.values())
            pieces = " / ".join(str(p["pieces"]) for p in per.values())
            union = " / ".join(_fmt(p["union"], 2) for p in per.values())
            lines.append(f"| {name} | {group} | {kind} | {size} | {cover} | {touched} "
                         f"| {pieces} | {union} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command line: generate, run and score the chosen worlds; print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", nargs="+", choices=WORLDS,
                        help="default: all; with --quick: mixed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "shapes")
    parser.add_argument("--quick", action="store_true",
                        help="smaller worlds (every shape still planted), mixed only by default")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES),
                        help="none: without labels; half: with half the labels")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE", help="config override for abusenet run")
    args = parser.parse_args(argv)
    worlds = chosen_worlds(args.worlds, args.quick)
    args.out.mkdir(parents=True, exist_ok=True)
    results = {"seed": args.seed, "quick": args.quick, "overrides": [*FIXED, *args.overrides],
               "worlds": {}}
    for name in worlds:
        results["worlds"][name] = measure_world(name, args.seed, args.quick, args.out,
                                                args.modes, args.overrides)
        write_text_atomic(args.out / "shapes.json", json.dumps(results, indent=1))
        print(f"{name}: done", file=sys.stderr)
    print(markdown(results))
    print(f"\n(details: {args.out / 'shapes.json'})")


if __name__ == "__main__":
    main()
