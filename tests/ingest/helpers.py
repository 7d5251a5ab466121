"""Small hand-made logs and mappings shared by the ingest tests."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd

from ingest.mapping import Mapping, mapping_from_dict
from ingest.run import IngestSummary, ingest_logs
from ingest.store import event_files

#: A log schema unlike the canonical one: other names, other order, an extra column.
HEADER = "uid,when,action,amt,ipaddr,dev,card,peer,note"
ROWS = [
    "a1,2024-01-01T10:00:00Z,login,,1.2.3.4,d1,,,first",
    "a1,2024-01-01T10:05:00Z,payment,10.5,1.2.3.4,d1,c1,,",
    "a2,2024-01-01T11:00:00Z,transfer,7,10.0.0.1,d1,,a3,",
    "a3,2024-01-02T09:00:00Z,payment,3,::1,d2,c1,,",
]


def log_mapping(**extra: object) -> Mapping:
    """The mapping for :data:`HEADER`, plus ``extra`` top-level entries."""
    return mapping_from_dict(
        {
            "columns": {
                "account_id": "uid", "ts": "when", "event_type": "action", "amount": "amt",
                "ip": "ipaddr", "device_id": "dev", "payment_id": "card",
                "counterparty_id": "peer",
            },
            **extra,
        },
        "test-mapping.yaml",
    )


def write_csv(path: Path, rows: list[str], header: str | None = HEADER) -> Path:
    """Write ``rows`` (with ``header`` first, unless ``None``) to ``path``; gzip if ``.gz``."""
    text = "\n".join(([header] if header else []) + rows) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def ingest(inputs, events: Path, mapping: Mapping | None = None, **kwargs) -> IngestSummary:
    """:func:`ingest.run.ingest_logs` with :func:`log_mapping` and no progress by default."""
    kwargs.setdefault("progress", False)
    return ingest_logs(inputs, mapping or log_mapping(), events, **kwargs)


def events_table(events_dir: Path) -> pd.DataFrame:
    """All stored events of ``events_dir`` as one frame."""
    return pd.concat([pd.read_parquet(p) for p in event_files(events_dir)], ignore_index=True)


def snapshot_of(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (relative name -> bytes)."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file()}

#: A mapping file for the columns of :data:`ROWS`.
MAPPING_YAML = """columns:
  account_id: uid
  ts: when
  event_type: action
  amount: amt
  ip: ipaddr
  device_id: dev
  payment_id: card
  counterparty_id: peer
"""
