"""The Spark session of the Spark engine: optional PySpark, UTC, DuckDB-like arithmetic.

PySpark is an optional dependency (``pip install 'abusenet[spark]'``; needs Java 17).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ingest.spark_cds import archive_key, archive_options

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: Spark settings the translated SQL (:mod:`ingest.spark_sql`) and the written files rely on:
#: UTC days and hours, DuckDB-like lenient arithmetic (ANSI mode off), Parquet timestamps as
#: UTC microseconds (as DuckDB writes them, not INT96).
SPARK_SQL_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.parquet.mergeSchema": "true",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.sources.partitionOverwriteMode": "static",
}
#: Defaults for sessions :func:`spark_session` creates (overridable through its ``conf``).
#: Cached tables (the ingest's validated rows, the snapshot's pairs) are kept uncompressed:
#: compressing the columns cost as much as computing them (staging 1M events: 6 CPU s to
#: validate, 6 more to fill a compressed cache, ~0.3 an uncompressed one; reading either back
#: cost the same).
SESSION_DEFAULTS: dict[str, str] = {
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.inMemoryColumnarStorage.compressed": "false",
}
#: Defaults for local sessions only (``local``, ``local[N]``), where the driver's JVM also runs
#: the executors: the snapshot's cached pairs stay in memory up to ~10M events instead of
#: spilling to disk (Spark's own default is 1g); shuffled and spilled rows are not compressed,
#: since they never leave the machine: lz4 cost more CPU than the larger local files (about
#: 2.3x the shuffle bytes; 1M events, loaded, executor task CPU s: ingest 8.4 / 8.5 -> 8.3 /
#: 7.8, snapshot 13.7 / 14.6 -> 13.2 / 13.0, its JVM CPU 43 -> 40; benchmarks/README.md,
#: session 15). A cluster keeps compressing what crosses its network.
LOCAL_DEFAULTS: dict[str, str] = {"spark.driver.memory": "3g",
                                  "spark.shuffle.compress": "false",
                                  "spark.shuffle.spill.compress": "false"}
#: JVM options of the driver and the executors, put before any given in ``conf``. HotSpot does
#: not JIT-compile a method of more than 8,000 bytes of bytecode; the code Spark generates for
#: the validation and snapshot queries has such methods, which then run interpreted (staging
#: 1M events, the validation query alone: about 12 -> 5 CPU s; benchmarks/README.md, session 11).
#: Methods are compiled after 4x the usual invocations and loop iterations: the optimising
#: compiler's CPU went mostly to code run a few thousand times per query (query parsing,
#: analysis, code generation), a fixed cost of ~40 CPU s a run; a row loop still reaches the
#: threshold within a fraction of a task (1M events: JIT 38-43 -> 30 CPU s, session 12).
JAVA_OPTIONS = "-XX:-DontCompileHugeMethods -XX:CompileThresholdScaling=4"
#: JVM options of local sessions only, after :data:`JAVA_OPTIONS`, unless the caller's options
#: choose a collector themselves: the throughput collector instead of G1, whose write
#: barriers the tasks pay on every stored reference (ingest + snapshot of 1M events, JVM CPU
#: s: 96.6 / 97.1 -> 89.3 / 80.9, of which GC 4.1 / 5.5 -> 2.1 / 1.9 and tasks 38.4 / 37.8
#: -> 36.1 / 32.8; benchmarks/README.md, session 13). A cluster's executors keep the JVM's
#: default, whose pauses stay short on large heaps.
LOCAL_JAVA_OPTIONS = "-XX:+UseParallelGC"
_DRIVER_OPTIONS = "spark.driver.extraJavaOptions"
_JAVA_OPTION_KEYS = (_DRIVER_OPTIONS, "spark.executor.extraJavaOptions")


def session_settings(shuffle_partitions: int, conf: dict[str, str], *,
                     local: bool = False) -> dict[str, str]:
    """The settings :func:`spark_session` starts a session with: :data:`SESSION_DEFAULTS`,
    :data:`LOCAL_DEFAULTS` (``local``: a local master), :data:`SPARK_SQL_CONF`, the shuffle
    partitions (also the least number of tasks a file is read by), then ``conf``; the JVM
    options of ``conf`` (``spark.driver.extraJavaOptions``, ``spark.executor.extraJavaOptions``)
    after :data:`JAVA_OPTIONS` and, for a local master whose given options name no collector
    (``-XX:+Use...GC``), :data:`LOCAL_JAVA_OPTIONS`.

    Examples
    --------
    >>> session_settings(2, {"spark.driver.extraJavaOptions": "-Xss4m"})[
    ...     "spark.driver.extraJavaOptions"]
    '-XX:-DontCompileHugeMethods -XX:CompileThresholdScaling=4 -Xss4m'
    """
    settings = {**SESSION_DEFAULTS, **(LOCAL_DEFAULTS if local else {}), **SPARK_SQL_CONF,
                "spark.sql.shuffle.partitions": str(shuffle_partitions),
                "spark.sql.files.minPartitionNum": str(shuffle_partitions), **conf}
    for key in _JAVA_OPTION_KEYS:
        given = conf.get(key, "")
        collector = local and not re.search(r"-XX:\+Use\w*GC\b", given)
        settings[key] = " ".join(
            x for x in (JAVA_OPTIONS, LOCAL_JAVA_OPTIONS if collector else "", given) if x)
    return settings


class SparkUnavailableError(RuntimeError):
    """PySpark (or the Java runtime it needs) is not installed."""


def spark_session(master: str = "local[*]", *, shuffle_partitions: int = 8,
                  app_name: str = "abusenet", **conf: str) -> SparkSession:
    """A Spark session set up for the Spark engine (reused when one exists).

    Parameters
    ----------
    master
        Spark master URL: ``local[*]`` for all local cores, or a cluster's URL.
    shuffle_partitions
        ``spark.sql.shuffle.partitions``: small for small inputs, about 2-3 per core of the
        cluster for large ones. Also ``spark.sql.files.minPartitionNum``, the least number of
        tasks a file is read by: Spark's default (one per core, then 128 MB pieces) read the
        10M-event CSV (870 MB) in 7 tasks, the last of which ran with the other core idle.
    app_name
        Name shown in the Spark UI.
    **conf
        More Spark settings (dots written as given, e.g. ``{"spark.ui.enabled": "false"}``;
        see :func:`session_settings`); for a local ``master`` they override
        :data:`LOCAL_DEFAULTS`.

    A local driver's JVM also maps the class-data-sharing archive of
    :mod:`ingest.spark_cds` (written at the first session's exit, under the user's cache
    directory), unless the driver's options in ``conf`` choose their own (``-Xshare:off``).

    Raises
    ------
    SparkUnavailableError
        When PySpark is not installed.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as err:
        raise SparkUnavailableError(
            "the Spark engine needs PySpark: install it with `pip install 'abusenet[spark]'` "
            "(and a Java 17 runtime)"
        ) from err
    builder = SparkSession.builder.master(master).appName(app_name)
    local = master.startswith("local")
    settings = session_settings(shuffle_partitions, conf, local=local)
    if local:
        settings[_DRIVER_OPTIONS] = _with_class_archive(settings)
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    for key, value in SPARK_SQL_CONF.items():
        session.conf.set(key, value)
    return session


def _with_class_archive(settings: dict[str, str]) -> str:
    """The driver's JVM options plus those of its class-data-sharing archive
    (:func:`ingest.spark_cds.archive_options`; measured in :mod:`ingest.spark_cds`)."""
    from pyspark import __version__

    options = settings[_DRIVER_OPTIONS]
    key = archive_key(__version__, options, memory=settings.get("spark.driver.memory", ""),
                      class_path=settings.get("spark.driver.extraClassPath", ""))
    return " ".join(x for x in (options, archive_options(key, options)) if x)


@contextmanager
def session_conf(spark: SparkSession, conf: dict[str, str]) -> Iterator[None]:
    """Run the block with the SQL settings ``conf`` set on ``spark`` (read when a query is
    planned: the queries planned inside the block), then put back what was there before."""
    before = {key: spark.conf.get(key, None) for key in conf}
    for key, value in conf.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)
