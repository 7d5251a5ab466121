"""``abusenet case`` against the session's Neo4j server: decisions in the file and the graph."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from abusenet.cases.decisions import decisions_path, new_decision, read_decisions
from abusenet.cases.labels import decisions_to_labels
from abusenet.commands.case import _write, register
from graph.store import Neo4jStore, load_snapshot, write_scores
from graph.store.connection import Neo4jSettings
from graph.store.decisions import read_decisions as stored_decisions
from tests.graph.store.helpers import TRICKY_IDS, investigation_snapshot

runner = CliRunner()
WIDE = {"COLUMNS": "250"}  # rich wraps tables to the terminal width

app = typer.Typer()
register(app)


@app.callback()
def _group() -> None:
    """A test application holding only ``case``."""


@pytest.fixture
def home(monkeypatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("ABUSENET_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def shop(store: Neo4jStore, neo4j_settings: Neo4jSettings, monkeypatch, home: Path) -> Neo4jStore:
    """Graph 'shop' (the investigation graph, ring r1 = {a1, a2}) and the CLI pointed at it."""
    monkeypatch.setenv("NEO4J_URI", neo4j_settings.uri)
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_settings.password or "")
    load_snapshot(store, investigation_snapshot(), graph="shop", mode="driver", progress=False)
    rings = pd.DataFrame({"ring_id": ["r1"], "score": [0.9], "size": [2],
                          "members": [np.array(["a1", "a2"], dtype=object)]})
    write_scores(store, pd.DataFrame({"account_id": ["a1"], "score": [0.9]}), None, rings,
                 graph="shop", model_version="v1")
    return store


def _case(*args: str):
    return runner.invoke(app, ["case", *args], env=WIDE)


@pytest.mark.neo4j
def test_decisions_go_to_the_file_and_the_graph_and_become_labels(shop: Neo4jStore) -> None:
    ring = _case("confirm", "--ring", "r1", "--analyst", TRICKY_IDS[0], "--case", "C-7",
                 "--note", TRICKY_IDS[2])
    assert ring.exit_code == 0, ring.output
    assert "confirmed Ring 'r1' (2 members) in graph 'shop'" in ring.output
    account = _case("dismiss", "--account", " a2 ", "--analyst", "kim")
    assert account.exit_code == 0, account.output
    entity = _case("confirm", "--entity", "PaymentMethod:c1", "--analyst", "kim",
                   "--graph", "shop")
    assert entity.exit_code == 0, entity.output
    event = _case("confirm", "--event", "tx-1", "--analyst", "kim")
    assert event.exit_code == 0 and "holds no Event nodes" in event.output

    in_file = read_decisions()
    assert [(d.decision, d.target) for d in in_file] == [
        ("confirmed", "Ring:r1"), ("dismissed", "Account:a2"), ("confirmed", "PaymentMethod:c1"),
        ("confirmed", "Event:tx-1")]
    assert in_file[0].members == ("a1", "a2") and in_file[0].analyst == TRICKY_IDS[0]
    in_graph = stored_decisions(shop, "shop")
    assert [(p["id"], linked) for p, linked in in_graph] == [
        (d.id, d.target_kind != "event") for d in in_file]
    assert in_graph[0][0]["note"] == TRICKY_IDS[2]

    accounts, events, entities = decisions_to_labels(decisions_path(), "shop")
    assert [(r["account_id"], r["label"]) for r in accounts.to_pylist()] == [("a1", 1), ("a2", 0)]
    assert [(r["event_id"], r["label"]) for r in events.to_pylist()] == [("tx-1", 1)]
    assert [(r["node_type"], r["entity_id"]) for r in entities.to_pylist()] == [
        ("PaymentMethod", "c1")]


@pytest.mark.neo4j
def test_a_missing_target_or_entity_type_writes_nothing(shop: Neo4jStore, home: Path) -> None:
    missing = _case("confirm", "--account", "a9", "--analyst", "kim")
    assert missing.exit_code == 1
    assert "there is no Account 'a9' in graph 'shop'; nothing was recorded" in missing.output
    wrong = _case("confirm", "--entity", "Terminal:t1", "--analyst", "kim")
    assert wrong.exit_code == 1
    assert "its entity types are: Device, IP, PaymentMethod" in wrong.output
    other = _case("confirm", "--ring", "r1", "--analyst", "kim", "--graph", "bank")
    assert other.exit_code == 1 and "there is no graph 'bank'" in other.output
    load_snapshot(shop, investigation_snapshot(), graph="bank", mode="driver", progress=False)
    which = _case("confirm", "--ring", "r1", "--analyst", "kim")
    assert which.exit_code == 1 and "('bank', 'shop'); name one with --graph NAME" in which.output
    assert not (home / "cases").exists()
    assert stored_decisions(shop, "shop") == []


def test_the_target_must_be_one_and_well_formed(home: Path) -> None:
    for args, message in ((["--analyst", "kim"], "exactly one of --ring"),
                          (["--ring", "r1", "--account", "a1", "--analyst", "kim"],
                           "exactly one of --ring"),
                          (["--entity", "d1", "--analyst", "kim"], "is not TYPE:ID"),
                          (["--account", " ", "--analyst", "kim"], "names no id"),
                          (["--account", "a1", "--analyst", " "], "name who decides")):
        result = _case("confirm", *args)
        assert result.exit_code == 2 and message in result.output, result.output
    assert not (home / "cases").exists()


def test_neo4j_failing_after_the_file_says_how_to_finish(home: Path, capsys) -> None:
    decision = new_decision(graph="shop", decision="confirmed", target_kind="account",
                            target_type="Account", target_id="a1", analyst="kim")
    down = Neo4jStore(Neo4jSettings(uri="bolt://127.0.0.1:1", password="s3cret-pw",
                                    retry_seconds=0.1, connect_timeout=0.5))
    with pytest.raises(typer.Exit):
        _write(down, decision, home / "decisions.jsonl")
    message = capsys.readouterr().err
    assert f"decision {decision.id} is saved in {home / 'decisions.jsonl'} but not in Neo4j" \
        in message
    assert "cannot reach Neo4j at bolt://127.0.0.1:1" in message
    assert "abusenet case sync --graph shop" in message and "s3cret-pw" not in message


@pytest.mark.neo4j
def test_sync_writes_what_neo4j_lacks_once(shop: Neo4jStore, home: Path) -> None:
    from abusenet.cases.decisions import append_decision

    for target in ("a1", "a5"):
        append_decision(new_decision(graph="shop", decision="confirmed", target_kind="account",
                                     target_type="Account", target_id=target, analyst="kim"))
    first = _case("sync", "--graph", "shop")
    assert first.exit_code == 0, first.output
    assert "2 decision(s) in the file, 2 newly written to Neo4j, 2 linked" in first.output
    again = _case("sync")
    assert "0 newly written" in again.output
    assert len(stored_decisions(shop, "shop")) == 2


def test_list_filters_by_graph_analyst_and_time(home: Path) -> None:
    from datetime import UTC, datetime

    from abusenet.cases.decisions import append_decision

    for graph, analyst, day in (("shop", "kim", 1), ("shop", "lee", 2), ("bank", "kim", 3)):
        append_decision(new_decision(
            graph=graph, decision="dismissed", target_kind="account", target_type="Account",
            target_id=f"acc-{day}", analyst=analyst, note="[red]verbatim[/red]",
            decided_at=datetime(2024, 5, day, tzinfo=UTC)))
    everything = _case("list")
    assert everything.exit_code == 0, everything.output
    assert ": 3 of 3" in everything.output and "[red]verbatim[/red]" in everything.output
    assert ": 1 of 3" in _case("list", "--graph", "shop", "--analyst", "kim").output
    since = _case("list", "--since", "2024-05-02")
    assert ": 2 of 3" in since.output and "Account:acc-1" not in since.output
    bad = _case("list", "--since", "last week")
    assert bad.exit_code == 2 and "ISO-8601" in bad.output


def test_a_damaged_file_is_named_by_line(home: Path) -> None:
    path = decisions_path()
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"id": "x"}) + "\n")
    result = _case("list")
    assert result.exit_code == 1 and f"decisions file {path}, line 1" in result.output
