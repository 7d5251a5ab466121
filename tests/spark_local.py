"""One local Spark session for a test module: no UI, no console progress, errors-only log."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest


def local_spark(cores: int) -> Iterator[Any]:
    """Yield a ``local[cores]`` session with ``cores`` shuffle partitions; stop it after.

    Meant as the body of a module-scoped fixture; skips the module when PySpark is missing.
    """
    pytest.importorskip("pyspark")
    from ingest.spark_session import spark_session

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # PySpark's note about pandas 3
        session = spark_session(f"local[{cores}]", shuffle_partitions=cores,
                                app_name="abusenet-tests",
                                **{"spark.ui.enabled": "false",
                                   "spark.ui.showConsoleProgress": "false",
                                   "spark.driver.memory": "1g"})
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()
