"""Tests of ``abusenet synth`` (abusenet/commands/synth.py)."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from abusenet.cli import app

runner = CliRunner()


def test_writes_logs_and_reports_counts(tmp_path):
    out = tmp_path / "logs"
    result = runner.invoke(app, ["synth", "--accounts", "500", "--seed", "2", "--out", str(out),
                                 "--format", "csv", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "events of 500 accounts" in result.output
    assert sorted(p.name for p in (out / "events").iterdir()) == ["part-00000.csv.gz"]
    assert len(pd.read_parquet(out / "truth_accounts.parquet")) == 500


def test_config_file_is_applied(tmp_path):
    knobs = tmp_path / "knobs.yaml"
    knobs.write_text("abuse_fraction: 0.0\n")
    out = tmp_path / "logs"
    result = runner.invoke(app, ["synth", "-n", "300", "--out", str(out), "--config", str(knobs),
                                 "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "0 abusive in 0 rings" in result.output


def test_existing_output_is_a_clear_error(tmp_path):
    (tmp_path / "taken.txt").write_text("x")
    result = runner.invoke(app, ["synth", "-n", "300", "--out", str(tmp_path), "--no-progress"])
    assert result.exit_code == 2
    assert "not empty" in result.output and "--force" in result.output
    assert "Traceback" not in result.output


def test_bad_knob_file_is_a_clear_error(tmp_path):
    knobs = tmp_path / "knobs.yaml"
    knobs.write_text("rings: 3\n")
    result = runner.invoke(app, ["synth", "-n", "300", "--out", str(tmp_path / "o"),
                                 "--config", str(knobs), "--no-progress"])
    assert result.exit_code == 2
    assert "unknown generator knob" in result.output and "knobs.yaml" in result.output
