import re

import pandas as pd
import pytest
import typer
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


def options_of(command: str) -> set[str]:
    """Every option name of the CLI command ``command``."""
    group = typer.main.get_command(app)
    return {o for p in group.commands[command].params for o in getattr(p, "opts", [])}


def bad_times_log(tmp_path):
    rows = [f"a{i},{i % 12 + 1}/{i % 28 + 1}/15 18:52,login,,,,,," for i in range(20)]
    logs = write_csv(tmp_path / "logs.csv", ROWS + rows)
    (tmp_path / "m.yaml").write_text(MAPPING)
    return ["-i", str(logs), "-m", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "out")]


@pytest.mark.parametrize(("command", "extra"), [("ingest", []),
                                                ("run", ["--max-bad-fraction", "0.25"])])
def test_too_many_bad_rows_suggest_only_options_the_command_has(tmp_path, command, extra):
    result = CliRunner().invoke(app, [command, *bad_times_log(tmp_path), *extra, "--quiet"])
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "failed validation" in text and "Traceback" not in text
    assert "timestamp_format '%m/%d/%y %H:%M' parses 20" in text
    suggested = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", text))
    assert "--max-bad-fraction" in suggested
    assert suggested <= options_of(command)
    if command == "run":  # the option reached the run's settings
        assert "more than the allowed 25.0%" in text


def test_max_bad_fraction_lets_the_good_rows_through(tmp_path):
    result = CliRunner().invoke(app, ["ingest", *bad_times_log(tmp_path),
                                      "--max-bad-fraction", "0.9", "--no-snapshot", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "24 rows in = 4 accepted + 20 quarantined" in result.output
    stored = pd.concat(pd.read_parquet(p) for p in (tmp_path / "out" / "events").rglob("*.parquet"))
    assert stored["ts"].dt.year.unique().tolist() == [2024]
