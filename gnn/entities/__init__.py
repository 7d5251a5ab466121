"""Supervised entity risk: entity labels (given, or derived from labelled events) and the node
classifier that scores entities from their own neighbourhood."""

from gnn.entities.evidence import EVIDENCE_COLUMNS, with_compromise_evidence, with_label_evidence
from gnn.entities.labels import (
    ENTITY_LABEL_COLUMNS,
    EntityLabelRule,
    check_entity_labels,
    entity_labels_from_events,
)
from gnn.entities.model import EntityRiskModel

__all__ = [
    "ENTITY_LABEL_COLUMNS",
    "EVIDENCE_COLUMNS",
    "EntityLabelRule",
    "EntityRiskModel",
    "check_entity_labels",
    "entity_labels_from_events",
    "with_compromise_evidence",
    "with_label_evidence",
]
