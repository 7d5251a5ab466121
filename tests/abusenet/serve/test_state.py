"""abusenet.serve.state: pieces of the graph state that need no running service."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from abusenet.serve.state import _Scaling
from gnn.data.features import FeatureScaler


def test_numpy_scaling_equals_the_scalers_transform_or_defers_to_it():
    rng = np.random.default_rng(0)
    columns = ["n_events", "amount_sum", "burstiness"]
    raw = np.column_stack([rng.integers(0, 50, 200), rng.gamma(2.0, 30.0, 200),
                           rng.uniform(-1, 1, 200)]).astype(np.float64)
    scaler = FeatureScaler().fit({"Account": pd.DataFrame(raw, columns=columns)},
                                 {"Account": ["burstiness", "n_events"]})
    scaling = _Scaling(scaler, "Account", columns, raw[:50])
    assert scaling.exact
    expected = scaler.transform("Account", pd.DataFrame(raw, columns=columns)).numpy()
    np.testing.assert_array_equal(scaling(raw), expected)
    # A column the scaler needs but the rows lack: the scaler's own error, not a silent guess.
    short = _Scaling(scaler, "Account", columns[:2], raw[:50, :2])
    assert not short.exact
    with pytest.raises(ValueError, match="lacks feature columns"):
        short(raw[:5, :2])


def test_raw_values_keep_counts_in_float32_and_read_back_exactly():
    from abusenet.serve.state import _RawValues

    rng = np.random.default_rng(1)
    values = np.column_stack([rng.integers(0, 100, 50), rng.normal(size=50),
                              np.full(50, np.nan), rng.integers(-9, 9, 50)]).astype(np.float64)
    raw = _RawValues(values)
    assert raw.narrow.tolist() == [0, 2, 3] and raw.wide.tolist() == [1]
    np.testing.assert_array_equal(raw[np.arange(50)], values)
    np.testing.assert_array_equal(raw[3], values[3])
    np.testing.assert_array_equal(raw[:10], values[:10])
    raw.grow(60)
    new = np.array([[1.5, 2.0, 3.0, 2.0 ** 25 + 1]])  # two values float32 cannot hold
    raw[np.array([55])] = new
    assert sorted(raw.wide.tolist()) == [0, 1, 3]  # widened, not rounded
    np.testing.assert_array_equal(raw[55], new[0])
    np.testing.assert_array_equal(raw[np.arange(50)], values)
    np.testing.assert_array_equal(raw[50], np.zeros(4))


def test_node_rows_reserve_room_once_so_new_rows_do_not_copy_the_values():
    from abusenet.serve.state import _NodeRows
    from graph.live_features import NodeIndex

    table = pd.DataFrame({"id": [f"n{i}" for i in range(100)], "a": np.arange(100.0),
                          "b": np.linspace(0, 1, 100)})
    rows = _NodeRows(NodeIndex.of(table["id"].tolist()), table, ["a", "b"])
    rows.reserve()
    held = len(rows.raw)
    assert held >= 100 + 100 // 8
    rows.reserve()  # room already: not grown again
    assert len(rows.raw) == held
    wide = rows.raw._wide
    new = rows.index.rows(["n100", "n101"])
    rows.set(new, np.array([[7.0, 0.5], [8.0, 0.25]]))
    assert rows.raw._wide is wide  # written in place, not copied
    np.testing.assert_array_equal(rows.raw[new], [[7.0, 0.5], [8.0, 0.25]])
    np.testing.assert_array_equal(rows.raw[np.arange(100)], table[["a", "b"]].to_numpy())


def _reference_view(state, account_id: str) -> dict | None:
    """An account's view by the plain per-account definition (the code before the batch view):
    each entity's other accounts gathered and averaged one by one."""
    from abusenet.serve.state import TOP_REASONS, _value
    from graph.snapshot import ACCOUNT

    row = state.nodes[ACCOUNT].row.get(account_id)
    if row is None:
        return None
    shared = []
    for name, (_, _, node_type) in state.edge_types.items():
        if node_type == ACCOUNT:
            continue
        for entity in state.graph.adjacency[(node_type, f"rev_{name}", ACCOUNT)].neighbours(
                row).tolist():
            parts = [state.graph.adjacency[et].neighbours(entity)
                     for et in state.edge_types.values() if et[2] == node_type]
            accounts = np.unique(np.concatenate(parts))
            shared.append((f"{node_type}:{state.nodes[node_type].ids[entity]}",
                           accounts[accounts != row]))
    ring_id, via = state._ring_of.get(account_id), None
    if ring_id is None:
        best = len(state.rings)
        for entity, others in shared:
            ranks = state._ring_rank[others]
            if len(ranks) and ranks.min() < best:
                best, via = int(ranks.min()), entity
        ring_id = None if via is None else state.rings["ring_id"].iloc[best]
    found = [{"entity": entity, "accounts": len(others) + 1,
              "risk": float(np.nan_to_num(state.scorer.scores_[others]).mean())}
             for entity, others in shared if len(others)]
    found.sort(key=lambda s: (-s["risk"], s["entity"]))
    nodes = state.nodes[ACCOUNT]
    columns = state.detector.scaler_.columns.get(ACCOUNT, [])
    z = state.graph.features(ACCOUNT, np.array([row]))[0][:len(columns)]
    raw = dict(zip(nodes.columns, zip(nodes.raw[row].tolist(), nodes.integer, strict=True),
                   strict=True))
    return {"account_id": account_id,
            "score": float(state.scorer.current(state.graph, np.array([row]))[0]),
            "model_version": state.model_version,
            "ring": None if ring_id is None else {
                "ring_id": ring_id, "score": state._ring_score[ring_id],
                "membership": "member" if via is None else "joins", "via": via},
            "reasons": {"shared_entities": found[:TOP_REASONS],
                        "features": [{"feature": columns[i], "value": _value(*raw[columns[i]]),
                                      "z": float(z[i])}
                                     for i in np.argsort(-np.abs(z))[:TOP_REASONS]]}}


