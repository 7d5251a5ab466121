"""The ingest stage's cache key follows every source of a ``sources:`` mapping."""

from __future__ import annotations

from pathlib import Path

import yaml

from abusenet.pipeline.cache import StageCache
from abusenet.pipeline.config import load_run_config
from abusenet.pipeline.plan import PlannedRun, ingest_stage
from abusenet.pipeline.request import RunRequest
from ingest.mapping import load_mapping
from tests.ingest.sources_world import write_three_schemas

EXAMPLE = Path(__file__).resolve().parents[3] / "configs" / "mappings" / "three_sources.yaml"


def _key(tmp_path: Path, logs: Path, mapping: Path) -> dict:
    request = RunRequest(inputs=[str(logs)], mapping=mapping, out_dir=tmp_path / "out",
                         config=load_run_config(None))
    run = PlannedRun(request, load_mapping(mapping), StageCache(tmp_path / "w"), None)
    return ingest_stage(run).key


def test_a_change_in_one_source_changes_the_ingest_key(tmp_path):
    paths = write_three_schemas(tmp_path / "logs", honest=5)
    paths["labels"].unlink()
    before = _key(tmp_path, tmp_path / "logs", EXAMPLE)
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["sources"]["logins"]["constants"] = {"event_type": "sign_in"}
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(raw))
    assert _key(tmp_path, tmp_path / "logs", changed)["mapping"] != before["mapping"]
    with paths["payments"].open("a") as fh:  # one source's file grows
        fh.write("9999,2024-04-01T00:00:00Z,user0,,card-user0,1.00\n")
    after = _key(tmp_path, tmp_path / "logs", EXAMPLE)
    assert after["inputs"] != before["inputs"] and after["mapping"] == before["mapping"]
