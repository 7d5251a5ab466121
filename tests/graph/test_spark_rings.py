"""The ring-candidate projection and its components on Spark (graph/spark_rings.py) equal the
local path's (graph/rings/projection.py, graph/rings/communities.py) on generated logs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from graph.build import write_snapshot_files
from graph.rings.communities import components
from graph.rings.projection import account_projection
from graph.snapshot import read_snapshot
from ingest.run import ingest_logs
from ingest.synth import generate
from tests.spark_local import local_spark

MAPPINGS = Path(__file__).resolve().parents[2] / "configs" / "mappings"

pytestmark = [
    pytest.mark.spark,
    pytest.mark.filterwarnings("ignore::FutureWarning:pyspark"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


@pytest.fixture(scope="module")
def spark():
    yield from local_spark(2)


@pytest.fixture(scope="module")
def snapshot_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rings")
    logs = generate(root / "logs", n_accounts=300, seed=7, progress=False)
    ingest_logs(logs.events_dir, MAPPINGS / "synth.yaml", root / "events", progress=False)
    write_snapshot_files(root / "events", root / "snapshot", progress=False)
    return root / "snapshot"


def _local_links(snapshot_dir: Path, cap: int) -> dict[tuple[str, str], float]:
    projection = account_projection(read_snapshot(snapshot_dir), hub_degree_cap=cap)
    upper = sp.triu(projection.matrix, k=1).tocoo()
    names = np.asarray(projection.accounts)
    links = {}
    for i, j, w in zip(upper.row, upper.col, upper.data, strict=True):
        a, b = sorted((names[i], names[j]))
        links[(a, b)] = w
    return links


def test_projection_equals_the_local_one(spark, snapshot_dir):
    from graph.spark_rings import spark_projection

    local = _local_links(snapshot_dir, cap=10_000)
    found = {(r.src, r.dst): r.weight for r in
             spark_projection(spark, snapshot_dir, hub_degree_cap=10_000).collect()}
    assert len(local) > 100
    assert found.keys() == local.keys()
    keys = sorted(local)
    np.testing.assert_allclose([found[k] for k in keys], [local[k] for k in keys], rtol=1e-9)


def test_hubs_are_chained_not_expanded(spark, snapshot_dir):
    from graph.spark_rings import spark_projection

    projection = account_projection(read_snapshot(snapshot_dir), hub_degree_cap=5)
    assert len(projection.cut_entities) > 0
    capped = spark_projection(spark, snapshot_dir, hub_degree_cap=5).count()
    full = spark_projection(spark, snapshot_dir, hub_degree_cap=10_000).count()
    assert capped < full


@pytest.mark.slow
def test_components_equal_the_local_ones(spark, snapshot_dir):
    from graph.spark_rings import spark_components, spark_projection

    projection = account_projection(read_snapshot(snapshot_dir), hub_degree_cap=200)
    names = np.asarray(projection.accounts)
    for weight in (0.0, 1.0):
        local = {frozenset(names[rows]) for rows in components(projection.matrix, weight)
                 if len(rows) > 1}
        labels = spark_components(spark_projection(spark, snapshot_dir), min_weight=weight)
        groups: dict[str, set[str]] = {}
        for row in labels.collect():
            groups.setdefault(row.component, set()).add(row.account)
        assert {frozenset(g) for g in groups.values()} == local
        assert all(c == min(g) for c, g in groups.items())
    assert len(local) >= 2


@pytest.mark.slow
def test_ring_candidates_from_spark_components_equal_the_local_ones(spark, snapshot_dir):
    from graph.rings.candidates import find_ring_candidates
    from graph.rings.config import RingConfig
    from graph.spark_rings import spark_ring_components

    # no hubs: Spark chains a hub's accounts in another order than NumPy
    config = RingConfig(hub_degree_cap=10_000, min_size=2)
    snapshot = read_snapshot(snapshot_dir)
    linked = spark_ring_components(spark, snapshot_dir, config)
    assert set(linked) == set(config.component_weights)
    assert sum(len(table) for table in linked.values()) > 0
    assert all(c == min(g) for table in linked.values()
               for c, g in table.groupby("component")["account"])
    local = find_ring_candidates(snapshot, config)
    found = find_ring_candidates(snapshot, config, linked_components=linked)
    assert any("shared_entities" in c.kind for c in local)
    assert [(c.ring_id, c.kind, c.evidence, c.features) for c in found] == \
        [(c.ring_id, c.kind, c.evidence, c.features) for c in local]
