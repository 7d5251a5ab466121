"""``abusenet train``: a saved snapshot in, a model directory `abusenet score` reads out."""

from __future__ import annotations

import dataclasses

import pytest
import typer
from typer.testing import CliRunner

from abusenet.commands.train import register
from gnn.detector import AccountDetector
from graph.snapshot import write_snapshot
from tests.gnn.planted import planted_rings

FAST = ["detector.max_epochs=3", "detector.hidden_channels=16", "detector.batch_size=64",
        "detector.boost_choice_folds=0"]


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """A one-command application: the command keeps its name."""

    register(app)
    return app


@pytest.fixture(scope="module")
def snapshot_dir(tmp_path_factory):
    snapshot, labels = planted_rings()
    root = tmp_path_factory.mktemp("snap")
    write_snapshot(dataclasses.replace(snapshot, labels=labels), root / "snapshot")
    labels.to_csv(root / "labels.csv", index=False)
    return root


def test_one_process_trains_on_the_snapshots_labels(app, snapshot_dir, tmp_path):
    result = CliRunner().invoke(
        app, ["train", "--snapshot", str(snapshot_dir / "snapshot"), "--out", str(tmp_path / "m"),
              *FAST]
    )
    assert result.exit_code == 0, result.output
    assert "in 1 process(es)" in result.stdout
    detector = AccountDetector.load(tmp_path / "m")
    assert detector.metrics_["epochs"] == 3 and detector.hidden_channels == 16


def test_an_ensemble_says_how_many_networks_trained(app, snapshot_dir, tmp_path):
    result = CliRunner().invoke(
        app, ["train", "--snapshot", str(snapshot_dir / "snapshot"), "--out", str(tmp_path / "m"),
              *FAST, "detector.ensemble=2"]
    )
    assert result.exit_code == 0, result.output
    assert "2 networks, 6 epochs in all, in 1 process(es)" in result.stdout
    assert len(AccountDetector.load(tmp_path / "m").members_) == 2


@pytest.mark.slow
def test_two_processes_write_a_model_that_scores(app, snapshot_dir, tmp_path):
    result = CliRunner().invoke(
        app, ["train", "--snapshot", str(snapshot_dir / "snapshot"), "--labels",
              str(snapshot_dir / "labels.csv"), "--out", str(tmp_path / "m"), "--nproc", "2",
              "--graph-dir", str(tmp_path), *FAST]
    )
    assert result.exit_code == 0, result.output
    assert "rank 0" in result.stdout and "rank 1" in result.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # the shared graph files are gone
    detector = AccountDetector.load(tmp_path / "m")
    scores = detector.score_accounts(planted_rings()[0])
    assert len(scores) == 240 and scores["score"].between(0, 1).all()


def test_missing_snapshot_is_one_line_naming_it(app, tmp_path):
    result = CliRunner().invoke(
        app, ["train", "--snapshot", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m")]
    )
    assert result.exit_code == 1
    assert "nowhere is not a graph snapshot" in result.stderr


def test_labels_without_their_columns_are_refused(app, snapshot_dir, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("user,flag\na1,1\n")
    result = CliRunner().invoke(
        app, ["train", "--snapshot", str(snapshot_dir / "snapshot"), "--labels", str(bad),
              "--out", str(tmp_path / "m")]
    )
    assert result.exit_code == 1
    assert "account_id" in result.stderr