def _assert_same_view(got: dict | None, want: dict | None) -> None:
    if want is None:
        assert got is None
        return
    for found, expected in zip(got["reasons"]["shared_entities"],
                               want["reasons"]["shared_entities"], strict=True):
        assert found["risk"] == pytest.approx(expected["risk"], abs=1e-12)
        found["risk"] = expected["risk"]
    assert got == want


def test_batch_views_equal_the_per_account_definition(run_dir):
    from abusenet.serve.state import GraphState
    from abusenet.serve.validation import EventValidator, canonical_mapping
    from graph.snapshot import ACCOUNT

    state = GraphState.load(run_dir)
    ids = state.nodes[ACCOUNT].ids
    members = [m for ms in state.rings["members"] for m in ms][:3]
    events = [{"event_id": f"v{i}", "account_id": a, "ts": "2025-01-20T10:00:00Z",
               "event_type": "login", "device_id": d}
              for i, (a, d) in enumerate([("view_new", "dev-v"), (ids[5], "dev-v"),
                                          (ids[6], "dev-v"), (ids[7], "dev-lone")])]
    checked = EventValidator(canonical_mapping(state.ingest_state)).check(events)
    state.apply(checked.events)
    asked = [*ids[:40], *members, "view_new", ids[5], "nobody", ids[5], ids[7]]
    views = state.account_views(asked)
    assert views[asked.index("nobody")] is None
    assert any(v and v["ring"] and v["ring"]["membership"] == "joins" for v in views)
    assert any(v and v["ring"] and v["ring"]["membership"] == "member" for v in views)
    assert any(v and len(v["reasons"]["shared_entities"]) > 1 for v in views)
    for account_id, view in zip(asked, views, strict=True):
        _assert_same_view(view, _reference_view(state, account_id))
        _assert_same_view(state.account_view(account_id), _reference_view(state, account_id))


@pytest.mark.slow  # two loads (~4 s); LiveFeatures' pieces test checks the parts' join fast
def test_stored_events_load_in_parts_of_load_rows(run_dir, monkeypatch):
    """The stored events come from DuckDB a row group at a time; the load joins them into
    parts of at least ``_LOAD_ROWS`` events (one id lookup each), and the parts give the same
    columns, event ids and scores as one part."""
    import abusenet.serve.state as state_module
    from graph.live_features import LiveFeatures

    cached = state_module.run_paths(run_dir)["events_cache"]  # the events read from Parquet
    shutil.rmtree(cached)
    whole = state_module.GraphState.load(run_dir)
    shutil.rmtree(cached)
    sizes: list[int] = []
    load = LiveFeatures.load

    def counted(self, tables):
        def each():
            for table in tables:
                sizes.append(table.num_rows)
                yield table
        return load(self, each())

    monkeypatch.setattr(LiveFeatures, "load", counted)
    monkeypatch.setattr(state_module, "_LOAD_ROWS", 700)
    parts = state_module.GraphState.load(run_dir)
    assert len(sizes) > 1 and sum(sizes) == whole.live.size
    assert min(sizes[:-1]) >= 700
    held = whole.live.size  # the arrays hold room for new events beyond it (reserve)
    for name in ("_ts", "_type", "_amount"):
        np.testing.assert_array_equal(getattr(parts.live, name)[:held],
                                      getattr(whole.live, name)[:held])
    for role, codes in whole.live._codes.items():
        np.testing.assert_array_equal(parts.live._codes[role][:held], codes[:held])
    np.testing.assert_array_equal(parts._stored_ids, whole._stored_ids)
    np.testing.assert_allclose(parts.scorer.scores_, whole.scorer.scores_, atol=1e-6)


