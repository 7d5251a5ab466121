"""The candidates stage with ``--engine spark`` (abusenet/pipeline/plan.py,
abusenet/pipeline/stages/data.py): the projection and its components on Spark, the same
candidates as the DuckDB engine on hub-free data."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pytest

from abusenet.pipeline.cache import StageCache
from abusenet.pipeline.config import load_run_config
from abusenet.pipeline.plan import PlannedRun, candidates_stage
from abusenet.pipeline.request import RunRequest
from abusenet.pipeline.stages.files import CANDIDATES
from ingest.mapping import load_mapping
from tests.abusenet.test_pipeline_run import SYNTH_MAPPING
from tests.spark_local import local_spark

#: No hubs: Spark chains a hub's accounts in a seeded hash order, not NumPy's.
HUB_FREE = ["rings.hub_degree_cap=10000"]


def _run(tmp_path: Path, engine: str, overrides: list[str] | None = None) -> PlannedRun:
    request = RunRequest(inputs=[str(tmp_path / "logs")], mapping=SYNTH_MAPPING,
                         out_dir=tmp_path / "out", config=load_run_config(None, overrides),
                         engine=engine, spark_master="local[2]")
    return PlannedRun(request, load_mapping(SYNTH_MAPPING), StageCache(tmp_path / "w"), None)


def test_the_engine_joins_the_candidates_key_only_when_spark(tmp_path):
    local, spark = _run(tmp_path, "duckdb"), _run(tmp_path, "spark")
    assert candidates_stage(local).key == asdict(local.config.rings)
    assert candidates_stage(spark).key == {**asdict(spark.config.rings), "engine": "spark"}
    assert candidates_stage(spark).after == ("snapshot",)


@pytest.fixture(scope="module")
def spark():
    yield from local_spark(2)


@pytest.mark.slow
@pytest.mark.spark
@pytest.mark.filterwarnings("ignore::FutureWarning:pyspark")
@pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")
def test_spark_candidates_equal_the_duckdb_ones(spark, tmp_path):
    from graph.build import write_snapshot_files
    from ingest.run import ingest_logs
    from ingest.synth import generate

    logs = generate(tmp_path / "data", n_accounts=300, seed=7, progress=False)
    ingest_logs(logs.events_dir, SYNTH_MAPPING, tmp_path / "events", progress=False)
    tables = {}
    for engine in ("duckdb", "spark"):
        run = _run(tmp_path, engine, [*HUB_FREE, "rings.min_size=2"])
        if engine == "duckdb":
            write_snapshot_files(tmp_path / "events", run.snapshot, progress=False)
        out = tmp_path / engine
        out.mkdir()
        info = candidates_stage(run).run(out)
        tables[engine] = pd.read_parquet(out / CANDIDATES)
        over = int((tables[engine]["members"].map(len) > run.config.rings.max_size).sum())
        assert info == {"candidates": len(tables[engine]), "over_max_size": over,
                        "max_size": run.config.rings.max_size, "episode_times": False}
    assert tables["duckdb"]["kind"].str.contains("shared_entities").any()
    pd.testing.assert_frame_equal(tables["spark"], tables["duckdb"])
