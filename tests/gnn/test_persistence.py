import json

import pytest
import torch

from gnn.persistence import FORMAT_VERSION, read_model_dir, snapshot_fingerprint, write_model_dir
from tests.gnn.planted import planted_rings


def test_write_and_read_round_trip(tmp_path):
    state = {"weight": torch.arange(6.0).reshape(2, 3)}
    write_model_dir(tmp_path / "m", state, {"kind": "Test", "config": {"a": 1}})
    metadata, loaded = read_model_dir(tmp_path / "m")
    assert list(metadata) == ["format_version", "kind", "config"]
    assert metadata["format_version"] == FORMAT_VERSION
    assert torch.equal(loaded["weight"], state["weight"])


def test_a_directory_without_metadata_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="metadata.json is missing"):
        read_model_dir(tmp_path)


def test_another_format_version_is_refused(tmp_path):
    write_model_dir(tmp_path, {}, {})
    document = json.loads((tmp_path / "metadata.json").read_text())
    (tmp_path / "metadata.json").write_text(json.dumps({**document, "format_version": 99}))
    with pytest.raises(ValueError, match="format_version 99 is not supported"):
        read_model_dir(tmp_path)


def test_fingerprint_follows_the_graph_shape():
    small, _ = planted_rings(num_accounts=40, num_rings=1)
    again, _ = planted_rings(num_accounts=40, num_rings=1)
    larger, _ = planted_rings(num_accounts=60, num_rings=1)
    assert snapshot_fingerprint(small) == snapshot_fingerprint(again)
    assert snapshot_fingerprint(small) != snapshot_fingerprint(larger)
