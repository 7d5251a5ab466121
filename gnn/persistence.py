"""A saved detector's directory: ``model.pt`` (the weights) and ``metadata.json`` (the rest)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from graph.snapshot import Snapshot
from ingest.files import write_text_atomic

#: Version of the directory layout; :func:`read_model_dir` refuses any other.
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.pt"
METADATA_FILE = "metadata.json"


def write_model_dir(
    path: str | os.PathLike[str], state: dict[str, torch.Tensor], metadata: dict[str, Any]
) -> Path:
    """Write ``state`` (a ``state_dict``) and ``metadata`` (JSON-serialisable) into ``path``.

    ``metadata`` is stored after a leading ``format_version``.

    Returns
    -------
    Path
        The directory.
    """
    target = Path(path)
    target.mkdir(parents=True, exist_ok=True)
    torch.save(state, target / WEIGHTS_FILE)
    document = {"format_version": FORMAT_VERSION, **metadata}
    write_text_atomic(target / METADATA_FILE, json.dumps(document, indent=2, default=float))
    return target


def read_model_dir(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The metadata and the weights (read with ``weights_only=True``) of a saved detector.

    Raises
    ------
    FileNotFoundError
        If ``path`` holds no ``metadata.json``.
    ValueError
        If it was written in another format version.
    """
    source = Path(path)
    meta_file = source / METADATA_FILE
    if not meta_file.is_file():
        raise FileNotFoundError(
            f"{source} holds no saved detector ({meta_file.name} is missing); "
            "pass the directory given to AccountDetector.save"
        )
    metadata = json.loads(meta_file.read_text())
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{meta_file}: format_version {metadata.get('format_version')!r} is not "
            f"supported (expected {FORMAT_VERSION}); retrain the model"
        )
    return metadata, torch.load(source / WEIGHTS_FILE, weights_only=True)


def saved_attribute_shares(path: str | os.PathLike[str]) -> dict[str, dict[str, str]]:
    """The string attributes' share features a saved detector was trained on (name -> value
    -> feature, its snapshot's ``attribute_shares``; empty for none, or for a detector saved
    before they existed), read from ``metadata.json`` alone.

    Raises
    ------
    FileNotFoundError
        If ``path`` holds no ``metadata.json``.
    """
    meta_file = Path(path) / METADATA_FILE
    if not meta_file.is_file():
        raise FileNotFoundError(f"{path} holds no saved detector ({meta_file.name} is missing)")
    return dict(json.loads(meta_file.read_text()).get("attribute_shares", {}))


def bytes_tensor(blob: bytes) -> torch.Tensor:
    """``blob`` as a uint8 tensor, so binary parts of a model (fitted trees) travel in
    ``model.pt`` and load with ``weights_only=True``."""
    return torch.frombuffer(bytearray(blob), dtype=torch.uint8).clone()


def tensor_bytes(tensor: torch.Tensor) -> bytes:
    """The bytes :func:`bytes_tensor` stored."""
    return tensor.numpy().tobytes()


def snapshot_fingerprint(snapshot: Snapshot) -> str:
    """A short hash of node and edge counts, feature columns and input checksums."""
    shape = {
        "nodes": {t: [len(df), snapshot.feature_columns(t)] for t, df in snapshot.nodes.items()},
        "edges": {r: len(df) for r, df in snapshot.edges.items()},
        "inputs": snapshot.meta.get("input_checksums"),
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True, default=str).encode()).hexdigest()[:16]
