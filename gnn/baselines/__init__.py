"""Baselines run side by side with the GNN: XGB-Graph, label propagation, components."""

from gnn.baselines.components import ComponentRate
from gnn.baselines.label_propagation import LabelPropagation
from gnn.baselines.xgb_graph import XGBGraph, hop_features

__all__ = ["ComponentRate", "LabelPropagation", "XGBGraph", "hop_features"]