def test_batch_path_views_equal_the_single_path_with_ties(run_dir, monkeypatch):
    """The array path (:meth:`GraphState._rings_of_batch`, for ``BATCH_VIEWS`` accounts or
    more) answers exactly as the loop over entries: risks tied across more entities than
    ``TOP_REASONS`` (broken by entity name) and several entities reaching the best ring."""
    import abusenet.serve.state as serve_state
    from abusenet.serve.state import TOP_REASONS, GraphState
    from abusenet.serve.validation import EventValidator, canonical_mapping
    from graph.snapshot import ACCOUNT

    state = GraphState.load(run_dir)
    ids = state.nodes[ACCOUNT].ids
    member = [m for ms in state.rings["members"] for m in ms][0]
    validator = EventValidator(canonical_mapping(state.ingest_state))
    # Two batches: the later devices get later rows, so row order is not name order.
    for batch, ties in enumerate([(3, 4), (1, 2)]):
        pairs = [(a, f"dev-tie{k}") for k in ties for a in ("tie_a", "tie_b", ids[9])]
        pairs += [(a, "dev-ring") for a in ("tie_a", member)]
        events = [{"event_id": f"t{batch}-{i}", "account_id": a, "ts": "2025-01-20T10:00:00Z",
                   "event_type": "login", "device_id": d} for i, (a, d) in enumerate(pairs)]
        state.apply(validator.check(events).events)
    asked = [*ids[:4], "tie_a", "tie_b", ids[9], member, "nobody", "tie_a"]
    monkeypatch.setattr(serve_state, "BATCH_VIEWS", 2)
    batch = state.account_views(asked)
    monkeypatch.setattr(serve_state, "BATCH_VIEWS", len(asked) + 1)
    assert batch == state.account_views(asked)
    assert batch == [state.account_view(a) for a in asked]
    tied = batch[asked.index("tie_b")]["reasons"]["shared_entities"]
    assert len(tied) == TOP_REASONS and len({s["risk"] for s in tied}) == 1
    assert [s["entity"] for s in tied] == [f"Device:dev-tie{k}" for k in (1, 2, 3)]
    assert batch[asked.index("tie_a")]["ring"]["membership"] == "joins"


@pytest.mark.slow  # a load and three batches' views twice (~3.5 s on a busy machine)
def test_views_through_kept_hub_accounts_equal_those_gathered(run_dir, monkeypatch):
    """Entities' accounts kept between views (:class:`abusenet.serve.state._HubAccounts`, here
    those of every entity with 2 edges or more) and extended with the edges added since answer
    as gathering them at each view does (the same totals, summed in the same order) and as the
    per-account definition does."""
    import abusenet.serve.state as serve_state
    from abusenet.serve.state import GraphState
    from abusenet.serve.validation import EventValidator, canonical_mapping
    from graph.snapshot import ACCOUNT

    state = GraphState.load(run_dir)
    ids = state.nodes[ACCOUNT].ids
    old_device = state.nodes["Device"].ids[0]
    validator = EventValidator(canonical_mapping(state.ingest_state))
    asked = [*ids[:30], "hub_a", "hub_b", ids[9], "nobody"]
    # the best ring's member joins the kept entities last: their lowest ring rank must follow
    member = next(m for m in state.rings["members"][0] if m in state.nodes[ACCOUNT].row)
    for batch in range(3):  # each batch adds edges to the entities kept at the one before
        pairs = [(a, d) for d in ("dev-hub", old_device)
                 for a in ("hub_a", "hub_b", ids[10 + batch], ids[20 + 2 * batch])]
        if batch == 2:
            pairs.append((member, "dev-hub"))
        events = [{"event_id": f"h{batch}-{i}", "account_id": a, "ts": "2025-01-20T10:00:00Z",
                   "event_type": "login", "device_id": d} for i, (a, d) in enumerate(pairs)]
        state.apply(validator.check(events).events)
        monkeypatch.setattr(serve_state, "HUB_ACCOUNTS", 2)
        kept = state.account_views(asked)
        monkeypatch.setattr(serve_state, "HUB_ACCOUNTS", 1 << 40)
        assert kept == state.account_views(asked)
        for account_id, view in zip(asked, kept, strict=True):
            _assert_same_view(view, _reference_view(state, account_id))
    assert sum(state._hub_accounts._count.values()) > 2
    assert kept[asked.index("hub_a")]["ring"]["ring_id"] == state.rings["ring_id"][0]


