"""The application's own options: --version, -v / --log-level, and one progress switch."""

from __future__ import annotations

import logging
from importlib.metadata import version

import pytest
from typer.testing import CliRunner

from abusenet.cli import app
from abusenet.logs import level_for
from tests.ingest.helpers import MAPPING_YAML as MAPPING
from tests.ingest.helpers import ROWS, write_csv


def test_version_comes_from_the_package_metadata() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"abusenet {version('abusenet')}\n"


@pytest.mark.parametrize(("verbose", "name", "level"), [
    (0, None, logging.WARNING), (1, None, logging.INFO), (2, None, logging.DEBUG),
    (5, None, logging.DEBUG), (2, "error", logging.ERROR), (0, "INFO", logging.INFO),
])
def test_log_level_from_v_and_log_level(verbose: int, name: str | None, level: int) -> None:
    assert level_for(verbose, name) == level


def test_an_unknown_log_level_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["--log-level", "loud", "neo4j", "status"])
    assert result.exit_code == 2 and "--log-level" in result.output


@pytest.mark.parametrize(("options", "shown"), [
    ([], False), (["-v"], True), (["--log-level", "info"], True), (["-vv"], True),
    (["-v", "--log-level", "warning"], False),
])
def test_v_shows_library_diagnostics_on_stderr(tmp_path, options: list[str], shown: bool) -> None:
    logs = write_csv(tmp_path / "logs.csv", ROWS)
    (tmp_path / "m.yaml").write_text(MAPPING)
    result = CliRunner().invoke(app, [
        *options, "ingest", "-i", str(logs), "-m", str(tmp_path / "m.yaml"),
        "-o", str(tmp_path / "out"), "--no-progress",
    ])
    assert result.exit_code == 0, result.output
    assert "Snapshot written" in result.stdout
    assert ("INFO" in result.stderr and "snapshot" in result.stderr) is shown, result.stderr
    assert "Snapshot written" not in result.stderr, "diagnostics and output stay apart"


def test_an_ingest_that_keeps_no_row_says_so_instead_of_building_a_snapshot(tmp_path) -> None:
    logs = write_csv(tmp_path / "logs.csv", [",2024-01-01T10:00:00Z,login,,,,,,"])
    (tmp_path / "m.yaml").write_text(MAPPING)
    result = CliRunner().invoke(app, [
        "ingest", "-i", str(logs), "-m", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "out"),
        "--no-progress", "--max-bad-fraction", "1"])
    assert result.exit_code == 1
    assert "no snapshot was built" in result.stderr
    assert "every row of the input was quarantined" in result.stderr
    assert "run `abusenet ingest` first" not in result.stderr


def test_an_ingest_whose_labels_name_no_account_of_the_logs_warns(tmp_path) -> None:
    logs = write_csv(tmp_path / "logs.csv", ROWS)
    (tmp_path / "labels.csv").write_text("account_id,label\n0a1,1\nA2,0\n")  # ids written otherwise
    (tmp_path / "m.yaml").write_text(MAPPING)
    result = CliRunner().invoke(app, [
        "ingest", "-i", str(logs), "-m", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "out"),
        "-l", str(tmp_path / "labels.csv"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "Labels in the graph: 0 accounts (0 abusive); 2 labelled accounts act in no event" \
        in result.stdout
    assert "2 of the 2 labelled accounts act in no event: none of them is an account of the logs" \
        in result.stderr
    # most, not all, written otherwise: still said (3 of 4 outside)
    (tmp_path / "labels.csv").write_text("account_id,label\na1,1\n0a2,0\n0a3,0\n0a9,1\n")
    result = CliRunner().invoke(app, [
        "ingest", "-i", str(logs), "-m", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "out2"),
        "-l", str(tmp_path / "labels.csv"), "--no-progress"])
    assert "3 of the 4 labelled accounts act in no event: a run would train on 1 of the 4" \
        in result.stderr


def _commands_with_progress() -> list[tuple[str, object]]:
    import typer.main

    found, stack = [], [("abusenet", typer.main.get_command(app))]
    while stack:
        path, command = stack.pop()
        stack += [(f"{path} {name}", sub) for name, sub in getattr(command, "commands", {}).items()]
        found += [(path, p) for p in command.params if p.name == "progress"]
    return sorted(found, key=lambda item: item[0])


@pytest.mark.parametrize(("path", "param"), _commands_with_progress(),
                         ids=[path for path, _ in _commands_with_progress()])
def test_every_command_spells_the_progress_switch_the_same(path: str, param) -> None:
    assert (param.opts, param.secondary_opts, param.default) == (
        ["--progress"], ["--no-progress", "--quiet"], True), path


def test_the_commands_with_progress_bars_have_the_switch() -> None:
    assert {path for path, _ in _commands_with_progress()} >= {
        "abusenet ingest", "abusenet synth", "abusenet load", "abusenet run", "abusenet score"}


@pytest.mark.parametrize(("verbose", "shown"), [(0, False), (1, False), (2, True)])
def test_the_drivers_retry_warnings_show_only_with_vv(verbose: int, shown: bool) -> None:
    from abusenet.logs import configure_logging

    configure_logging(level_for(verbose, None))
    driver = logging.getLogger("neo4j.pool")
    assert driver.isEnabledFor(logging.WARNING) is shown
    assert logging.getLogger("graph.store").isEnabledFor(logging.WARNING)
