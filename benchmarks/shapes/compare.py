"""Two shapes batteries side by side: ``python -m benchmarks.shapes.compare BEFORE AFTER``.

``BEFORE`` and ``AFTER`` are ``shapes.json`` files (or the folders holding them) written by
``python -m benchmarks.shapes``, e.g. main and a change run with the same worlds (the same
``benchmarks/shapes``, ``--seed`` and ``--quick``). Prints one row per world and mode present in
both: rings, member precision, groups found, found whole, honest accounts in rings and hidden-half
AUPRC as ``before -> after``, and one row per planted group whose best cover changed. Worlds of
other sizes or seeds are refused: their figures do not compare.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


def load(path: Path) -> dict:
    """A battery's ``shapes.json`` (``path`` may be the folder holding it)."""
    path = path / "shapes.json" if path.is_dir() else path
    return json.loads(path.read_text())


def _num(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _pair(before: float | None, after: float | None) -> str:
    one, two = _num(before), _num(after)
    return one if one == two else f"{one} -> {two}"


def compare(before: dict, after: dict) -> str:
    """The Markdown comparison of two batteries (see the module docstring).

    Raises
    ------
    ValueError
        The batteries drew different worlds (seed, ``--quick`` or a world's accounts differ).
    """
    if (before["seed"], before["quick"]) != (after["seed"], after["quick"]):
        raise ValueError(f"the batteries differ in seed / quick: {before['seed']}, "
                         f"{before['quick']} vs {after['seed']}, {after['quick']}")
    lines = ["| world | labels | rings | member precision | found | whole | honest in rings "
             "| AUPRC |", "|---|---|---|---|---|---|---|---|"]
    groups = ["", "| world | labels | group | size | cover |", "|---|---|---|---:|---|"]
    for name, old in before["worlds"].items():
        new = after["worlds"].get(name)
        if new is None:
            continue
        if old["accounts"] != new["accounts"] or old["planted"] != new["planted"]:
            raise ValueError(f"world {name} differs between the batteries (accounts "
                             f"{old['accounts']} vs {new['accounts']}): run both with the same "
                             "benchmarks/shapes")
        for mode, a in old["runs"].items():
            b = new["runs"].get(mode)
            if b is None or "skipped" in a or "skipped" in b:
                continue
            lines.append(
                f"| {name} | {mode} | {_pair(a['rings'], b['rings'])} "
                f"| {_pair(a['member_precision'], b['member_precision'])} "
                f"| {_pair(a['found'], b['found'])} / {a['groups']} "
                f"| {_pair(a['whole'], b['whole'])} "
                f"| {_pair(a['honest_in_rings'], b['honest_in_rings'])} "
                f"| {_pair(a['accounts']['auprc'], b['accounts']['auprc'])} |")
            for group, per in a["per_group"].items():
                cover = b["per_group"][group]["cover"]
                if cover != per["cover"]:
                    groups.append(f"| {name} | {mode} | {group} | {per['size']} "
                                  f"| {_pair(per['cover'], cover)} |")
    return "\n".join(lines + (groups if len(groups) > 3 else []))


def main(argv: list[str] | None = None) -> None:
    """Command line: print the comparison of two ``shapes.json``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    print(compare(load(args.before), load(args.after)))


if __name__ == "__main__":
    main()
