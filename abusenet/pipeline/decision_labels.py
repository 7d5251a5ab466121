"""Investigators' decisions as labels of a run (``abusenet run --labels-from-decisions``).

The decisions about the run's graph (:func:`abusenet.cases.labels.decisions_to_labels`: account,
event and entity labels) are merged with the labels files given, level by level, and **a
decision wins** over a given label of the same account, event or entity: it is the newer
evidence, an analyst's judgement of what the model showed. A level with decisions gets a merged
canonical labels file in ``DIR/.work/decisions/``; the run then reads it through a copy of the
mapping whose section for that level names the canonical columns (:data:`CANONICAL_SECTIONS`).
Levels without decisions keep their given file and section.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from ingest.files import write_parquet_atomic, write_text_atomic

#: Level -> (the mapping's labels section, the key columns of a label).
LEVELS = {"accounts": ("labels", ("account_id",)),
          "events": ("event_labels", ("event_id",)),
          "entities": ("entity_labels", ("node_type", "entity_id"))}
#: Written beside the merged mapping: how many decisions became labels, for the report.
USED_FILE = "decisions_used.json"
#: The labels section that reads a merged (canonical) file of each level.
CANONICAL_SECTIONS = {
    "labels": {"account_id": "account_id", "label": "label", "ts": "ts"},
    "event_labels": {"event_id": "event_id", "label": "label", "known_at": "known_at"},
    "entity_labels": {"entity_id": "entity_id", "label": "label", "node_type": "node_type",
                      "known_at": "known_at"},
}


@dataclass
class DecisionLabels:
    """The labels a run reads once decisions are merged in.

    Attributes
    ----------
    mapping
        The mapping to read them with (a copy with canonical sections for merged levels, or
        the given one when no decision applies).
    files
        Level (``accounts``, ``events``, ``entities``) -> labels file, ``None`` for none.
    used
        Level -> decisions used as labels (0 for a level without any).
    overridden
        Level -> given labels a decision replaced.
    """

    mapping: Path
    files: dict[str, Path | None]
    used: dict[str, int] = field(default_factory=dict)
    overridden: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        """One sentence for the run's summary."""
        counts = ", ".join(f"{self.used[level]:,} {level}" for level in LEVELS)
        replaced = sum(self.overridden.values())
        return (f"Labels from analysts' decisions: {counts}; a decision wins over a given label "
                f"({replaced:,} given labels replaced).")


def merge_decision_labels(
    mapping: Path,
    given: dict[str, Path | None],
    graph: str,
    work_dir: Path,
    decisions: Path | None = None,
) -> DecisionLabels:
    """Merge the decisions about ``graph`` into the ``given`` labels files.

    Parameters
    ----------
    mapping
        The run's mapping file (its label sections read the given files).
    given
        Level -> the labels file given (``--labels``, ``--event-labels``, ``--entity-labels``).
    graph
        The run's graph: only its decisions count.
    work_dir
        The run's work directory; merged files go to ``work_dir/decisions/``.
    decisions
        The decisions file (default: :func:`abusenet.cases.decisions.decisions_path`; none there
        yet: no decisions).

    Raises
    ------
    abusenet.cases.decisions.DecisionsFileError
        If a line of the decisions file is not a decision.
    """
    from abusenet.cases.decisions import decisions_path
    from abusenet.cases.labels import decisions_to_labels
    from ingest.event_labels import load_entity_labels, load_event_labels
    from ingest.labels import read_labels
    from ingest.mapping import load_mapping

    path = decisions or decisions_path()
    files = dict(given)
    result = DecisionLabels(mapping, files, {level: 0 for level in LEVELS},
                            {level: 0 for level in LEVELS})
    if not path.exists():
        return result
    tables = dict(zip(LEVELS, decisions_to_labels(path, graph), strict=True))
    readers = {"accounts": read_labels,
               "events": lambda p, m: load_event_labels(p, m).table,
               "entities": lambda p, m: load_entity_labels(p, m).table}
    target = work_dir / "decisions"
    loaded = load_mapping(mapping)
    merged_sections = []
    for level, decided in tables.items():
        if decided.num_rows == 0:
            continue
        section, keys = LEVELS[level]
        merged = decided
        if given.get(level) is not None:
            old = readers[level](given[level], loaded)
            kept = pc.invert(pc.is_in(_keys(old, keys), value_set=_keys(decided, keys)))
            result.overridden[level] = int(old.num_rows - pc.sum(kept.cast(pa.int64())).as_py())
            merged = pa.concat_tables([old.filter(kept), decided.cast(old.schema)])
        files[level] = target / f"{section}.parquet"
        write_parquet_atomic(merged, files[level])
        result.used[level] = decided.num_rows
        merged_sections.append(section)
    if merged_sections:
        raw = yaml.safe_load(mapping.read_text())
        for section in merged_sections:
            raw[section] = CANONICAL_SECTIONS[section]
        result.mapping = target / mapping.name
        write_text_atomic(result.mapping, yaml.safe_dump(raw, sort_keys=False))
        write_text_atomic(target / USED_FILE, json.dumps(
            {"used": result.used, "replaced": result.overridden, "summary": result.describe()}))
    return result


def decisions_used(mapping: Path) -> dict[str, Any] | None:
    """What :func:`merge_decision_labels` merged, if ``mapping`` is its copy (else None)."""
    used = mapping.parent / USED_FILE
    return json.loads(used.read_text()) if used.is_file() else None


def _keys(table: pa.Table, keys: tuple[str, ...]) -> pa.Array:
    """One string per row: the label's key columns joined."""
    columns = [table.column(k).cast(pa.string()) for k in keys]
    if len(columns) == 1:
        return columns[0].combine_chunks()
    return pc.binary_join_element_wise(*columns, "\x1f").combine_chunks()
