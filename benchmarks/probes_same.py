"""The reviewer's same-bits check: two source trees, the same worlds, every output compared.

A speed change to the ring search or training must keep every output (issue 19's scale work:
"same candidates, same rings.parquet, same scores to the bit on the same thread count"). The
default synth world does not reach every rule, so this check runs worlds built to reach them:

* ``shapes:NAME`` (:mod:`benchmarks.shapes`, quick sizes; ``half`` labels: the runner's split);
* ``families`` (:mod:`benchmarks.families`: a fraudster's family on the family laptop; its
  given labels);
* ``couples`` (:mod:`benchmarks.probes_pairs`; its given labels);
* ``flows:NAME`` (:mod:`benchmarks.honest_flows`, no labels: contributions, relays, cadence);
* ``mules:NAME`` (:mod:`benchmarks.mule_flows`, no labels: planted mule groups).

Each world is generated once; ``abusenet run`` runs it from each tree (``cwd`` and
``PYTHONPATH`` the tree, this interpreter, ``OMP_NUM_THREADS`` 1 unless ``--threads``) and every
``*.parquet`` the runs wrote (the work folder's too: snapshot, candidates, stage outputs) is
compared: the same files, and each
file (or partitioned folder) the same table to the bit, rows matched on their key
(:func:`compare_outputs`, :func:`compare_tables`: a float column's largest difference and the rows
that differ otherwise). Printed per world: ``same`` or the differences, and each run's CPU s.
With ``--noise`` tree A runs twice and its two runs are compared too: session 30's review found
two runs of one code differ (the snapshot's DuckDB sums on several threads: 1e-13 in amount
sums, carried to 2.7e-6 in a score and 0.003 in a flow ring's surprise on ``flows:coop_weekly``),
so a difference between trees means something only beyond that floor. With ``--reuse`` tree B
runs in a copy of A's run folder: the stages whose code and inputs did not change (the snapshot
of a change to the ring search) are A's, and the comparison is exact; only where the trees differ
outside those stages' code scopes (a change to the pipeline runner itself changes every stage's
fingerprint, and every stage runs again).

Run ``python -m benchmarks.probes_same TREE_A TREE_B --worlds shapes:mixed families
flows:gift_pool --seed 1 [--set SECTION.KEY=VALUE ...]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.shapes.__main__ import FIXED
from ingest.files import write_text_atomic


def write_probe_world(spec: str, seed: int, out: Path) -> Path | None:
    """Write the world ``spec`` (module docstring) under ``out``; the labels file its runs
    get, or ``None`` (no labels)."""
    import json

    if spec.startswith("shapes:"):
        from benchmarks.shapes.__main__ import split_labels
        from benchmarks.shapes.worlds import QUICK, build_world, write_world

        write_world(build_world(spec.split(":", 1)[1], seed, QUICK), spec, out, seed)
        labels = pd.read_csv(out / "labels.csv", dtype={"user_id": str})
        given = split_labels(labels, seed)[0]
    elif spec == "families":
        from benchmarks.families import fraud_families, given_labels
        from benchmarks.shapes.worlds import write_world

        write_world(fraud_families(seed), spec, out, seed)
        groups = json.loads((out / "groups.json").read_text())
        labels = pd.read_csv(out / "labels.csv", dtype={"user_id": str})
        given = given_labels(labels, groups, seed)[0]
    elif spec == "couples":
        from benchmarks.probes_pairs import couples_world, given_labels
        from benchmarks.shapes.worlds import write_world

        write_world(couples_world(seed), spec, out, seed)
        groups = json.loads((out / "groups.json").read_text())
        labels = pd.read_csv(out / "labels.csv", dtype={"user_id": str})
        given = given_labels(labels, groups, seed)
    elif spec.startswith("flows:"):
        from benchmarks.honest_flows import build, write

        write(build(spec.split(":", 1)[1], seed), out)
        return None
    elif spec.startswith("mules:"):
        from benchmarks.honest_flows import write
        from benchmarks.mule_flows import build

        write(build(spec.split(":", 1)[1], seed), out)
        return None
    else:
        raise ValueError(f"unknown world {spec!r}")
    write_text_atomic(out / "labels_given.csv", given.to_csv(index=False))
    return out / "labels_given.csv"


def run_tree(tree: Path, world: Path, labels: Path | None, out: Path, threads: int,
             overrides: list[str], start: Path | None = None) -> float:
    """``abusenet run`` of ``world`` with ``tree``'s code on ``threads`` threads
    (``OMP_NUM_THREADS``) into an emptied ``out`` (holding a copy of the run folder ``start``
    first, whose stages the run reuses where its code and inputs are unchanged); CPU s."""
    shutil.rmtree(out, ignore_errors=True)
    if start is not None:
        shutil.copytree(start, out)
    args = [sys.executable, "-m", "abusenet", "run", "-i", str(world / "logs"), "-m",
            str(world / "mapping.yaml"), "-o", str(out), "--quiet", *FIXED, *overrides]
    if labels is not None:
        args[6:6] = ["-l", str(labels)]
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(args, cwd=tree, env=env, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise RuntimeError(f"{tree}: abusenet run failed on {world}:\n{proc.stderr[-3000:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


#: Columns a table's rows are matched on before comparing, the first present.
KEYS = ("ring_id", "account_id", "entity_id", "event_id", "id")


def _text(values: pd.Series) -> np.ndarray:
    """``values`` as text, one ``str`` each (missing ones too)."""
    return np.array([str(v) for v in values], dtype=object)


def _aligned(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``a`` and ``b`` with rows in one order: by the first of :data:`KEYS` both have when it
    is unique in each, else by every column (as text); a stage may write equal rows in
    another order."""
    key = next((k for k in KEYS if k in a.columns and a[k].is_unique and b[k].is_unique), None)
    if key is None:
        def order(frame: pd.DataFrame) -> np.ndarray:
            return np.lexsort([_text(frame[c]) for c in frame.columns[::-1]])
    else:
        def order(frame: pd.DataFrame) -> np.ndarray:
            return np.argsort(_text(frame[key]), kind="stable")
    return (a.iloc[order(a)].reset_index(drop=True), b.iloc[order(b)].reset_index(drop=True))


