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
        # the run's model has few positives: an ensemble, each network with its own cache
        scorers = getattr(state.scorer, "members", [state.scorer])
        held[available] = min(sum(len(c.node) for c in s._cache.values()) for s in scorers)
        assert {s.input_cache_rows for s in scorers} == {nodes + nodes // 8 if available else 16}
    assert held[10**12] >= nodes
    assert held[0] <= 16


def _fake_root(tmp_path, meminfo_kb: int, cgroup: str, files: dict[str, str]):
    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/meminfo").write_text(
        f"MemTotal:       99999999 kB\nMemAvailable:   {meminfo_kb} kB\n")
    (tmp_path / "proc/self/cgroup").write_text(cgroup)
    for name, text in files.items():
        path = tmp_path / "sys/fs/cgroup" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_a_cgroup_v2_limit_caps_the_memory_available(tmp_path):
    """(hreview V1) In a container MemAvailable is the machine's: the limit's room counts."""
    root = _fake_root(tmp_path, 20 * 2**20, "0::/pod/svc\n",
                      {"pod/svc/memory.max": str(6 * 2**30),
                       "pod/svc/memory.current": str(2 * 2**30)})
    assert available_memory(root) == 4 * 2**30
    (root / "sys/fs/cgroup/pod/svc/memory.max").write_text("max\n")
    assert available_memory(root) == 20 * 2**30


def test_a_cgroup_v1_limit_caps_the_memory_available(tmp_path):
    root = _fake_root(tmp_path, 20 * 2**20, "4:memory:/box\n0::/\n",
                      {"memory/box/memory.limit_in_bytes": str(3 * 2**30),
                       "memory/box/memory.usage_in_bytes": str(2**30),
                       "memory/memory.limit_in_bytes": "9223372036854771712",
                       "memory/memory.usage_in_bytes": str(5 * 2**30)})
    assert available_memory(root) == 2 * 2**30
    # and at 1M accounts (~4.4M nodes, 64 channels: ~1.27 GB) that room is too small
    assert auto_input_cache_rows(4_400_000, 64, available_memory(root)) == INPUT_CACHE_ROWS


def test_no_proc_no_figure(tmp_path):
    assert available_memory(tmp_path) is None
