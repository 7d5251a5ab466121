import numpy as np
import pandas as pd
import pytest

from abusenet.neo4j_server import LocalNeo4j, free_port
from abusenet.settings import Neo4jSettings
from graph.store import Neo4jStore, connect, load_snapshot
from graph.store.bulk import BulkImportError, _iso_utc, bulk_load, write_import_files
from tests.conftest import _installed_jars

from .helpers import RecordingRunner, dump, investigation_snapshot, tricky_snapshot


def test_import_files_have_typed_headers_and_quoted_values(tmp_path) -> None:
    files = {f.name: f for f in write_import_files(investigation_snapshot(), tmp_path)}
    account = files["Account"]
    assert account.kind == "nodes" and account.rows == 6
    assert account.header.read_text().strip() == (
        ":ID,id:string,first_ts:datetime,last_ts:datetime,n_events:long,amount_mean:double,"
        "label:long,content_hash:long"
    )
    first = account.data.read_text().splitlines()[1]  # a2: no amount_mean, no label
    assert first.startswith(
        '1,"a2","2024-02-01T00:00:00.000000Z","2024-04-01T00:00:00.000000Z",4,,,')
    # Node numbers run on through the labels: accounts 0-5, devices 6-7, ip 8, card 9.
    assert files["PaymentMethod"].data.read_text().startswith('9,"c1",')
    paid = files["PAID_WITH"]
    assert paid.header.read_text().startswith(":START_ID,:END_ID,count:long")
    assert [line.split(",")[:2] for line in paid.data.read_text().splitlines()] == [
        ["0", "9"], ["1", "9"], ["3", "9"]]
    assert paid.argument() == f"--relationships=PAID_WITH={paid.header},{paid.data}"


def test_quotes_and_line_breaks_survive_the_csv(tmp_path) -> None:
    files = {f.name: f for f in write_import_files(tricky_snapshot(), tmp_path)}
    text = files["Account"].data.read_bytes().decode("utf-8")
    assert '"it\'s ""quoted"""' in text
    assert '"line\nbreak\r\nand\ttab"' in text


def test_timestamps_become_iso_text_in_utc_with_microseconds() -> None:
    stamps = pd.Series(pd.to_datetime(
        ["2024-01-02T03:04:05.123456", None, "1969-12-31T23:59:59.000001",
         "2000-02-29T23:00:00"], utc=True, format="ISO8601"))
    assert _iso_utc(stamps).to_pylist() == [
        "2024-01-02T03:04:05.123456Z", None, "1969-12-31T23:59:59.000001Z",
        "2000-02-29T23:00:00.000000Z"]
    local = pd.Series([pd.Timestamp("2024-06-01T12:00:00", tz="Europe/Paris")])
    assert _iso_utc(local).to_pylist() == ["2024-06-01T10:00:00.000000Z"]
    assert _iso_utc(stamps.iloc[:0]).to_pylist() == []


def test_timestamps_beyond_four_digit_years_fall_back_to_numpy() -> None:
    far = pd.Series(pd.to_datetime(["0001-01-01", "9999-12-31T23:59:59.999999"], utc=True,
                                   format="ISO8601"))
    assert _iso_utc(far).to_pylist() == ["0001-01-01T00:00:00.000000Z",
                                         "9999-12-31T23:59:59.999999Z"]
    big = pd.Series(np.array(["12000-01-01"], dtype="datetime64[us]"))
    assert _iso_utc(big).to_pylist() == ["12000-01-01T00:00:00.000000Z"]


def test_bulk_needs_a_local_server() -> None:
    with pytest.raises(BulkImportError, match="local Neo4j server"):
        bulk_load(RecordingRunner(), investigation_snapshot(), progress=False)


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory):
    """A server of this module's own: the bulk import stops and restarts it."""
    server = LocalNeo4j(tmp_path_factory.mktemp("bulk-home"))
    server.install(bolt_port=free_port(), http_port=free_port(), heap="512m", pagecache="128m",
                   jars_from=_installed_jars())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def bulk_store(own_server: LocalNeo4j):
    settings = Neo4jSettings(uri=own_server.read_settings()["uri"],
                             password=own_server.read_password())
    with connect(settings, server=own_server) as store:
        store.write([("MATCH (n) DETACH DELETE n", {})])
        yield store


def _both_paths(store: Neo4jStore, snapshot) -> tuple[object, object]:
    load_snapshot(store, snapshot, mode="driver", progress=False)
    by_driver = dump(store)
    store.write([("MATCH (n) DETACH DELETE n", {})])
    summary = load_snapshot(store, snapshot, mode="bulk", progress=False)
    assert summary.mode == "bulk"
    return by_driver, dump(store)


@pytest.mark.neo4j
@pytest.mark.slow
def test_bulk_and_driver_paths_give_identical_graphs(bulk_store: Neo4jStore) -> None:
    snapshot = investigation_snapshot()
    for name, table in tricky_snapshot().nodes.items():
        snapshot.nodes[name] = pd.concat([snapshot.nodes[name], table], ignore_index=True)
    snapshot.edges["USED_DEVICE"] = pd.concat(
        [snapshot.edges["USED_DEVICE"], tricky_snapshot().edges["USED_DEVICE"]], ignore_index=True
    )
    by_driver, by_bulk = _both_paths(bulk_store, snapshot)
    assert by_bulk == by_driver
    assert len(by_bulk[0]) == 10 + 2 * len(tricky_snapshot().nodes["Account"])
    # The imported store is a normal one: constraints are back and an update is incremental.
    names = bulk_store.read("SHOW CONSTRAINTS YIELD name RETURN name").column("name")
    assert "account_id" in names
    again = load_snapshot(bulk_store, snapshot, mode="driver", progress=False)
    assert again.total_written == 0


@pytest.mark.neo4j
@pytest.mark.slow
def test_bulk_refuses_a_database_that_holds_data(bulk_store: Neo4jStore) -> None:
    bulk_store.write([("CREATE (:Account {id: 'keep-me'})", {})])
    with pytest.raises(BulkImportError, match="already holds 1 nodes"):
        load_snapshot(bulk_store, investigation_snapshot(), mode="bulk", progress=False)
    assert bulk_store.read("MATCH (n) RETURN count(n) AS n").single("n") == 1
