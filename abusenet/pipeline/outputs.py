"""The files a batch run promises (ARCHITECTURE.md, "Batch run output"), their schemas, and
their atomic publication into the output directory.

:func:`publish` copies every finished output into a hidden staging directory inside ``DIR`` and
then renames each into place, so a reader of ``DIR`` sees whole files only, and a run that fails
before publishing leaves ``DIR`` as it was. Outputs the run did not produce this time
(``metrics.json`` without labels, ``quarantine.parquet`` without rejected rows) are removed, so
``DIR`` never mixes two runs.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ingest.files import replace_dir

#: Contract Parquet outputs: file -> {column: predicate on its Arrow type, description}.
PARQUET_CONTRACT: dict[str, dict[str, tuple[object, str]]] = {
    "account_scores.parquet": {
        "account_id": (pa.types.is_string, "string"),
        "score": (pa.types.is_floating, "float"),
        "ring_id": (lambda t: pa.types.is_string(t) or pa.types.is_null(t), "string or null"),
    },
    "entity_scores.parquet": {
        "node_type": (pa.types.is_string, "string"),
        "entity_id": (pa.types.is_string, "string"),
        "score": (pa.types.is_floating, "float"),
        "method": (pa.types.is_string, "string"),
    },
    "event_scores.parquet": {
        "event_id": (pa.types.is_string, "string"),
        "account_id": (pa.types.is_string, "string"),
        "score": (pa.types.is_floating, "float"),
    },
    "rings.parquet": {
        "ring_id": (pa.types.is_string, "string"),
        "score": (pa.types.is_floating, "float"),
        "size": (pa.types.is_integer, "int"),
        "members": (lambda t: pa.types.is_list(t) and pa.types.is_string(t.value_type),
                    "list<string>"),
        "evidence": (lambda t: pa.types.is_list(t) and pa.types.is_string(t.value_type),
                     "list<string>"),
    },
    "quarantine.parquet": {
        "source_file": (pa.types.is_string, "string"),
        "line": (pa.types.is_integer, "int"),
        "reason": (pa.types.is_string, "string"),
    },
}
#: Every file name the contract defines; ``model`` is the saved detector (for ``abusenet score``).
CONTRACT_FILES = (*PARQUET_CONTRACT, "metrics.json", "report.html")
MODEL_DIR = "model"


#: Arrow types the contract columns are written with (other columns are kept as they are).
WRITE_TYPES: dict[str, dict[str, pa.DataType]] = {
    "account_scores.parquet": {"account_id": pa.string(), "score": pa.float64(),
                               "ring_id": pa.string()},
    "entity_scores.parquet": {"node_type": pa.string(), "entity_id": pa.string(),
                              "score": pa.float64(), "method": pa.string()},
    "event_scores.parquet": {"event_id": pa.string(), "account_id": pa.string(),
                             "score": pa.float64()},
    "rings.parquet": {"ring_id": pa.string(), "score": pa.float64(), "size": pa.int64(),
                      "members": pa.list_(pa.string()), "evidence": pa.list_(pa.string())},
}


class OutputSchemaError(ValueError):
    """An output file does not match the contract."""


def write_contract_table(frame, name: str, path: str | os.PathLike[str]) -> Path:
    """Write ``frame`` to ``path`` as the contract file ``name``, its columns cast to
    :data:`WRITE_TYPES` (plain ``string``, ``float64``, ``int64``; column order kept). A
    column the frame lacks is left out (:func:`check_outputs` says whether the file needs it)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for column, wanted in WRITE_TYPES[name].items():
        index = table.schema.get_field_index(column)
        if index < 0:
            continue
        table = table.set_column(index, column, table.column(column).cast(wanted))
    pq.write_table(table, path)
    return Path(path)


def check_outputs(out_dir: str | os.PathLike[str]) -> list[str]:
    """Check every contract file present in ``out_dir``; return the names checked.

    Raises
    ------
    OutputSchemaError
        Naming the file, the column and what was expected, on the first mismatch; also when
        a score is outside [0, 1] or a required file is missing.
    """
    root = Path(out_dir)
    checked = []
    for name in ("account_scores.parquet", "entity_scores.parquet", "rings.parquet",
                 "report.html"):
        if not (root / name).is_file():
            raise OutputSchemaError(f"{root / name} is missing")
    for name, columns in PARQUET_CONTRACT.items():
        path = root / name
        if not path.is_file():
            continue
        schema = pq.read_schema(path)
        for column, (predicate, expected) in columns.items():
            if column not in schema.names:
                raise OutputSchemaError(f"{path}: column {column!r} is missing")
            if not predicate(schema.field(column).type):
                raise OutputSchemaError(
                    f"{path}: column {column!r} is {schema.field(column).type}, "
                    f"expected {expected}"
                )
        if "score" in columns:
            scores = pq.read_table(path, columns=["score"]).column("score").to_numpy()
            if len(scores) and not ((scores >= 0.0) & (scores <= 1.0)).all():
                raise OutputSchemaError(f"{path}: scores outside [0, 1]")
        checked.append(name)
    if (root / "metrics.json").is_file():
        json.loads((root / "metrics.json").read_text())
        checked.append("metrics.json")
    checked.append("report.html")
    return checked


def publish(files: Mapping[str, Path | None], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Put the run's outputs into ``out_dir`` atomically, file by file.

    Parameters
    ----------
    files
        Output name (a contract file or :data:`MODEL_DIR`) -> the finished file or directory in
        the work directory, or ``None`` when the run has no such output (an older one in
        ``out_dir`` is then removed). A name with a slash (``model/events``) goes inside its
        top-level directory and is published with it (that directory is made when its own
        entry is ``None``).
    out_dir
        The run's output directory.

    Returns
    -------
    list of Path
        The published paths.
    """
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".publish-", dir=root))
    published = []
    # Top-level entries first, so that a nested one lands inside its copied directory.
    ordered = sorted(files.items(), key=lambda item: "/" in item[0])
    try:
        for name, source in ordered:
            if source is None:
                continue
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, staging / name)
            else:
                shutil.copy2(source, staging / name)
        for name in dict.fromkeys(n.split("/", 1)[0] for n in files):
            target = root / name
            if not (staging / name).exists():
                if target.is_dir():
                    shutil.rmtree(target)
                else:
                    target.unlink(missing_ok=True)
                continue
            if (staging / name).is_dir():
                replace_dir(staging / name, target)
            else:
                os.replace(staging / name, target)
            published.append(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return published
