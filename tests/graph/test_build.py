import math

import pandas as pd
import pytest

from graph.build import BuildError, build_snapshot, write_snapshot_files
from graph.snapshot import read_manifest, read_snapshot
from ingest.run import ingest_logs
from tests.ingest.helpers import log_mapping, write_csv

# a1: two events an hour apart on day 1, same device d1 and card c1, pays a2 twice.
# a2: one event, shares device d1 with a1.  a3: only ever a counterparty.
ROWS = [
    "a1,2024-01-01T10:00:00Z,login,,1.2.3.4,d1,,,",
    "a1,2024-01-01T11:00:00Z,transfer,10,1.2.3.4,d1,c1,a2,",
    "a1,2024-01-01T12:00:00Z,transfer,30,1.2.3.4,d1,c1,a2,",
    "a1,2024-01-03T10:00:00Z,payment,5,10.0.0.1,d1,c1,,",
    "a2,2024-01-02T23:00:00Z,transfer,2,,d1,,a3,",
]


def ingest_rows(root):
    ingest_logs(write_csv(root / "logs.csv", ROWS), log_mapping(), root / "events",
                progress=False)
    return root / "events"


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    """The events of ROWS, shared read-only by the tests of this module."""
    return ingest_rows(tmp_path_factory.mktemp("events"))


def by_id(table: pd.DataFrame) -> pd.DataFrame:
    return table.set_index("id")


def test_edges_are_aggregated_per_pair(events, tmp_path):
    snap = build_snapshot(events, tmp_path / "snap", progress=False)
    assert set(snap.edges) == {"USED_DEVICE", "USED_IP", "PAID_WITH", "TRANSACTED_WITH"}
    tx = snap.edges["TRANSACTED_WITH"].set_index(["src", "dst"])
    assert tx.loc[("a1", "a2"), "count"] == 2
    assert tx.loc[("a1", "a2"), "amount_sum"] == 40.0
    assert str(tx.loc[("a1", "a2"), "first_ts"]) == "2024-01-01 11:00:00+00:00"
    assert str(tx.loc[("a1", "a2"), "last_ts"]) == "2024-01-01 12:00:00+00:00"
    dev = snap.edges["USED_DEVICE"].set_index(["src", "dst"])
    assert dev.loc[("a1", "d1"), "count"] == 4 and dev.loc[("a2", "d1"), "count"] == 1
    assert list(snap.edges["USED_IP"].columns) == ["src", "dst", "count", "first_ts",
                                                   "last_ts", "amount_sum"]
    assert snap.relations["PAID_WITH"].dst_type == "PaymentMethod"


def test_every_counterparty_is_an_account_node(events, tmp_path):
    snap = build_snapshot(events, tmp_path / "snap", progress=False)
    accounts = by_id(snap.nodes["Account"])
    assert sorted(accounts.index) == ["a1", "a2", "a3"]
    a3 = accounts.loc["a3"]
    assert a3["n_events"] == 0 and a3["n_in_events"] == 1 and a3["amount_in_sum"] == 2.0
    assert str(a3["first_ts"]) == "2024-01-02 23:00:00+00:00"


def test_account_features(events, tmp_path):
    snap = build_snapshot(events, tmp_path / "snap", progress=False)
    a1 = by_id(snap.nodes["Account"]).loc["a1"]
    assert a1["n_events"] == 4
    assert (a1["n_events_transfer"], a1["n_events_login"], a1["n_events_payment"]) == (2, 1, 1)
    assert a1["amount_out_sum"] == 45.0 and a1["amount_out_max"] == 30.0
    assert a1["amount_out_mean"] == pytest.approx(15.0)
    assert a1["active_days"] == 2
    assert a1["lifetime_days"] == pytest.approx(2.0)
    assert (a1["deg_used_device"], a1["deg_used_ip"], a1["deg_paid_with"]) == (1, 2, 1)
    assert (a1["deg_transacted_with_out"], a1["deg_transacted_with_in"]) == (1, 0)
    # gaps 1 h, 1 h, 46 h: mean 16 h, sd 21.2 h
    gaps = [3600, 3600, 46 * 3600]
    mean = sum(gaps) / 3
    sd = math.sqrt(sum((g - mean) ** 2 for g in gaps) / 3)
    assert a1["burstiness"] == pytest.approx((sd - mean) / (sd + mean))
    a2 = by_id(snap.nodes["Account"]).loc["a2"]
    assert a2["burstiness"] == 0.0 and a2["tod_spread"] == pytest.approx(0.0, abs=1e-12)
    assert a2["deg_transacted_with_in"] == 1
    features = snap.feature_columns("Account")
    assert not snap.nodes["Account"][features].isna().any().any()


