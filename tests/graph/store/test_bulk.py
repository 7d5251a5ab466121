from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from graph.store import Neo4jStore, connect, load_snapshot
from graph.store.bulk import BulkImportError, _parquet_column, bulk_load, write_import_files
from graph.store.connection import Neo4jSettings
from graph.store.graphs import last_load
from graph.store.server import LocalNeo4j, free_port
from tests.conftest import _installed_jars

from .helpers import TRICKY_IDS, RecordingRunner, dump, investigation_snapshot, tricky_snapshot


def test_import_files_are_parquet_named_by_header_entries_with_native_types(tmp_path) -> None:
    files = {f.name: f for f in write_import_files(investigation_snapshot(), tmp_path, "shop")}
    account = files["Account"]
    assert account.kind == "nodes" and account.rows == 6
    table = pq.read_table(account.data)
    assert table.schema.names == [":ID", "graph", "id", "first_ts", "last_ts", "n_events",
                                  "amount_mean", "label", "content_hash"]
    assert [str(t).replace("large_", "") for t in table.schema.types] == [
        "int64", "string", "string", "timestamp[us, tz=UTC]", "timestamp[us, tz=UTC]", "int64",
        "double", "int64", "int64"]
    assert set(table.column("graph").to_pylist()) == {"shop"}
    a2 = table.slice(1, 1).to_pylist()[0]
    assert a2[":ID"] == 1 and a2["id"] == "a2" and a2["n_events"] == 4
    assert a2["first_ts"] == datetime(2024, 2, 1, tzinfo=UTC)
    assert a2["amount_mean"] is None and a2["label"] is None  # NaN and no label: absent
    # Node numbers run on through the labels: accounts 0-5, devices 6-7, ip 8, card 9.
    assert pq.read_table(files["PaymentMethod"].data).column(":ID").to_pylist() == [9]
    paid = files["PAID_WITH"]
    ends = pq.read_table(paid.data, columns=[":START_ID", ":END_ID", "count"])
    assert ends.schema.names == [":START_ID", ":END_ID", "count"]
    assert pq.read_table(paid.data).column("graph").to_pylist() == ["shop"] * 3
    assert list(zip(*ends.to_pydict().values(), strict=True))[:3] == [(0, 9, 1), (1, 9, 1),
                                                                      (3, 9, 1)]
    assert paid.argument() == f"--relationships=PAID_WITH={paid.data}"


def test_tricky_ids_are_written_verbatim(tmp_path) -> None:
    files = {f.name: f for f in write_import_files(tricky_snapshot(), tmp_path, "shop")}
    assert pq.read_table(files["Account"].data).column("id").to_pylist() == TRICKY_IDS


def test_timestamps_become_utc_microseconds() -> None:
    stamps = pd.Series(pd.to_datetime(
        ["2024-01-02T03:04:05.123456789", None, "1969-12-31T23:59:59.000001"], utc=True,
        format="ISO8601"))
    assert _parquet_column(stamps).to_pylist() == [
        datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC), None,
        datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC)]
    local = pd.Series([pd.Timestamp("2024-06-01T12:00:00", tz="Europe/Paris")])
    assert _parquet_column(local).to_pylist() == [datetime(2024, 6, 1, 10, tzinfo=UTC)]
    naive = pd.Series(np.array(["2024-06-01T12:00:00"], dtype="datetime64[s]"))
    assert str(_parquet_column(naive).type) == "timestamp[us, tz=UTC]"


def test_columns_take_the_types_the_driver_path_stores() -> None:
    assert _parquet_column(pd.Series([1, 2], dtype="int8")).type == pa.int64()
    assert _parquet_column(pd.Series([1, None], dtype="Int32")).to_pylist() == [1, None]
    assert _parquet_column(pd.Series([1.5, np.nan], dtype="float32")).to_pylist() == [1.5, None]
    assert _parquet_column(pd.Series(["x", "y", "x"], dtype="category")).to_pylist() == [
        "x", "y", "x"]
    assert _parquet_column(pd.Series([True, None], dtype="boolean")).to_pylist() == [True, None]


def test_bulk_needs_a_local_server() -> None:
    with pytest.raises(BulkImportError, match="local Neo4j server"):
        bulk_load(RecordingRunner(), investigation_snapshot(), graph="shop", progress=False)


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
    driver = load_snapshot(store, snapshot, graph="shop", mode="driver", progress=False)
    by_driver = dump(store)
    store.write([("MATCH (n) DETACH DELETE n", {})])
    summary = load_snapshot(store, snapshot, graph="shop", mode="bulk", progress=False)
    assert summary.mode == "bulk"
    assert summary.fingerprint == driver.fingerprint is not None
    assert last_load(store, "shop").status == "complete"
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
    # Columns with no value at all and a relation with no rows.
    snapshot.nodes["Device"]["note"] = pd.Series([None] * len(snapshot.nodes["Device"]),
                                                 dtype=object)
    snapshot.nodes["IP"]["seen"] = pd.Series([pd.NaT], dtype="datetime64[ns, UTC]")
    snapshot.edges["TRANSACTED_WITH"] = snapshot.edges["TRANSACTED_WITH"].iloc[:0]
    by_driver, by_bulk = _both_paths(bulk_store, snapshot)
    assert by_bulk == by_driver
    assert len(by_bulk[0]) == 10 + 2 * len(tricky_snapshot().nodes["Account"])
    # The imported store is a normal one: constraints are back and an update is incremental.
    names = bulk_store.read("SHOW CONSTRAINTS YIELD name RETURN name").column("name")
    assert "account_graph_id" in names
    again = load_snapshot(bulk_store, snapshot, graph="shop", mode="driver", progress=False)
    assert again.total_written == 0


@pytest.mark.neo4j
@pytest.mark.slow
def test_bulk_refuses_a_database_that_holds_data(bulk_store: Neo4jStore) -> None:
    bulk_store.write([("CREATE (:Account {id: 'keep-me'})", {})])
    with pytest.raises(BulkImportError, match="already holds 1 nodes"):
        load_snapshot(bulk_store, investigation_snapshot(), mode="bulk", progress=False)
    assert bulk_store.read("MATCH (n) RETURN count(n) AS n").single("n") == 1
