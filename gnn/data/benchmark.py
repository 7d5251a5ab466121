"""Loaders for the homogeneous benchmark graphs (Tolokers, Reddit) as ``HeteroData``.

Both become a one-type graph: node type ``Account`` and the symmetric relation
``(Account, LINKED, Account)`` without self-loops, so the same heterogeneous model and sampler run
on them. ``edge_time`` is 0 everywhere (the graphs are static).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import HeteroData
from torch_geometric.utils import coalesce, remove_self_loops, to_undirected

from graph.snapshot import ACCOUNT

LINKED = (ACCOUNT, "LINKED", ACCOUNT)


def _homogeneous_to_hetero(x: np.ndarray, edge_index: np.ndarray, y: np.ndarray) -> HeteroData:
    edges = torch.from_numpy(edge_index.astype(np.int64))
    edges, _ = remove_self_loops(edges)
    edges = coalesce(to_undirected(edges, num_nodes=len(x)), num_nodes=len(x))
    features = torch.from_numpy(x.astype(np.float32))
    features = (features - features.mean(0)) / features.std(0).clamp(min=1e-6)
    data = HeteroData()
    data[ACCOUNT].x = features
    data[ACCOUNT].y = torch.from_numpy(y.astype(np.int64))
    data[ACCOUNT].node_ids = np.arange(len(x)).astype(str)
    data[ACCOUNT].num_nodes = len(x)
    data[LINKED].edge_index = edges
    data[LINKED].edge_time = torch.zeros(edges.size(1), dtype=torch.int64)
    return data


def load_tolokers(path: str | os.PathLike[str]) -> tuple[HeteroData, np.ndarray]:
    """Load ``tolokers.npz`` (a file or its folder).

    Returns
    -------
    tuple[HeteroData, np.ndarray]
        The graph (standardised features, labels in ``y``) and the official splits as an int array
        ``(10, num_nodes)`` with 0 = train, 1 = validation, 2 = test.
    """
    file = Path(path)
    file = file / "tolokers.npz" if file.is_dir() else file
    raw = np.load(file)
    data = _homogeneous_to_hetero(raw["node_features"], raw["edges"].T, raw["node_labels"])
    splits = np.full(raw["train_masks"].shape, -1, dtype=np.int64)
    splits[raw["train_masks"]] = 0
    splits[raw["val_masks"]] = 1
    splits[raw["test_masks"]] = 2
    return data, splits


def load_reddit(
    path: str | os.PathLike[str], num_splits: int = 5, train: float = 0.4, val: float = 0.2
) -> tuple[HeteroData, np.ndarray]:
    """Load ``reddit.npz`` with ``num_splits`` stratified random splits (seeds 0, 1, ...).

    Each split puts ``train`` of every class into training, ``val`` into validation and the rest
    into test (GADBench uses 40 % training).

    Returns
    -------
    tuple[HeteroData, np.ndarray]
        The graph and the splits ``(num_splits, num_nodes)`` (0 = train, 1 = validation, 2 = test).
    """
    file = Path(path)
    file = file / "reddit.npz" if file.is_dir() else file
    raw = np.load(file)
    y = raw["y"]
    data = _homogeneous_to_hetero(raw["x"], raw["edge_index"], y)
    splits = np.full((num_splits, len(y)), 2, dtype=np.int64)
    for seed in range(num_splits):
        rng = np.random.default_rng(seed)
        for cls in np.unique(y):
            members = rng.permutation(np.flatnonzero(y == cls))
            n_train, n_val = round(train * len(members)), round(val * len(members))
            splits[seed, members[:n_train]] = 0
            splits[seed, members[n_train : n_train + n_val]] = 1
    return data, splits