def test_entity_node_features(events, tmp_path):
    snap = build_snapshot(events, tmp_path / "snap", progress=False)
    d1 = by_id(snap.nodes["Device"]).loc["d1"]
    assert (d1["n_events"], d1["n_accounts"]) == (5, 2)
    assert d1["events_per_account"] == 2.5 and d1["amount_sum"] == 47.0
    assert d1["amount_mean"] == pytest.approx(47.0 / 4)  # over the 4 events with an amount
    assert d1["lifetime_days"] == pytest.approx(2.0)
    assert d1["night_fraction"] == 0.0
    assert d1["active_days"] == 3 and d1["events_per_active_day"] == pytest.approx(5 / 3)
    assert d1["amount_max"] == 30.0
    assert (d1["n_events_transfer"], d1["n_events_login"], d1["n_events_payment"]) == (3, 1, 1)
    assert by_id(snap.nodes["PaymentMethod"]).loc["c1", "active_days"] == 2
    ip = by_id(snap.nodes["IP"])
    assert sorted(ip.index) == ["1.2.3.4", "10.0.0.1"]
    assert set(snap.nodes) == {"Account", "Device", "IP", "PaymentMethod"}


def goh_barabasi(gaps: list[float]) -> float:
    mean = sum(gaps) / len(gaps)
    sd = math.sqrt(sum((g - mean) ** 2 for g in gaps) / len(gaps))
    return (sd - mean) / (sd + mean)


def test_entity_burstiness_follows_all_accounts_events_in_time_order(events, tmp_path):
    snap = build_snapshot(events, tmp_path / "snap", progress=False)
    # d1: a1 at 10, 11, 12 h on day 1 and 10 h on day 3, a2 at 23 h on day 2
    d1 = by_id(snap.nodes["Device"]).loc["d1"]
    assert d1["burstiness"] == pytest.approx(goh_barabasi([1.0, 1.0, 35.0, 11.0]))
    c1 = by_id(snap.nodes["PaymentMethod"]).loc["c1"]
    assert c1["burstiness"] == pytest.approx(goh_barabasi([1.0, 46.0]))
    assert c1["burstiness"] < 0
    ip = by_id(snap.nodes["IP"])
    assert ip.loc["10.0.0.1", "burstiness"] == 0.0  # one event: no gaps
    assert ip.loc["1.2.3.4", "burstiness"] == -1.0  # two equal gaps of 1 h: regular


def test_every_feature_is_int64_or_float64_without_nulls(events, tmp_path):
    snap = build_snapshot(events, tmp_path / "snap", progress=False)
    for node_type, table in snap.nodes.items():
        features = [c for c in table.columns if c not in ("id", "first_ts", "last_ts")]
        assert snap.feature_columns(node_type) == features
        assert {str(table[c].dtype) for c in features} <= {"int64", "float64"}, node_type
        assert not table[features].isna().any().any(), node_type


def test_snapshot_on_disk_has_manifest_checksums_and_counts(events, tmp_path):
    build_snapshot(events, tmp_path / "snap", progress=False)
    snap = read_snapshot(tmp_path / "snap")
    assert snap.meta["events"]["count"] == 5
    assert snap.meta["events"]["by_type"] == {"transfer": 3, "login": 1, "payment": 1}
    [source] = snap.meta["inputs"]
    assert len(source["sha256"]) == 64 and source["rows_in"] == 5
    assert len(snap.nodes["Account"]) == 3
    assert snap.labels is None


