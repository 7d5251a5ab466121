"""The worked example of ``sources:`` (configs/mappings/three_sources.yaml) end to end: signups,
logins and payments in three schemas, and a ring only their union reveals."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from abusenet.cli import app
from graph.rings.candidates import find_ring_candidates
from graph.rings.config import RingConfig
from graph.snapshot import read_snapshot
from tests.ingest.sources_world import RING, write_three_schemas

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "configs" / "mappings" / "three_sources.yaml"
#: Every candidate, however unsurprising: the test checks what the graph ties together.
ALL = RingConfig(min_surprise=float("-inf"))


def invoke(*args: object):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("three")
    paths = write_three_schemas(root / "logs")
    shutil.move(paths["labels"], root / "labels.csv")
    return root


def test_ingest_ties_the_ring_by_signup_devices_and_payment_cards(logs, tmp_path):
    out = tmp_path / "out"
    result = invoke("ingest", "--input", logs / "logs", "--mapping", EXAMPLE, "--out", out,
                    "--labels", logs / "labels.csv", "--quiet")
    assert "0 quarantined" in result.output
    found = find_ring_candidates(read_snapshot(out / "snapshot"), ALL)
    ring = [c for c in found if sorted(c.members) == sorted(RING)]
    assert ring, [sorted(c.members) for c in found]
    evidence = " ".join(ring[0].evidence)
    assert "Device:dev-farm-1" in evidence and "PaymentMethod:card-x1" in evidence


def test_without_the_payments_the_ring_falls_apart(logs, tmp_path):
    alone = tmp_path / "logs"
    alone.mkdir()
    for name in ("signups.csv", "logins.csv"):
        shutil.copy(logs / "logs" / name, alone / name)
    raw = yaml.safe_load(EXAMPLE.read_text())
    del raw["sources"]["payments"]
    mapping = tmp_path / "two.yaml"
    mapping.write_text(yaml.safe_dump(raw))
    invoke("ingest", "--input", alone, "--mapping", mapping, "--out", tmp_path / "out", "--quiet")
    found = find_ring_candidates(read_snapshot(tmp_path / "out" / "snapshot"), ALL)
    assert found and not any(set(RING) <= set(c.members) for c in found)


@pytest.mark.slow
def test_abusenet_run_finds_the_ring_across_the_three_schemas(logs, tmp_path, monkeypatch):
    monkeypatch.setenv("ABUSENET_HOME", str(tmp_path / "home"))
    out = tmp_path / "run"
    # the detector at its defaults: 68 accounts train in seconds, and a 2-epoch net scores the
    # ring's members under ring_scoring.min_member_score since the example's text attributes
    # became features (7a232ee), trimming every ring away
    invoke("run", "--input", logs / "logs", "--mapping", EXAMPLE, "--labels",
           logs / "labels.csv", "--out", out, "--quiet", "report.explain_members=0",
           "ring_scoring.min_score=0", "rings.min_surprise=-1e9")
    rings = pd.read_parquet(out / "rings.parquet").sort_values("score", ascending=False)
    top = rings.iloc[0]
    assert set(top["members"]) <= set(RING) and len(top["members"]) >= 4
    evidence = " ".join(top["evidence"])
    assert "Device:dev-farm" in evidence and "PaymentMethod:card-x" in evidence
