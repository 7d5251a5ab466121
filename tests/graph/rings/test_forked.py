import gc
import os
import time
import weakref

import numpy as np
import pytest

from graph.rings.forked import ForkedCall


def _pid_and_sum(values: np.ndarray) -> tuple[int, float]:
    return os.getpid(), float(values.sum())


def _fail(message: str) -> None:
    raise ValueError(message)


def _die() -> None:
    os.kill(os.getpid(), 9)


def test_the_result_comes_back_from_another_process() -> None:
    values = np.arange(1000, dtype=np.float64)
    with ForkedCall("sum", _pid_and_sum, values) as pending:
        pid, total = pending.result()
        assert pending.result() == (pid, total)  # asked twice: the same value
    assert pid != os.getpid()
    assert total == values.sum()


def test_a_result_not_kept_is_the_callers_alone() -> None:
    with ForkedCall("range", np.arange, 1000) as pending:
        value = pending.result(keep=False)
        gone = weakref.ref(value)
        del value
        assert gone() is None  # the call holds no reference to it
        with pytest.raises(RuntimeError, match="range: the result was already taken"):
            pending.result()


def test_an_exception_in_the_child_is_raised_again() -> None:
    with ForkedCall("failing", _fail, "bad input at row 3") as pending, \
            pytest.raises(ValueError, match="bad input at row 3"):
        pending.result()


def test_a_killed_child_is_reported_by_name() -> None:
    with ForkedCall("localities", _die) as pending, \
            pytest.raises(RuntimeError, match="localities: .*signal 9"):
        pending.result()


def test_leaving_early_stops_the_child() -> None:
    with ForkedCall("slow", _pid_and_sum, np.ones(3)) as pending:
        pid = pending._pid
    assert pid is not None
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _large(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.int64)


def _process_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_the_child_ends_when_done_though_its_large_result_is_asked_for_later() -> None:
    # 8 MB: far beyond a pipe's buffer, which kept the child (and its memory) alive until read
    with ForkedCall("large", _large, 1 << 20) as pending:
        deadline = time.monotonic() + 10.0
        while _process_state(pending._pid) != "Z" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _process_state(pending._pid) == "Z"  # exited, waiting to be reaped
        assert np.array_equal(pending.result(), np.arange(1 << 20))


def test_a_result_that_does_not_pickle_is_reported() -> None:
    with ForkedCall("unpicklable", lambda: (lambda: 1)) as pending, \
            pytest.raises(Exception, match="(?i)pickle"):
        pending.result()


def test_a_child_runs_torch_after_its_parent_used_torchs_threads() -> None:
    """GNU OpenMP has no fork handler: without letting the parent's pool go, the child's first
    parallel region waits for ever (in a subprocess: a hang fails the test, not the suite)."""
    import subprocess
    import sys

    script = (
        "import torch\n"
        "from graph.rings.forked import ForkedCall\n"
        "a = torch.randn(1500, 1500)\n"
        "(a @ a).sum(); torch.randn(4_000_000).sin().sum()\n"
        "def work(m): return float((m @ m).sum() + torch.randn(4_000_000).sin().sum())\n"
        "with ForkedCall('torch', work, a) as pending: pending.result()\n"
        "print('done')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "done"


def _freeze_count_after_a_call(frozen: bool) -> tuple[int, int]:
    """In a forked child (the test process's collector left alone): freeze or unfreeze, make a
    forked call, and return the frozen objects before and after it."""
    gc.freeze() if frozen else gc.unfreeze()
    before = gc.get_freeze_count()
    with ForkedCall("sum", _pid_and_sum, np.ones(3)) as pending:
        pending.result()
    return before, gc.get_freeze_count()


@pytest.mark.parametrize("frozen", [True, False])
def test_a_callers_own_freeze_is_kept(frozen: bool) -> None:
    # a forked pipeline stage inherits its parent's objects frozen: the search's forked call
    # must not hand them back to the stage's collector (each full collection copied their pages)
    with ForkedCall("caller", _freeze_count_after_a_call, frozen) as pending:
        before, after = pending.result()
    if frozen:
        assert after >= before > 0
    else:
        assert before == after == 0


class _Cycle:
    """An object in a reference cycle with itself."""

    def __init__(self) -> None:
        self.me = self


def _cycle_collected_after_a_call() -> bool:
    """In a forked child: freeze, drop a garbage cycle made since, make a forked call; whether
    the collector can still free the cycle afterwards (it is not frozen for good)."""
    gc.freeze()
    cycle = _Cycle()
    alive = weakref.ref(cycle)
    del cycle
    with ForkedCall("sum", _pid_and_sum, np.ones(3)) as pending:
        pending.result()
    gc.collect()
    return alive() is None


def test_a_frozen_callers_garbage_cycles_are_not_frozen_for_good() -> None:
    with ForkedCall("caller", _cycle_collected_after_a_call) as pending:
        assert pending.result()
