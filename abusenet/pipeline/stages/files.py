"""The names of the files and directories the stages write into their output directories."""

from __future__ import annotations

from abusenet.pipeline.outputs import MODEL_DIR

EVENTS = "events"
QUARANTINE = "quarantine.parquet"
SNAPSHOT = "snapshot"
CANDIDATES = "candidates.parquet"
TRAIN_LABELS = "train_labels.parquet"
HOLDOUT_LABELS = "holdout_labels.parquet"
#: The labels stage's matched event labels: ``event_id, account_id, ts, label, known_at``.
EVENT_LABELS = "event_labels.parquet"
#: The labels stage's matched entity labels: ``node_type, entity_id, label, known_at``.
ENTITY_LABELS = "entity_labels.parquet"
MODEL = MODEL_DIR
ACCOUNT_SCORES = "account_scores.parquet"
ENTITY_SCORES = "entity_scores.parquet"
RINGS = "rings.parquet"
METRICS = "metrics.json"
REPORT = "report.html"
EXPLANATIONS = "explanations.parquet"
