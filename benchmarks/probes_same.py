"""The reviewer's same-bits check: two source trees, the same worlds, every output compared.

A speed change to the ring search or training must keep every output (issue 19's scale work:
"same candidates, same rings.parquet, same scores to the bit on the same thread count"). The
default synth world does not reach every rule, so this check runs worlds built to reach them:

* ``shapes:NAME`` (:mod:`benchmarks.shapes`, quick sizes; ``half`` labels: the runner's split);
* ``families`` (:mod:`benchmarks.families`: a fraudster's family on the family laptop; its
  given labels);
* ``couples`` (:mod:`benchmarks.probes_pairs`; its given labels);
* ``flows:NAME`` (:mod:`benchmarks.honest_flows`, no labels: contributions, relays, cadence).

Each world is generated once; ``abusenet run`` runs it from each tree (``cwd`` and
``PYTHONPATH`` the tree, this interpreter, ``OMP_NUM_THREADS`` 1 unless ``--threads``) and every
``*.parquet`` the runs wrote (the work folder's too: snapshot, candidates, stage outputs) is
compared: the same files, and each
file the same table to the bit (:func:`compare_tables`: a float column's largest difference
and the rows that differ otherwise). Printed per world: ``same`` or the differences, and each
tree's CPU s.

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
    else:
        raise ValueError(f"unknown world {spec!r}")
    write_text_atomic(out / "labels_given.csv", given.to_csv(index=False))
    return out / "labels_given.csv"


def run_tree(tree: Path, world: Path, labels: Path | None, out: Path, threads: int,
             overrides: list[str]) -> float:
    """``abusenet run`` of ``world`` with ``tree``'s code on ``threads`` threads
    (``OMP_NUM_THREADS``) into an emptied ``out``; CPU s."""
    shutil.rmtree(out, ignore_errors=True)
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


def compare_tables(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    """How ``b`` differs from ``a``: columns, rows, a float column's largest difference
    (NaN equal to NaN), other columns' differing rows (compared as text); empty when equal."""
    if list(a.columns) != list(b.columns):
        return [f"columns {list(a.columns)} vs {list(b.columns)}"]
    if len(a) != len(b):
        return [f"rows {len(a)} vs {len(b)}"]
    found = []
    for column in a.columns:
        x, y = a[column], b[column]
        if pd.api.types.is_float_dtype(x) and pd.api.types.is_float_dtype(y):
            xv, yv = x.to_numpy(), y.to_numpy()
            both_nan = np.isnan(xv) & np.isnan(yv)
            differ = ~both_nan & (xv != yv)
            if differ.any():
                gap = np.nanmax(np.abs(xv[differ] - yv[differ]))
                found.append(f"{column}: {int(differ.sum())} rows, largest difference {gap:.3g}")
        else:
            differ = x.astype(str).to_numpy() != y.astype(str).to_numpy()
            if differ.any():
                found.append(f"{column}: {int(differ.sum())} rows differ")
    return found


def compare_outputs(a: Path, b: Path) -> list[str]:
    """Every ``*.parquet`` under run folders ``a`` and ``b`` compared: the differences,
    prefixed by the file; empty when the same bits."""
    def files(root: Path) -> set[Path]:
        return {p.relative_to(root) for p in root.rglob("*.parquet")}

    ours, theirs = files(a), files(b)
    found = [f"only in A: {p}" for p in sorted(ours - theirs)]
    found += [f"only in B: {p}" for p in sorted(theirs - ours)]
    for path in sorted(ours & theirs):
        left, right = pq.read_table(a / path), pq.read_table(b / path)
        if left.equals(right):
            continue
        found += [f"{path}: {d}" for d in compare_tables(left.to_pandas(), right.to_pandas())
                  ] or [f"{path}: differs in its schema or metadata"]
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
    args = parser.parse_args(argv)
    for spec in args.worlds:
        folder = args.out / spec.replace(":", "-")
        labels = write_probe_world(spec, args.seed, folder)
        cpu = [run_tree(tree.resolve(), folder, labels, folder / f"run-{side}", args.threads,
                        args.overrides)
               for side, tree in zip("AB", args.trees, strict=True)]
        found = compare_outputs(folder / "run-A", folder / "run-B")
        print(f"{spec} seed {args.seed}: {'same' if not found else '; '.join(found)} "
              f"(CPU s A {cpu[0]:.1f}, B {cpu[1]:.1f})", flush=True)


if __name__ == "__main__":
    main()
