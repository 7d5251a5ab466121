"""graph.spark_build._concurrently: jobs submitted together, the others cancelled when one fails
(plain threads here: no Spark session needed)."""

from __future__ import annotations

import threading
import time

import pytest

from graph.spark_build import _concurrently


def test_results_come_back_in_the_calls_order() -> None:
    assert _concurrently([lambda: 1, lambda: 2, lambda: 3], lambda: None) == [1, 2, 3]


def test_a_failure_cancels_the_other_jobs_and_the_first_error_is_raised(caplog) -> None:
    cancelled = threading.Event()

    def fail() -> int:
        raise RuntimeError("relation A's job failed")

    def slow() -> int:  # a Spark job that ends when cancelled
        if not cancelled.wait(10.0):
            return 1
        raise RuntimeError("cancelled")

    def fail_later() -> int:
        time.sleep(0.2)
        raise RuntimeError("relation C failed too")

    started = time.monotonic()
    with pytest.raises(RuntimeError, match="relation A's job failed"):
        _concurrently([fail, slow, fail_later], cancelled.set)
    assert time.monotonic() - started < 5.0
    assert cancelled.is_set()
    assert "relation C failed too" in caplog.text