def compare_tables(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    """How ``b`` differs from ``a`` once their rows are matched (:func:`_aligned`): columns,
    rows, a float column's largest difference, other columns' differing rows (compared as
    text); missing values equal missing values; empty when equal."""
    if list(a.columns) != list(b.columns):
        return [f"columns {list(a.columns)} vs {list(b.columns)}"]
    if len(a) != len(b):
        return [f"rows {len(a)} vs {len(b)}"]
    a, b = _aligned(a, b)
    found = []
    for column in a.columns:
        x, y = a[column], b[column]
        both_missing = (x.isna() & y.isna()).to_numpy() if x.ndim == 1 else False
        if pd.api.types.is_float_dtype(x) and pd.api.types.is_float_dtype(y):
            xv, yv = x.to_numpy(), y.to_numpy()
            differ = ~both_missing & (xv != yv)
            if differ.any():
                gap = np.nanmax(np.abs(xv[differ] - yv[differ]))
                found.append(f"{column}: {int(differ.sum())} rows, largest difference {gap:.3g}")
        else:
            differ = ~both_missing & (_text(x) != _text(y))
            if differ.any():
                found.append(f"{column}: {int(differ.sum())} rows differ")
    return found


def _datasets(root: Path) -> dict[Path, list[Path]]:
    """The ``*.parquet`` files under ``root`` by the folder holding them (relative)."""
    held: dict[Path, list[Path]] = {}
    for path in sorted(root.rglob("*.parquet")):
        held.setdefault(path.parent.relative_to(root), []).append(path)
    return held


def compare_outputs(a: Path, b: Path) -> list[str]:
    """Every ``*.parquet`` under run folders ``a`` and ``b`` compared: a folder's files by name,
    and the files of a folder whose names only one side has, when each side has such, read as
    one table each (a partitioned write names its files at random); the differences, prefixed
    by the file or folder; empty when the same bits."""
    ours, theirs = _datasets(a), _datasets(b)
    found = [f"only in A: {p}/" for p in sorted(set(ours) - set(theirs))]
    found += [f"only in B: {p}/" for p in sorted(set(theirs) - set(ours))]
    for folder in sorted(set(ours) & set(theirs)):
        mine = {p.name: p for p in ours[folder]}
        other = {p.name: p for p in theirs[folder]}
        pairs = [(folder / n, pq.read_table(mine[n]), pq.read_table(other[n]))
                 for n in sorted(set(mine) & set(other))]
        left_only, right_only = sorted(set(mine) - set(other)), sorted(set(other) - set(mine))
        if left_only and right_only:
            pairs.append((folder, pa.concat_tables([pq.read_table(mine[n]) for n in left_only]),
                          pa.concat_tables([pq.read_table(other[n]) for n in right_only])))
        else:
            found += [f"only in A: {folder / n}" for n in left_only]
            found += [f"only in B: {folder / n}" for n in right_only]
        for where, left, right in pairs:
            if left.equals(right):
                continue
            found += [f"{where}: {d}" for d in compare_tables(left.to_pandas(),
                                                              right.to_pandas())]
    return found


def main(argv: list[str] | None = None) -> None:
    """Command line: one line per world."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trees", nargs=2, type=Path)
    parser.add_argument("--worlds", nargs="+", default=["shapes:mixed", "families", "couples",
                                                        "flows:gift_pool"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "probes_same")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE", help="config override for both runs")
    parser.add_argument("--reuse", action="store_true",
                        help="run B in a copy of A's run folder: the stages whose code did not "
                             "change (the snapshot) are A's, so DuckDB's sums are the same")
    parser.add_argument("--noise", action="store_true",
                        help="run tree A twice too: what differs between two runs of one code")
    args = parser.parse_args(argv)
    for spec in args.worlds:
        folder = args.out / spec.replace(":", "-")
        labels = write_probe_world(spec, args.seed, folder)
        sides = [("A", args.trees[0]), ("B", args.trees[1])]
        if args.noise:
            sides.append(("A2", args.trees[0]))
        cpu = {}
        for side, tree in sides:
            start = folder / "run-A" if args.reuse and side != "A" else None
            cpu[side] = run_tree(tree.resolve(), folder, labels, folder / f"run-{side}",
                                 args.threads, args.overrides, start)
        shown = " ".join(f"{side} {value:.1f}" for side, value in cpu.items())
        checks = [("A vs B", "run-B")] + ([("A vs A2 (noise)", "run-A2")] if args.noise else [])
        for title, other in checks:
            found = compare_outputs(folder / "run-A", folder / other)
            print(f"{spec} seed {args.seed}, {title}: {'same' if not found else 'differ'} "
                  f"(CPU s {shown})", flush=True)
            for line in found:
                print(f"    {line}", flush=True)


if __name__ == "__main__":
    main()
