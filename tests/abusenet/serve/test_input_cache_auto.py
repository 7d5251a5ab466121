"""abusenet.serve.state's default GNN input cache: every row held when it fits a share of the
memory available at start, the fixed budget otherwise."""

from __future__ import annotations

import pytest

import abusenet.serve.state as serve_state
from abusenet.serve.state import AUTO_CACHE_SHARE, auto_input_cache_rows, available_memory
from gnn.local_scoring import INPUT_CACHE_ROWS


def test_every_row_and_an_eighth_more_when_they_fit_the_memory_share():
    nodes, hidden = 4_400_000, 64
    rows = nodes + nodes // 8
    need = rows * hidden * 4
    assert auto_input_cache_rows(nodes, hidden, int(need / AUTO_CACHE_SHARE) + 1) == rows
    assert auto_input_cache_rows(nodes, hidden, int(need / AUTO_CACHE_SHARE) - 1024) == (
        INPUT_CACHE_ROWS)
    assert auto_input_cache_rows(nodes, hidden, None) == INPUT_CACHE_ROWS
    # a small graph keeps the fixed budget (which holds it whole anyway)
    assert auto_input_cache_rows(1000, hidden, 10**12) == INPUT_CACHE_ROWS


def test_available_memory_is_read_on_linux():
    available = available_memory()
    assert available is None or available > 0


@pytest.mark.slow  # two loads (~4 s)
def test_a_start_without_a_budget_holds_every_row_when_memory_allows(run_dir, monkeypatch):
    from abusenet.serve.state import GraphState

    monkeypatch.setattr(serve_state, "INPUT_CACHE_ROWS", 16)
    held = {}
    for available in (10**12, 0):
        monkeypatch.setattr(serve_state, "available_memory", lambda a=available: a)
        state = GraphState.load(run_dir)
        nodes = sum(state.graph.num_nodes.values())
        held[available] = sum(len(c.node) for c in state.scorer._cache.values())
        assert state.scorer.input_cache_rows == (nodes + nodes // 8 if available else 16)
    assert held[10**12] >= nodes
    assert held[0] <= 16
