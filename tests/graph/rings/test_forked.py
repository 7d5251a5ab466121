import os

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
