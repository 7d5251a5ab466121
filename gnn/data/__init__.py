"""Graph data for the GNN: snapshots and benchmark files as PyG ``HeteroData``."""

from gnn.data.benchmark import load_reddit, load_tolokers
from gnn.data.features import (
    FeatureScaler,
    neighbor_aggregates,
    quantile_normal,
    spectral_positions,
)
from gnn.data.snapshot_graph import (
    NO_TIME,
    account_index,
    model_view,
    reverse_edge_type,
    snapshot_to_heterodata,
)

__all__ = [
    "NO_TIME",
    "FeatureScaler",
    "account_index",
    "load_reddit",
    "load_tolokers",
    "model_view",
    "neighbor_aggregates",
    "quantile_normal",
    "reverse_edge_type",
    "snapshot_to_heterodata",
    "spectral_positions",
]