def test_rebuild_replaces_the_snapshot(tmp_path):
    events = ingest_rows(tmp_path)
    build_snapshot(events, tmp_path / "snap", progress=False)
    write_csv(tmp_path / "more.csv", ["a4,2024-01-05T10:00:00Z,login,,,d7,,,"])
    ingest_logs(tmp_path / "more.csv", log_mapping(), events, progress=False)
    build_snapshot(events, tmp_path / "snap", progress=False)
    snap = read_snapshot(tmp_path / "snap")
    assert "a4" in set(snap.nodes["Account"]["id"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events", "logs.csv", "more.csv",
                                                         "snap"]


def test_extra_entity_types_and_attributes_from_the_mapping(tmp_path):
    mapping = log_mapping(entities={"Email": "note"}, attributes={"amt2": "float"})
    rows = ["a1,2024-01-01T10:00:00Z,signup,,,,,,x@y.org,4",
            "a2,2024-01-01T10:00:00Z,signup,,,,,a1,x@y.org,2"]
    src = write_csv(tmp_path / "l.csv", rows,
                    header="uid,when,action,amt,ipaddr,dev,card,peer,note,amt2")
    ingest_logs(src, mapping, tmp_path / "events", progress=False)
    snap = build_snapshot(tmp_path / "events", tmp_path / "snap", progress=False)
    assert set(snap.nodes) == {"Account", "Email"}
    assert snap.relations["USED_EMAIL"].dst_type == "Email"
    assert by_id(snap.nodes["Email"]).loc["x@y.org", "n_accounts"] == 2
    accounts = by_id(snap.nodes["Account"])
    assert accounts.loc["a1", "deg_used_email"] == 1
    assert accounts.loc["a1", "attr_amt2_in_mean"] == 2.0
    assert accounts.loc["a2", "attr_amt2_mean"] == 2.0
    assert "USED_EMAIL" in read_snapshot(tmp_path / "snap").edges


def test_labels_default_to_the_events_and_keep_only_known_accounts(tmp_path):
    labels = write_csv(tmp_path / "gt.csv", ["a1,1", "a2,0", "ghost,1"],
                       header="account_id,label")
    ingest_logs(write_csv(tmp_path / "l.csv", ROWS), log_mapping(), tmp_path / "events",
                labels=labels, progress=False)
    snap = build_snapshot(tmp_path / "events", tmp_path / "snap", progress=False)
    assert snap.labels["account_id"].tolist() == ["a1", "a2"]
    assert snap.meta["labels_without_events"] == 1
    assert read_snapshot(tmp_path / "snap").labels["label"].tolist() == [1, 0]


def test_no_events_is_a_clear_error(tmp_path):
    with pytest.raises(BuildError, match="holds no events"):
        build_snapshot(tmp_path / "nothing", tmp_path / "snap", progress=False)


def test_snapshot_files_are_written_without_tables_in_memory(events, tmp_path):
    manifest = write_snapshot_files(events, tmp_path / "snap", progress=False)
    assert manifest == read_manifest(tmp_path / "snap")
    snap = read_snapshot(tmp_path / "snap")
    assert manifest["nodes"]["Account"]["count"] == len(snap.nodes["Account"]) == 3
    assert manifest["relations"]["USED_DEVICE"]["count"] == len(snap.edges["USED_DEVICE"]) == 2
    assert manifest["nodes"]["Device"]["features"] == snap.feature_columns("Device")
    assert list(snap.nodes["Account"]["id"]) == ["a1", "a2", "a3"]  # sorted by id
    assert str(snap.nodes["Account"]["first_ts"].dtype) == "datetime64[us, UTC]"
    assert not list(tmp_path.glob(".snap*"))  # no temporary directory left behind


def test_edges_come_in_src_dst_order_on_every_build(tmp_path):
    """A parallel aggregate returns its groups in no fixed order: the edge tables are sorted,
    so two builds of the same events read the same (the ring search's ties follow the rows)."""
    rows = [f"u{(7919 * i) % 3000:04d},2024-01-{1 + i % 28:02d}T10:00:00Z,transfer,{i % 97},"
            f"10.0.{i % 250}.{i % 7},d{(i * 31) % 1500},c{i % 900},u{(i * 13) % 3000:04d},"
            for i in range(30_000)]
    events = tmp_path / "events"
    ingest_logs(write_csv(tmp_path / "logs.csv", rows), log_mapping(), events, progress=False)
    builds = [build_snapshot(events, tmp_path / f"snap{i}", progress=False) for i in range(2)]
    for name, edges in builds[0].edges.items():
        keys = edges[["src", "dst"]].astype(str)
        assert len(keys) > 1000
        assert keys.equals(keys.sort_values(["src", "dst"]).reset_index(drop=True)), name
        assert keys.equals(builds[1].edges[name][["src", "dst"]].astype(str)), name


def test_rebuilds_give_the_same_bits(tmp_path):
    """The amount and time-of-day aggregates are sums of doubles: built on one DuckDB thread,
    a rebuild adds them in the same order (a parallel sum differed in the last bits: review R62)."""
    rows = [f"u{(7919 * i) % 3000:04d},2024-01-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z,"
            f"transfer,{(i % 97) * 1.37 + 0.013 + (1e7 if i % 501 == 0 else 0):.3f},"
            f"10.0.{i % 250}.{i % 7},d{(i * 31) % 1500},c{i % 900},u{(i * 13) % 3000:04d},"
            for i in range(60_000)]
    events = tmp_path / "events"
    ingest_logs(write_csv(tmp_path / "logs.csv", rows), log_mapping(), events, progress=False)
    first, *others = [build_snapshot(events, tmp_path / f"snap{i}", progress=False)
                      for i in range(3)]
    for other in others:
        for name, nodes in first.nodes.items():
            pd.testing.assert_frame_equal(nodes, other.nodes[name], check_exact=True, obj=name)
        for name, edges in first.edges.items():
            pd.testing.assert_frame_equal(edges, other.edges[name], check_exact=True, obj=name)
