"""``abusenet models``: tables on stdout, one-line errors on stderr, a real SQLite MLflow store."""
# ruff: noqa: F811 (the registry tests' fixtures are imported, then requested by name)

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from abusenet.cli import app
from abusenet.registry.versions import aliases_of
from tests.abusenet.registry.conftest import (  # noqa: F401
    _migrated_db,
    registered,
    run_dirs,
    store,
    tiny_graph,
)


def _models(*args: str):
    return CliRunner().invoke(app, ["models", *args])


def test_list_shows_versions_aliases_and_figures(registered):
    assert _models("promote", "1").exit_code == 0
    result = _models("list")
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert [row[0] for row in rows] == ["2", "1"]
    assert rows[1][1] == "production" and "0.910" in rows[1]
    assert rows[0][4].startswith("gnn-") and "run-b" in rows[0]


def test_list_of_an_empty_registry_says_how_to_fill_it(store):
    result = _models("list")
    assert result.exit_code == 0
    assert "No version of 'abusenet-detector'" in result.stdout
    assert "`abusenet run` with labels registers one" in result.stdout


def test_show_prints_tags_metrics_and_settings(registered):
    result = _models("show", "v2")
    assert result.exit_code == 0, result.output
    for text in ("version 2", "data_fingerprint", "accounts.auroc", "0.92",
                 "model.hidden_channels", "run-b"):
        assert text in result.stdout, text


def test_promote_and_rollback_report_what_changed(registered):
    assert "now in production (before: none)" in _models("promote", "1").stdout
    assert "now in production (before: version 1)" in _models("promote", "2").stdout
    assert "already in production" in _models("promote", "production").stdout
    result = _models("rollback")
    assert result.exit_code == 0
    assert "version 1 is in production again (version 2 withdrawn)" in result.stdout
    assert aliases_of(registered.client(), registered) == {"production": 1}


@pytest.mark.parametrize(("args", "message"), [
    (("show", "7"), "error: model 'abusenet-detector' has no version '7' in the registry at "
                    "sqlite:///"),
    (("promote", "champion"), "has no alias 'champion'"),
    (("rollback",), "has no production version to roll back"),
])
def test_errors_are_one_line_on_stderr(registered, args, message):
    result = _models(*args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""


def test_an_unreachable_server_is_one_line_with_the_password_redacted(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://team:s3cret@127.0.0.1:9")
    result = _models("list")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: cannot reach the model registry at http://team:***@127.0.0.1:9: [Errno 111]")
    assert "s3cret" not in result.output and result.stderr.count("\n") == 1


def test_a_normal_command_logs_nothing_from_mlflow(registered):
    result = _models("promote", "2")
    assert result.exit_code == 0
    assert result.stderr == ""


def test_the_command_line_loads_no_mlflow_until_a_models_command_runs():
    script = ("import sys, abusenet.cli\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] in "
              "{'mlflow', 'sqlalchemy', 'alembic', 'pydantic'}))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_a_bad_model_name_is_a_one_line_error():
    result = _models("list", "--model-name", "it's")
    assert result.exit_code == 1
    assert result.stderr == ("error: model name \"it's\": use letters, digits, '_', '.', '-' "
                             "and spaces\n")
