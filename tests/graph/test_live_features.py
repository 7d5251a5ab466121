"""graph.live_features: rows kept current event by event equal a full snapshot build's rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from graph.build import build_snapshot
from graph.live_features import LiveFeatures, NodeIndex, _by_time
from graph.snapshot_sql import relation_sources
from ingest.state import IngestState

NAMES = ["event_id", "ts", "account_id", "event_type", "device_id", "ip", "payment_id",
         "counterparty_id", "amount"]
SCHEMA = pa.schema([(n, pa.timestamp("us", tz="UTC") if n == "ts" else
                     pa.float64() if n == "amount" else pa.string()) for n in NAMES])


def random_events(n: int, seed: int = 3) -> pa.Table:
    """``n`` events among 12 accounts, 5 devices, 4 IPs, 3 cards: every hour of the day,
    sub-second times, events out of time order, transfers, missing amounts and entities."""
    rng = np.random.default_rng(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(n):
        kind = str(rng.choice(["login", "order", "transfer", "payment", "review"]))
        paid = kind in ("order", "transfer", "payment")
        rows.append({
            "event_id": f"e{i}",
            "ts": start + timedelta(seconds=float(rng.uniform(0, 9 * 86400)),
                                    microseconds=int(rng.integers(0, 1_000_000))),
            "account_id": f"a{rng.integers(12)}", "event_type": kind,
            "device_id": None if rng.random() < 0.2 else f"d{rng.integers(5)}",
            "ip": None if rng.random() < 0.2 else f"10.0.0.{rng.integers(4)}",
            "payment_id": f"p{rng.integers(3)}" if paid and rng.random() < 0.8 else None,
            "counterparty_id": f"a{rng.integers(14)}" if kind == "transfer" else None,
            "amount": round(float(rng.gamma(2.0, 15.0)), 2) if paid and rng.random() < 0.9
            else None,
        })
    return pa.Table.from_pylist(rows, schema=SCHEMA)


@pytest.mark.parametrize(("loaded", "pieces"), [(0, 1), (0, 3), (150, 1), (150, 3)])
def test_rows_after_many_events_equal_the_full_build(tmp_path, loaded, pieces):
    table = random_events(400)
    (tmp_path / "events" / "day=2025-01-01").mkdir(parents=True)
    pq.write_table(table, tmp_path / "events" / "day=2025-01-01" / "part-0.parquet")
    full = build_snapshot(tmp_path / "events", tmp_path / "snap", progress=False)
    relations = [r for r in relation_sources(IngestState()) if r.name in full.relations]
    # The loaded part's nodes in an order unlike the build's; later ones arrive with events.
    first = table.slice(0, loaded)
    index = {t: NodeIndex.of(sorted({v for v in first.column(c).to_pylist() if v}, reverse=True))
             for t, c in [("Account", "account_id"), ("Device", "device_id"), ("IP", "ip"),
                          ("PaymentMethod", "payment_id")]}
    for v in first.column("counterparty_id").to_pylist():
        if v is not None:
            index["Account"].rows([v])
    live = LiveFeatures(index, list(full.meta["event_type_features"]), relations, [])
    # The stored events loaded as one table or as tables in turn (none when nothing is stored).
    size = -(-loaded // pieces) if loaded else 1
    live.load(first if pieces == 1 else (first.slice(i, size) for i in range(0, loaded, size)))
    touched: dict[str, set[int]] = {}
    rng = np.random.default_rng(0)
    position = loaded
    while position < table.num_rows:
        size = int(rng.integers(1, 8))
        for node_type, rows in live.add(table.slice(position, size)).items():
            touched.setdefault(node_type, set()).update(rows.tolist())
        position += size
    assert touched["Account"] and touched["Device"] and touched["IP"]
    for node_type, expected in full.nodes.items():
        columns = full.feature_columns(node_type)
        ids = expected["id"].astype(str).tolist()
        assert sorted(ids) == sorted(index[node_type].ids), node_type
        rows = np.array([index[node_type].row[i] for i in ids])
        got = live.rows(node_type, rows, columns)
        want = expected[columns].to_numpy(dtype=np.float64)
        for j, column in enumerate(columns):
            np.testing.assert_allclose(got[:, j], want[:, j], rtol=1e-9, atol=1e-9,
                                       err_msg=f"{node_type}.{column}")


def test_added_events_touch_their_actor_counterparty_and_entities():
    table = random_events(20)
    index = {t: NodeIndex() for t in ("Account", "Device", "IP", "PaymentMethod")}
    relations = relation_sources(IngestState())
    live = LiveFeatures(index, ["login"], relations, [])
    event = pa.Table.from_pylist([{**table.slice(0, 1).to_pylist()[0], "account_id": "x",
                                   "counterparty_id": "y", "device_id": "dv", "ip": None,
                                   "payment_id": None}], schema=SCHEMA)
    touched = live.add(event)
    assert index["Account"].ids == ["x", "y"]
    assert {t: r.tolist() for t, r in touched.items()} == {"Account": [0, 1], "Device": [0]}
    row = live.rows("Account", np.array([1]), ["n_events", "n_in_events",
                                                "deg_transacted_with_in"])
    assert row.tolist() == [[0.0, 1.0, 1.0]]
    with pytest.raises(KeyError, match="not computed"):
        live.rows("Device", np.array([0]), ["no_such_feature"])


@pytest.mark.parametrize("in_time_order", [True, False])
def test_running_entity_rows_read_between_events_equal_the_full_build(tmp_path, in_time_order):
    """Entities of a few events keep running rows, read after every group of events and
    extended by later and earlier events alike."""
    table = random_events(400, seed=5)
    if in_time_order:
        table = table.sort_by("ts")
    (tmp_path / "events" / "day=2025-01-01").mkdir(parents=True)
    pq.write_table(table, tmp_path / "events" / "day=2025-01-01" / "part-0.parquet")
    full = build_snapshot(tmp_path / "events", tmp_path / "snap", progress=False)
    relations = [r for r in relation_sources(IngestState()) if r.name in full.relations]
    index = {t: NodeIndex() for t in ("Account", "Device", "IP", "PaymentMethod")}
    live = LiveFeatures(index, list(full.meta["event_type_features"]), relations, [],
                        summary_events=5)
    live.load(table.slice(0, 60))
    rng = np.random.default_rng(1)
    position = 60
    while position < table.num_rows:
        size = int(rng.integers(1, 6))
        for node_type, rows in live.add(table.slice(position, size)).items():
            live.rows(node_type, rows, full.feature_columns(node_type))
        position += size
    assert sum(len(table) for table in live._busy.values()) >= 10
    for node_type, expected in full.nodes.items():
        columns = full.feature_columns(node_type)
        rows = np.array([index[node_type].row[i] for i in expected["id"].astype(str)])
        got = live.rows(node_type, rows, columns)
        want = expected[columns].to_numpy(dtype=np.float64)
        for j, column in enumerate(columns):
            np.testing.assert_allclose(got[:, j], want[:, j], rtol=1e-9, atol=1e-9,
                                       err_msg=f"{node_type}.{column}")
    # Later and earlier events extend a device's running row in place.
    latest = max(table.column("ts").to_pylist())
    device = "d0"
    key = ("USED_DEVICE", index["Device"].row[device])
    for shift in (1, -10 * 86400):
        held = live._busy[key[0]].slot[key[1]]
        event = {**table.slice(0, 1).to_pylist()[0], "event_id": f"late{shift}",
                 "device_id": device, "ts": latest + timedelta(seconds=shift)}
        live.add(pa.Table.from_pylist([event], schema=SCHEMA))
        live.rows("Device", np.array([key[1]]), full.feature_columns("Device"))
        assert live._busy[key[0]].slot[key[1]] == held
    rows = np.array([key[1]])
    kept = live.rows("Device", rows, full.feature_columns("Device"))
    live._busy.clear()  # rebuilt from all of its events
    np.testing.assert_allclose(kept, live.rows("Device", rows, full.feature_columns("Device")),
                               rtol=1e-12, atol=1e-12)


def test_rows_at_once_equal_rows_one_by_one():
    """A batch's rows (grouped numpy steps) equal the same rows computed one at a time;
    nodes without events of their own (a transfer's receiver) included."""
    table = random_events(300, seed=7)
    relations = relation_sources(IngestState())
    index = {t: NodeIndex() for t in ("Account", "Device", "IP", "PaymentMethod")}
    live = LiveFeatures(index, ["login", "order", "transfer"], relations, [],
                        summary_events=40)
    live.load(table.slice(0, 100))
    live.add(table.slice(100, 200))
    for node_type in index:
        rows = np.tile(np.arange(len(index[node_type].ids)), 3)  # a row twice: the same
        columns = sorted(live._account(node_type, 0) if node_type == "Account"
                         else live._entity(node_type, 0))
        together = live.rows(node_type, rows, columns)
        alone = np.vstack([live.rows(node_type, rows[i:i + 1], columns)
                           for i in range(len(rows))])
        assert len(rows) >= 8
        np.testing.assert_allclose(together, alone, rtol=1e-12, atol=1e-12,
                                   err_msg=node_type)
    every = live.rows("Account", np.arange(len(index["Account"].ids)),
                      ["n_events", "active_days", "n_in_events"])
    receivers = every[every[:, 0] == 0]  # accounts only paid so far
    assert len(receivers) and (receivers[:, 1] == 0).all() and (receivers[:, 2] > 0).all()


def test_by_time_is_the_stable_lexsort_sorted_or_not():
    """Positions ordered by node then time, ties in their order: what a stable lexsort gives,
    whether the times are already in order within each node (the sort skipped) or not, and
    whether node and time fit one sort key or not (times spanning 2**60 us)."""
    rng = np.random.default_rng(3)
    skipped = 0
    for case in range(400):
        n = rng.integers(0, 6, size=int(rng.integers(0, 8)))
        seg = np.repeat(np.arange(len(n)), n)
        ts = rng.integers(0, 4, size=len(seg)).astype(np.int64)  # ties
        if case % 4 == 3:
            ts = ts * (1 << 58) - (1 << 59)
        if case % 2:
            ts = np.sort(ts + 10 * seg)  # in order within each node
        positions = rng.permutation(1000)[:len(seg)].astype(np.int64)
        order = np.lexsort((ts, seg))
        got_positions, got_ts = _by_time(positions, ts, seg)
        np.testing.assert_array_equal(got_positions, positions[order])
        np.testing.assert_array_equal(got_ts, ts[order])
        skipped += got_positions is positions
    assert 200 <= skipped < 400


def test_load_in_pieces_equals_load_at_once():
    """Stored events loaded as tables in turn (new ids met in several of them, a piece
    without any) hold the same ids in the same rows and the same feature rows."""
    table = random_events(300, seed=5)
    relations = relation_sources(IngestState())
    built = []
    for pieces in (None, [0, 70, 70, 200, 300]):
        index = {t: NodeIndex() for t in ("Account", "Device", "IP", "PaymentMethod")}
        live = LiveFeatures(index, ["login", "order", "transfer"], relations, [])
        live.load(table if pieces is None else
                  (table.slice(a, b - a) for a, b in zip(pieces[:-1], pieces[1:], strict=True)))
        assert live.size == 300
        built.append((index, live))
    (index, live), (index_pieces, live_pieces) = built
    for node_type in index:
        assert list(index_pieces[node_type].ids) == list(index[node_type].ids), node_type
        rows = np.arange(len(index[node_type].ids))
        columns = sorted(live._account(node_type, 0) if node_type == "Account"
                         else live._entity(node_type, 0))
        np.testing.assert_array_equal(live_pieces.rows(node_type, rows, columns),
                                      live.rows(node_type, rows, columns), err_msg=node_type)


def test_find_gives_rows_of_known_ids_and_appends_none():
    index = NodeIndex.of(["a", "b", "c"])
    index.rows(["d"])  # added after the build
    rows = index.find(pa.chunked_array([["c", None, "zz"], ["d", "a"]], type=pa.large_string()))
    assert rows.tolist() == [2, -1, -1, 3, 0]
    assert len(index.ids) == 4 and "zz" not in index.row
    assert index.rows(["zz", "b", None]).tolist() == [4, 1, -1]  # rows appends


def test_ids_take_reads_built_and_added_ids_in_row_order():
    index = NodeIndex.of(["a", "b", "c"])
    index.rows(["d", "e"])  # added after the build
    assert index.ids.take(np.array([2, 0, 2])) == ["c", "a", "c"]
    assert index.ids.take(np.array([4, 1, 3, 4, 0])) == ["e", "b", "d", "e", "a"]
    assert index.ids.take(np.array([], dtype=np.int64)) == []


def test_saved_events_restored_give_the_same_rows_before_and_after_adds(tmp_path):
    """Loaded events saved and restored over the same node rows (memory-mapped) give the
    same rows; events added to both afterwards too, and the saved files stay as written."""
    table = random_events(300, seed=11)
    relations = relation_sources(IngestState())
    types = ("Account", "Device", "IP", "PaymentMethod")
    index = {t: NodeIndex() for t in types}
    live = LiveFeatures(index, ["login", "order", "transfer"], relations, ["amount"],
                        summary_events=40)
    live.load(table.slice(0, 200))
    live.save(tmp_path)
    written = _files(tmp_path)
    index_again = {t: NodeIndex.of(list(index[t].ids)) for t in types}
    again = LiveFeatures(index_again, ["login", "order", "transfer"], relations, ["amount"],
                         summary_events=40)
    again.restore(tmp_path, 200)
    with pytest.raises(ValueError, match="rows, not 201"):
        LiveFeatures(index_again, ["login", "order", "transfer"], relations,
                     ["amount"]).restore(tmp_path, 201)

    def same_rows() -> None:
        for node_type in types:
            assert list(index_again[node_type].ids) == list(index[node_type].ids)
            rows = np.arange(len(index[node_type].ids))
            columns = sorted(live._account(node_type, 0) if node_type == "Account"
                             else live._entity(node_type, 0))
            np.testing.assert_array_equal(again.rows(node_type, rows, columns),
                                          live.rows(node_type, rows, columns),
                                          err_msg=node_type)

    same_rows()
    for start in (200, 250):  # new ids among them
        touched = live.add(table.slice(start, 50))
        assert {t: r.tolist() for t, r in again.add(table.slice(start, 50)).items()} == {
            t: r.tolist() for t, r in touched.items()}
    same_rows()
    assert _files(tmp_path) == written


def _columns(live: LiveFeatures, node_type: str) -> list[str]:
    """Every feature ``live`` computes for ``node_type``."""
    return sorted(live._account(node_type, 0) if node_type == "Account"
                  else live._entity(node_type, 0))


def _files(directory) -> dict:
    """Every file under ``directory`` (relative path -> bytes)."""
    return {p.relative_to(directory): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def test_busy_rows_saved_with_the_stored_events_equal_rows_computed_when_first_read(tmp_path):
    """The running rows of entities with many stored events, saved with them and read back,
    give bitwise the rows of feature sets that compute them when an entity is first read
    (restored without them, or loaded): with events appended before the save beyond the
    stored ones, groups of events added later and earlier in time, entities busy only with
    events added later (one new). Saved again, restored ones are written as read."""
    table = random_events(600, seed=17)
    later = table.slice(300).to_pylist()
    for i, event in enumerate(later):  # a new device, busy with added events only
        if i % 7 == 0:
            event["device_id"] = "d_new"
    later = pa.Table.from_pylist(later, schema=SCHEMA)
    relations = relation_sources(IngestState())
    types = ("Account", "Device", "IP", "PaymentMethod")

    def features(index: dict) -> LiveFeatures:
        return LiveFeatures(index, ["login", "order", "transfer"], relations, ["amount"],
                            summary_events=30)

    loaded = features({t: NodeIndex() for t in types})
    loaded.load(table.slice(0, 200))
    loaded.extend([table.slice(200, 100)])  # logged after the stored events
    for name in "abc":
        (tmp_path / name).mkdir()
    loaded.save(tmp_path / "a")
    assert loaded._busy == {}  # saved, not kept
    indexes, sets = [], [loaded]
    for restore_busy in (True, False):
        index = {t: NodeIndex.of(list(loaded.index[t].ids)) for t in types}
        live = features(index)
        live.restore(tmp_path / "a", 300, base=200)
        assert live.restore_busy(tmp_path / "a" / "busy") if restore_busy else True
        indexes.append(index)
        sets.append(live)
    saved = sets[1]._busy
    assert sum(len(t) for t in saved.values()) >= 4 and not any(t.changed for t in saved.values())
    sets[1].save(tmp_path / "b")  # restored, unchanged: written as read
    sets[2].save(tmp_path / "c")  # none held: computed again
    assert _files(tmp_path / "b" / "busy") == _files(tmp_path / "a" / "busy")
    assert _files(tmp_path / "c" / "busy") == _files(tmp_path / "a" / "busy")
    stored = [(loaded._postings[name].of(r) < 200).sum()
              for name in saved for r in range(len(loaded._postings[name].rowptr) - 1)]
    assert any(0 < n < 30 for n in stored)  # busy only with later events
    wrong = features({t: NodeIndex.of(list(loaded.index[t].ids)) for t in types})
    wrong.restore(tmp_path / "a", 300)  # another base
    with pytest.raises(ValueError, match="saved for"):
        wrong.restore_busy(tmp_path / "a" / "busy")
    rng = np.random.default_rng(4)
    position = 0
    while position < later.num_rows:
        size = int(rng.integers(1, 25))
        part = later.slice(position, size)
        if rng.random() < 0.3:  # earlier than every stored event
            part = part.set_column(1, "ts", pc.subtract(part.column("ts"),
                                                        pa.scalar(timedelta(days=30))))
        for live in sets:
            for node_type, rows in live.add(part).items():
                live.rows(node_type, rows, _columns(live, node_type))
        position += size
    assert "d_new" in loaded.index["Device"].row
    for node_type in types:
        rows = np.arange(len(loaded.index[node_type].ids))
        want = loaded.rows(node_type, rows, _columns(loaded, node_type))
        for live in sets[1:]:
            np.testing.assert_array_equal(live.rows(node_type, rows, _columns(live, node_type)),
                                          want, err_msg=node_type)


def test_extend_and_truncate_equal_a_load_of_the_same_events():
    """Events appended after a load (:meth:`LiveFeatures.extend`, new ids among them) give the
    arrays and node rows of one load of all of them; cut back (:meth:`LiveFeatures.truncate`),
    those of a load of the first ones."""
    table = random_events(300, seed=9)
    relations = relation_sources(IngestState())

    def loaded(*parts: pa.Table) -> tuple[dict, LiveFeatures]:
        index = {t: NodeIndex() for t in ("Account", "Device", "IP", "PaymentMethod")}
        live = LiveFeatures(index, ["login", "order", "transfer"], relations, [])
        live.load(parts[0])
        live.extend(parts[1:])
        return index, live

    def same(got: tuple[dict, LiveFeatures], want: tuple[dict, LiveFeatures]) -> None:
        for name in ("_ts", "_type", "_amount"):
            np.testing.assert_array_equal(getattr(got[1], name), getattr(want[1], name))
        for role in want[1].roles:
            np.testing.assert_array_equal(got[1]._codes[role], want[1]._codes[role])
            for name in ("positions", "rowptr"):
                np.testing.assert_array_equal(getattr(got[1]._postings[role], name),
                                              getattr(want[1]._postings[role], name))
        assert got[1].size == want[1].size

    whole = loaded(table)
    extended = loaded(table.slice(0, 120), table.slice(120, 100), table.slice(220))
    same(extended, whole)
    for node_type, index in whole[0].items():
        assert list(extended[0][node_type].ids) == list(index.ids), node_type
    first = loaded(table.slice(0, 120))
    extended[1].truncate(120)
    same(extended, first)


def test_added_events_never_copy_the_held_ones():
    """Events added after the held ones are written apart: the held events' arrays (at start,
    mapped from the stored events' cache) are never copied, and after ``reserve`` the next
    events go into room already there; the columns read as one array."""
    table = random_events(300, seed=7)
    index = {t: NodeIndex() for t in ("Account", "Device", "IP", "PaymentMethod")}
    live = LiveFeatures(index, ["login", "order", "transfer"], relation_sources(IngestState()), [])
    live.load(table.slice(0, 200))
    loaded = live._ts
    whole = LiveFeatures({t: NodeIndex() for t in index}, ["login", "order", "transfer"],
                         relation_sources(IngestState()), [])
    whole.load(table.slice(0, 225))
    live.reserve(30)
    column, room = live._ts, live._ts.tail
    for start in range(200, 225, 5):
        live.add(table.slice(start, 5))
    assert live._ts is column and column.held is loaded and column.tail is room
    assert live.size == len(column) == 225
    positions = np.random.default_rng(0).permutation(225)
    np.testing.assert_array_equal(column[positions], whole._ts[positions])
    np.testing.assert_array_equal(column[:], whole._ts)
    for role, codes in whole._codes.items():
        np.testing.assert_array_equal(live._codes[role][positions], codes[positions])


def with_results(table: pa.Table, seed: int) -> pa.Table:
    """``table`` with a string attribute ``result``: three values, the words of none (null)."""
    rng = np.random.default_rng(seed)
    results = [None if r < 0.2 else "success" if r < 0.6 else "bad_password" if r < 0.9
               else "locked" for r in rng.random(table.num_rows)]
    return table.append_column("result", pa.array(results, type=pa.string()))


@pytest.mark.parametrize("fixed", [None, {"success": "attr_result_is_success_share",
                                          "bad_password": "attr_result_is_bad_password_share",
                                          "expired": "attr_result_is_expired_share"}])
def test_string_attribute_shares_equal_the_full_build(tmp_path, fixed):
    """The share features of a string attribute, kept event by event (loaded, added one
    group at a time, saved and restored, extended), equal the build's: the values the build
    found, or values given to both (a model's: ``locked`` then counts in no share, but in the
    denominator)."""
    table = with_results(random_events(400, seed=13), seed=2)
    (tmp_path / "events" / "day=2025-01-01").mkdir(parents=True)
    pq.write_table(table, tmp_path / "events" / "day=2025-01-01" / "part-0.parquet")
    IngestState(attributes={"result": "string"}).save(tmp_path / "events")
    full = build_snapshot(tmp_path / "events", tmp_path / "snap", progress=False,
                          attribute_shares=None if fixed is None else {"result": fixed})
    shares = full.meta["attribute_shares"]
    assert list(shares["result"]) == (["success", "bad_password", "locked"] if fixed is None
                                      else list(fixed))
    columns = [c for c in full.feature_columns("Account") if c.startswith("attr_result")]
    assert columns == list(shares["result"].values())
    relations = [r for r in relation_sources(IngestState()) if r.name in full.relations]
    types = ("Account", "Device", "IP", "PaymentMethod")

    def live_of(index: dict) -> LiveFeatures:
        return LiveFeatures(index, list(full.meta["event_type_features"]), relations, [],
                            attribute_shares=shares)

    index = {t: NodeIndex() for t in types}
    live = live_of(index)
    live.load(table.slice(0, 150))
    live.save(tmp_path)
    restored_index = {t: NodeIndex.of(list(index[t].ids)) for t in types}
    restored = live_of(restored_index)
    restored.restore(tmp_path, 150)
    restored.extend([table.slice(150, 100)])
    restored.truncate(200)
    restored.extend([table.slice(200, 50)])
    for position in range(150, 400, 5):
        live.add(table.slice(position, 5))
        if position >= 250:
            restored.add(table.slice(position, 5))
    expected = full.nodes["Account"]
    want = expected[columns].to_numpy(dtype=np.float64)
    assert (want.sum(axis=1) > 0).any()
    for got_index, got_live in ((index, live), (restored_index, restored)):
        rows = np.array([got_index["Account"].row[i] for i in expected["id"].astype(str)])
        np.testing.assert_array_equal(got_live.rows("Account", rows, columns), want)
        one = np.vstack([got_live.rows("Account", rows[i:i + 1], columns)
                         for i in range(len(rows))])
        np.testing.assert_array_equal(one, want)
