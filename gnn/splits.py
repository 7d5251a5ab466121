"""Kept importable until ``gnn.detector`` and ``gnn.baselines.base`` import :mod:`gnn.labels`."""

from gnn.labels import stratified_split

__all__ = ["stratified_split"]