@pytest.mark.slow  # a load, a reload and two batches' views twice
def test_hubs_kept_at_start_answer_as_gathered_at_the_view(run_dir, monkeypatch):
    """:meth:`GraphState.keep_hubs` (at load and after a reload) keeps the views' hub entities
    (here every entity with 2 edges or more) before any view reads them; the views after
    events on them answer as gathering the accounts at the view does."""
    import abusenet.serve.state as serve_state
    from abusenet.serve.state import GraphState
    from abusenet.serve.validation import EventValidator, canonical_mapping
    from graph.snapshot import ACCOUNT

    monkeypatch.setattr(serve_state, "HUB_ACCOUNTS", 2)
    state = GraphState.load(run_dir)
    kept_at_start = sum(state._hub_accounts._count.values())
    assert kept_at_start > 2
    ids = state.nodes[ACCOUNT].ids
    old_device = state.nodes["Device"].ids[0]
    validator = EventValidator(canonical_mapping(state.ingest_state))
    asked = [*ids[:30], "hub_a", ids[9], "nobody"]
    for batch in range(2):
        if batch:
            state.reload_model()
            assert sum(state._hub_accounts._count.values()) >= kept_at_start
        events = [{"event_id": f"k{batch}-{i}", "account_id": a, "ts": "2025-01-20T10:00:00Z",
                   "event_type": "login", "device_id": old_device}
                  for i, a in enumerate(("hub_a", ids[10 + batch], ids[20 + batch]))]
        state.apply(validator.check(events).events)
        monkeypatch.setattr(serve_state, "HUB_ACCOUNTS", 2)
        kept = state.account_views(asked)
        monkeypatch.setattr(serve_state, "HUB_ACCOUNTS", 1 << 40)
        assert kept == state.account_views(asked)
        monkeypatch.setattr(serve_state, "HUB_ACCOUNTS", 2)


@pytest.mark.slow  # three loads (~5 s)
def test_the_input_cache_budget_changes_no_score(run_dir):
    """``--input-cache-rows`` trades memory for CPU only: a budget of a few rows (every read
    encodes again), the default and one holding every row give the same scores after the
    same events."""
    from abusenet.serve.state import GraphState
    from abusenet.serve.validation import EventValidator, canonical_mapping
    from gnn.local_scoring import INPUT_CACHE_ROWS, LocalScorer
    from graph.snapshot import ACCOUNT

    scores, held = {}, {}
    for budget in (16, None, 10**7):
        state = GraphState.load(run_dir, input_cache_rows=budget)
        assert isinstance(state.scorer, LocalScorer)
        assert state.scorer.input_cache_rows == (budget or INPUT_CACHE_ROWS)
        ids = state.nodes[ACCOUNT].ids
        events = [{"event_id": f"c{i}", "account_id": a, "ts": "2025-01-20T10:00:00Z",
                   "event_type": "login", "device_id": d}
                  for i, (a, d) in enumerate([("cache_new", "dev-c"), (ids[5], "dev-c"),
                                              (ids[6], "dev-c"), (ids[9], ids[9])])]
        state.apply(EventValidator(canonical_mapping(state.ingest_state)).check(events).events)
        asked = [*ids[:60], "cache_new"]
        scores[budget] = np.array([v["score"] for v in state.account_views(asked)])
        held[budget] = sum(len(c.node) for c in state.scorer._cache.values())
    np.testing.assert_allclose(scores[16], scores[None], atol=1e-6)
    np.testing.assert_allclose(scores[10**7], scores[None], atol=1e-6)
    assert held[16] < held[None] <= held[10**7]
