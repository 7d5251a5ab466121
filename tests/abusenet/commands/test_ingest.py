import pandas as pd
from typer.testing import CliRunner

from abusenet.cli import app
from graph.snapshot import read_snapshot
from tests.ingest.helpers import MAPPING_YAML as MAPPING
from tests.ingest.helpers import ROWS, write_csv


def test_ingest_writes_events_snapshot_quarantine_and_a_summary(tmp_path):
    logs = write_csv(tmp_path / "logs.csv", ROWS + ["a9,never,login,,,,,,"])
    (tmp_path / "m.yaml").write_text(MAPPING)
    result = CliRunner().invoke(app, [
        "ingest", "--input", str(logs), "--mapping", str(tmp_path / "m.yaml"),
        "--out", str(tmp_path / "out"), "--max-bad-fraction", "0.5", "--quiet",
    ])
    assert result.exit_code == 0, result.output
    assert "5 rows in = 4 accepted + 1 quarantined + 0 duplicates removed" in result.output
    assert "Snapshot written" in result.output
    assert len(read_snapshot(tmp_path / "out" / "snapshot").nodes["Account"]) == 3
    quarantine = pd.read_parquet(tmp_path / "out" / "quarantine.parquet")
    assert quarantine["reason"].tolist() == ["unparseable ts"]


def test_user_errors_are_one_clear_message_without_traceback(tmp_path):
    logs = write_csv(tmp_path / "logs.csv", ["a,1"], header="user,when")
    (tmp_path / "m.yaml").write_text(MAPPING)
    result = CliRunner().invoke(app, [
        "ingest", "-i", str(logs), "-m", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "out"),
        "--quiet",
    ])
    assert result.exit_code == 1
    assert "columns.account_id names source column 'uid'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "snapshot").exists()
